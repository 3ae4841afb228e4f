// The CPO's page: stations (with their prequalification) and EVs, the open requests at its stations' transformers
// with a countdown, and per request its own offers, placed, edited and withdrawn under the ETag rules (If-Match: a
// change made elsewhere meanwhile is refused, 412, and the page reloads the offer), then the clearing result, awards
// and settlements as they come (the event stream, live.js); its awards with delivery status, meter data and payouts, and
// its claimable balance (awards.js).
import { h, field, api, apiVersioned, busy, table, windowTimes } from "./dom.js";
import { rolePage } from "./signin.js";
import { requestDetail, watch } from "./requests.js";
import { listenWhile } from "./live.js";
import { awardsSection, claimSection } from "./awards.js";

export function cpoPage() {
  return rolePage("Cpo", "CPO: stations, offers and payouts", (me, content) => market(me, content));
}

async function market(me, content) {
  const [stations, evs] = await busy(content, () => Promise.all([api("/v1/stations?limit=100"), api("/v1/evs?limit=100")]));
  const fleet = h("section", { class: "card", "aria-labelledby": "fleet-title" }, h("h2", { id: "fleet-title" }, "Stations and EVs"));
  const requests = h("section", { class: "card", "aria-labelledby": "open-title" }, h("h2", { id: "open-title" }, "Open requests"));
  const offerPanel = h("div");
  content.replaceChildren(fleet, requests, offerPanel);

  const renderFleet = (list) => fleet.replaceChildren(fleet.firstChild,
    list.length === 0 ? h("p", {}, "No stations registered yet.") : table("Stations", ["Station", "Model", "City", "Transformer", "Max kW", "Status", "Prequalification"],
      list.map((st) => [st.id, st.model, st.city, st.transformerId, String(st.maxPowerKw), st.status, qualification(st)])),
    evs.items.length === 0 ? h("p", {}, "No EVs registered.") : table("EVs", ["EV", "Model", "Battery kWh", "Max charging kW"],
      evs.items.map((ev) => [ev.id, ev.model, String(ev.batteryKwh), String(ev.maxChargingKw)])));
  const qualification = (st) => st.qualification?.status === "Qualified"
    ? `Qualified until ${st.qualification.validUntil?.slice(0, 10) ?? "—"}`
    : h("span", {}, st.qualification ? `${st.qualification.status} ` : "Not applied ",
      h("button", { type: "button", class: "link", onclick: async () => {
        await api(`/v1/stations/${st.id}/prequalification`, { method: "POST", body: {} });
        renderFleet((await api("/v1/stations?limit=100")).items);
      } }, `Apply for ${st.id}`));
  renderFleet(stations.items);

  const transformers = new Set(stations.items.map((st) => st.transformerId));
  const list = h("div");
  requests.append(list);
  const loadOpen = () => busy(list, async () => {
    const open = (await Promise.all([...transformers].map((t) => api(`/v1/requests?transformerId=${encodeURIComponent(t)}&status=Open&limit=50`))))
      .flatMap((page) => page.items).sort((a, b) => a.gateClosure.localeCompare(b.gateClosure));
    const choose = (r) => offers(r, stations.items.filter((st) => st.transformerId === r.transformerId && st.qualification?.status === "Qualified"), offerPanel);
    list.replaceChildren(open.length === 0 ? h("p", {}, "No open requests at your stations' transformers.") : calendar(open, choose), open.length === 0 ? "" : h("ul", { class: "requests" }, open.map((r) => h("li", {},
      h("button", { type: "button", class: "link", onclick: () => choose(r) }, r.id),
      ` ${r.energyKwh} kWh ${r.direction} ${windowTimes(r.deliveryStart, r.deliveryEnd)} UTC, at most ${r.maxPriceEurPerKwh} EUR/kWh · gate closes in `,
      h("span", { class: "countdown", "data-gate": r.gateClosure }, "")))));
  });
  const awards = awardsSection(me, transformers);
  content.append(awards.element, claimSection(me));
  // A request published at one of the CPO's transformers appears at once; the awards follow the CPO's own events.
  listenWhile(list, (event) => {
    if (event.type === "stream.up" || (event.type === "request.published" && transformers.has(event.data?.transformerId))) loadOpen();
    if (event.type === "stream.up" || (event.requestId && event.type !== "request.published")) awards.reload();
  });
  await loadOpen();
}

/**
 * The open requests as a calendar: one column per UTC day of delivery, each window in time order with its energy and
 * direction; choosing one opens its offer panel, as the list below does.
 */
function calendar(open, choose) {
  const days = new Map();
  for (const r of [...open].sort((a, b) => a.deliveryStart.localeCompare(b.deliveryStart)))
    days.set(r.deliveryStart.slice(0, 10), [...(days.get(r.deliveryStart.slice(0, 10)) ?? []), r]);
  const label = (day) => new Date(`${day}T00:00:00Z`).toLocaleDateString("en-GB", { weekday: "short", day: "numeric", month: "short", timeZone: "UTC" });
  return h("div", { class: "calendar", role: "group", "aria-label": "Open requests by delivery day (UTC)" }, [...days].map(([day, requests]) =>
    h("section", { class: "day", "aria-label": label(day) }, h("h3", {}, label(day)), h("ol", {}, requests.map((r) => h("li", {},
      h("button", { type: "button", class: `window ${r.direction === "IncreaseConsumption" ? "up" : "down"}`, onclick: () => choose(r) },
        `${windowTimes(r.deliveryStart, r.deliveryEnd)} · ${r.energyKwh} kWh ${r.direction === "IncreaseConsumption" ? "more" : "less"}`)))))));
}

