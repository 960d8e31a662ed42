// Gatehouse window. Everything goes through the app's own commands; the page never sees a
// token. Errors arrive as {code, message} and are shown as the message.
"use strict";

const { invoke } = window.__TAURI__.core;
const { listen } = window.__TAURI__.event;

const PROVIDERS = [
  { type: "anon-user", label: "Anonymous", hint: "No details needed" },
  { type: "local-userpass", label: "Email", hint: "Email and password" },
  { type: "phone-password", label: "Phone", hint: "Phone and password" },
  { type: "sms-code", label: "SMS code", hint: "One-time code by text" },
  { type: "magic-link", label: "Magic link", hint: "Link by email" },
  { type: "api-key", label: "API key", hint: "User or server key" },
  { type: "custom-token", label: "Custom JWT", hint: "Token from your IdP" },
  { type: "custom-function", label: "Custom function", hint: "JSON payload" },
  { type: "oauth2-google", label: "Google", hint: "In your browser", browser: true, token: "google_id_token" },
  { type: "oauth2-apple", label: "Apple", hint: "In your browser", browser: true, token: "apple_id_token" },
  { type: "oauth2-facebook", label: "Facebook", hint: "In your browser", browser: true, token: "facebook" },
  { type: "oauth2-github", label: "GitHub", hint: "In your browser", browser: true },
  { type: "oauth2-discord", label: "Discord", hint: "In your browser", browser: true },
  { type: "oauth2-twitter", label: "X (Twitter)", hint: "In your browser", browser: true },
];
const LABEL = Object.fromEntries(PROVIDERS.map((p) => [p.type, p.label]));

const state = { overview: null, enabled: new Set(), providersFor: null, selected: null, provider: null, tab: "signin", linkFor: null, busy: 0 };
const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}

// ---- calls, progress and messages -------------------------------------------------------------

async function call(command, args = {}, button = null) {
  state.busy += 1;
  $("busy").hidden = false;
  document.body.setAttribute("aria-busy", "true");
  if (button) button.disabled = true;
  try {
    return await invoke(command, args);
  } finally {
    state.busy -= 1;
    if (state.busy === 0) { $("busy").hidden = true; document.body.removeAttribute("aria-busy"); }
    if (button) button.disabled = false;
  }
}

function errorText(e) {
  if (e && typeof e === "object" && e.message) return e.message;
  return String(e);
}

function notify(level, message) {
  const n = el("div", { class: `notice ${level}`, role: level === "error" ? "alert" : "status", "data-level": level },
    el("p", { text: message }),
    el("button", { type: "button", class: "secondary", "aria-label": "Dismiss", text: "×", onclick: () => n.remove() }));
  $("notices").prepend(n);
  // Good news fades after a while; warnings and errors stay until dismissed.
  if (level === "success" || level === "info") setTimeout(() => n.remove(), 10000);
  while ($("notices").children.length > 4) $("notices").lastChild.remove();
}

// Runs an action; its error becomes a notice (or the given element's text).
async function attempt(fn, errorEl = null) {
  try {
    if (errorEl) errorEl.textContent = "";
    return await fn();
  } catch (e) {
    if (errorEl) errorEl.textContent = errorText(e);
    else notify("error", errorText(e));
    return undefined;
  }
}

