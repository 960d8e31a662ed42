// A one-time code by text: send it (Enter in the phone number), then sign in with it (Enter in
// the code).

import { actions, field } from "../dom.js";
import { call } from "../ipc.js";
import { form, submit } from "./common.js";

export default function smsCode(ctx) {
  const { value, report } = ctx;
  const sendCode = (b) => report(
    () => call("send_sms_code", { connection: ctx.connection(), phone: value("f-phone") }, b),
    "Code sent (Local: see the Local outbox tab).");
  const send = form(sendCode,
    field("f-phone", "Phone", { type: "tel", autocomplete: "tel" }),
    actions(submit("do-send-code", "Send code", "secondary")));
  const signIn = form((b) => ctx.finish({ method: "sms_code", phone: value("f-phone"), code: value("f-code") }, b),
    field("f-code", "Code", { autocomplete: "one-time-code" }),
    actions(submit("do-signin", "Sign in")));
  return [send, signIn];
}
