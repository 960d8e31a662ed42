// The Security tab: one view over every account on every connection (its sessions, API keys
// and recent activity), filterable by connection and account, with actions on any account
// without switching to it. Lasting changes go through `withRecentSignIn`.

import { $, el } from "../dom.js";
import { call } from "../ipc.js";
import { attempt, confirmDialog, notify } from "../feedback.js";
import { reauth } from "../signin.js";
import { refresh } from "../state.js";
import { accountOf, withRecentSignIn } from "../step-up.js";
import { onTab } from "../tabs.js";
import { securityCard } from "./security-render.js";

let centre = null;
const opened = new Set(); // "connection/user" of the expanded cards

const key = (a) => `${a.connection}/${a.id}`;
const who = (c) => ({ connection: c.account.connection, user: c.account.id });
// The overview account (what step-up and sign-in forms take); the card's own as a fallback.
const owner = (c) => accountOf(c.account.connection, c.account.id) || c.account;

async function act(c, what, fn) {
  const answer = await withRecentSignIn(owner(c), what, fn);
  if (answer !== undefined) await load();
  return answer;
}

async function markSeen(c, button = null) {
  // Local only (the settings file): no recent sign-in involved.
  const done = await attempt(() => call("mark_security_seen", who(c), button));
  if (done === undefined) return;
  c.summary.unusual_count = 0;
  c.summary.unusual_kinds = [];
  render();
}

const handlers = {
  markSeen,
  expanded: (c, open) => {
    if (open) opened.add(key(c.account));
    else opened.delete(key(c.account));
    // Looking at the card counts as having seen what it shows.
    if (open && c.summary.unusual_count) markSeen(c);
  },
  reauth: (c) => reauth(owner(c)),
  revoke: (c, s, button) => act(c, "sign out a session",
    () => call("revoke_session", { id: s.id, ...who(c) }, button)),
  revokeOthers: async (c, button) => {
    const q = `Sign out every other session of ${c.account.display_name}? Other devices will have to sign in again.`;
    if (!(await confirmDialog(q, "Sign them out"))) return;
    if (await act(c, "sign out other sessions", () => call("revoke_other_sessions", who(c), button))) {
      notify("success", `Every other session of ${c.account.display_name} is signed out.`);
    }
  },
  revokeAll: async (c, button) => {
    const q = `Sign ${c.account.display_name} out everywhere, this device included? It will have to sign in again.`;
    if (!(await confirmDialog(q, "Sign out everywhere"))) return;
    if (await act(c, "sign out everywhere", () => call("revoke_all_sessions", who(c), button))) {
      notify("success", `${c.account.display_name} is signed out everywhere.`);
      refresh();
    }
  },
  toggleKey: (c, k, button) => act(c, k.enabled ? "disable a key" : "enable a key",
    () => call("set_api_key_enabled", { id: k.id, enabled: !k.enabled, ...who(c) }, button)),
  deleteKey: async (c, k, button) => {
    const q = `Delete the API key "${k.name}" of ${c.account.display_name}? Anything using it stops working at once.`;
    if (!(await confirmDialog(q, "Delete key"))) return;
    act(c, "delete a key", () => call("delete_api_key", { id: k.id, ...who(c) }, button));
  },
};

// Keeps each filter's choice when it is still offered.
function fillFilter(select, options) {
  const keep = select.value;
  select.replaceChildren(el("option", { value: "", text: "All" }),
    ...options.map(([value, text]) => el("option", { value, text })));
  if (options.some(([value]) => value === keep)) select.value = keep;
}

function render() {
  if (!centre) return;
  const accounts = centre.accounts.map((c) => c.account);
  const conns = new Map(accounts.map((a) => [a.connection, a.connection_name]));
  fillFilter($("security-connection"), [...conns]);
  const conn = $("security-connection").value;
  fillFilter($("security-account"), accounts.filter((a) => !conn || a.connection === conn)
    .map((a) => [key(a), `${a.display_name} (${a.connection_name})`]));
  const pick = $("security-account").value;
  const shown = centre.accounts.filter((c) => (!conn || c.account.connection === conn)
    && (!pick || key(c.account) === pick));
  $("security-empty").hidden = shown.length > 0;
  $("security-cards").replaceChildren(...shown.map((c) => securityCard(c, opened.has(key(c.account)), handlers)));
}

async function load() {
  try {
    centre = await call("security_centre");
  } catch (e) {
    notify("error", e && e.message ? e.message : String(e));
    return;
  }
  render();
  document.body.dataset.securityLoaded = String(Date.now());
}

export function initSecurity() {
  onTab("security", load);
  $("security-connection").addEventListener("change", render);
  $("security-account").addEventListener("change", render);
  $("do-refresh-security").addEventListener("click", load);
}