function confirmDialog(text, okLabel) {
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

function when(seconds) {
  if (!seconds) return "—";
  return new Date(seconds * 1000).toLocaleString();
}

function untilText(seconds) {
  if (!seconds) return null;
  const left = seconds - Date.now() / 1000;
  if (left <= 0) return "sign-in needed";
  const days = Math.floor(left / 86400), hours = Math.floor(left / 3600);
  return days >= 1 ? `renew in ${days} d` : hours >= 1 ? `renew in ${hours} h` : `renew in ${Math.ceil(left / 60)} min`;
}

// ---- overview: accounts, secrets, pending sign-ins ------------------------------------------

async function refresh() {
  const o = await attempt(() => call("overview"));
  if (!o) return;
  state.overview = o;
  for (const text of o.notices) notify("warning", text);
  renderSecrets(o);
  renderAccounts(o);
  renderConnectionsSelect(o);
  renderPending(o);
  renderConnections(o);
  if (state.tab === "account") renderAccount();
  if (state.tab === "keys") loadKeys();
  if (state.tab === "sessions") loadSessions();
}

const capital = (t) => (t ? t[0].toUpperCase() + t.slice(1) : t);

function renderSecrets(o) {
  $("secrets").textContent = o.secrets.problem ? "Sessions cannot be kept: no usable keychain." : `Sessions are kept in ${o.secrets.storage}.`;
  $("keychain-problem").hidden = !o.secrets.problem;
  $("keychain-reason").textContent = capital(o.secrets.problem || "");
}

function renderAccounts(o) {
  const list = $("accounts");
  list.replaceChildren();
  $("no-accounts").hidden = o.accounts.length > 0;
  for (const a of o.accounts) {
    const stateLabel = { active: "active", logged_in: "signed in", logged_out: "signed out", offline: "offline" }[a.state];
    const due = a.state === "logged_out" ? null : untilText(a.reauth_at);
    const button = el("button", { type: "button", class: "switch", "aria-current": a.state === "active" ? "true" : null,
      "aria-label": `${a.display_name}, ${LABEL[a.provider] || a.provider || ""}, ${a.connection_name}, ${stateLabel}` },
      el("span", { class: "name", text: a.display_name }),
      el("span", { class: "meta" },
        el("span", { class: "badge provider", text: LABEL[a.provider] || a.provider || "?" }),
        el("span", { class: "connection", text: a.connection_name }),
        el("span", { class: `badge state state-${a.state}`, text: stateLabel }),
        due ? el("span", { class: "due", text: due }) : null));
    button.addEventListener("click", () => pickAccount(a));
    list.append(el("li", { class: `account${a.state === "active" ? " active" : ""}`, "data-id": a.id, "data-connection": a.connection, "data-state": a.state }, button));
  }
}

async function pickAccount(a) {
  state.selected = { connection: a.connection, id: a.id };
  if (a.state === "logged_in" || a.state === "offline") {
    const o = await attempt(() => call("switch_account", { connection: a.connection, user: a.id }));
    if (o) { state.overview = o; renderAccounts(o); }
  }
  if (a.state === "logged_out") showTab("account");
  else if (state.tab === "account") renderAccount();
  else if (state.tab === "keys") loadKeys();
  else if (state.tab === "sessions") loadSessions();
}

function renderConnectionsSelect(o) {
  const sel = $("signin-connection");
  const keep = sel.value;
  sel.replaceChildren(...o.connections.map((c) => el("option", { value: c.id, text: c.status === "ready" ? c.name : `${c.name} (unavailable)` })));
  if (o.connections.some((c) => c.id === keep)) sel.value = keep;
  // Every account change re-renders this; ask the server only when the answer can differ.
  const chosen = o.connections.find((c) => c.id === sel.value);
  const key = chosen ? `${chosen.id}|${chosen.url}|${chosen.app_id}|${chosen.status}` : "";
  if (key !== state.providersFor) { state.providersFor = key; loadProviders(); }
}

function renderPending(o) {
  const area = $("pending");
  area.replaceChildren();
  for (const p of o.pending) {
    const what = p.kind === "magic_link" ? "Waiting for the sign-in link from your mail…" : `Waiting for ${LABEL[p.provider] || p.provider} in your browser…`;
    const code = el("input", { id: `code-${p.state}`, autocomplete: "one-time-code", placeholder: p.kind === "magic_link" ? "123456" : "code or gatehouse:// address" });
    const card = el("div", { class: "card pending-signin", "data-state": p.state, role: "status" },
      el("p", {}, el("span", { class: "spinner", "aria-hidden": "true" }), " ", what),
      p.url ? el("p", { class: "muted" }, "No browser came up? Open this address yourself: ", el("input", { readonly: true, value: p.url, class: "mono", "aria-label": "Sign-in address" })) : null,
      el("div", { class: "row" }, el("label", { for: `code-${p.state}`, text: "Type the code instead" }), code,
        el("button", { type: "button", text: "Continue", onclick: async (ev) => {
          const done = await attempt(() => call("complete_with_code", { state: p.state, code: code.value }, ev.target));
          if (done) { notify("success", `Signed in as ${done.display_name}`); refresh(); }
        } }),
        el("button", { type: "button", class: "secondary cancel", text: "Cancel", onclick: async () => {
          await attempt(() => call("cancel_pending", { state: p.state }));
          refresh();
        } })));
    area.append(card);
  }
}

// ---- sign in ----------------------------------------------------------------------------------

async function loadProviders() {
  const connection = $("signin-connection").value;
  state.enabled = new Set();
  const conn = state.overview && state.overview.connections.find((c) => c.id === connection);
  $("connection-problem").hidden = !(conn && conn.problem);
  // A keychain problem is explained once, in the banner above.
  const keychain = state.overview && state.overview.secrets.problem;
  $("connection-problem").textContent = !conn || !conn.problem ? "" : keychain ? `${conn.name} needs a keychain: see the notice above.` : conn.problem;
  if (connection && conn && conn.status === "ready") {
    const list = await attempt(() => call("providers", { connection }));
    if (list) state.enabled = new Set(list.map((p) => p.type));
  }
  renderProviders();
}

function renderProviders() {
  const area = $("providers");
  area.replaceChildren(...PROVIDERS.map((p) => {
    const on = state.enabled.has(p.type);
    return el("button", { type: "button", id: `provider-${p.type}`, "data-provider": p.type, disabled: !on, "aria-pressed": state.provider === p.type ? "true" : "false",
      title: on ? null : "Not enabled on this server", onclick: () => chooseProvider(p) },
      p.label, el("span", { class: "hint", text: on ? p.hint : "not enabled here" }));
  }));
}

function field(id, label, attrs = {}) {
  return el("div", { class: "row" }, el("label", { for: id, text: label }), el(attrs.multiline ? "textarea" : "input", { id, ...attrs, multiline: null }));
}

function formButtons(...buttons) {
  return el("div", { class: "actions" }, ...buttons);
}

function chooseProvider(p) {
  state.provider = p.type;
  renderProviders();
  const form = $("provider-form");
  form.hidden = false;
  form.replaceChildren();
  const err = el("p", { class: "error", id: "form-error", role: "alert" });
  const conn = () => $("signin-connection").value;
  const v = (id) => ($(id) ? $(id).value : "");
  const linkUser = state.linkFor && state.linkFor.connection === conn() ? state.linkFor.id : null;
  const title = el("h3", { text: linkUser ? `Link ${p.label} to ${state.linkFor.name}` : `Sign in with ${p.label}` });
  const finish = async (request, button) => {
    const args = linkUser ? { connection: conn(), user: linkUser, request } : { connection: conn(), request };
    const result = await attempt(() => call(linkUser ? "link_identity" : "sign_in", args, button), err);
    if (!result) return;
    if (linkUser) { notify("success", `${p.label} is now linked`); state.linkFor = null; form.hidden = true; showTab("account"); }
    else { notify("success", `Signed in as ${result.display_name}`); form.hidden = true; state.provider = null; renderProviders(); }
    refresh();
  };
  const submit = (id, label, fn, cls) => el("button", { type: "button", id, class: cls, text: label, onclick: (ev) => fn(ev.target) });
  const info = (text) => notify("info", text);
  form.append(title);
  switch (p.type) {
    case "anon-user":
      form.append(el("p", { class: "muted", text: "An anonymous account lives on this device only: signing out ends it." }),
        formButtons(submit("do-anon", "Continue anonymously", (b) => finish({ method: "anonymous" }, b))));
      break;
    case "local-userpass":
      form.append(field("f-email", "Email", { type: "email", autocomplete: "username" }), field("f-password", "Password", { type: "password", autocomplete: "current-password" }),
        formButtons(
          submit("do-signin", "Sign in", (b) => finish({ method: "email", email: v("f-email"), password: v("f-password") }, b)),
          submit("do-register", "Register", async (b) => { if ((await attempt(() => call("register_email", { connection: conn(), email: v("f-email"), password: v("f-password") }, b), err)) !== undefined) info("Registered. Open the confirmation link from the mail (Local: see the Local outbox tab), then sign in."); }, "secondary"),
          submit("do-resend", "Resend confirmation", async (b) => { if ((await attempt(() => call("resend_confirmation", { connection: conn(), email: v("f-email") }, b), err)) !== undefined) info("If that address has an unconfirmed account, a new confirmation mail is on its way."); }, "secondary"),
          submit("do-forgot", "Forgot password", async (b) => { if ((await attempt(() => call("send_password_reset", { connection: conn(), email: v("f-email") }, b), err)) !== undefined) info("If that address has an account, a reset mail is on its way."); }, "secondary")),
        el("details", {}, el("summary", { text: "I have a confirmation or reset link" }),
          field("f-link", "Link from the mail", { autocomplete: "off" }), field("f-new-password", "New password (reset only)", { type: "password", autocomplete: "new-password" }),
          formButtons(
            submit("do-confirm-link", "Confirm account", async (b) => { if ((await attempt(() => call("confirm_email", { connection: conn(), link: v("f-link") }, b), err)) !== undefined) info("Account confirmed: sign in now."); }, "secondary"),
            submit("do-reset-link", "Reset password", async (b) => { if ((await attempt(() => call("reset_password", { connection: conn(), link: v("f-link"), password: v("f-new-password") }, b), err)) !== undefined) info("Password changed: sign in with the new one."); }, "secondary"))));
      break;
    case "phone-password":
      form.append(field("f-phone", "Phone", { type: "tel", autocomplete: "tel", placeholder: "+1 555 0100" }), field("f-password", "Password", { type: "password" }),
        field("f-code", "Confirmation code", { autocomplete: "one-time-code" }),
        formButtons(submit("do-signin", "Sign in", (b) => finish({ method: "phone", phone: v("f-phone"), password: v("f-password") }, b)),
          submit("do-register", "Register", async (b) => { if ((await attempt(() => call("register_phone", { connection: conn(), phone: v("f-phone"), password: v("f-password"), code: null }, b), err)) !== undefined) info("Registered. Enter the code that was texted to you, then Confirm."); }, "secondary"),
          submit("do-confirm-phone", "Confirm", async (b) => { if ((await attempt(() => call("register_phone", { connection: conn(), phone: v("f-phone"), password: "", code: v("f-code") }, b), err)) !== undefined) info("Phone confirmed: sign in now."); }, "secondary")));
      break;
    case "sms-code":
      form.append(field("f-phone", "Phone", { type: "tel", autocomplete: "tel" }), field("f-code", "Code", { autocomplete: "one-time-code" }),
        formButtons(submit("do-send-code", "Send code", async (b) => { if ((await attempt(() => call("send_sms_code", { connection: conn(), phone: v("f-phone") }, b), err)) !== undefined) info("Code sent (Local: see the Local outbox tab)."); }, "secondary"),
          submit("do-signin", "Sign in", (b) => finish({ method: "sms_code", phone: v("f-phone"), code: v("f-code") }, b))));
      break;
    case "magic-link":
      form.append(field("f-email", "Email", { type: "email", autocomplete: "username" }),
        formButtons(submit("do-send-link", "Send me a link", async (b) => {
          if (await attempt(() => call("begin_magic_link", { connection: conn(), email: v("f-email") }, b), err)) { info("Link sent. Open it on this computer, or type the code from the mail below."); form.hidden = true; refresh(); }
        })));
      break;
    case "api-key":
      form.append(field("f-key", "API key", { autocomplete: "off", class: "mono" }), formButtons(submit("do-signin", "Sign in", (b) => finish({ method: "api_key", key: v("f-key") }, b))));
      break;
    case "custom-token":
      form.append(field("f-token", "JWT", { multiline: true, spellcheck: "false" }), formButtons(submit("do-signin", "Sign in", (b) => finish({ method: "jwt", token: v("f-token") }, b))));
      break;
    case "custom-function":
      form.append(field("f-payload", "Payload (JSON object)", { multiline: true, spellcheck: "false", placeholder: '{"username": "ada"}' }),
        formButtons(submit("do-signin", "Sign in", (b) => {
          try { const parsed = JSON.parse(v("f-payload")); if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) throw new Error("it must be a JSON object"); }
          catch (e) { err.textContent = `The payload is not a valid JSON object: ${e.message}`; return; }
          finish({ method: "function", payload: v("f-payload") }, b);
        })));
      break;
    default: {
      const parts = [el("p", { class: "muted", text: `Your browser opens ${p.label}'s sign-in page; you come back here automatically.` }),
        formButtons(submit("do-browser", `Continue with ${p.label} in the browser`, async (b) => {
          const started = await attempt(() => call("begin_browser_sign_in", { connection: conn(), provider: p.type, linkUser }, b), err);
          if (started) { form.hidden = true; refresh(); }
        }))];
      if (p.token) {
        parts.push(el("details", {}, el("summary", { text: p.type === "oauth2-facebook" ? "I have an access token" : "I have an ID token" }),
          field("f-token", "Token", { multiline: true, spellcheck: "false" }),
          formButtons(submit("do-token-signin", "Sign in with the token", (b) => finish({ method: p.token, token: v("f-token") }, b), "secondary"))));
      }
      form.append(...parts);
    }
  }
  form.append(err);
  const first = form.querySelector("input, textarea, button");
  if (first) first.focus();
}

