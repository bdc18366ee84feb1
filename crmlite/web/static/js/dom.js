// Tiny DOM helpers: build elements without innerHTML, so nothing from the server is ever parsed as HTML.

/**
 * Create an element. attrs: plain attributes, plus `class`, `dataset`, `style` (object),
 * `on` (object of event listeners) and boolean attributes given as true/false.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = Array.isArray(value) ? value.filter(Boolean).join(" ") : value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key === "style") Object.assign(el.style, value);
    else if (key === "on") for (const [name, fn] of Object.entries(value)) el.addEventListener(name, fn);
    else if (key === "value" && "value" in el) el.value = value;
    else if (value === true) el.setAttribute(key, "");
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

/** Append children (strings, nodes, arrays, null) to el. */
export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** Replace every child of el. */
export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

/** A labelled form field: <label>text <input ...></label> keeps the label tied to the control. */
export function field(label, control, hint) {
  return h("label", { class: "field" }, h("span", { class: "field-label" }, label), control,
    hint ? h("span", { class: "field-hint" }, hint) : null);
}

/** Options for a <select>: items of [value, label], the selected value marked. */
export function options(items, selected) {
  return items.map(([value, label]) =>
    h("option", { value, selected: String(value) === String(selected ?? "") }, label));
}

/** Read a <form> into an object of trimmed strings (empty ones dropped). */
export function formValues(form) {
  const out = {};
  for (const [key, value] of new FormData(form).entries()) {
    const text = typeof value === "string" ? value.trim() : value;
    if (text !== "") out[key] = text;
  }
  return out;
}
