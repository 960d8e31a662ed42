// The sign-in panel: which connection, which of its methods are enabled, and the chosen
// method's form (built by its module in forms/, picked from the table in providers.js). The
// same forms link a method to an existing account when `state.linkFor` names one.

import { $, el } from "./dom.js";
import { call } from "./ipc.js";
import { attempt, notify } from "./feedback.js";
import { FORMS } from "./forms/index.js";
import { PROVIDERS, provider } from "./providers.js";
import { renderProviders } from "./render.js";
import { refresh, state } from "./state.js";
import { accountOf, signedIn, withRecentSignIn } from "./step-up.js";
import { showTab } from "./tabs.js";

// The overview changed: refill the connection choice, and ask the server for its methods only
// when the answer can differ.
export function connectionsChanged(o) {
  const sel = $("signin-connection");
  const keep = sel.value;
  sel.replaceChildren(...o.connections.map((c) => el("option", {
    value: c.id,
    text: c.status === "ready" ? c.name : `${c.name} (unavailable)`,
  })));
  if (o.connections.some((c) => c.id === keep)) sel.value = keep;
  const chosen = o.connections.find((c) => c.id === sel.value);
  const key = chosen ? `${chosen.id}|${chosen.url}|${chosen.app_id}|${chosen.status}` : "";
  if (key !== state.providersFor) {
    state.providersFor = key;
    loadProviders();
  }
}

export async function loadProviders() {
  const connection = $("signin-connection").value;
  state.enabled = new Set();
  const conn = state.overview && state.overview.connections.find((c) => c.id === connection);
  const problem = $("connection-problem");
  problem.hidden = !(conn && conn.problem);
  // A keychain problem is explained once, in the banner above.
  const keychain = state.overview && state.overview.secrets.problem;
  if (!conn || !conn.problem) problem.textContent = "";
  else problem.textContent = keychain ? `${conn.name} needs a keychain: see the notice above.` : conn.problem;
  if (connection && conn && conn.status === "ready") {
    const list = await attempt(() => call("providers", { connection }));
    if (list) state.enabled = new Set(list.map((p) => p.type));
  }
  showProviders();
}

function showProviders() {
  renderProviders(PROVIDERS, state.enabled, state.provider, chooseProvider);
}

function closeForm() {
  $("provider-form").hidden = true;
}

// Opens the form of provider `p` (an entry of PROVIDERS).
export function chooseProvider(p) {
  state.provider = p.type;
  showProviders();
  const area = $("provider-form");
  area.hidden = false;
  const connection = () => $("signin-connection").value;
  const link = state.linkFor && state.linkFor.connection === connection() ? state.linkFor : null;
  const error = el("p", { class: "error", id: "form-error", role: "alert" });
  const ctx = {
    provider: p,
    linkUser: link ? link.id : null,
    connection,
    error,
    // The current text of a field of the form.
    value: (id) => ($(id) ? $(id).value : ""),
    // Runs an action whose error belongs under the form; says `message` when it worked.
    report: async (fn, message) => {
      const result = await attempt(fn, error);
      if (result !== undefined && message) notify("info", message);
      return result;
    },
    // The form's request: signs in, or links the method to the account being linked.
    finish: async (request, button) => {
      const user = link ? link.id : null;
      const conn = connection();
      const result = user
        ? await withRecentSignIn(accountOf(conn, user), `link ${p.label}`,
          () => call("link_identity", { connection: conn, user, request }, button), error)
        : await attempt(() => call("sign_in", { connection: conn, request }, button), error);
      if (!result) return;
      closeForm();
      if (user) {
        notify("success", `${p.label} is now linked`);
        state.linkFor = null;
        showTab("account");
      } else {
        notify("success", `Signed in as ${result.display_name}`);
        state.provider = null;
        showProviders();
      }
      await refresh();
      if (!user) signedIn(result.connection, result.id);
    },
    // Waiting for a browser or a mail now: the pending card takes over.
    waiting: () => {
      closeForm();
      refresh();
    },
  };
  const title = link ? `Link ${p.label} to ${link.name}` : `Sign in with ${p.label}`;
  area.replaceChildren(el("h3", { text: title }), ...FORMS[p.form](ctx), error);
  const first = area.querySelector("input, textarea, button");
  if (first) first.focus();
}

// A sign-in stopped at a second-factor challenge finished in the challenge form
// (forms/mfa-challenge.js) as `account` (an AccountView): the sign-in form closes, and an action
// waiting for that account's recent sign-in goes on.
export async function challengeAnswered(account) {
  closeForm();
  state.provider = null;
  showProviders();
  notify("success", `Signed in as ${account.display_name}`);
  await refresh();
  signedIn(account.connection, account.id);
}

// "Sign in again" for a signed-out account: its connection and method, its email filled in.
export async function reauth(a) {
  $("signin-connection").value = a.connection;
  showTab("signin");
  await loadProviders();
  const p = provider(a.provider);
  if (p && state.enabled.has(p.type)) {
    chooseProvider(p);
    if (a.email && $("f-email")) {
      $("f-email").value = a.email;
      if ($("f-password")) $("f-password").focus();
    }
  }
}

// "Link another sign-in method": the methods of the account's connection, in link mode.
export function startLink(a) {
  state.linkFor = { connection: a.connection, id: a.id, name: a.display_name };
  $("signin-connection").value = a.connection;
  showTab("signin");
  loadProviders();
  notify("info", `Pick the sign-in method to link to ${a.display_name}.`);
}

export function initSignIn() {
  $("signin-connection").addEventListener("change", () => {
    state.provider = null;
    closeForm();
    connectionsChanged(state.overview);
  });
  $("add-account").addEventListener("click", () => {
    state.linkFor = null;
    showTab("signin");
    $("signin-connection").focus();
  });
}
