// The CPO's results: its awards with their delivery status and payout (linked to the wallet page's check), a meter-data
// chart per award (the station's readings against the verified baseline), and its claimable balance in the escrow (a
// payment the token refused, e.g. while a regulated token blocklisted the wallet), claimed from the CPO's own wallet.
import { Interface } from "ethers";
import { h, api, busy, eur, marketNow, table, windowTimes } from "./dom.js";
import { meterChart } from "./charts.js";
import { formatUnits } from "./verify.js";

/** States in which a request has awards. */
const AWARDED = ["Cleared", "Awarded", "Settling", "Settled", "Unpaid", "FundingFailed"];

/** What the CPO should know about an award now: what to do, or how it ended. */
export function deliveryStatus(r, award, settlement, now = marketNow()) {
  if (r.state === "FundingFailed") return `Not funded, do not deliver: ${r.stateReason ?? "the DSO's funding was refused"}`;
  if (r.state === "Unpaid") return `Unpaid: ${r.stateReason ?? "refunded to the DSO unsettled"}`;
  if (settlement) return `${settlement.outcome}${settlement.failureReason ? `: ${settlement.failureReason}` : ""}` +
    (settlement.transactionHash ? "; paid" : "; payment being settled");
  if (!award.lockTransactionHash) return "Awarded; waiting for the escrow lock";
  if (now < Date.parse(r.deliveryStart)) return `Locked in escrow: deliver ${windowTimes(r.deliveryStart, r.deliveryEnd)} UTC`;
  if (now < Date.parse(r.deliveryEnd)) return "Delivering now";
  return "Window over: waiting for meter data and verification";
}

/** The awards section: reads the CPO's transformers' requests of the last 30 days and the coming 7, and its awards in them. */
export function awardsSection(me, transformers) {
  const body = h("div");
  const chart = h("div", { "aria-live": "polite" });
  const section = h("section", { class: "card", "aria-labelledby": "awards-title" }, h("h2", { id: "awards-title" }, "Awards and payouts"), body, chart);

  const load = () => busy(body, async () => {
    try {
      await read();
    } catch (e) {
      body.replaceChildren(h("p", { class: "status error" }, `Could not load your awards: ${e.describe?.() ?? e.message}`));
    }
  });
  let latest = 0;
  const read = async () => {
    const mine = ++latest;
    const now = marketNow();
    const range = `from=${encodeURIComponent(new Date(now - 30 * 86_400_000).toISOString())}&to=${encodeURIComponent(new Date(now + 7 * 86_400_000).toISOString())}`;
    const summaries = (await Promise.all([...transformers].map((t) => api(`/v1/requests?transformerId=${encodeURIComponent(t)}&${range}&limit=100`))))
      .flatMap((page) => page.items).filter((r) => AWARDED.includes(r.state));
    const requests = await Promise.all(summaries.map((r) => api(`/v1/requests/${encodeURIComponent(r.id)}`)));
    if (mine !== latest) return;   // a later read is under way
    const rows = requests.flatMap((r) => r.awards.map((a) => ({ r, a, settlement: r.settlements.find((x) => x.awardId === a.record.awardId) })))
      .filter(({ a }) => a.cpoId === me.id);
    body.replaceChildren(rows.length === 0 ? h("p", {}, "No awards in the last 30 days.") : table("Your awards", ["Request", "Window (UTC)", "kWh", "EUR", "Delivery", "Payout", "Meter data"],
      rows.map(({ r, a, settlement }) => [r.id, `${r.deliveryStart.slice(0, 10)} ${windowTimes(r.deliveryStart, r.deliveryEnd)}`, String(a.energyKwh), eur(a.valueEur),
        deliveryStatus(r, a, settlement),
        settlement ? h("a", { href: `#/wallet?awardId=${settlement.awardId}` }, r.chain
          ? `${eur(formatUnits(BigInt(settlement.payoutUnits), r.chain.tokenDecimals))} EUR` : `${settlement.payoutUnits} token units`) : "–",
        h("button", { type: "button", class: "link", onclick: () => showMeter(r, a, settlement, chart) }, `Meter data for ${a.id}`)])));
  };
  load();
  return { element: section, reload: load };
}

