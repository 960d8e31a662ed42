// Telling the person what happened: notices, inline errors and the confirmation dialog.

import { $, el } from "./dom.js";

export function errorText(e) {
  if (e && typeof e === "object" && e.message) return e.message;
  return String(e);
}

// level: "info", "success", "warning" or "error".
export function notify(level, message) {
  const dismiss = el("button", { type: "button", class: "secondary", "aria-label": "Dismiss", text: "×" });
  const n = el("div", { class: `notice ${level}`, role: level === "error" ? "alert" : "status", "data-level": level },
    el("p", { text: message }), dismiss);
  dismiss.addEventListener("click", () => n.remove());
  $("notices").prepend(n);
  // Good news fades after a while; warnings and errors stay until dismissed.
  if (level === "success" || level === "info") setTimeout(() => n.remove(), 10000);
  while ($("notices").children.length > 4) $("notices").lastChild.remove();
}

// Runs an action; its error becomes a notice (or the given element's text) and the answer is
// `undefined`. Commands that return nothing answer `null`.
export async function attempt(fn, errorEl = null) {
  try {
    if (errorEl) errorEl.textContent = "";
    return await fn();
  } catch (e) {
    if (errorEl) errorEl.textContent = errorText(e);
    else notify("error", errorText(e));
    return undefined;
  }
}

// Resolves to true when the person chose `okLabel`.
export function confirmDialog(text, okLabel) {
  return new Promise((resolve) => {
    const d = $("confirm-dialog");
    $("confirm-text").textContent = text;
    $("confirm-ok").textContent = okLabel;
    d.addEventListener("close", () => resolve(d.returnValue === "ok"), { once: true });
    d.returnValue = "";
    d.showModal();
    $("confirm-cancel").focus();
  });
}