/** The request's offer panel: the CPO's own offers with edit and withdraw, the offer form, and the request as it goes on. */
function offers(r, stations, panel) {
  const mine = h("div");
  const status = h("p", { class: "status", role: "status", "aria-live": "polite" });
  const energy = h("input", { name: "energyKwh", inputmode: "decimal", autocomplete: "off" });
  const price = h("input", { name: "priceEurPerKwh", inputmode: "decimal", autocomplete: "off" });
  const divisible = h("input", { type: "checkbox", name: "divisible" });
  const boxes = stations.map((st) => h("input", { type: "checkbox", name: "station", value: st.id, id: `offer-station-${st.id}` }));
  const submit = h("button", { type: "submit" }, "Place offer");
  const detail = h("div");
  let editing = null;   // { id, etag } of the offer being edited

  const reset = () => {
    editing = null;
    submit.textContent = "Place offer";
    energy.value = price.value = "";
    divisible.checked = false;
    for (const b of boxes) b.checked = boxes.length === 1;
  };
  const fail = (error) => {
    status.className = "status error";
    status.textContent = error.status === 412
      ? "The offer was changed elsewhere since you loaded it: reloaded, check it and try again."
      : `Refused: ${error.describe?.() ?? error.message}`;
  };
  const load = async () => {
    const list = (await api(`/v1/requests/${r.id}/offers?limit=50`)).items;
    mine.replaceChildren(list.length === 0 ? h("p", {}, "You have no offer on this request.") : table("Your offers", ["Offer", "kWh", "EUR/kWh", "Stations", ""],
      list.map((o) => [o.id, String(o.energyKwh), String(o.priceEurPerKwh), o.stationIds.join(", "), h("span", { class: "actions" },
        h("button", { type: "button", class: "link", onclick: () => edit(o.id) }, `Edit ${o.id}`), " ",
        h("button", { type: "button", class: "link", onclick: () => withdraw(o.id) }, `Withdraw ${o.id}`))])));
  };
  const edit = async (id) => {
    const { json: o, etag } = await apiVersioned(`/v1/requests/${r.id}/offers/${id}`);
    editing = { id, etag };
    energy.value = String(o.energyKwh);
    price.value = String(o.priceEurPerKwh);
    divisible.checked = o.divisible;
    for (const b of boxes) b.checked = o.stationIds.includes(b.value);
    submit.textContent = `Save changes to ${id}`;
    price.focus();
  };
  const withdraw = async (id) => {
    try {
      const { etag } = await apiVersioned(`/v1/requests/${r.id}/offers/${id}`);
      await api(`/v1/requests/${r.id}/offers/${id}`, { method: "DELETE", headers: { "If-Match": etag } });
      status.className = "status";
      status.textContent = `Offer ${id} withdrawn.`;
      reset();
    } catch (e) { fail(e); }
    await load();
  };

  const form = h("form", { class: "card", "aria-labelledby": "offer-title", onsubmit: async (e) => {
    e.preventDefault();
    const body = { stationIds: boxes.filter((b) => b.checked).map((b) => b.value), energyKwh: Number(energy.value), priceEurPerKwh: Number(price.value), divisible: divisible.checked };
    submit.disabled = true;
    form.setAttribute("aria-busy", "true");
    try {
      if (editing) {
        const saved = await api(`/v1/requests/${r.id}/offers/${editing.id}`, { method: "PUT", body, headers: { "If-Match": editing.etag } });
        status.textContent = `Offer ${saved.id} saved (revision ${saved.revision}).`;
      } else {
        const placed = await api(`/v1/requests/${r.id}/offers`, { method: "POST", body, headers: { "Idempotency-Key": crypto.randomUUID() } });
        status.textContent = `Offer ${placed.id} placed.`;
      }
      status.className = "status";
      reset();
    } catch (error) {
      fail(error);
      if (error.status === 412) await edit(editing.id);
    } finally {
      submit.disabled = false;
      form.removeAttribute("aria-busy");
    }
    await load();
  } },
  h("h2", { id: "offer-title" }, `Offer on ${r.id}`),
  h("p", {}, `${r.energyKwh} kWh ${r.direction}, ${r.deliveryStart} – ${r.deliveryEnd}, at most ${r.maxPriceEurPerKwh} EUR/kWh. Offers are sealed until the gate closes in `,
    h("span", { class: "countdown", "data-gate": r.gateClosure }, ""), "."),
  mine,
  stations.length === 0 ? h("p", {}, "None of your stations behind this transformer is prequalified.") :
    h("fieldset", {}, h("legend", {}, "Stations"), boxes.map((b, i) => h("div", { class: "check" }, b, h("label", { for: b.id }, `${stations[i].id} (${stations[i].maxPowerKw} kW)`)))),
  field("Energy (kWh)", energy), field("Price (EUR/kWh)", price),
  h("div", { class: "check" }, divisible, h("label", { for: divisible.id || (divisible.id = "offer-divisible") }, "Divisible (may be accepted in part)")),
  submit, status);

  panel.replaceChildren(form, detail);
  reset();
  load();
  watch(r.id, detail, requestDetail);
}
