// The API keys panel: the active account's keys; a new key's secret is shown once.

import { $ } from "../dom.js";
import { call } from "../ipc.js";
import { attempt, confirmDialog } from "../feedback.js";
import { renderKeys } from "../render.js";
import { state } from "../state.js";
import { withRecentSignIn } from "../step-up.js";
import { onTab, showTab } from "../tabs.js";

const handlers = {
  toggle: async (k, button) => {
    const list = await attempt(() => call("set_api_key_enabled", { id: k.id, enabled: !k.enabled }, button));
    if (list) renderKeys(list, handlers);
  },
  remove: async (k, button) => {
    const question = `Delete the API key "${k.name}"? Anything using it stops working at once.`;
    if (!(await confirmDialog(question, "Delete key"))) return;
    const list = await attempt(() => call("delete_api_key", { id: k.id }, button));
    if (list) renderKeys(list, handlers);
  },
};

async function load() {
  const a = state.overview && state.overview.active;
  $("keys-for").textContent = a ? `Keys of ${a.display_name} (${a.connection_name})` : "No active account.";
  if (!a) {
    $("keys-body").hidden = true;
    $("keys-unavailable").hidden = true;
    return;
  }
  const panel = await attempt(() => call("api_keys"));
  if (!panel) return;
  $("keys-unavailable").hidden = panel.available;
  $("keys-unavailable").textContent = panel.reason || "";
  $("keys-body").hidden = !panel.available;
  renderKeys(panel.keys, handlers);
}

async function create(ev) {
  ev.preventDefault();
  const name = $("key-name").value;
  const owner = state.overview && state.overview.active;
  const created = await withRecentSignIn(owner, "create an API key",
    () => call("create_api_key", { name }, $("do-create-key")));
  if (!created) return;
  showTab("keys");
  $("key-name").value = "";
  $("new-key").hidden = false;
  $("new-key-secret").value = created.secret;
  $("copy-status").textContent = "";
  $("new-key-secret").select();
  load();
}

async function copy() {
  const input = $("new-key-secret");
  let ok = false;
  try {
    await navigator.clipboard.writeText(input.value);
    ok = true;
  } catch (_) {
    input.select();
    ok = document.execCommand("copy");
  }
  $("copy-status").textContent = ok ? "Copied" : "Copy failed: select the key and copy it by hand";
}

export function initKeys() {
  onTab("keys", load);
  $("key-form").addEventListener("submit", create);
  $("do-copy-key").addEventListener("click", copy);
  $("do-dismiss-key").addEventListener("click", () => {
    $("new-key-secret").value = "";
    $("new-key").hidden = true;
  });
}
