// Wallet holder (no login): checks a payment against the chain node the holder chooses. The app is asked only for the
// published records and for defaults (chain node, escrow address, chain id), which the holder can replace.
import { h, field, getJson } from "./dom.js";
import { formatUnits, verifyPayments } from "./verify.js";

const HASH = /^0x[0-9a-fA-F]{64}$/;
const ADDRESS = /^0x[0-9a-fA-F]{40}$/;

/** The page; `query` may name what to check (awardId=, tx= or wallet=), as the DSO page links a settlement. */
export function walletPage(query) {
  const kind = h("select", { name: "kind" },
    h("option", { value: "awardId" }, "Settlement id"), h("option", { value: "tx" }, "Transaction hash"), h("option", { value: "wallet" }, "Wallet address"));
  const target = h("input", { name: "target", required: true, autocomplete: "off", spellcheck: "false", class: "mono" });
  const rpc = h("input", { name: "rpc", type: "url", required: true });
  const escrow = h("input", { name: "escrow", required: true, class: "mono", autocomplete: "off", spellcheck: "false" });
  const chainId = h("input", { name: "chainId", inputmode: "numeric", autocomplete: "off" });
  const fromBlock = h("input", { name: "fromBlock", inputmode: "numeric", value: "0", autocomplete: "off" });
  const status = h("p", { class: "status", role: "status", "aria-live": "polite" });
  for (const name of ["awardId", "tx", "wallet"])
    if (query?.get(name)) [kind.value, target.value] = [name, query.get(name)];
  const results = h("section", { class: "results", "aria-label": "Verification results" });
  const button = h("button", { type: "submit" }, "Verify");

  const form = h("form", { class: "card", novalidate: true, onsubmit: (e) => { e.preventDefault(); run(); } },
    field("What to check", kind),
    field("Settlement id, transaction hash or wallet address", target, "0x followed by 64 hex digits (settlement id, transaction) or 40 (wallet)."),
    field("Chain node (JSON-RPC URL)", rpc, "Prefilled with the node FlexChain offers, if any; any node you trust will do: the payment is checked there, not on FlexChain's servers."),
    field("Escrow contract", escrow, "Prefilled from FlexChain's health endpoint; replace it with the address you know."),
    field("Expected chain id", chainId, "Optional: a node on another chain is refused."),
    field("Search from block", fromBlock),
    button);

  getJson("/v1/health").then((health) => {
    if (!rpc.value && health?.chain?.publicRpcUrl) rpc.value = health.chain.publicRpcUrl;
    if (!escrow.value && health?.chain?.settlementContract) escrow.value = health.chain.settlementContract;
    if (!chainId.value && health?.chain?.chainId) chainId.value = String(health.chain.chainId);
  }, () => { /* defaults only: the holder can type them */ });

  async function run() {
    const error = validate();
    if (error) {
      status.textContent = error.message;
      status.className = "status error";
      error.input.setAttribute("aria-invalid", "true");
      error.input.focus();
      return;
    }
    for (const input of form.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
    button.disabled = true;
    form.setAttribute("aria-busy", "true");
    status.className = "status";
    status.textContent = "Checking the chain ...";
    results.replaceChildren();
    try {
      const { token, verdicts } = await verifyPayments({
        rpcUrl: rpc.value.trim(), escrow: escrow.value.trim(), chainId: chainId.value.trim() || undefined,
        fromBlock: Number(fromBlock.value.trim() || 0), target: { [kind.value]: target.value.trim() },
        fetchRecord: (awardId) => getJson(`/v1/settlements/${awardId}`),
      });
      const verified = verdicts.filter((v) => v.failures.length === 0).length;
      status.textContent = verdicts.length === 0
        ? "No payments found for this wallet on this escrow."
        : `${verified} of ${verdicts.length} payment(s) verified (token ${token.address}, ${token.decimals} decimals).`;
      results.replaceChildren(...verdicts.map((v) => verdictCard(v, token.decimals)));
    } catch (e) {
      status.className = "status error";
      status.textContent = `Could not verify: ${e.shortMessage ?? e.message}`;
    } finally {
      button.disabled = false;
      form.removeAttribute("aria-busy");
    }
  }

  function validate() {
    const value = target.value.trim();
    if (kind.value === "wallet" ? !ADDRESS.test(value) : !HASH.test(value))
      return { input: target, message: kind.value === "wallet" ? "A wallet address is 0x followed by 40 hex digits." : "A settlement id or transaction hash is 0x followed by 64 hex digits." };
    if (!/^https?:\/\//.test(rpc.value.trim())) return { input: rpc, message: "The chain node must be an http or https URL." };
    if (!ADDRESS.test(escrow.value.trim())) return { input: escrow, message: "The escrow contract is 0x followed by 40 hex digits." };
    if (chainId.value.trim() && !/^[0-9]+$/.test(chainId.value.trim())) return { input: chainId, message: "The chain id is a whole number." };
    if (!/^[0-9]*$/.test(fromBlock.value.trim())) return { input: fromBlock, message: "The first block is a whole number." };
    return null;
  }

  return h("div", { class: "page" },
    h("h1", {}, "Verify a FlexChain payment"),
    h("p", {}, "Anyone can check that a payment settled on chain matches the record FlexChain publishes. Every hash is recomputed in this browser."),
    form, status, results);
}

function verdictCard(v, decimals) {
  const ok = v.failures.length === 0;
  const p = v.payment;
  const row = (term, value) => value === undefined || value === null ? null : [h("dt", {}, term), h("dd", { class: "mono" }, String(value))];
  return h("article", { class: `card verdict ${ok ? "ok" : "bad"}` },
    h("h2", {}, h("span", { class: "badge" }, ok ? "Verified" : "Not verified"), v.awardId ? ` award ${v.awardId.slice(0, 10)}…` : ""),
    h("dl", {},
      row("Settlement id", v.awardId), row("Request", v.requestId),
      p ? [row("Paid to CPO", p.cpo), row("Paid", formatUnits(p.paid, decimals)), row("Refunded to DSO", p.dso),
        row("Refunded", formatUnits(p.refunded, decimals)), row("Transaction", p.transactionHash), row("Block", p.blockNumber)] : null),
    ok ? null : h("ul", { class: "failures", "aria-label": "Failed checks" }, v.failures.map((f) => h("li", {}, h("strong", {}, f.check), `: ${f.reason}`))));
}
