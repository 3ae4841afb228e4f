// The DSO's page: transformers (list and map), the day's forecast against the limit where a drag starts a request,
// the request signed by the DSO's wallet (EIP-1193) as its consent to pay, and the requests with their countdown to
// gate closure, then offers, the clearing result and the settlements, kept fresh by the event stream (live.js).
import { h, field, api, busy, marketNow, syncMarketClock, table, windowTimes } from "./dom.js";
import { s, forecastChart, meritOrderChart } from "./charts.js";
import { signConsent } from "./consent.js";
import { rolePage } from "./signin.js";
import { requestDetail, watch } from "./requests.js";
import { listenWhile } from "./live.js";

export function dsoPage() {
  return rolePage("Dso", "DSO: flexibility requests", (me, content) => market(me, content));
}

async function market(me, content) {
  const transformers = (await busy(content, () => api("/v1/transformers?limit=100"))).items;
  const list = h("ul", { class: "choices" });
  const map = h("div", { class: "map-box" });
  const forecast = h("section", { "aria-labelledby": "forecast-title" });
  const requests = h("section", { "aria-labelledby": "requests-title" });
  content.replaceChildren(
    h("section", { "aria-labelledby": "transformers-title", class: "card" }, h("h2", { id: "transformers-title" }, "Transformers"),
      transformers.length === 0 ? h("p", {}, "No transformers registered yet.") : h("div", { class: "split" }, list, map)),
    forecast, requests, historySection(transformers));

  const select = (t) => {
    for (const b of list.querySelectorAll("button")) b.setAttribute("aria-pressed", String(b.dataset.id === t.id));
    for (const c of map.querySelectorAll("circle")) { c.classList.toggle("selected", c.dataset.id === t.id); c.setAttribute("aria-pressed", String(c.dataset.id === t.id)); }
    showTransformer(me, t, forecast, requests);
  };
  list.append(...transformers.map((t) => h("li", {}, h("button", { type: "button", "data-id": t.id, "aria-pressed": "false", onclick: () => select(t) },
    `${t.name} · ${t.ratedPowerKw} kW`))));
  map.append(transformerMap(transformers, select));
  if (transformers.length > 0) select(transformers[0]);
}

/** Transformers drawn at their positions (no map tiles: nothing is loaded from elsewhere). */
function transformerMap(transformers, select) {
  const located = transformers.filter((t) => t.location);
  const lats = located.map((t) => t.location.latitude), lons = located.map((t) => t.location.longitude);
  const [minLat, maxLat, minLon, maxLon] = [Math.min(...lats), Math.max(...lats), Math.min(...lons), Math.max(...lons)];
  const span = Math.max(maxLat - minLat, maxLon - minLon, 0.01);
  const px = (lon) => 20 + ((lon - minLon) / span) * 260, py = (lat) => 180 - ((lat - minLat) / span) * 160;
  // Each dot is a button: focusable in list order, chosen with a click, Enter or Space.
  return s("svg", { viewBox: "0 0 300 200", class: "map", role: "group", "aria-label": `Map of ${located.length} transformers by position` },
    s("rect", { x: 0, y: 0, width: 300, height: 200, class: "map-ground", "aria-hidden": "true" }),
    ...located.map((t) => {
      const dot = s("circle", { cx: px(t.location.longitude), cy: py(t.location.latitude), r: 7, "data-id": t.id, tabindex: 0, role: "button",
        "aria-pressed": "false", "aria-label": `Map: ${t.name}, ${t.ratedPowerKw} kW` });
      dot.addEventListener("click", () => select(t));
      dot.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); select(t); } });
      return dot;
    }));
}

