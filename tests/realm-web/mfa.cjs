// Issue 13: a stock realm-web client signing in as a user with a second factor gets the
// documented error (401 MfaRequired, a message naming what is required) and keeps no user;
// a user without a factor signs in as before.
"use strict";

const assert = require("node:assert/strict");
const Realm = require("realm-web");
const { step, refusal, done } = require("./steps.cjs");

const app = new Realm.App({ id: process.env.GATEHOUSE_APP_ID, baseUrl: process.env.GATEHOUSE_URL });
const password = process.env.GATEHOUSE_PASSWORD;

(async () => {
  await step("challenged", async () => {
    const creds = Realm.Credentials.emailPassword(process.env.GATEHOUSE_EMAIL, password);
    const err = await refusal(app.logIn(creds), "MfaRequired", 401);
    assert.match(err.message, /two-step sign-in/);
    assert.equal(app.currentUser, null);
  });
  await step("no factor, no challenge", async () => {
    const creds = Realm.Credentials.emailPassword(process.env.GATEHOUSE_PLAIN_EMAIL, password);
    const user = await app.logIn(creds);
    assert.equal(user.state, "active");
    await user.logOut();
  });
  done();
})();
