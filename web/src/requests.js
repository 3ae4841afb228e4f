// A request as the DSO follows it: state, countdown, offers after gate closure with the clearing result, awards and
// settlements (each linked to the wallet page's check). Kept fresh by polling while it can still change.
import { h, api } from "./dom.js";
import { meritOrderChart } from "./charts.js";

const FINAL = new Set(["Settled", "Cancelled", "Unfilled"]);

/** Shows request `id` in `container` and refreshes it every 3 s (doubling to 30 s while the API fails) until it is final or the view is gone. */
export function watch(id, container, render) {
  let delay = 3000;
  const view = h("div", { class: "card", "aria-live": "polite", "aria-busy": "true" }, `Loading ${id} ...`);
  container.replaceChildren(view);
  const tick = async () => {
    if (!view.isConnected) return;
    try {
      const r = await api(`/v1/requests/${encodeURIComponent(id)}`);
      view.replaceChildren(...render(r).filter(Boolean));
      view.removeAttribute("aria-busy");
      delay = 3000;
      if (FINAL.has(r.state)) return;
    } catch (e) {
      delay = Math.min(delay * 2, 30_000);
      view.replaceChildren(`Could not refresh ${id}: ${e.describe?.() ?? e.message}; retrying in ${delay / 1000} s.`);
    }
    setTimeout(tick, delay);
  };
  tick();
}

const table = (caption, headings, rows) => h("div", { class: "table-box", role: "region", "aria-label": caption, tabindex: "0" }, h("table", {},
  h("caption", {}, caption), h("thead", {}, h("tr", {}, headings.map((c) => h("th", { scope: "col" }, c)))),
  h("tbody", {}, rows.map((cells) => h("tr", {}, cells.map((c) => h("td", {}, c)))))));

/** The request's view: terms, state, countdown, then whatever the market has produced for it so far. */
export function requestDetail(r) {
  const outcomes = r.outcomes ?? [];
  const parts = [
    h("h2", {}, `Request ${r.id}`),
    h("p", {}, h("span", { class: "state" }, r.state), ` · ${r.energyKwh} kWh ${r.direction} · ${r.deliveryStart} – ${r.deliveryEnd} · at most ${r.maxPriceEurPerKwh} EUR/kWh`),
    r.state === "Open" ? h("p", {}, `Gate closes at ${r.gateClosure} (in `, h("span", { class: "countdown", "data-gate": r.gateClosure }, ""), `); ${r.offerCount ?? 0} sealed offer(s).`) : null,
    r.fill ? h("p", {}, `Cleared: ${r.fill.outcome}, ${r.fill.awardedKwh} kWh awarded, ${r.fill.shortfallKwh} kWh short.`) : null,
  ];
  if (r.offers?.length) {
    parts.push(meritOrderChart(r.offers, outcomes, r.energyKwh, r.maxPriceEurPerKwh));
    parts.push(table("Offers and the clearing result", ["Offer", "CPO", "kWh", "EUR/kWh", "Result", "Accepted kWh", "Reason"],
      [...r.offers].sort((a, b) => a.priceEurPerKwh - b.priceEurPerKwh).map((o) => {
        const c = outcomes.find((x) => x.offerId === o.id);
        return [o.id, o.cpoId, String(o.energyKwh), String(o.priceEurPerKwh), c?.outcome ?? "–", String(c?.acceptedEnergyKwh ?? 0), c?.detail ?? ""];
      })));
  }
  if (r.awards?.length)
    parts.push(table("Awards (locked in escrow)", ["Award", "CPO", "kWh", "EUR", "Lock transaction"],
      r.awards.map((a) => [h("span", { class: "mono" }, a.record.awardId), a.cpoId, String(a.energyKwh), String(a.valueEur), h("span", { class: "mono" }, a.lockTransactionHash ?? "pending")])));
  if (r.settlements?.length)
    parts.push(table("Settlements", ["Settlement id", "Delivered Wh", "Outcome", "Paid (units)", "Transaction"],
      r.settlements.map((x) => [h("a", { href: `#/wallet?awardId=${x.awardId}`, class: "mono" }, x.awardId), String(x.deliveredWh), x.outcome,
        x.payoutUnits, h("span", { class: "mono" }, x.transactionHash ?? "pending")])));
  return parts;
}
