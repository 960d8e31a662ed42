// The Sessions panel: the active account's sessions on every device.

import { $ } from "../dom.js";
import { call } from "../ipc.js";
import { attempt, confirmDialog, notify } from "../feedback.js";
import { renderSessions } from "../render.js";
import { state } from "../state.js";
import { onTab } from "../tabs.js";

async function revoke(s, button) {
  const next = await attempt(() => call("revoke_session", { id: s.id }, button));
  if (next) renderSessions(next, revoke);
}

async function load() {
  const a = state.overview && state.overview.active;
  $("sessions-for").textContent = a ? `Sessions of ${a.display_name} (${a.connection_name})` : "No active account.";
  if (!a) {
    renderSessions([], revoke);
    return;
  }
  const list = await attempt(() => call("sessions"));
  if (list) renderSessions(list, revoke);
}

async function revokeOthers(ev) {
  const question = "Sign out every other session of this account? Other devices will have to sign in again.";
  if (!(await confirmDialog(question, "Sign them out"))) return;
  const list = await attempt(() => call("revoke_other_sessions", {}, ev.currentTarget));
  if (list) {
    renderSessions(list, revoke);
    notify("success", "Every other session is signed out.");
  }
}

export function initSessions() {
  onTab("sessions", load);
  $("do-revoke-others").addEventListener("click", revokeOthers);
}