// ---- account panel ---------------------------------------------------------------------------

function selectedAccount() {
  const o = state.overview;
  if (!o) return null;
  const s = state.selected;
  return (s && o.accounts.find((a) => a.connection === s.connection && a.id === s.id)) || o.active || null;
}

async function renderAccount() {
  const a = selectedAccount();
  $("account-empty").hidden = !!a;
  $("account-view").hidden = !a;
  if (!a) return;
  $("account-name").textContent = a.display_name;
  $("account-meta").textContent = `${LABEL[a.provider] || a.provider || ""} · ${a.connection_name} · ${a.state.replace("_", " ")}`;
  $("do-reauth").hidden = a.state !== "logged_out";
  $("do-logout").hidden = a.state === "logged_out";
  $("do-link").hidden = a.state === "logged_out";
  let d;
  try { d = await call("account_details", { connection: a.connection, user: a.id }); } catch (e) {
    // Removed a moment ago (the list is being refreshed): nothing to show, nothing to report.
    if (e && e.code !== "UnknownAccount") notify("error", errorText(e));
    return;
  }
  $("account-identities").replaceChildren(...d.identities.map((i) => el("li", { text: `${LABEL[i.provider] || i.provider}: ${i.id}` })));
  $("account-profile").replaceChildren(...Object.entries(d.profile).flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: typeof v === "string" ? v : JSON.stringify(v) })]));
}

