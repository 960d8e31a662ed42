// The consent prompt: a program on this computer asks, through the app's local agent, to act as
// an account. The dialog names the program, the account, the connection and what for, counts
// down to the request's deadline and sends the answer (`answer_consent`). Prompts queue: one
// shows at a time; a prompt settled elsewhere (answered, timed out) closes on
// `gatehouse:consent-settled`.

import { $ } from "./dom.js";
import { EVENTS, call, listen } from "./ipc.js";
import { attempt } from "./feedback.js";

const queue = []; // ConsentPrompt views (src-tauri/src/views.rs), oldest first
let ticker = null;

function purposeText(p) {
  if (p.purpose === "git_credential") return `a git credential for ${p.host || "a host"}`;
  if (p.purpose === "api_keys") return "this account's API keys";
  return "an access token that acts as this account";
}

function accountText(a) {
  const email = a.email && a.email !== a.display_name ? ` (${a.email})` : "";
  return `${a.display_name}${email}`;
}

function countdown(p) {
  const left = Math.max(0, Math.ceil((p.expires_at_ms - Date.now()) / 1000));
  const m = Math.floor(left / 60);
  const s = String(left % 60).padStart(2, "0");
  $("consent-countdown").textContent = left > 0
    ? `Unanswered, the request is refused in ${m}:${s}.`
    : "Time is up: the request was refused.";
}

function waitingText() {
  const more = queue.length - 1;
  $("consent-queue").hidden = more < 1;
  $("consent-queue").textContent = `${more} more request(s) waiting.`;
}

function show(p) {
  const program = p.program.exe.split("/").pop() || p.program.exe;
  $("consent-what").textContent = `${program} asks for ${purposeText(p)}.`;
  $("consent-exe").textContent = p.program.exe;
  $("consent-cmdline").textContent = `${p.program.cmdline} (process ${p.program.pid})`;
  $("consent-via").textContent = p.program.via || "";
  $("consent-via-label").hidden = !p.program.via;
  $("consent-via-row").hidden = !p.program.via;
  $("consent-account").textContent = accountText(p.account);
  $("consent-connection").textContent = p.connection_name;
  waitingText();
  countdown(p);
  clearInterval(ticker);
  ticker = setInterval(() => countdown(p), 1000);
  const d = $("consent-dialog");
  d.dataset.id = p.id;
  if (!d.open) d.showModal();
  // The dialog itself takes focus, not a button: Enter never answers by accident.
  d.focus();
}

// Shows the oldest waiting prompt, or closes the dialog when none is left.
function next() {
  if (queue.length) {
    show(queue[0]);
    return;
  }
  clearInterval(ticker);
  const d = $("consent-dialog");
  delete d.dataset.id;
  if (d.open) d.close();
}

function add(p) {
  if (queue.some((q) => q.id === p.id)) return;
  queue.push(p);
  if (queue.length === 1) next();
  else waitingText();
}

function settle(id) {
  const i = queue.findIndex((q) => q.id === id);
  if (i < 0) return;
  queue.splice(i, 1);
  if (i === 0) next();
  else waitingText();
}

async function answer(value, button) {
  const p = queue[0];
  if (!p) return;
  await attempt(() => call("answer_consent", { id: p.id, answer: value }, button));
  settle(p.id);
}

export async function initConsent() {
  const d = $("consent-dialog");
  // Escape does not dismiss a prompt: it waits for an answer (or its deadline).
  d.addEventListener("cancel", (ev) => ev.preventDefault());
  $("consent-once").addEventListener("click", (ev) => answer("once", ev.currentTarget));
  $("consent-always").addEventListener("click", (ev) => answer("always", ev.currentTarget));
  $("consent-deny").addEventListener("click", (ev) => answer("deny", ev.currentTarget));
  await listen(EVENTS.consent, (p) => add(p.prompt));
  await listen(EVENTS.consentSettled, (p) => settle(p.id));
  const waiting = await attempt(() => call("pending_consents"));
  for (const p of waiting || []) add(p);
}
