// The Local outbox panel: what the Local backend would have mailed or texted.

import { $ } from "../dom.js";
import { call } from "../ipc.js";
import { attempt, notify } from "../feedback.js";
import { renderOutbox } from "../render.js";
import { onTab } from "../tabs.js";

async function confirm(m, link, button) {
  const done = await attempt(() => call("confirm_email", { connection: "local", link }, button));
  if (done !== undefined) notify("success", `Confirmed ${m.to}: sign in now.`);
}

async function load() {
  const list = await attempt(() => call("outbox"));
  if (list) renderOutbox(list, confirm);
}

export function initOutbox() {
  // Not reloaded on every account change: only when shown, or on Refresh.
  onTab("outbox", load, { onRefresh: false });
  $("do-refresh-outbox").addEventListener("click", load);
}
