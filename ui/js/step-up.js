// The recent-sign-in rule (docs/protocol.md, "Recent sign-in"): the server answers
// RecentSignInRequired when a new API key, a linked sign-in method or deleting an account needs a
// fresh sign-in. The window then opens the sign-in form of that account, in place, and once the
// person has signed in again as it, runs the action a second time by itself.

import { attempt, errorText, notify } from "./feedback.js";
import { reauth } from "./signin.js";
import { state } from "./state.js";

// The one action waiting for a sign-in: { connection, user, fn, errorEl, resolve }.
let waiting = null;

// Runs `fn` (a command call) on behalf of account `a` (an overview account). Errors become a
// notice, or `errorEl`'s text, and the answer `undefined` — except a recent-sign-in refusal: then
// the answer comes after the person signed in again and `fn` ran again (`undefined` if that
// failed or they gave up by starting another such action).
export async function withRecentSignIn(a, what, fn, errorEl = null) {
  try {
    if (errorEl) errorEl.textContent = "";
    return await fn();
  } catch (e) {
    if (!a || !e || e.code !== "RecentSignInRequired") {
      if (errorEl) errorEl.textContent = errorText(e);
      else notify("error", errorText(e));
      return undefined;
    }
    if (waiting) waiting.resolve(undefined);
    const answer = new Promise((resolve) => {
      waiting = { connection: a.connection, user: a.id, fn, errorEl, resolve };
    });
    document.body.dataset.stepUp = "waiting";
    notify("warning", `To ${what}, confirm it is you: sign in again as ${a.display_name}. `
      + "The action finishes by itself afterwards.");
    state.linkFor = null;
    reauth(a);
    return answer;
  }
}

// The overview account `user` of `connection`, for an action that names it by id.
export function accountOf(connection, user) {
  const o = state.overview;
  return (o && o.accounts.find((a) => a.connection === connection && a.id === user)) || null;
}

// A sign-in finished: when it is the account an action waits for, that action runs again.
export async function signedIn(connection, user) {
  const w = waiting;
  if (!w || w.connection !== connection || w.user !== user) return;
  waiting = null;
  delete document.body.dataset.stepUp;
  w.resolve(await attempt(w.fn, w.errorEl));
}
