// The dashboard's shell: one page per role, chosen by the location's hash (#/wallet), so the app serves one document.
import { walletPage } from "./wallet.js";

const pages = { "#/wallet": walletPage };

function show() {
  const render = pages[location.hash] ?? walletPage;
  const main = document.getElementById("page");
  main.replaceChildren(render());
  const current = pages[location.hash] ? location.hash : "#/wallet";
  for (const link of document.querySelectorAll("nav a"))
    if (link.getAttribute("href") === current) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
}

addEventListener("hashchange", show);
show();