async function accountAction(command, question, okLabel) {
  const a = selectedAccount();
  if (!a) return;
  if (question && !(await confirmDialog(question(a), okLabel))) return;
  const o = await attempt(() => call(command, { connection: a.connection, user: a.id }));
  if (o) { state.selected = null; notify("success", { log_out: "Logged out", remove_account: "Removed from this device", delete_account: "Account deleted" }[command]); refresh(); }
}

// ---- API keys --------------------------------------------------------------------------------

function renderKeys(keys) {
  $("keys").replaceChildren(...keys.map((k) => el("tr", { "data-id": k.id, "data-enabled": String(k.enabled) },
    el("td", { class: "key-name", text: k.name }), el("td", { class: "mono", text: k.id }),
    el("td", { class: "key-enabled", text: k.enabled ? "enabled" : "disabled" }), el("td", { text: when(k.created_at) }),
    el("td", {},
      el("button", { type: "button", class: "secondary toggle-key", text: k.enabled ? "Disable" : "Enable", onclick: async (ev) => {
        const list = await attempt(() => call("set_api_key_enabled", { id: k.id, enabled: !k.enabled }, ev.target));
        if (list) renderKeys(list);
      } }),
      " ",
      el("button", { type: "button", class: "danger delete-key", text: "Delete", onclick: async (ev) => {
        if (!(await confirmDialog(`Delete the API key "${k.name}"? Anything using it stops working at once.`, "Delete key"))) return;
        const list = await attempt(() => call("delete_api_key", { id: k.id }, ev.target));
        if (list) renderKeys(list);
      } })))));
  $("keys-empty").hidden = keys.length > 0;
}

