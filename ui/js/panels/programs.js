// The Connected programs panel: programs the person chose to "always allow" for an account
// (one grant per program, account and connection), with their last use and use count; revoking
// one makes the program ask again next time.

import { $, el } from "../dom.js";
import { call } from "../ipc.js";
import { attempt, notify } from "../feedback.js";
import { when } from "../format.js";
import { onTab, reloadTab } from "../tabs.js";
import { state } from "../state.js";

function row(g) {
  const uses = g.uses === 1 ? "used once" : `used ${g.uses} times`;
  return el("li", { "data-id": g.id },
    el("span", { class: "exe mono", text: g.exe }),
    el("span", { text: `as ${g.account_name} on ${g.connection_name}` }),
    el("span", { class: "muted", text: `allowed ${when(g.created_at)}` }),
    el("span", { class: "muted", text: g.last_used_at ? `last used ${when(g.last_used_at)}` : "not used yet" }),
    el("span", { class: "muted", text: uses }),
    el("button", {
      type: "button",
      class: "secondary revoke-program",
      "data-id": g.id,
      "aria-label": `Revoke ${g.exe} for ${g.account_name}`,
      text: "Revoke",
      onclick: (ev) => revoke(g, ev.currentTarget),
    }));
}

function render(list) {
  $("programs").replaceChildren(...list.map(row));
  $("programs-empty").hidden = list.length > 0;
}

async function revoke(g, button) {
  const list = await attempt(() => call("revoke_program", { id: g.id }, button));
  if (!list) return;
  render(list);
  notify("success", `${g.exe} will have to ask again to use ${g.account_name}.`);
}

async function load() {
  const list = await attempt(() => call("connected_programs"));
  if (list) render(list);
}

// After a prompt was answered "always allow", the list grows: reload it if it is showing.
export function programsChanged() {
  if (state.tab === "programs") reloadTab();
}

export function initPrograms() {
  onTab("programs", load);
}
