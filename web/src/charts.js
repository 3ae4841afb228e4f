// Small SVG charts (no chart library: a few shapes each, with a text alternative for screen readers).
import { h } from "./dom.js";

const SVG = "http://www.w3.org/2000/svg";
/** An SVG element (attributes only; children appended). */
export function s(tag, attributes = {}, ...children) {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value));
  element.append(...children);
  return element;
}

const W = 600, H = 240, LEFT = 44, TOP = 12, BOTTOM = 24;

/**
 * The forecast of one day: expected load per interval as bars (congested ones dark orange) against the limit (a
 * stepped line). Dragging over it selects a window: `onSelect(points)` gets the intervals it covers.
 */
export function forecastChart(points, onSelect) {
  const t0 = Date.parse(points[0].start), t1 = Date.parse(points.at(-1).end);
  const top = Math.max(...points.map((p) => Math.max(p.expectedLoadKw, p.limitKw))) * 1.1;
  const x = (t) => LEFT + ((t - t0) / (t1 - t0)) * (W - LEFT);
  const y = (kw) => TOP + (1 - kw / top) * (H - TOP - BOTTOM);
  const congested = points.filter((p) => p.congested).length;
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart forecast", role: "img",
    "aria-label": `Forecast load against the limit: ${congested} of ${points.length} intervals congested. Drag over the chart to start a request for that window.` });
  svg.append(s("line", { x1: LEFT, x2: W, y1: y(0), y2: y(0), class: "axis" }));
  svg.append(s("text", { x: LEFT - 4, y: y(top / 1.1) + 4, "text-anchor": "end", class: "tick" }, String(Math.round(top / 1.1))));
  svg.append(s("text", { x: LEFT - 4, y: y(0), "text-anchor": "end", class: "tick" }, "0 kW"));
  for (let hour = 0; hour <= 24; hour += 6) {
    const t = t0 + hour * 3_600_000;
    if (t <= t1) svg.append(s("text", { x: x(t), y: H - 6, "text-anchor": hour === 0 ? "start" : hour === 24 ? "end" : "middle", class: "tick" }, `${String(new Date(t).getUTCHours()).padStart(2, "0")}:00`));
  }
  for (const p of points) {
    const a = x(Date.parse(p.start)), b = x(Date.parse(p.end));
    svg.append(s("rect", { x: a, width: Math.max(b - a - 0.5, 0.5), y: y(p.expectedLoadKw), height: y(0) - y(p.expectedLoadKw),
      class: p.congested ? "bar congested" : "bar", "data-start": p.start, "data-end": p.end }));
  }
  svg.append(s("polyline", { class: "limit", points: points.flatMap((p) => [`${x(Date.parse(p.start))},${y(p.limitKw)}`, `${x(Date.parse(p.end))},${y(p.limitKw)}`]).join(" ") }));
  const band = s("rect", { class: "selection", y: TOP, height: H - TOP - BOTTOM, x: 0, width: 0, visibility: "hidden" });
  svg.append(band);

  // Drag to select: the pointer's x in the chart's own coordinates.
  const at = (event) => { const r = svg.getBoundingClientRect(); return ((event.clientX - r.left) / r.width) * W; };
  let from = null;
  svg.addEventListener("pointerdown", (e) => { from = at(e); svg.setPointerCapture(e.pointerId); });
  svg.addEventListener("pointermove", (e) => {
    if (from === null) return;
    const to = at(e);
    band.setAttribute("x", Math.min(from, to)); band.setAttribute("width", Math.abs(to - from)); band.setAttribute("visibility", "visible");
  });
  svg.addEventListener("pointerup", (e) => {
    if (from === null) return;
    const [a, b] = [from, at(e)].sort((m, n) => m - n);
    from = null;
    const chosen = points.filter((p) => x(Date.parse(p.end)) > a && x(Date.parse(p.start)) < b);
    if (chosen.length > 0) onSelect(chosen);
  });
  return h("figure", { class: "chart-box" }, svg,
    h("figcaption", {}, "Bars: expected load (dark orange where it exceeds the limit). Line: the transformer's limit. Drag across the chart to select a delivery window."));
}

/**
 * The merit order after clearing: offers by price (the curve's steps, width = energy), accepted ones filled, with the
 * requested energy and the price cap as lines.
 */
