// Bundles the dashboard offline with esbuild into the app's static folder, which the app serves at /app/ and
// scripts/publish packages (functions/FlexChain.Functions/dashboard, not committed). Prints each file's gzipped size.
//   node web/build.mjs
import { build } from "esbuild";
import { copyFileSync, mkdirSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const web = dirname(fileURLToPath(import.meta.url));
const out = join(web, "..", "functions", "FlexChain.Functions", "dashboard");
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
await build({
  entryPoints: [join(web, "src", "main.js"), join(web, "src", "style.css")],
  bundle: true, minify: true, format: "esm", target: "es2022", outdir: out, logLevel: "warning",
});
copyFileSync(join(web, "index.html"), join(out, "index.html"));

let total = 0;
for (const file of readdirSync(out).sort()) {
  const size = gzipSync(readFileSync(join(out, file)), { level: 9 }).length;
  total += size;
  console.log(`dashboard ${file}: ${(size / 1024).toFixed(1)} KB gzipped`);
}
console.log(`dashboard total: ${(total / 1024).toFixed(1)} KB gzipped`);
