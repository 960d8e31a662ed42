// The Account tab's profile controls: the display name and picture, the email address (the new
// one is confirmed from its mail; until then the old one signs in) and the phone number (a code
// texted to the new number, then confirmed here). Each goes through `withRecentSignIn`.

import { $, actions, el, field } from "../dom.js";
import { call } from "../ipc.js";
import { notify } from "../feedback.js";
import { refresh } from "../state.js";
import { withRecentSignIn } from "../step-up.js";

const who = (a) => ({ connection: a.connection, user: a.id });
const text = (v) => (typeof v === "string" ? v : "");

function form(id, title, children, submit) {
  const f = el("form", { id, class: "card" }, el("h4", { text: title }), ...children);
  f.addEventListener("submit", (ev) => {
    ev.preventDefault();
    submit();
  });
  return f;
}

function profileForm(a, d) {
  const save = async () => {
    const args = { ...who(a), name: $("pf-name").value, pictureUrl: $("pf-picture").value };
    const done = await withRecentSignIn(a, "change the profile",
      () => call("update_profile", args, $("do-save-profile")), $("pf-error"));
    if (done === undefined) return;
    notify("success", "The profile is saved.");
    refresh();
  };
  return form("profile-form", "Name and picture", [
    field("pf-name", "Display name", { value: text(d.profile.name), autocomplete: "name" }),
    field("pf-picture", "Picture address (https)", { value: text(d.profile.picture_url || d.profile.picture),
      type: "url", placeholder: "https://example.com/me.png" }),
    el("p", { id: "pf-error", class: "error", role: "alert" }),
    actions(el("button", { id: "do-save-profile", type: "submit", text: "Save profile" })),
  ], save);
}

function emailForm(a) {
  const send = async () => {
    const to = $("ce-email").value;
    const done = await withRecentSignIn(a, "change the email address",
      () => call("change_email", { ...who(a), newEmail: to }, $("do-change-email")), $("ce-error"));
    if (done === undefined) return;
    $("ce-email").value = "";
    notify("success", `A confirmation link was mailed to ${to}. Until it is followed, `
      + "sign in with the current address; once it is, the current address gets a notice with an undo link.");
  };
  return form("change-email-form", "Change the email address", [
    field("ce-email", "New email address", { type: "email", autocomplete: "email" }),
    el("p", { id: "ce-error", class: "error", role: "alert" }),
    actions(el("button", { id: "do-change-email", type: "submit", text: "Send a confirmation link" })),
  ], send);
}

function phoneChangeForm(a) {
  const sendCode = async (ev) => {
    const to = $("cph-number").value;
    const done = await withRecentSignIn(a, "change the phone number",
      () => call("change_phone", { ...who(a), newPhone: to }, ev.currentTarget), $("cph-error"));
    if (done === undefined) return;
    $("cph-code-row").hidden = false;
    notify("success", `A code was texted to ${to}: type it below to confirm the new number.`);
  };
  const confirm = async () => {
    const code = $("cph-code").value;
    const done = await withRecentSignIn(a, "confirm the new phone number",
      () => call("confirm_phone_change", { ...who(a), code }, $("do-confirm-phone-change")), $("cph-error"));
    if (done === undefined) return;
    notify("success", "The new phone number is confirmed: sign in with it from now on.");
    refresh();
  };
  const codeRow = el("div", { id: "cph-code-row", hidden: true },
    field("cph-code", "Texted code", { autocomplete: "one-time-code", inputmode: "numeric" }),
    actions(el("button", { id: "do-confirm-phone-change", type: "submit", text: "Confirm the new number" })));
  return form("change-phone-form", "Change the phone number", [
    field("cph-number", "New phone number", { type: "tel", autocomplete: "tel" }),
    actions(el("button", { id: "do-change-phone", type: "button", class: "secondary", text: "Text a code",
      onclick: sendCode })),
    codeRow,
    el("p", { id: "cph-error", class: "error", role: "alert" }),
  ], confirm);
}

// The forms that fit account `a` (signed in) with details `d`.
export function profileForms(a, d, { email, phone }) {
  return [profileForm(a, d), email ? emailForm(a) : null, phone ? phoneChangeForm(a) : null];
}
