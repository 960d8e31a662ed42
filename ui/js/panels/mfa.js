// The Account tab's "Two-step sign-in" section: the account's second factors (authenticator
// apps and passkeys) with Remove; adding an authenticator app (QR code and key, confirmed with a
// first code; the first factor brings ten recovery codes, shown once); new recovery codes; and a
// passkey, registered in the system browser (WebKitGTK has no WebAuthn) and brought back by the
// deep link. Adding, removing and new codes go through `withRecentSignIn` (the server wants a
// recent sign-in for them); confirming a code does not.

import { $, el } from "../dom.js";
import { call } from "../ipc.js";
import { attempt, confirmDialog, notify } from "../feedback.js";
import { when } from "../format.js";
import { codesText, copyText, qrSource, showCodes } from "../shown-once.js";
import { refresh, selectedAccount, state } from "../state.js";
import { withRecentSignIn } from "../step-up.js";
import { showTab } from "../tabs.js";

const KIND = Object.freeze({ totp: "Authenticator app", passkey: "Passkey" });
const kindText = (k) => KIND[k] || k;
const who = (a) => ({ connection: a.connection, user: a.id });
const keyOf = (a) => (a ? `${a.connection}/${a.id}` : "");
const plural = (n, one, many) => `${n} ${n === 1 ? one : many}`;

// The account the section shows ("connection/id"): what is shown once belongs to it alone.
let shownFor = "";
// The authenticator being added: { connection, user, factorId }.
let enrolling = null;

// An unconfirmed factor never counts at sign-in: Cancel only hides the key (the factor stays
// listed, with its Remove, until the next authenticator added replaces it).
function hideEnroll() {
  enrolling = null;
  $("totp-enroll").hidden = true;
  $("totp-secret").value = "";
  $("totp-qr").removeAttribute("src");
  $("totp-code").value = "";
  $("totp-error").textContent = "";
}

function hideCodes() {
  $("recovery-box").hidden = true;
  showCodes($("recovery-codes"), []);
}

function forgetShownOnce() {
  hideEnroll();
  hideCodes();
}

function summaryText(v) {
  const on = v.factors.filter((f) => f.confirmed);
  if (!on.length) {
    return v.required
      ? "This app requires a second factor: add an authenticator app or a passkey."
      : "Off: the first sign-in method alone signs in. Add an authenticator app or a passkey.";
  }
  const apps = on.filter((f) => f.kind === "totp").length;
  const keys = on.filter((f) => f.kind === "passkey").length;
  const what = [apps ? plural(apps, "authenticator app", "authenticator apps") : null,
    keys ? plural(keys, "passkey", "passkeys") : null].filter(Boolean).join(" and ");
  return `On: ${what} · ${plural(v.recovery_codes_left, "recovery code", "recovery codes")} left.`;
}

function factorItem(f) {
  const used = f.last_used_at ? `last used ${when(f.last_used_at)}` : "never used";
  return el("li", { "data-id": f.id, "data-kind": f.kind, "data-confirmed": String(f.confirmed) },
    el("span", { class: "factor-kind badge", text: kindText(f.kind) }),
    el("span", { class: "factor-name", text: f.name }),
    f.confirmed ? null : el("span", { class: "badge state-offline", text: "not confirmed" }),
    el("span", { class: "factor-dates muted", text: `added ${when(f.created_at)} · ${used}` }),
    el("button", {
      type: "button",
      class: "secondary remove-factor",
      "data-id": f.id,
      text: "Remove",
      "aria-label": `Remove ${kindText(f.kind)} ${f.name}`,
      onclick: (ev) => removeFactor(f, ev.currentTarget),
    }));
}

// `v`: the app's MfaView (src-tauri/src/views.rs).
function renderStatus(v) {
  $("mfa-summary").textContent = summaryText(v);
  $("mfa-factors").replaceChildren(...v.factors.map(factorItem));
  $("do-regenerate-codes").hidden = !v.factors.some((f) => f.confirmed);
}

// Shows the section for overview account `a` (the one the Account tab shows).
export async function renderMfa(a) {
  const key = keyOf(a);
  if (key !== shownFor) {
    shownFor = key;
    forgetShownOnce();
    $("mfa-factors").replaceChildren();
    $("mfa-summary").textContent = "";
    $("mfa-section-error").textContent = "";
  }
  if (!a) return;
  const anonymous = a.provider === "anon-user";
  const signedIn = a.state !== "logged_out";
  $("mfa-controls").hidden = anonymous || !signedIn;
  if (anonymous || !signedIn) {
    $("mfa-factors").replaceChildren();
    $("mfa-summary").textContent = anonymous
      ? "An anonymous account cannot have a second factor: link a sign-in method first."
      : "Sign in again to see and change its second factors.";
    return;
  }
  let v;
  try {
    v = await call("mfa_status", who(a));
  } catch (e) {
    // Removed or signed out a moment ago (the list is being refreshed): nothing to report.
    if (e && e.code !== "UnknownAccount" && keyOf(selectedAccount()) === key) {
      $("mfa-section-error").textContent = e.message || String(e);
    }
    return;
  }
  if (keyOf(selectedAccount()) === key) renderStatus(v);
}

