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
