// Telling the person what happened: notices, inline errors and the confirmation dialog.

import { $, el } from "./dom.js";

export function errorText(e) {
  if (e && typeof e === "object" && e.message) return e.message;
  return String(e);
}

// level: "info", "success", "warning" or "error". Notices are toasts over the window's corner:
// they never move the panels. Good news fades; warnings and errors stay until dismissed.
const MAX_TOASTS = 3;
const FADE_MS = 5000;

export function notify(level, message) {
  const dismiss = el("button", { type: "button", class: "secondary dismiss", "aria-label": "Dismiss notice" }, "×");
  const role = level === "error" ? "alert" : "status";
  const text = el("p", { text: message });
  const n = el("div", { class: `notice toast ${level}`, role, "data-level": level }, text, dismiss);
  dismiss.addEventListener("click", () => n.remove());
  const box = $("notices");
  box.append(n);
  // At most three at once: the oldest (first) goes when a fourth comes.
  while (box.children.length > MAX_TOASTS) box.firstElementChild.remove();
  if (level === "success" || level === "info") {
    setTimeout(() => {
      n.classList.add("leaving");
      setTimeout(() => n.remove(), 300);
    }, FADE_MS);
  }
}

// A sign-in the server stopped at a second-factor challenge: the app also sends
// `gatehouse:mfa-challenge`, and the challenge form (forms/mfa-challenge.js) takes over.
const CHALLENGED = new Set(["MfaRequired", "MfaEnrollmentRequired"]);

// Runs an action; its error becomes a notice (or the given element's text) and the answer is
// `undefined` — except a sign-in stopped at a challenge, which is no error: the answer is
// `undefined` and nothing is said. Commands that return nothing answer `null`.
export async function attempt(fn, errorEl = null) {
  try {
    if (errorEl) errorEl.textContent = "";
    return await fn();
  } catch (e) {
    if (e && CHALLENGED.has(e.code)) return undefined;
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
