// The "Two-step verification" form (a modal <dialog>): a sign-in — any method, a browser's
// included — of an account with a second factor stopped at the server's challenge, and the app
// said so (`gatehouse:mfa-challenge`). It asks for the authenticator's 6-digit code, or a
// recovery code when the toggle says so (Enter submits), or sends the person to the browser for
// a passkey when the challenge takes one; Cancel (or Escape) gives the challenge up. When the app
// requires a second factor of an account that has none (`enroll`), the form first shows a new
// authenticator key (`enroll_for_challenge`), and the recovery codes after the first code.
// Not one of FORMS: no provider opens it, the challenge does.

import { $ } from "../dom.js";
import { EVENTS, call, listen } from "../ipc.js";
import { errorText, notify } from "../feedback.js";
import { label } from "../providers.js";
import { codesText, copyText, qrSource, showCodes } from "../shown-once.js";
import { challengeAnswered } from "../signin.js";
import { refresh, state } from "../state.js";
import { showTab } from "../tabs.js";

let current = null; // the ChallengeView being answered (src-tauri/src/views.rs)
let ticker = null;

const dialog = () => $("mfa-dialog");
const recovery = () => $("mfa-kind").checked;

// The code field follows the toggle: six digits from the app, or a recovery code.
function kindChanged() {
  const code = $("mfa-code");
  if (recovery()) {
    $("mfa-code-label").textContent = "Recovery code";
    code.removeAttribute("maxlength");
    code.setAttribute("inputmode", "text");
    code.setAttribute("autocomplete", "off");
    code.placeholder = "";
  } else {
    $("mfa-code-label").textContent = "Code from your authenticator app";
    code.setAttribute("maxlength", "6");
    code.setAttribute("inputmode", "numeric");
    code.setAttribute("autocomplete", "one-time-code");
    code.placeholder = "123456";
  }
  $("mfa-error").textContent = "";
  code.focus();
}

function stopTicker() {
  if (ticker) clearInterval(ticker);
  ticker = null;
}

function tick() {
  if (!current) return;
  const left = Math.max(0, Math.ceil(current.expires_at - Date.now() / 1000));
  const m = Math.floor(left / 60);
  const s = String(left % 60).padStart(2, "0");
  $("mfa-countdown").textContent = left > 0
    ? `This request ends in ${m}:${s}.`
    : "This request has ended: cancel and sign in again.";
  $("do-answer-mfa").disabled = left === 0 || current.dead;
  if (left === 0) stopTicker();
}

function describe(c) {
  const conns = (state.overview && state.overview.connections) || [];
  const conn = conns.find((x) => x.id === c.connection);
  const where = conn ? conn.name : c.connection;
  const how = `Signing in to ${where} with ${label(c.provider)}`;
  if (c.enroll) return `${how}: set up a second factor to finish.`;
  const passkey = c.methods.includes("passkey") ? ", or use a passkey" : "";
  return `${how} needs a second step: enter the code your authenticator app shows${passkey}.`;
}

async function loadEnrollment(c) {
  try {
    const t = await call("enroll_for_challenge", { challenge: c.id });
    if (current !== c) return;
    $("mfa-totp-qr").src = qrSource(t.qr_svg);
    $("mfa-totp-secret").value = t.secret || "";
  } catch (e) {
    if (current === c) $("mfa-error").textContent = errorText(e);
  }
}

function open(c) {
  current = c;
  const methods = c.methods || [];
  $("mfa-title").textContent = c.enroll ? "Set up two-step verification" : "Two-step verification";
  $("mfa-what").textContent = describe(c);
  $("mfa-form").hidden = false;
  $("mfa-codes").hidden = true;
  showCodes($("mfa-recovery-codes"), []);
  $("mfa-enroll").hidden = !c.enroll;
  $("mfa-totp-secret").value = "";
  $("mfa-totp-qr").removeAttribute("src");
  $("mfa-code").value = "";
  $("mfa-kind").checked = false;
  $("mfa-kind-row").hidden = c.enroll || !methods.includes("recovery_code");
  $("do-mfa-passkey").hidden = c.enroll || !methods.includes("passkey");
  if (!dialog().open) dialog().showModal();
  kindChanged();
  stopTicker();
  tick();
  ticker = setInterval(tick, 1000);
  if (c.enroll) loadEnrollment(c);
}