export function meritOrderChart(offers, outcomes, requestedKwh, capEurPerKwh) {
  const sorted = [...offers].sort((a, b) => a.priceEurPerKwh - b.priceEurPerKwh);
  const total = Math.max(requestedKwh, sorted.reduce((sum, o) => sum + o.energyKwh, 0)) * 1.1;
  const top = Math.max(capEurPerKwh, ...sorted.map((o) => o.priceEurPerKwh)) * 1.15;
  const x = (kwh) => LEFT + (kwh / total) * (W - LEFT);
  const y = (eur) => TOP + (1 - eur / top) * (H - TOP - BOTTOM);
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart merit", role: "img",
    "aria-label": `Merit order: ${sorted.length} offers by price against ${requestedKwh} kWh requested at most ${capEurPerKwh} EUR/kWh.` });
  svg.append(s("line", { x1: LEFT, x2: W, y1: y(0), y2: y(0), class: "axis" }));
  svg.append(s("text", { x: LEFT - 4, y: y(capEurPerKwh) + 4, "text-anchor": "end", class: "tick" }, `${capEurPerKwh} €`));
  svg.append(s("text", { x: W - 4, y: H - 6, "text-anchor": "end", class: "tick" }, "kWh"));
  let cumulative = 0;
  for (const o of sorted) {
    const accepted = outcomes.find((c) => c.offerId === o.id)?.acceptedEnergyKwh > 0;
    svg.append(s("rect", { x: x(cumulative), width: Math.max(x(cumulative + o.energyKwh) - x(cumulative) - 1, 1), y: y(o.priceEurPerKwh),
      height: y(0) - y(o.priceEurPerKwh), class: accepted ? "bar accepted" : "bar rejected" }));
    cumulative += o.energyKwh;
  }
  svg.append(s("line", { class: "limit", x1: LEFT, x2: W, y1: y(capEurPerKwh), y2: y(capEurPerKwh) }));
  svg.append(s("line", { class: "demand", x1: x(requestedKwh), x2: x(requestedKwh), y1: TOP, y2: y(0) }));
  return h("figure", { class: "chart-box" }, svg, h("figcaption", {}, "Offers from cheapest (width: energy, height: price); filled: accepted. Horizontal line: price cap; vertical line: energy requested."));
}

/**
 * A station's meter data around an award: each reading as a bar (kWh in its interval), the delivery window shaded, and
 * once verified the baseline per interval of the window as a stepped line (delivery is the gap between the two).
 */
export function meterChart(readings, baseline, window) {
  const ws = Date.parse(window.start), we = Date.parse(window.end);
  const times = readings.flatMap((r) => [Date.parse(r.start), Date.parse(r.end)]);
  const t0 = Math.min(ws - 3_600_000, ...times), t1 = Math.max(we, ...times);
  const top = Math.max(0.001, ...readings.map((r) => r.energyKwh), ...baseline.map((b) => b.baselineKwh)) * 1.15;
  const x = (t) => LEFT + ((t - t0) / (t1 - t0)) * (W - LEFT);
  const y = (kwh) => TOP + (1 - kwh / top) * (H - TOP - BOTTOM);
  const inWindow = readings.filter((r) => Date.parse(r.start) >= ws && Date.parse(r.end) <= we);
  const sum = (list, f) => Math.round(list.reduce((a, v) => a + f(v), 0) * 1000) / 1000;
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart meter", role: "img",
    "aria-label": `${readings.length} readings; in the delivery window ${sum(inWindow, (r) => r.energyKwh)} kWh metered` +
      (baseline.length ? ` against a baseline of ${sum(baseline, (b) => b.baselineKwh)} kWh.` : "; the baseline is known once delivery is verified.") });
  svg.append(s("rect", { class: "window", x: x(ws), width: x(we) - x(ws), y: TOP, height: H - TOP - BOTTOM }));
  svg.append(s("line", { x1: LEFT, x2: W, y1: y(0), y2: y(0), class: "axis" }));
  svg.append(s("text", { x: LEFT - 4, y: y(top / 1.15) + 4, "text-anchor": "end", class: "tick" }, String(Math.round((top / 1.15) * 100) / 100)));
  svg.append(s("text", { x: LEFT - 4, y: y(0), "text-anchor": "end", class: "tick" }, "0 kWh"));
  for (const t of [t0, ws, we]) svg.append(s("text", { x: x(t), y: H - 6, "text-anchor": t === t0 ? "start" : t === t1 ? "end" : "middle", class: "tick" }, new Date(t).toISOString().slice(11, 16)));
  for (const r of readings) {
    const a = x(Date.parse(r.start)), b = x(Date.parse(r.end));
    svg.append(s("rect", { class: "bar", x: a, width: Math.max(b - a - 1, 1), y: y(r.energyKwh), height: y(0) - y(r.energyKwh) }));
  }
  if (baseline.length)
    svg.append(s("polyline", { class: "baseline", points: baseline.flatMap((b) => [`${x(Date.parse(b.start))},${y(b.baselineKwh)}`, `${x(Date.parse(b.end))},${y(b.baselineKwh)}`]).join(" ") }));
  return h("figure", { class: "chart-box" }, svg,
    h("figcaption", {}, "Bars: metered energy per reading (kWh). Shaded: the delivery window. Dashed line: the baseline per interval (after verification)."));
}
