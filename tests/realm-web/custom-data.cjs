#!/usr/bin/env node
// Custom user data through the OFFICIAL, unmodified realm-web client (issue 15, item 2): read it
// from the access token, have the operator change it (the admin HTTP API, as an operator's tool
// would), see the old value until refreshCustomData(), then the new one.
//
// Inputs (environment): GATEHOUSE_URL, GATEHOUSE_APP_ID, GATEHOUSE_EMAIL, GATEHOUSE_PASSWORD (a
// confirmed account whose custom data is {"team": "blue", "level": 5}), GATEHOUSE_ADMIN_KEY.
// Output: one JSON line per step (steps.cjs), ending with {"step": "done"}.
"use strict";

const assert = require("node:assert/strict");
const Realm = require("realm-web");
const { step, done, fail } = require("./steps.cjs");

async function main() {
  const baseUrl = process.env.GATEHOUSE_URL.replace(/\/$/, "");
  const app = new Realm.App({ id: process.env.GATEHOUSE_APP_ID, baseUrl });
  let user;

  await step("custom data arrives with the login", async () => {
    user = await app.logIn(
      Realm.Credentials.emailPassword(process.env.GATEHOUSE_EMAIL, process.env.GATEHOUSE_PASSWORD));
    assert.deepEqual(user.customData, { team: "blue", level: 5 });
  });

  await step("the operator changes it; the old value stays until a refresh", async () => {
    const put = await fetch(`${baseUrl}/api/admin/v1/users/${user.id}/custom_data`, {
      method: "PUT",
      headers: { authorization: `Bearer ${process.env.GATEHOUSE_ADMIN_KEY}`, "content-type": "application/json" },
      body: JSON.stringify({ team: "red", since: { $numberLong: "1700000000" } }),
    });
    assert.equal(put.status, 204);
    assert.deepEqual(user.customData, { team: "blue", level: 5 });
  });

  await step("refreshCustomData brings the new document", async () => {
    const fresh = await user.refreshCustomData();
    assert.deepEqual(fresh, { team: "red", since: 1700000000 });
    assert.deepEqual(user.customData, fresh);
  });
  done();
}

main().catch(fail);
