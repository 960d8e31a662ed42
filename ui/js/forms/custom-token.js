// A JWT from the app's own identity provider.

import { actions, field } from "../dom.js";
import { form, submit } from "./common.js";

export default function customToken(ctx) {
  return [form((b) => ctx.finish({ method: "jwt", token: ctx.value("f-token") }, b),
    field("f-token", "JWT", { multiline: true, spellcheck: "false" }),
    actions(submit("do-signin", "Sign in")))];
}