/** The award's stations' readings from an hour before the window to its end, against the verified baseline. */
function showMeter(r, award, settlement, container) {
  const from = new Date(Date.parse(r.deliveryStart) - 3_600_000).toISOString();
  return busy(container, async () => {
    const charts = await Promise.all(award.stationIds.map(async (station) => {
      const readings = await api(`/v1/stations/${encodeURIComponent(station)}/readings?from=${encodeURIComponent(from)}&to=${encodeURIComponent(r.deliveryEnd)}`);
      const baseline = (settlement?.verification?.intervals ?? []).filter((i) => i.stationId === station);
      return [h("h3", {}, `Station ${station}`), meterChart(readings.items, baseline, { start: r.deliveryStart, end: r.deliveryEnd }),
        readings.gaps.length ? h("p", {}, `${readings.gaps.length} gap(s) in the readings.`) : null];
    }));
    container.replaceChildren(h("h3", { tabindex: "-1" }, `Meter data for award ${award.id}`), ...charts.flat().filter(Boolean));
    container.firstChild.focus();
  });
}

const ESCROW = new Interface(["function claimable(address account) view returns (uint256)", "function claim()"]);

/**
 * The claimable balance: read from the escrow through the CPO's own wallet (EIP-1193, as MetaMask provides; it knows a
 * node), and claimed by the wallet sending `claim()`: the escrow pays only the caller's own credited balance.
 */
export function claimSection(me) {
  const status = h("p", { class: "status", role: "status", "aria-live": "polite" });
  const actions = h("div");
  const section = h("section", { class: "card", "aria-labelledby": "claim-title" }, h("h2", { id: "claim-title" }, "Claimable balance"),
    h("p", {}, "When the euro token refuses a payment to your wallet (a regulated token may blocklist an address), the escrow credits it to you instead. " +
      "Once the token accepts your address again, claim it from your wallet: only your wallet can, and only its own balance."),
    actions, status);

  const call = (method, params) => window.ethereum.request({ method, params });
  const check = () => busy(section, read);
  const read = async () => {
    status.className = "status";
    actions.replaceChildren();
    try {
      if (!window.ethereum) throw new Error("No wallet found in this browser: your wallet (such as MetaMask) reads the balance and claims it.");
      const chain = (await api("/v1/health")).chain;
      const [account] = await call("eth_requestAccounts");
      if (account?.toLowerCase() !== me.walletAddress.toLowerCase()) throw new Error(`The wallet offers account ${account}, but your registered wallet is ${me.walletAddress}.`);
      if (BigInt(await call("eth_chainId")) !== BigInt(chain.chainId)) throw new Error(`The wallet is on another chain than FlexChain's (chain id ${chain.chainId}).`);
      const units = ESCROW.decodeFunctionResult("claimable",
        await call("eth_call", [{ to: chain.settlementContract, data: ESCROW.encodeFunctionData("claimable", [account]) }, "latest"]))[0];
      const amount = eur(formatUnits(units, chain.tokenDecimals));
      status.textContent = units === 0n ? "Nothing to claim: every payment reached your wallet." : `${amount} EUR is waiting for you in the escrow.`;
      actions.replaceChildren(h("button", { type: "button", onclick: check }, "Check again"),
        ...(units > 0n ? [" ", h("button", { type: "button", onclick: () => claim(account, chain, amount) }, `Claim ${amount} EUR`)] : []));
    } catch (e) {
      status.className = "status error";
      status.textContent = `Could not read the balance: ${e.describe?.() ?? e.message}`;
      actions.replaceChildren(h("button", { type: "button", onclick: check }, "Check again"));
    }
  };
  const claim = (account, chain, amount) => busy(section, async () => {
    try {
      status.textContent = "Asking your wallet to send the claim ...";
      const tx = await call("eth_sendTransaction", [{ from: account, to: chain.settlementContract, data: ESCROW.encodeFunctionData("claim", []) }]);
      status.textContent = `Claim sent (${tx}); waiting for it to be mined ...`;
      let receipt = null;
      for (let wait = 500; !(receipt = await call("eth_getTransactionReceipt", [tx])); wait = Math.min(wait * 2, 5000))
        await new Promise((resolve) => setTimeout(resolve, wait));
      if (receipt.status !== "0x1") throw new Error(`the claim transaction ${tx} failed`);
      await read();
      status.textContent = `Claimed ${amount} EUR in transaction ${tx}.`;
    } catch (e) {
      status.className = "status error";
      status.textContent = `Not claimed: ${e.message}`;
    }
  });
  actions.append(h("button", { type: "button", onclick: check }, "Check my claimable balance"));
  return section;
}
