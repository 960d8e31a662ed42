// The one door to the app's Rust side: its commands (invoke) and its events (listen), through
// the global API Tauri injects (`withGlobalTauri`). Every command runs through `call`, with its
// name written out as a string literal at the call site, and every event name is in EVENTS
// below: src-tauri/tests/ipc_surface.rs checks both against the Rust side's lists.

import { $ } from "./dom.js";

const tauri = window.__TAURI__;

// What the app tells the window without being asked (src-tauri/src/shell.rs, `UiEvent::name`).
export const EVENTS = Object.freeze({
  accounts: "gatehouse:accounts",
  notice: "gatehouse:notice",
  signInFinished: "gatehouse:signin-finished",
  consent: "gatehouse:consent",
  consentSettled: "gatehouse:consent-settled",
  mfaChallenge: "gatehouse:mfa-challenge",
});

let busy = 0;

// Runs one command; the progress indicator shows while any is running, and `button` (if given)
// is disabled meanwhile. Errors arrive as {code, message}.
export async function call(command, args = {}, button = null) {
  busy += 1;
  $("busy").hidden = false;
  document.body.setAttribute("aria-busy", "true");
  if (button) button.disabled = true;
  try {
    return await tauri.core.invoke(command, args);
  } finally {
    busy -= 1;
    if (busy === 0) {
      $("busy").hidden = true;
      document.body.removeAttribute("aria-busy");
    }
    if (button) button.disabled = false;
  }
}

// Calls `handler` with each payload of the event (one of EVENTS).
export function listen(event, handler) {
  return tauri.event.listen(event, (ev) => handler(ev.payload));
}