async function showTransformer(me, t, forecastSection, requestsSection) {
  const day = h("input", { type: "date", name: "day", value: new Date(marketNow()).toISOString().slice(0, 10) });
  const chartBox = h("div", { "aria-live": "polite" });
  const form = requestForm(me, t, () => loadRequests());
  const loadForecast = () => busy(chartBox, async () => {
    try {
      const f = await api(`/v1/transformers/${t.id}/forecasts/${day.value}`);
      chartBox.replaceChildren(f.points.length ? forecastChart(f.points, form.prefill) : h("p", {}, `No forecast published for ${day.value}.`));
    } catch (e) {
      chartBox.replaceChildren(h("p", {}, `Could not load the forecast: ${e.describe?.() ?? e.message}`));
    }
  });
  day.addEventListener("change", loadForecast);
  forecastSection.replaceChildren(h("div", { class: "card" }, h("h2", { id: "forecast-title" }, `Forecast: ${t.name}`),
    field("Day (UTC)", day), chartBox), form.element);
  loadForecast();

  const list = h("ul", { class: "requests" });
  const detail = h("div");
  requestsSection.replaceChildren(h("div", { class: "card" }, h("h2", { id: "requests-title" }, "Requests"), list), detail);
  let shown = new Set();
  const loadRequests = () => busy(list, async () => {
    const items = (await api(`/v1/requests?transformerId=${encodeURIComponent(t.id)}&limit=50`)).items.filter((r) => r.dsoId === me.id);
    shown = new Set(items.map((r) => r.id));
    list.replaceChildren(...(items.length ? items.map((r) => h("li", {},
      h("button", { type: "button", class: "link", onclick: () => watch(r.id, detail, requestDetail) }, r.id),
      ` ${r.energyKwh} kWh ${windowTimes(r.deliveryStart, r.deliveryEnd)} UTC · `, h("span", { class: "state" }, r.state),
      r.state === "Open" ? [" · gate closes in ", h("span", { class: "countdown", "data-gate": r.gateClosure }, "")] : null))
      : [h("li", {}, "No requests for this transformer from today on.")]));
  });
  listenWhile(list, (event) => { if (event.type === "stream.up" || shown.has(event.requestId)) loadRequests(); });
  await loadRequests();
}

/** The new-request form: prefilled by a drag over the forecast, posted with the wallet's consent. */
function requestForm(me, t, posted) {
  const input = (name, attributes = {}) => h("input", { name, autocomplete: "off", ...attributes });
  const start = input("deliveryStart", { class: "mono" }), end = input("deliveryEnd", { class: "mono" });
  const energy = input("energyKwh", { inputmode: "decimal" }), price = input("maxPriceEurPerKwh", { inputmode: "decimal", value: "0.5" });
  const gate = input("gateClosure", { class: "mono" });
  const direction = h("select", { name: "direction" }, h("option", { value: "ReduceConsumption" }, "Reduce consumption"), h("option", { value: "IncreaseConsumption" }, "Increase consumption"));
  const selection = h("select", { name: "selection" }, h("option", { value: "Automatic" }, "Automatic (merit order)"), h("option", { value: "Manual" }, "Manual (I pick the winners)"));
  const deadline = input("decisionDeadline", { class: "mono" });
  const status = h("p", { class: "status", role: "status", "aria-live": "polite" });
  const button = h("button", { type: "submit" }, "Sign consent and post request");
  let idempotencyKey = crypto.randomUUID();

  const form = h("form", { class: "card", "aria-labelledby": "new-request-title", onsubmit: async (e) => {
    e.preventDefault();
    button.disabled = true;
    status.className = "status";
    form.setAttribute("aria-busy", "true");
    try {
      const body = {
        transformerId: t.id, deliveryStart: start.value.trim(), deliveryEnd: end.value.trim(), energyKwh: Number(energy.value),
        direction: direction.value, maxPriceEurPerKwh: Number(price.value), gateClosure: gate.value.trim(), pricing: "PayAsBid",
        selection: selection.value, ...(selection.value === "Manual" ? { decisionDeadline: deadline.value.trim() } : {}),
      };
      if (!window.ethereum) throw new Error("No wallet found in this browser: a wallet (such as MetaMask) signs the consent to pay.");
      status.textContent = "Asking your wallet to sign the consent ...";
      const [account] = await window.ethereum.request({ method: "eth_requestAccounts" });
      if (account?.toLowerCase() !== me.walletAddress.toLowerCase())
        throw new Error(`The wallet offers account ${account}, but your registered wallet is ${me.walletAddress}.`);
      const chain = (await api("/v1/health")).chain;
      body.consent = await signConsent(window.ethereum, account, body, chain);
      status.textContent = "Posting ...";
      const created = await api("/v1/requests", { method: "POST", body, headers: { "Idempotency-Key": idempotencyKey } });
      idempotencyKey = crypto.randomUUID();
      status.textContent = `Request ${created.id} posted: ${created.state}.`;
      await posted();
    } catch (error) {
      status.className = "status error";
      status.textContent = `Not posted: ${error.describe?.() ?? error.message}`;
    } finally {
      button.disabled = false;
      form.removeAttribute("aria-busy");
    }
  } },
  h("h2", { id: "new-request-title" }, "New request"),
  h("p", { class: "hint" }, "Drag over the forecast to fill the window and the energy above the limit; every field can be typed too."),
  field("Delivery start (UTC, ISO 8601)", start), field("Delivery end (UTC, ISO 8601)", end),
  field("Energy (kWh)", energy), field("Direction", direction), field("Price cap (EUR/kWh)", price),
  field("Gate closure (UTC, ISO 8601)", gate, "Offers are accepted until then; it must leave the activation lead time before delivery."),
  field("Selection", selection), field("Decision deadline (UTC, ISO 8601; manual selection only)", deadline, "You pick the winners between gate closure and this time."),
  button, status);

  /** Fills the window from the chosen intervals and the energy from their load above the limit. */
  const prefill = (points) => {
    start.value = points[0].start;
    end.value = points.at(-1).end;
    const overload = points.reduce((sum, p) => sum + Math.max(0, p.expectedLoadKw - p.limitKw) * (Date.parse(p.end) - Date.parse(p.start)) / 3_600_000, 0);
    if (overload > 0) energy.value = String(Math.round(overload * 1000) / 1000);
    start.focus();
  };
  return { element: form, prefill };
}

