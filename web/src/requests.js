// A request as its DSO or a CPO follows it: state, countdown, offers after gate closure with the clearing result, awards
// and settlements (each linked to the wallet page's check). Kept fresh by the event stream (live.js): read again on each
// event about it, polled only while the stream is down.
import { h, api, busy, eur, field, marketNow, table } from "./dom.js";
import { meritOrderChart } from "./charts.js";
import { isLive, listenWhile } from "./live.js";

const FINAL = new Set(["Settled", "Cancelled", "Unfilled", "FundingFailed", "Unpaid"]);

/**
 * Shows request `id` in `container`, read again on every event about it and when the stream reconnects; while the
 * stream is down it is polled every 3 s (doubling to 30 s while the API fails). A CPO hears no event about a request it
 * did not win, so once it is due to clear (on the market's clock) an open request is polled until it is cleared.
 * Stops when the request is final or the view is gone.
 */
export function watch(id, container, render) {
  let delay = 3000, timer = null, latest = 0, done = false;
  const view = h("div", { class: "card", "aria-live": "polite", "aria-busy": "true" }, h("span", { class: "busy" }, `Loading ${id} ...`));
  container.replaceChildren(view);
  const schedule = (ms) => { clearTimeout(timer); timer = setTimeout(refresh, ms); };
  const refresh = async () => {
    clearTimeout(timer);
    if (!view.isConnected || done) { stop(); return; }
    const mine = ++latest;
    view.setAttribute("aria-busy", "true");
    try {
      const r = await api(`/v1/requests/${encodeURIComponent(id)}`);
      if (mine !== latest) return;   // a later read is under way
      view.replaceChildren(...render(r, refresh).filter(Boolean));
      view.removeAttribute("aria-busy");
      delay = 3000;
      if (FINAL.has(r.state)) { done = true; stop(); return; }
      // Cleared at gate closure, or for manual selection at the decision deadline.
      const clearsIn = Date.parse(r.selection === "Manual" ? r.decisionDeadline : r.gateClosure) - marketNow();
      if (!isLive()) schedule(delay);
      else if (r.state === "Open") schedule(clearsIn > 0 ? clearsIn + 1000 : delay);
    } catch (e) {
      delay = Math.min(delay * 2, 30_000);
      view.removeAttribute("aria-busy");
      view.replaceChildren(`Could not refresh ${id}: ${e.describe?.() ?? e.message}; retrying in ${delay / 1000} s.`);
      schedule(delay);
    }
  };
  const stop = listenWhile(view, (event) => {
    if (event.type === "stream.down") { if (!done) schedule(delay); }
    else if (event.type === "stream.up" || event.requestId === id) refresh();
  });
  refresh();
}

/**
 * The request's view: terms, state, countdown, then whatever the market has produced for it so far; for its DSO, in
 * manual selection between gate closure and the decision deadline, the form to pick the winners. `refresh` reads the
 * request again (after a decision).
 */
