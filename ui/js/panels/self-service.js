// The Account tab's self-service controls: name and picture, email and phone number
// (profile-forms.js), change the password (email and phone accounts), sign out everywhere, and
// for phone accounts a texted reset code and the confirmation code again.
// Lasting changes go through `withRecentSignIn`: a stale sign-in is renewed in place first.

import { $, actions, el, field } from "../dom.js";
import { call } from "../ipc.js";
import { attempt, confirmDialog, notify } from "../feedback.js";
import { refresh } from "../state.js";
import { withRecentSignIn } from "../step-up.js";
import { profileForms } from "./profile-forms.js";

const who = (a) => ({ connection: a.connection, user: a.id });
const value = (id) => $(id).value;

async function changePassword(a, ev) {
  ev.preventDefault();
  const args = { ...who(a), currentPassword: value("sp-current"), newPassword: value("sp-new") };
  const done = await withRecentSignIn(a, "change the password",
    () => call("change_password", args, $("do-change-password")), $("sp-error"));
  if (done === undefined) return;
  $("sp-current").value = "";
  $("sp-new").value = "";
  notify("success", `The password of ${a.display_name} is changed; its other devices are signed out.`);
}

async function signOutEverywhere(a, button) {
  const q = `Sign ${a.display_name} out everywhere, this device included? It will have to sign in again.`;
  if (!(await confirmDialog(q, "Sign out everywhere"))) return;
  const o = await withRecentSignIn(a, "sign out everywhere", () => call("revoke_all_sessions", who(a), button));
  if (o === undefined) return;
  notify("success", `${a.display_name} is signed out everywhere.`);
  refresh();
}

function passwordForm(a) {
  const form = el("form", { id: "change-password-form", class: "card" },
    el("h4", { text: "Change the password" }),
    field("sp-current", "Current password", { type: "password", autocomplete: "current-password" }),
    field("sp-new", "New password", { type: "password", autocomplete: "new-password" }),
    el("p", { id: "sp-error", class: "error", role: "alert" }),
    actions(el("button", { id: "do-change-password", type: "submit", text: "Change password" })));
  form.addEventListener("submit", (ev) => changePassword(a, ev));
  return form;
}

// Reset by text and the confirmation code again: they work signed out too (a forgotten password).
function phoneForm(a, phone) {
  const conn = { connection: a.connection };
  const number = () => ({ ...conn, phone: value("ph-number") });
  const sent = (what) => notify("success", `${what} sent to ${value("ph-number")}.`);
  const send = async (ev) => {
    if (await attempt(() => call("send_phone_reset_code", number(), ev.currentTarget), $("ph-error")) !== undefined) {
      sent("A reset code was");
    }
  };
  const resend = async (ev) => {
    const ok = await attempt(() => call("resend_phone_confirmation", number(), ev.currentTarget), $("ph-error"));
    if (ok !== undefined) sent("The confirmation code was");
  };
  const form = el("form", { id: "phone-reset-form", class: "card" },
    el("h4", { text: "Phone: reset the password with a texted code" }),
    field("ph-number", "Phone number", { value: phone || "", autocomplete: "tel" }),
    actions(el("button", { id: "do-phone-reset-send", type: "button", class: "secondary", text: "Text me a reset code",
      onclick: send }),
    el("button", { id: "do-phone-resend", type: "button", class: "secondary", text: "Text the confirmation code again",
      onclick: resend })),
    field("ph-code", "Texted code", { autocomplete: "one-time-code", inputmode: "numeric" }),
    field("ph-password", "New password", { type: "password", autocomplete: "new-password" }),
    el("p", { id: "ph-error", class: "error", role: "alert" }),
    actions(el("button", { id: "do-phone-reset", type: "submit", text: "Reset password" })));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const args = { ...number(), code: value("ph-code"), password: value("ph-password") };
    const ok = await attempt(() => call("reset_phone_password", args, $("do-phone-reset")), $("ph-error"));
    if (ok === undefined) return;
    $("ph-code").value = "";
    $("ph-password").value = "";
    notify("success", "The password is reset: sign in with the new one.");
  });
  return form;
}

// `a`: the overview account shown; `d`: its details (identities and profile).
export function renderSelfService(a, d) {
  const providers = new Set(d.identities.map((i) => i.provider));
  const signedIn = a.state !== "logged_out";
  const hasPassword = providers.has("local-userpass") || providers.has("phone-password");
  const phone = providers.has("phone-password") || providers.has("sms-code");
  const everywhere = signedIn ? el("div", { class: "actions" }, el("button", {
    id: "do-signout-everywhere", type: "button", class: "danger", text: "Sign out everywhere",
    onclick: (ev) => signOutEverywhere(a, ev.currentTarget),
  })) : null;
  const profile = signedIn
    ? profileForms(a, d, { email: providers.has("local-userpass"), phone: providers.has("phone-password") })
    : [];
  const parts = [
    ...profile,
    signedIn && hasPassword ? passwordForm(a) : null,
    phone ? phoneForm(a, typeof d.profile.phone === "string" ? d.profile.phone : "") : null,
    everywhere,
  ];
  // replaceChildren would show a null as the text "null".
  $("account-self-service").replaceChildren(...parts.filter(Boolean));
}
