// Anonymous: nothing to type. "Continue" goes back to the anonymous account already signed in on
// this connection (as the Realm SDKs do); "Start another" always makes a new one.

import { actions, el } from "../dom.js";
import { button, form, submit } from "./common.js";

export default function anonymous(ctx) {
  return [
    el("p", { class: "muted", text: "An anonymous account lives on this device only: signing out ends it." }),
    form((b) => ctx.finish({ method: "anonymous" }, b), actions(
      submit("do-anon", "Continue anonymously"),
      button("do-anon-new", "Start another anonymous account",
        (b) => ctx.finish({ method: "anonymous", new: true }, b)),
    )),
  ];
}
