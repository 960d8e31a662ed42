// Git hosts (Connections tab): which signed-in account the `gatehouse credential` helper
// answers for each host. One form: pick an account, list its hosts, save (a host another
// account had moves to this one).

import { $, el } from "../dom.js";
import { call } from "../ipc.js";
import { attempt, notify } from "../feedback.js";
import { state } from "../state.js";
import { onTab } from "../tabs.js";

let mappings = []; // HostMappingView (src-tauri/src/views.rs)
let accounts = []; // the signed-in accounts the select offers, by index

const key = (a) => `${a.connection}\n${a.id}`;

function hostsOf(a) {
  return mappings.filter((m) => m.connection === a.connection && m.user === a.id).map((m) => m.host);
}

function renderAccounts() {
  const select = $("hosts-account");
  const before = select.value;
  const o = state.overview;
  accounts = o ? o.accounts.filter((a) => a.state !== "logged_out") : [];
  select.replaceChildren(...accounts.map((a) => {
    const email = a.email && a.email !== a.display_name ? ` (${a.email})` : "";
    return el("option", { value: key(a), text: `${a.display_name}${email} — ${a.connection_name}` });
  }));
  if (accounts.some((a) => key(a) === before)) select.value = before;
  $("do-save-hosts").disabled = accounts.length === 0;
  fillHosts();
}

function chosen() {
  return accounts.find((a) => key(a) === $("hosts-account").value) || null;
}

function fillHosts() {
  const a = chosen();
  $("hosts-list").value = a ? hostsOf(a).join(", ") : "";
}

function renderMappings(list) {
  mappings = list;
  $("host-mappings").replaceChildren(...list.map((m) => el("li", {},
    el("span", { class: "mono", text: m.host }),
    el("span", { text: ` → ${m.account_name}` }))));
  $("host-mappings-empty").hidden = list.length > 0;
}

async function load() {
  renderAccounts();
  const list = await attempt(() => call("account_hosts"));
  if (!list) return;
  renderMappings(list);
  fillHosts();
}

async function save(ev) {
  ev.preventDefault();
  const a = chosen();
  if (!a) return;
  const hosts = $("hosts-list").value.split(/[\s,;]+/).filter((h) => h);
  const list = await attempt(
    () => call("set_account_hosts", { connection: a.connection, user: a.id, hosts }, $("do-save-hosts")),
    $("hosts-error"),
  );
  if (!list) return;
  renderMappings(list);
  fillHosts();
  const done = hosts.length ? `git uses ${a.display_name} for ${hosts.join(", ")}.` : "No host uses this account now.";
  notify("success", done);
}

export function initHosts() {
  onTab("connections", load);
  $("hosts-account").addEventListener("change", fillHosts);
  $("hosts-form").addEventListener("submit", save);
}