async function loadKeys() {
  const a = state.overview && state.overview.active;
  $("keys-for").textContent = a ? `Keys of ${a.display_name} (${a.connection_name})` : "No active account.";
  if (!a) { $("keys-body").hidden = true; $("keys-unavailable").hidden = true; return; }
  const panel = await attempt(() => call("api_keys"));
  if (!panel) return;
  $("keys-unavailable").hidden = panel.available;
  $("keys-unavailable").textContent = panel.reason || "";
  $("keys-body").hidden = !panel.available;
  renderKeys(panel.keys);
}

// ---- sessions --------------------------------------------------------------------------------

function renderSessions(list) {
  $("sessions").replaceChildren(...list.map((s) => el("tr", { "data-id": s.id, "data-current": String(s.current) },
    el("td", {}, s.device, s.current ? el("span", { class: "badge state-active", text: " this device" }) : null,
      s.user_agent ? el("div", { class: "muted", text: s.user_agent }) : null),
    el("td", { text: LABEL[s.provider] || s.provider }), el("td", { text: s.ip || "—" }),
    el("td", { text: when(s.created_at) }), el("td", { text: when(s.last_used_at) }),
    el("td", {}, s.current ? null : el("button", { type: "button", class: "secondary revoke", text: "Sign out", onclick: async (ev) => {
      const next = await attempt(() => call("revoke_session", { id: s.id }, ev.target));
      if (next) renderSessions(next);
    } })))));
}

