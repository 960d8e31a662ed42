// The window's entry point (a module: deferred, strict). Everything goes through the app's own
// commands; the page never sees a token. Errors arrive as {code, message} and are shown as the
// message.

import { $ } from "./dom.js";
import { EVENTS, call, listen } from "./ipc.js";
import { attempt, notify } from "./feedback.js";
import { initConsent } from "./consent.js";
import { initMfaChallenge } from "./forms/mfa-challenge.js";
import { refresh } from "./overview.js";
import { initAccount } from "./panels/account.js";
import { initConnections } from "./panels/connections.js";
import { initHosts } from "./panels/hosts.js";
import { initKeys } from "./panels/keys.js";
import { initOutbox } from "./panels/outbox.js";
import { initPrograms, programsChanged } from "./panels/programs.js";
import { initSecurity } from "./panels/security.js";
import { initSessions } from "./panels/sessions.js";
import { initSettings } from "./panels/settings.js";
import { initSignIn } from "./signin.js";
import { signedIn } from "./step-up.js";
import { setRefresh, state } from "./state.js";
import { initTabs, showTab } from "./tabs.js";

async function main() {
  setRefresh(refresh);
  initTabs();
  initSignIn();
  initAccount();
  initKeys();
  initSessions();
  initSecurity();
  initConnections();
  initHosts();
  initSettings();
  initPrograms();
  initOutbox();
  $("do-memory-only").addEventListener("click", async (ev) => {
    if (await attempt(() => call("use_memory_only", {}, ev.currentTarget))) refresh();
  });
  await listen(EVENTS.accounts, () => refresh());
  await listen(EVENTS.notice, (p) => notify(p.level, p.message));
  await listen(EVENTS.signInFinished, async (p) => {
    notify(p.ok ? "success" : "error", p.message);
    await refresh();
    if (!p.ok) return;
    // A magic link started from "Link" came back: the account it was linked to is shown.
    const link = state.linkFor;
    if (link && link.connection === p.connection && link.id === p.user) {
      state.linkFor = null;
      showTab("account");
    }
    signedIn(p.connection, p.user);
  });
  await listen(EVENTS.consentSettled, () => programsChanged());
  await initMfaChallenge();
  await refresh();
  // After the first overview: a prompt waiting since before the window opened names accounts.
  await initConsent();
  if (state.overview) document.body.dataset.readyMs = String(Date.now() - state.overview.launched_at_ms);
  document.body.dataset.ready = "true";
}

main();