function close() {
  stopTicker();
  current = null;
  $("mfa-totp-secret").value = "";
  $("mfa-code").value = "";
  if (dialog().open) dialog().close();
}

function showRecoveryCodes(codes) {
  $("mfa-form").hidden = true;
  showCodes($("mfa-recovery-codes"), codes);
  $("mfa-codes-copy-status").textContent = "";
  $("mfa-codes").hidden = false;
  $("do-mfa-copy-codes").focus();
}

async function answer(ev) {
  ev.preventDefault();
  const c = current;
  if (!c) return;
  const kind = recovery() ? "recovery_code" : "totp";
  const raw = $("mfa-code").value.trim();
  const code = kind === "totp" ? raw.replace(/\s+/g, "") : raw;
  if (kind === "totp" && !/^\d{6}$/.test(code)) {
    $("mfa-error").textContent = "Type the 6 digits your authenticator app shows now.";
    $("mfa-code").focus();
    return;
  }
  if (!code) {
    $("mfa-error").textContent = "Type one of your recovery codes.";
    $("mfa-code").focus();
    return;
  }
  $("mfa-error").textContent = "";
  let r;
  try {
    r = await call("answer_mfa", { challenge: c.id, kind, code }, $("do-answer-mfa"));
  } catch (e) {
    if (current !== c) return;
    $("mfa-error").textContent = errorText(e);
    // Expired, used up or refused too often: only a new sign-in helps.
    if (e && e.code === "MfaChallengeInvalid") {
      c.dead = true;
      $("do-answer-mfa").disabled = true;
    }
    $("mfa-code").select();
    return;
  }
  stopTicker();
  current = null;
  if (r.recovery_codes && r.recovery_codes.length) showRecoveryCodes(r.recovery_codes);
  else close();
  if (kind === "recovery_code") {
    notify("warning", "That recovery code is used up. Make new ones on the Account tab when few are left.");
  }
  await challengeAnswered(r.account);
}

async function cancel() {
  const c = current;
  close();
  if (!c) return;
  // Giving up a challenge the server already forgot (expired) is no news.
  try {
    await call("cancel_mfa", { challenge: c.id });
  } catch (_) {
    // nothing to undo
  }
}

async function passkey(ev) {
  const c = current;
  if (!c) return;
  let started;
  try {
    started = await call("mfa_with_passkey", { challenge: c.id }, ev.currentTarget);
  } catch (e) {
    $("mfa-error").textContent = errorText(e);
    return;
  }
  // The browser finishes it; the waiting card on the Sign in tab takes the typed-code fallback.
  close();
  if (started) {
    notify("info", "Your browser opens the passkey page; you come back here by yourself.");
    showTab("signin");
    refresh();
  }
}

export async function initMfaChallenge() {
  $("mfa-form").addEventListener("submit", answer);
  $("mfa-kind").addEventListener("change", kindChanged);
  $("do-cancel-mfa").addEventListener("click", cancel);
  $("do-mfa-passkey").addEventListener("click", passkey);
  $("do-mfa-copy-secret").addEventListener("click",
    () => copyText($("mfa-totp-secret").value, null, $("mfa-totp-secret")));
  $("do-mfa-copy-codes").addEventListener("click",
    () => copyText(codesText($("mfa-recovery-codes")), $("mfa-codes-copy-status")));
  $("do-mfa-codes-done").addEventListener("click", close);
  // Escape: gives the challenge up — but recovery codes on screen wait for "I have stored them".
  dialog().addEventListener("cancel", (ev) => {
    ev.preventDefault();
    if ($("mfa-codes").hidden) cancel();
  });
  await listen(EVENTS.mfaChallenge, (p) => open(p.challenge || p));
}