const reload = () => renderMfa(selectedAccount());

function showRecovery(codes) {
  showCodes($("recovery-codes"), codes);
  $("codes-copy-status").textContent = "";
  $("recovery-box").hidden = false;
  $("do-copy-codes").focus();
}

async function enroll(ev) {
  const a = selectedAccount();
  if (!a) return;
  const name = $("mfa-new-name").value.trim() || null;
  const t = await withRecentSignIn(a, "add an authenticator app",
    () => call("enroll_totp", { ...who(a), name }, ev.currentTarget), $("mfa-section-error"));
  if (!t) return;
  // After a renewed sign-in the Sign in tab shows: back to this one (its load keeps `enrolling`).
  shownFor = keyOf(a);
  enrolling = { ...who(a), factorId: t.factor_id };
  $("mfa-new-name").value = "";
  $("totp-qr").src = qrSource(t.qr_svg);
  $("totp-secret").value = t.secret;
  $("totp-code").value = "";
  $("totp-error").textContent = "";
  $("totp-copy-status").textContent = "";
  $("totp-enroll").hidden = false;
  if (state.tab !== "account") showTab("account");
  $("totp-code").focus();
  reload();
}

async function confirmTotp(ev) {
  ev.preventDefault();
  const e = enrolling;
  if (!e) return;
  const code = $("totp-code").value.replace(/\s+/g, "");
  if (!/^\d{6}$/.test(code)) {
    $("totp-error").textContent = "Type the 6 digits your authenticator app shows now.";
    $("totp-code").focus();
    return;
  }
  const args = { connection: e.connection, user: e.user, factorId: e.factorId, code };
  const r = await attempt(() => call("confirm_totp", args, $("do-confirm-totp")), $("totp-error"));
  if (!r) {
    $("totp-code").select();
    return;
  }
  hideEnroll();
  notify("success", `${r.factor.name} is confirmed: signing in now asks for its code.`);
  if (r.recovery_codes && r.recovery_codes.length) showRecovery(r.recovery_codes);
  reload();
}

async function removeFactor(f, button) {
  const a = selectedAccount();
  if (!a) return;
  const question = `Remove the ${kindText(f.kind).toLowerCase()} "${f.name}" from ${a.display_name}? `
    + "It will no longer be asked for, or accepted, at sign-in.";
  if (!(await confirmDialog(question, "Remove"))) return;
  const v = await withRecentSignIn(a, "remove a second factor",
    () => call("remove_mfa_factor", { ...who(a), factorId: f.id }, button), $("mfa-section-error"));
  if (!v) return;
  notify("success", `${f.name} is removed from ${a.display_name}.`);
  if (keyOf(selectedAccount()) === keyOf(a)) renderStatus(v);
}

async function regenerate(ev) {
  const a = selectedAccount();
  if (!a) return;
  const question = `Make new recovery codes for ${a.display_name}? The ones you have stop working at once.`;
  if (!(await confirmDialog(question, "Make new codes"))) return;
  const codes = await withRecentSignIn(a, "make new recovery codes",
    () => call("regenerate_recovery_codes", who(a), ev.currentTarget), $("mfa-section-error"));
  if (!codes) return;
  shownFor = keyOf(a);
  if (state.tab !== "account") showTab("account");
  showRecovery(codes);
  reload();
}

async function addPasskey(ev) {
  const a = selectedAccount();
  if (!a) return;
  const name = $("mfa-new-name").value.trim() || "Passkey";
  const started = await withRecentSignIn(a, "add a passkey",
    () => call("add_passkey", { ...who(a), name }, ev.currentTarget), $("mfa-section-error"));
  if (!started) return;
  $("mfa-new-name").value = "";
  notify("info", "Your browser opens a page of the server to make the passkey; you come back here by "
    + "yourself. If no browser came up, the Sign in tab has the address.");
  refresh();
}

export function initMfa() {
  $("do-enroll-totp").addEventListener("click", enroll);
  $("totp-enroll").addEventListener("submit", confirmTotp);
  $("do-cancel-totp").addEventListener("click", hideEnroll);
  $("do-copy-secret").addEventListener("click",
    () => copyText($("totp-secret").value, $("totp-copy-status"), $("totp-secret")));
  $("do-regenerate-codes").addEventListener("click", regenerate);
  $("do-add-passkey").addEventListener("click", addPasskey);
  $("do-copy-codes").addEventListener("click",
    () => copyText(codesText($("recovery-codes")), $("codes-copy-status")));
  $("do-dismiss-codes").addEventListener("click", hideCodes);
}
