// Phone and password: sign in (Enter) or register; then the texted code confirms the number
// (Enter in the code confirms).

import { actions, field } from "../dom.js";
import { call } from "../ipc.js";
import { button, form, submit } from "./common.js";

export default function phone(ctx) {
  const { value, report } = ctx;
  const signIn = form((b) => ctx.finish({ method: "phone", phone: value("f-phone"), password: value("f-password") }, b),
    field("f-phone", "Phone", { type: "tel", autocomplete: "tel", placeholder: "+1 555 0100" }),
    field("f-password", "Password", { type: "password" }),
    actions(
      submit("do-signin", "Sign in"),
      button("do-register", "Register", (b) => report(
        () => call("register_phone",
          { connection: ctx.connection(), phone: value("f-phone"), password: value("f-password"), code: null }, b),
        "Registered. Enter the code that was texted to you, then Confirm."))));
  const confirmPhone = (b) => report(
    () => call("register_phone",
      { connection: ctx.connection(), phone: value("f-phone"), password: "", code: value("f-code") }, b),
    "Phone confirmed: sign in now.");
  const confirm = form(confirmPhone,
    field("f-code", "Confirmation code", { autocomplete: "one-time-code" }),
    actions(submit("do-confirm-phone", "Confirm", "secondary")));
  return [signIn, confirm];
}
