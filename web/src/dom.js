// The few DOM helpers every page uses: elements built from plain values (text is always text, never HTML).

/** An element with attributes (on* keys become listeners) and children (strings become text nodes; null is skipped). */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  element.append(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
  return element;
}

/**
 * Runs `work` with `element` marked busy: aria-busy for assistive technology, and the stylesheet shows a visible
 * "Working ..." indicator on any element marked so. Returns what `work` returns (or throws what it throws).
 */
export async function busy(element, work) {
  element.setAttribute("aria-busy", "true");
  try {
    return await work();
  } finally {
    element.removeAttribute("aria-busy");
  }
}

/** A table in a scrollable, labelled region (its caption names both), one row of cells per item. */
export function table(caption, headings, rows) {
  return h("div", { class: "table-box", role: "region", "aria-label": caption, tabindex: "0" }, h("table", {},
    h("caption", {}, caption), h("thead", {}, h("tr", {}, headings.map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, rows.map((cells) => h("tr", {}, cells.map((c) => h("td", {}, c)))))));
}

let fieldCount = 0;

/** A labelled form field: the label names the input, the hint is its description. */
export function field(label, input, hint) {
  const id = input.id || (input.id = `field-${++fieldCount}`);
  const hintId = hint ? `${id}-hint` : null;
  if (hintId) input.setAttribute("aria-describedby", hintId);
  return h("div", { class: "field" }, h("label", { for: id }, label), input, hint ? h("p", { class: "hint", id: hintId }, hint) : null);
}

/** GET a JSON document from the app; null for 404, an Error naming the status otherwise. */
export async function getJson(path) {
  const response = await fetch(path, { headers: { Accept: "application/json" } });
  if (response.status === 404) return null;
  if (!response.ok) throw new Error(`GET ${path}: ${response.status} ${(await response.text()).slice(0, 300)}`);
  return response.json();
}

/** A refusal from the API: its RFC 7807 problem, with the field and rule it names. */
export class ApiProblem extends Error {
  constructor(status, problem) {
    super(problem?.detail ?? problem?.title ?? `HTTP ${status}`);
    this.status = status;
    this.field = problem?.field;
    this.rule = problem?.rule;
  }

  /** "detail (field, rule)" as a person reads it. */
  describe() {
    return this.field ? `${this.message} (field ${this.field}, rule ${this.rule})` : this.message;
  }
}

/** Calls the API with the signed-in participant's key (kept in sessionStorage only: gone when the tab closes). */
export async function api(path, options) {
  return (await apiVersioned(path, options)).json;
}

/** As api, with the answer's ETag (the version a later If-Match names). */
export async function apiVersioned(path, { method = "GET", body, headers = {} } = {}) {
  const key = apiKey();
  const response = await fetch(path, {
    method,
    headers: { Accept: "application/json", ...(key ? { "X-Api-Key": key } : {}), ...(body ? { "Content-Type": "application/json" } : {}), ...headers },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await response.text();
  const json = text ? JSON.parse(text) : null;
  if (!response.ok) throw new ApiProblem(response.status, json);
  return { json, etag: response.headers.get("ETag") };
}

const API_KEY = "flexchain.apiKey";

/** The signed-in participant's API key, or null. */
export function apiKey() {
  return sessionStorage.getItem(API_KEY);
}

/** Signs in with an API key: stored in sessionStorage only, checked by reading the caller's own participant. */
export async function signIn(key) {
  sessionStorage.setItem(API_KEY, key);
  try {
    return await api("/v1/participants/me");
  } catch (e) {
    sessionStorage.removeItem(API_KEY);
    throw e;
  }
}

export function signOut() {
  sessionStorage.removeItem(API_KEY);
}

/** The signed-in participant, or null. */
export async function currentParticipant() {
  return apiKey() ? api("/v1/participants/me").catch(() => null) : null;
}

// The market's clock, not the browser's: gate closures are judged by the server, and a laptop's clock may be off.
let clockOffset = 0;
let clockSynced = null;

/** Measures the offset of the market's clock (the health endpoint's time) from this browser's: once per page load, or again when `again`. */
export function syncMarketClock(again = false) {
  if (again) clockSynced = null;
  clockSynced ??= getJson("/v1/health").then((health) => {
    if (health?.time) clockOffset = Date.parse(health.time) - Date.now();
  }).catch(() => {});
  return clockSynced;
}

/**
 * A delivery window's times, "HH:MM–HH:MM" (UTC; both ISO 8601 in UTC): an end at the midnight after the start's day is
 * "24:00", an end on a later day names its date ("10:00–2026-12-10 02:00").
 */
export function windowTimes(start, end) {
  const [startDay, endDay, endTime] = [start.slice(0, 10), end.slice(0, 10), end.slice(11, 16)];
  const nextDay = new Date(Date.parse(`${startDay}T00:00:00Z`) + 86_400_000).toISOString().slice(0, 10);
  const to = endDay === startDay ? endTime : endDay === nextDay && endTime === "00:00" ? "24:00" : `${endDay} ${endTime}`;
  return `${start.slice(11, 16)}–${to}`;
}

/** An amount in EUR (a number or a decimal string) with at least two decimals, never rounded: 0.2 -> "0.20", 0.125 stays. */
export function eur(amount) {
  const [whole, fraction = ""] = String(amount).split(".");
  return `${whole}.${fraction.padEnd(2, "0")}`;
}

/** Now on the market's clock, in milliseconds since the epoch. */
export function marketNow() {
  return Date.now() + clockOffset;
}

/** "1 h 02 min 05 s" / "closed" for a moment, from now on the market's clock. */
export function countdown(to, now = marketNow()) {
  let s = Math.floor((Date.parse(to) - now) / 1000);
  if (s <= 0) return "closed";
  const h = Math.floor(s / 3600); s -= h * 3600;
  const m = Math.floor(s / 60); s -= m * 60;
  return `${h > 0 ? `${h} h ` : ""}${String(m).padStart(2, "0")} min ${String(s).padStart(2, "0")} s`;
}
