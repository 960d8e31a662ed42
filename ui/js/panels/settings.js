// The app's own settings (Connections tab): keep running in the tray when the window closes,
// and start in the tray at login. The app applies them (tray behaviour, autostart entry).

import { $ } from "../dom.js";
import { call } from "../ipc.js";
import { attempt } from "../feedback.js";
import { onTab } from "../tabs.js";

const BOXES = { keep_in_tray: "pref-keep-in-tray", start_at_login: "pref-start-at-login" };

function render(prefs) {
  for (const [name, id] of Object.entries(BOXES)) $(id).checked = Boolean(prefs[name]);
}

async function load() {
  const prefs = await attempt(() => call("window_prefs"));
  if (prefs) render(prefs);
}

async function save(ev) {
  const prefs = {};
  for (const [name, id] of Object.entries(BOXES)) prefs[name] = $(id).checked;
  const saved = await attempt(() => call("set_window_prefs", { prefs }, ev.currentTarget));
  if (saved) render(saved);
  else load(); // refused: show what is in effect
}

export function initSettings() {
  onTab("connections", load, { onRefresh: false });
  for (const id of Object.values(BOXES)) $(id).addEventListener("change", save);
}
