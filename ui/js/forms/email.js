// Email and password: sign in (Enter), register, resend the confirmation, ask for a reset; and
// the links from those mails, pasted (Enter in the link confirms, Enter in the new password
// resets).

import { actions, el, field } from "../dom.js";
import { call } from "../ipc.js";
import { button, form, submit } from "./common.js";

export default function email(ctx) {
  const { value, report } = ctx;
  const address = () => ({ connection: ctx.connection(), email: value("f-email") });
  const signIn = form((b) => ctx.finish({ method: "email", email: value("f-email"), password: value("f-password") }, b),
    field("f-email", "Email", { type: "email", autocomplete: "username" }),
    field("f-password", "Password", { type: "password", autocomplete: "current-password" }),
    actions(
      submit("do-signin", "Sign in"),
      button("do-register", "Register", (b) => report(
        () => call("register_email", { ...address(), password: value("f-password") }, b),
        "Registered. Open the confirmation link from the mail (Local: see the Local outbox tab), then sign in.")),
      button("do-resend", "Resend confirmation", (b) => report(
        () => call("resend_confirmation", address(), b),
        "If that address has an unconfirmed account, a new confirmation mail is on its way.")),
      button("do-forgot", "Forgot password", (b) => report(
        () => call("send_password_reset", address(), b),
        "If that address has an account, a reset mail is on its way."))));
  const confirm = (b) => report(
    () => call("confirm_email", { connection: ctx.connection(), link: value("f-link") }, b),
    "Account confirmed: sign in now.");
  const reset = (b) => report(
    () => call("reset_password",
      { connection: ctx.connection(), link: value("f-link"), password: value("f-new-password") }, b),
    "Password changed: sign in with the new one.");
  const links = el("details", {},
    el("summary", { text: "I have a confirmation or reset link" }),
    form(confirm,
      field("f-link", "Link from the mail", { autocomplete: "off" }),
      actions(submit("do-confirm-link", "Confirm account", "secondary"))),
    form(reset,
      field("f-new-password", "New password (reset only)", { type: "password", autocomplete: "new-password" }),
      actions(submit("do-reset-link", "Reset password", "secondary"))));
  return [signIn, links];
}