const STATES = ["Open", "Cleared", "Awarded", "Settling", "Settled", "Unfilled", "Cancelled", "FundingFailed", "Unpaid"];

/**
 * The DSO's history: its requests whose delivery started in the last 7, 14 or 30 days (market clock), on one transformer
 * or all, in one state or any; each opens the request's view (offers, the selected ones, verification, settlements).
 */
function historySection(transformers) {
  const days = h("select", { name: "days" }, [7, 14, 30].map((d) => h("option", { value: d }, `Last ${d} days`)));
  const transformer = h("select", { name: "transformer" }, h("option", { value: "" }, "All transformers"), transformers.map((t) => h("option", { value: t.id }, t.name)));
  const state = h("select", { name: "state" }, h("option", { value: "" }, "Any state"), STATES.map((x) => h("option", { value: x }, x)));
  const results = h("div");
  const detail = h("div");
  const names = new Map(transformers.map((t) => [t.id, t.name]));

  const show = () => busy(results, async () => {
    await syncMarketClock(true);   // a page may stay open for days
    const to = new Date(marketNow()), from = new Date(to - Number(days.value) * 86_400_000);
    const query = `from=${encodeURIComponent(from.toISOString())}&to=${encodeURIComponent(to.toISOString())}${state.value ? `&status=${state.value}` : ""}&limit=100`;
    try {
      const ids = transformer.value ? [transformer.value] : transformers.map((t) => t.id);
      const items = (await Promise.all(ids.map((id) => api(`/v1/requests?transformerId=${encodeURIComponent(id)}&${query}`))))
        .flatMap((page) => page.items).sort((a, b) => b.deliveryStart.localeCompare(a.deliveryStart));
      results.replaceChildren(items.length === 0 ? h("p", {}, "No requests match these filters.") : table("Request history", ["Request", "Transformer", "Delivery (UTC)", "kWh", "Selection", "State"],
        items.map((r) => [h("button", { type: "button", class: "link", onclick: () => watch(r.id, detail, requestDetail) }, r.id), names.get(r.transformerId) ?? r.transformerId,
          `${r.deliveryStart.slice(0, 10)} ${windowTimes(r.deliveryStart, r.deliveryEnd)}`, String(r.energyKwh), r.selection, r.state])));
    } catch (e) {
      results.replaceChildren(h("p", { class: "status error" }, `Could not load the history: ${e.describe?.() ?? e.message}`));
    }
  });
  return h("section", { "aria-labelledby": "history-title" },
    h("form", { class: "card filters", onsubmit: (e) => { e.preventDefault(); show(); } },
      h("h2", { id: "history-title" }, "History"),
      h("div", { class: "filter-row" }, field("Period", days), field("Transformer", transformer), field("State", state)),
      h("button", { type: "submit" }, "Show history"), results),
    detail);
}
