// A JSON object for the app's custom authentication function (checked here before sending).

import { actions, field } from "../dom.js";
import { form, submit } from "./common.js";

export default function customFunction(ctx) {
  const signIn = (b) => {
    const payload = ctx.value("f-payload");
    try {
      const parsed = JSON.parse(payload);
      if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
        throw new Error("it must be a JSON object");
      }
    } catch (e) {
      ctx.error.textContent = `The payload is not a valid JSON object: ${e.message}`;
      return;
    }
    ctx.finish({ method: "function", payload }, b);
  };
  return [form(signIn,
    field("f-payload", "Payload (JSON object)",
      { multiline: true, spellcheck: "false", placeholder: '{"username": "ada"}' }),
    actions(submit("do-signin", "Sign in")))];
}