async function loadSessions() {
  const a = state.overview && state.overview.active;
  $("sessions-for").textContent = a ? `Sessions of ${a.display_name} (${a.connection_name})` : "No active account.";
  if (!a) { renderSessions([]); return; }
  const list = await attempt(() => call("sessions"));
  if (list) renderSessions(list);
}

// ---- connections and outbox ------------------------------------------------------------------

function renderConnections(o) {
  $("connections").replaceChildren(...o.connections.map((c) => el("li", { "data-id": c.id },
    el("strong", { text: c.name }), " ", el("span", { class: "conn-url mono", text: c.url }), " ", el("span", { class: "muted", text: `app ${c.app_id}` }),
    c.problem ? el("div", { class: "error", text: c.problem }) : null,
    c.local ? el("div", { class: "muted", text: "Built in: runs inside this app, data stays on this computer." }) : el("div", { class: "actions" },
      el("button", { type: "button", class: "secondary", text: "Edit", onclick: () => {
        $("conn-id").value = c.id; $("conn-name").value = c.name; $("conn-url").value = c.url; $("conn-app").value = c.app_id;
        $("conn-form-title").textContent = `Edit ${c.name}`; $("do-cancel-conn").hidden = false; $("conn-name").focus();
      } }),
      el("button", { type: "button", class: "danger", text: "Remove", onclick: async (ev) => {
        const n = o.accounts.filter((a) => a.connection === c.id).length;
        if (!(await confirmDialog(`Remove ${c.name}? ${n} account(s) of it will be removed from this device (they stay on the server).`, "Remove"))) return;
        if ((await attempt(() => call("remove_connection", { id: c.id }, ev.target))) !== undefined) refresh();
      } })))));
}

function resetConnForm() {
  for (const id of ["conn-id", "conn-name", "conn-url", "conn-app"]) $(id).value = "";
  $("conn-form-title").textContent = "Add a server";
  $("do-cancel-conn").hidden = true;
}

async function loadOutbox() {
  const list = await attempt(() => call("outbox"));
  if (!list) return;
  $("outbox").replaceChildren(...(list.length ? list.map((m) => el("li", { class: "mail" },
    el("strong", { text: m.subject }), " ", el("span", { class: "muted", text: `to ${m.to} (${m.channel})` }),
    el("p", { class: "outbox-text", text: m.text }),
    ...m.links.filter((l) => l.includes("/confirm")).map((link) => el("button", { type: "button", class: "use-confirm", text: "Confirm this account", onclick: async (ev) => {
      if ((await attempt(() => call("confirm_email", { connection: "local", link }, ev.target))) !== undefined) notify("success", `Confirmed ${m.to}: sign in now.`);
    } })))) : [el("li", { class: "muted", text: "Nothing sent yet." })]));
}

// ---- tabs and wiring -------------------------------------------------------------------------

function showTab(name) {
  state.tab = name;
  for (const t of document.querySelectorAll('[role="tab"]')) {
    const on = t.id === `tab-${name}`;
    t.setAttribute("aria-selected", String(on));
    t.tabIndex = on ? 0 : -1;
    $(t.getAttribute("aria-controls")).hidden = !on;
  }
  if (name === "account") renderAccount();
  if (name === "keys") loadKeys();
  if (name === "sessions") loadSessions();
  if (name === "outbox") loadOutbox();
}