export function requestDetail(r, refresh) {
  const outcomes = r.outcomes ?? [];
  const deciding = r.selection === "Manual" && r.state === "Open" && r.offerCount != null && marketNow() < Date.parse(r.decisionDeadline);
  const parts = [
    h("h2", {}, `Request ${r.id}`),
    h("p", {}, h("span", { class: "state" }, r.state), ` · ${r.energyKwh} kWh ${r.direction} · ${r.deliveryStart} – ${r.deliveryEnd} · at most ${r.maxPriceEurPerKwh} EUR/kWh · ${r.selection} selection`),
    r.state === "Open" && !deciding ? h("p", {}, `Gate closes at ${r.gateClosure} (in `, h("span", { class: "countdown", "data-gate": r.gateClosure }, ""), `); ${r.offerCount ?? 0} sealed offer(s).`) : null,
    deciding ? h("p", {}, `The gate has closed; pick the winners until ${r.decisionDeadline} (in `, h("span", { class: "countdown", "data-gate": r.decisionDeadline }, ""),
      "), or the request is cleared by merit order.") : null,
    r.fill ? h("p", {}, `Cleared: ${r.fill.outcome}, ${r.fill.awardedKwh} kWh awarded, ${r.fill.shortfallKwh} kWh short.`) : null,
    r.appliedSelection ? h("p", {}, r.appliedSelection === "Manual" ? "Winners chosen by the DSO's decision." : "Winners chosen by merit order.",
      r.selectionNote ? ` ${r.selectionNote}` : "") : null,
    r.stateReason ? h("p", { class: "status error" }, r.stateReason) : null,
  ];
  if (deciding && r.offers?.length) parts.push(decisionForm(r, refresh));
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
      r.awards.map((a) => [h("span", { class: "mono" }, a.record.awardId), a.cpoId, String(a.energyKwh), eur(a.valueEur), h("span", { class: "mono" }, a.lockTransactionHash ?? "pending")])));
  if (r.settlements?.length)
    parts.push(table("Settlements", ["Settlement id", "Delivered Wh", "Outcome", "Paid (units)", "Transaction"],
      r.settlements.map((x) => [h("a", { href: `#/wallet?awardId=${x.awardId}`, class: "mono" }, x.awardId), String(x.deliveredWh), x.outcome,
        x.payoutUnits, h("span", { class: "mono" }, x.transactionHash ?? "pending")])));
  for (const x of r.settlements ?? [])
    if (x.verification?.marketIntervals?.length)
      parts.push(table(`Verification of ${x.awardId.slice(0, 10)}… per market interval`, ["Interval (UTC)", "Share kWh", "Delivered kWh", "Score", "Met"],
        x.verification.marketIntervals.map((m) => [`${m.start.slice(11, 16)}–${m.end.slice(11, 16)}`, String(m.scheduledKwh), String(m.deliveredKwh), String(m.score), m.met ? "yes" : "no"])));
  return parts;
}

/**
 * The DSO's manual decision: a pick per offer (divisible ones in part, if wished), recorded with PUT .../decision and
 * replaceable until the deadline; each refused pick is listed with its reason. Starts from the decision in force.
 */
function decisionForm(r, refresh) {
  const status = h("p", { class: "status", role: "status", "aria-live": "polite" });
  const picked = new Map((r.decision?.picks ?? []).map((p) => [p.offerId, p]));
  const rows = [...r.offers].sort((a, b) => a.priceEurPerKwh - b.priceEurPerKwh).map((o) => {
    const box = h("input", { type: "checkbox", id: `pick-${o.id}`, checked: picked.has(o.id) });
    const part = o.divisible ? h("input", { id: `pick-kwh-${o.id}`, inputmode: "decimal", autocomplete: "off", value: picked.get(o.id)?.energyKwh ?? "" }) : null;
    return { o, box, part, element: h("div", { class: "pick" },
      h("div", { class: "check" }, box, h("label", { for: box.id }, `Pick ${o.id}: ${o.energyKwh} kWh at ${o.priceEurPerKwh} EUR/kWh (${o.cpoId})`)),
      part ? field(`kWh of ${o.id} (blank: all of it)`, part) : null) };
  });
  const send = (method, body) => busy(form, async () => {
    try {
      await api(`/v1/requests/${encodeURIComponent(r.id)}/decision`, { method, body });
      await refresh();
    } catch (e) {
      status.className = "status error";
      status.textContent = `Refused: ${e.describe?.() ?? e.message}`;
    }
  });
  const form = h("form", { class: "decision", "aria-labelledby": `decide-${r.id}`, onsubmit: (e) => {
    e.preventDefault();
    const picks = rows.filter((x) => x.box.checked).map((x) => (x.part?.value.trim() ? { offerId: x.o.id, energyKwh: Number(x.part.value) } : { offerId: x.o.id }));
    if (picks.length === 0) { status.className = "status error"; status.textContent = "Pick at least one offer."; return; }
    send("PUT", { picks });
  } },
  h("h3", { id: `decide-${r.id}` }, "Your decision"),
  h("p", {}, r.decision ? `Recorded at ${r.decision.decidedAt}: ${r.decision.picks.map((p) => p.offerId).join(", ")}. You may change it until the deadline.`
    : "No decision recorded yet."),
  rows.map((x) => x.element),
  h("button", { type: "submit" }, "Record decision"), " ",
  r.decision ? h("button", { type: "button", onclick: () => send("DELETE") }, "Withdraw decision") : null,
  status);
  return form;
}
