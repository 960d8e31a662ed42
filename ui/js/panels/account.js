// The Account panel: the picked account's identities and profile, its second factors
// (panels/mfa.js), and what can be done to it.

import { $ } from "../dom.js";
import { call } from "../ipc.js";
import { attempt, confirmDialog, errorText, notify } from "../feedback.js";
import { label } from "../providers.js";
import { renderAccountDetails } from "../render.js";
import { reauth, startLink } from "../signin.js";
import { refresh, selectedAccount, state } from "../state.js";
import { withRecentSignIn } from "../step-up.js";
import { onTab } from "../tabs.js";
import { initMfa, renderMfa } from "./mfa.js";
import { renderSelfService } from "./self-service.js";

async function load() {
  const a = selectedAccount();
  $("account-empty").hidden = !!a;
  $("account-view").hidden = !a;
  // Its own request, beside the details'.
  renderMfa(a);
  if (!a) return;
  $("account-name").textContent = a.display_name;
  $("account-meta").textContent = `${label(a.provider)} · ${a.connection_name} · ${a.state.replace("_", " ")}`;
  $("do-reauth").hidden = a.state !== "logged_out";
  $("do-logout").hidden = a.state === "logged_out";
  $("do-link").hidden = a.state === "logged_out";
  $("do-refresh-custom-data").hidden = a.state === "logged_out";
  let d;
  try {
    d = await call("account_details", { connection: a.connection, user: a.id });
  } catch (e) {
    // Removed a moment ago (the list is being refreshed): nothing to show, nothing to report.
    if (e && e.code !== "UnknownAccount") notify("error", errorText(e));
    return;
  }
  renderAccountDetails(d, { unlink });
  renderSelfService(a, d);
}

// Removes one sign-in method from the account shown (after a confirmation naming it).
async function unlink(i, button) {
  const a = selectedAccount();
  if (!a) return;
  const question = `Unlink ${label(i.provider)} from ${a.display_name}? It will no longer sign in to this account, `
    + "and its sessions on other devices end.";
  if (!(await confirmDialog(question, "Unlink"))) return;
  const d = await withRecentSignIn(a, "unlink a sign-in method",
    () => call("unlink_identity", { connection: a.connection, user: a.id, provider: i.provider, id: i.id }, button));
  if (!d) return;
  notify("success", `${label(i.provider)} is no longer linked to ${a.display_name}`);
  refresh();
}

// Asks `question(account)` first (when given), then runs `act(account)` and says `done`. An
// action the server wants a recent sign-in for continues after the person signed in again.
async function accountAction(act, question, okLabel, done) {
  const a = selectedAccount();
  if (!a) return;
  if (question && !(await confirmDialog(question(a), okLabel))) return;
  const o = await withRecentSignIn(a, okLabel.toLowerCase(), () => act(a));
  if (o) {
    state.selected = null;
    notify("success", done);
    refresh();
  }
}

const who = (a) => ({ connection: a.connection, user: a.id });

function logOut() {
  const a = selectedAccount();
  const anonymous = a && a.provider === "anon-user";
  const question = (x) => `Log out of ${x.display_name}? An anonymous account cannot sign in again: it and `
    + `everything it holds on ${x.connection_name} will be out of reach for good.`;
  accountAction((x) => call("log_out", who(x)), anonymous ? question : null, "Log out", "Logged out");
}

function remove() {
  const question = (a) => `Remove ${a.display_name} (${a.connection_name}) from this device? The account stays `
    + "on the server; you can sign in again later.";
  accountAction((a) => call("remove_account", who(a)), question, "Remove", "Removed from this device");
}

function deleteAccount() {
  const question = (a) => `Delete the account ${a.display_name} on ${a.connection_name}? This cannot be undone: `
    + "the account, its API keys and sessions are deleted on the server.";
  accountAction((a) => call("delete_account", who(a)), question, "Delete account", "Account deleted");
}

async function refreshCustomData(ev) {
  const a = selectedAccount();
  if (!a) return;
  const d = await attempt(() => call("refresh_custom_data", who(a), ev.currentTarget));
  if (d) renderAccountDetails(d, { unlink });
}

export function initAccount() {
  onTab("account", load);
  initMfa();
  $("do-refresh-custom-data").addEventListener("click", refreshCustomData);
  $("do-logout").addEventListener("click", logOut);
  $("do-remove").addEventListener("click", remove);
  $("do-delete").addEventListener("click", deleteAccount);
  $("do-reauth").addEventListener("click", () => {
    const a = selectedAccount();
    if (a) reauth(a);
  });
  $("do-link").addEventListener("click", () => {
    const a = selectedAccount();
    if (a) startLink(a);
  });
}
