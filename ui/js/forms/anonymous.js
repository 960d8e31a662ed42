// Anonymous: nothing to type.

import { actions, el } from "../dom.js";
import { form, submit } from "./common.js";

export default function anonymous(ctx) {
  return [
    el("p", { class: "muted", text: "An anonymous account lives on this device only: signing out ends it." }),
    form((b) => ctx.finish({ method: "anonymous" }, b), actions(submit("do-anon", "Continue anonymously"))),
  ];
}
