// Small DOM helpers: element lookup and construction. No framework.

export const $ = (id) => document.getElementById(id);

// `el("p", { class: "muted", text: "…", onclick: fn }, child, …)`: attributes that are
// undefined, null or false are left out; `on…` attributes become listeners.
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}

// A labelled input (or textarea with `multiline: true`) on its own row.
export function field(id, label, attrs = {}) {
  const control = el(attrs.multiline ? "textarea" : "input", { id, ...attrs, multiline: null });
  return el("div", { class: "row" }, el("label", { for: id, text: label }), control);
}

export function actions(...buttons) {
  return el("div", { class: "actions" }, ...buttons);
}
