// An API key (a user's or a server's).

import { actions, field } from "../dom.js";
import { form, submit } from "./common.js";

export default function apiKey(ctx) {
  return [form((b) => ctx.finish({ method: "api_key", key: ctx.value("f-key") }, b),
    field("f-key", "API key", { autocomplete: "off", class: "mono" }),
    actions(submit("do-signin", "Sign in")))];
}