function wire() {
  const tabs = [...document.querySelectorAll('[role="tab"]')];
  tabs.forEach((t, i) => {
    t.addEventListener("click", () => showTab(t.id.slice(4)));
    t.addEventListener("keydown", (ev) => {
      const step = ev.key === "ArrowRight" ? 1 : ev.key === "ArrowLeft" ? -1 : 0;
      if (!step) return;
      const next = tabs[(i + step + tabs.length) % tabs.length];
      next.focus(); showTab(next.id.slice(4));
    });
  });
  $("signin-connection").addEventListener("change", () => { state.provider = null; $("provider-form").hidden = true; renderConnectionsSelect(state.overview); });
  $("add-account").addEventListener("click", () => { state.linkFor = null; showTab("signin"); $("signin-connection").focus(); });
  $("do-memory-only").addEventListener("click", async (ev) => { if (await attempt(() => call("use_memory_only", {}, ev.target))) refresh(); });
  $("do-logout").addEventListener("click", () => {
    const a = selectedAccount();
    const anonymous = a && a.provider === "anon-user";
    accountAction("log_out", anonymous ? (x) => `Log out of ${x.display_name}? An anonymous account cannot sign in again: it and everything it holds on ${x.connection_name} will be out of reach for good.` : null, "Log out");
  });
  $("do-remove").addEventListener("click", () => accountAction("remove_account", (a) => `Remove ${a.display_name} (${a.connection_name}) from this device? The account stays on the server; you can sign in again later.`, "Remove"));
  $("do-delete").addEventListener("click", () => accountAction("delete_account", (a) => `Delete the account ${a.display_name} on ${a.connection_name}? This cannot be undone: the account, its API keys and sessions are deleted on the server.`, "Delete account"));
  $("do-reauth").addEventListener("click", () => {
    const a = selectedAccount();
    if (!a) return;
    $("signin-connection").value = a.connection;
    showTab("signin");
    loadProviders().then(() => {
      const p = PROVIDERS.find((x) => x.type === a.provider);
      if (p && state.enabled.has(p.type)) { chooseProvider(p); if (a.email && $("f-email")) $("f-email").value = a.email; }
    });
  });
  $("do-link").addEventListener("click", () => {
    const a = selectedAccount();
    if (!a) return;
    state.linkFor = { connection: a.connection, id: a.id, name: a.display_name };
    $("signin-connection").value = a.connection;
    showTab("signin");
    loadProviders();
    notify("info", `Pick the sign-in method to link to ${a.display_name}.`);
  });
  $("key-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const created = await attempt(() => call("create_api_key", { name: $("key-name").value }, $("do-create-key")));
    if (!created) return;
    $("key-name").value = "";
    $("new-key").hidden = false;
    $("new-key-secret").value = created.secret;
    $("copy-status").textContent = "";
    $("new-key-secret").select();
    loadKeys();
  });
  $("do-copy-key").addEventListener("click", async () => {
    const input = $("new-key-secret");
    let ok = false;
    try { await navigator.clipboard.writeText(input.value); ok = true; } catch (_) {
      input.select(); ok = document.execCommand("copy");
    }
    $("copy-status").textContent = ok ? "Copied" : "Copy failed: select the key and copy it by hand";
  });
  $("do-dismiss-key").addEventListener("click", () => { $("new-key-secret").value = ""; $("new-key").hidden = true; });
  $("do-revoke-others").addEventListener("click", async (ev) => {
    if (!(await confirmDialog("Sign out every other session of this account? Other devices will have to sign in again.", "Sign them out"))) return;
    const list = await attempt(() => call("revoke_other_sessions", {}, ev.target));
    if (list) { renderSessions(list); notify("success", "Every other session is signed out."); }
  });
  $("conn-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const id = $("conn-id").value;
    const args = { name: $("conn-name").value, url: $("conn-url").value, appId: $("conn-app").value };
    const saved = await attempt(() => id ? call("edit_connection", { id, ...args }, $("do-save-conn")) : call("add_connection", args, $("do-save-conn")), $("conn-error"));
    if (saved) { notify("success", `${saved.name} is ready.`); resetConnForm(); refresh(); }
  });
  $("do-cancel-conn").addEventListener("click", resetConnForm);
  $("do-refresh-outbox").addEventListener("click", loadOutbox);
}

async function main() {
  wire();
  await listen("accounts-changed", () => refresh());
  await listen("notice", (ev) => notify(ev.payload.level, ev.payload.message));
  await listen("signin-finished", (ev) => { notify(ev.payload.ok ? "success" : "error", ev.payload.message); refresh(); });
  await refresh();
  if (state.overview) document.body.dataset.readyMs = String(Date.now() - state.overview.launched_at_ms);
  document.body.dataset.ready = "true";
}

main();
