// Google, Apple, Facebook, GitHub, Discord, X: the system browser opens the provider, and the
// deep link brings the sign-in back. Google, Apple and Facebook also take a pasted token.

import { actions, el, field } from "../dom.js";
import { call } from "../ipc.js";
import { form, submit } from "./common.js";

export default function browser(ctx) {
  const p = ctx.provider;
  const begin = async (b) => {
    const started = await ctx.report(() => call("begin_browser_sign_in",
      { connection: ctx.connection(), provider: p.type, linkUser: ctx.linkUser }, b));
    if (started) ctx.waiting();
  };
  const nodes = [
    el("p", {
      class: "muted",
      text: `Your browser opens ${p.label}'s sign-in page; you come back here automatically.`,
    }),
    form(begin, actions(submit("do-browser", `Continue with ${p.label} in the browser`))),
  ];
  if (p.token) {
    const kind = p.type === "oauth2-facebook" ? "an access token" : "an ID token";
    nodes.push(el("details", {}, el("summary", { text: `I have ${kind}` }),
      form((b) => ctx.finish({ method: p.token, token: ctx.value("f-token") }, b),
        field("f-token", "Token", { multiline: true, spellcheck: "false" }),
        actions(submit("do-token-signin", "Sign in with the token", "secondary")))));
  }
  return nodes;
}
