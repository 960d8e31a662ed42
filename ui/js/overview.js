// The overview: accounts, connections, secrets and pending sign-ins, asked for again whenever
// the app says something changed, and rendered into the sidebar and the panels that show it.

import { call } from "./ipc.js";
import { attempt, notify } from "./feedback.js";
import { renderAccounts, renderPending, renderSecrets } from "./render.js";
import { connectionsChanged } from "./signin.js";
import { renderConnectionList } from "./panels/connections.js";
import { state } from "./state.js";
import { reloadTab, showTab } from "./tabs.js";

export async function refresh() {
  const o = await attempt(() => call("overview"));
  if (!o) return;
  state.overview = o;
  for (const text of o.notices) notify("warning", text);
  renderSecrets(o);
  renderAccounts(o, pickAccount);
  connectionsChanged(o);
  renderPending(o, { complete, cancel });
  renderConnectionList(o);
  reloadTab();
}

// A click in the account list: a signed-in account becomes active; a signed-out one opens its
// panel (to sign in again or remove it).
async function pickAccount(a) {
  state.selected = { connection: a.connection, id: a.id };
  if (a.state === "logged_in" || a.state === "offline") {
    const o = await attempt(() => call("switch_account", { connection: a.connection, user: a.id }));
    if (o) {
      state.overview = o;
      renderAccounts(o, pickAccount);
    }
  }
  if (a.state === "logged_out") showTab("account");
  else reloadTab();
}

async function complete(p, code, button) {
  const done = await attempt(() => call("complete_with_code", { state: p.state, code }, button));
  if (done) {
    notify("success", `Signed in as ${done.display_name}`);
    refresh();
  }
}

async function cancel(p) {
  await attempt(() => call("cancel_pending", { state: p.state }));
  refresh();
}
