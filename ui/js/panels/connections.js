// The Connections panel: the Local backend and the remote servers; adding, editing, removing.

import { $ } from "../dom.js";
import { call } from "../ipc.js";
import { attempt, confirmDialog, notify } from "../feedback.js";
import { renderConnections } from "../render.js";
import { refresh } from "../state.js";

const FIELDS = ["conn-id", "conn-name", "conn-url", "conn-app"];

function edit(c) {
  [c.id, c.name, c.url, c.app_id].forEach((v, i) => {
    $(FIELDS[i]).value = v;
  });
  $("conn-form-title").textContent = `Edit ${c.name}`;
  $("do-cancel-conn").hidden = false;
  $("conn-name").focus();
}

async function remove(c, button, o) {
  const n = o.accounts.filter((a) => a.connection === c.id).length;
  const question = `Remove ${c.name}? ${n} account(s) of it will be removed from this device `
    + "(they stay on the server).";
  if (!(await confirmDialog(question, "Remove"))) return;
  if ((await attempt(() => call("remove_connection", { id: c.id }, button))) !== undefined) refresh();
}

export function renderConnectionList(o) {
  renderConnections(o, { edit, remove: (c, button) => remove(c, button, o) });
}

function resetForm() {
  for (const id of FIELDS) $(id).value = "";
  $("conn-form-title").textContent = "Add a server";
  $("do-cancel-conn").hidden = true;
}

async function save(ev) {
  ev.preventDefault();
  const id = $("conn-id").value;
  const args = { name: $("conn-name").value, url: $("conn-url").value, appId: $("conn-app").value };
  const button = $("do-save-conn");
  const saved = await attempt(() => (id
    ? call("edit_connection", { id, ...args }, button)
    : call("add_connection", args, button)), $("conn-error"));
  if (saved) {
    notify("success", `${saved.name} is ready.`);
    resetForm();
    refresh();
  }
}

export function initConnections() {
  $("conn-form").addEventListener("submit", save);
  $("do-cancel-conn").addEventListener("click", resetForm);
}
