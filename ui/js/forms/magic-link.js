// A sign-in link by mail: once sent, the pending card waits for the link (or its code). In link
// mode the link adds the address to the account being linked instead of signing in.

import { actions, field } from "../dom.js";
import { call } from "../ipc.js";
import { form, submit } from "./common.js";

export default function magicLink(ctx) {
  const send = async (b) => {
    const started = await ctx.report(
      () => call("begin_magic_link",
        { connection: ctx.connection(), email: ctx.value("f-email"), linkUser: ctx.linkUser }, b),
      "Link sent. Open it on this computer, or type the code from the mail below.");
    if (started) ctx.waiting();
  };
  return [form(send,
    field("f-email", "Email", { type: "email", autocomplete: "username" }),
    actions(submit("do-send-link", "Send me a link")))];
}
