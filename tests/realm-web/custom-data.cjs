#!/usr/bin/env node
// Custom user data through the OFFICIAL, unmodified realm-web client (issue 15, item 2): read it
// from the access token, have the operator change it (the admin HTTP API, as an operator's tool
// would), see the old value until refreshCustomData(), then the new one.
//
// Inputs (environment): GATEHOUSE_URL, GATEHOUSE_APP_ID, GATEHOUSE_EMAIL, GATEHOUSE_PASSWORD (a
// confirmed account whose custom data is {"team": "blue", "level": 5}), GATEHOUSE_ADMIN_KEY.
// Output: one JSON line, {"ok": true} or {"ok": false, "error"}; exit 0/1.
"use strict";

const assert = require("node:assert/strict");
const Realm = require("realm-web");

async function main() {
  const baseUrl = process.env.GATEHOUSE_URL.replace(/\/$/, "");
  const app = new Realm.App({ id: process.env.GATEHOUSE_APP_ID, baseUrl });
  const user = await app.logIn(
    Realm.Credentials.emailPassword(process.env.GATEHOUSE_EMAIL, process.env.GATEHOUSE_PASSWORD));
  assert.deepEqual(user.customData, { team: "blue", level: 5 });

  const put = await fetch(`${baseUrl}/api/admin/v1/users/${user.id}/custom_data`, {
    method: "PUT",
    headers: { authorization: `Bearer ${process.env.GATEHOUSE_ADMIN_KEY}`, "content-type": "application/json" },
    body: JSON.stringify({ team: "red", since: { $numberLong: "1700000000" } }),
  });
  assert.equal(put.status, 204);
  assert.deepEqual(user.customData, { team: "blue", level: 5 }, "unchanged until refreshed");
  const fresh = await user.refreshCustomData();
  assert.deepEqual(fresh, { team: "red", since: 1700000000 });
  assert.deepEqual(user.customData, fresh);
  process.stdout.write(JSON.stringify({ ok: true }) + "\n");
}

main().catch((e) => {
  process.stdout.write(JSON.stringify({ ok: false, error: String(e && e.stack ? e.stack : e) }) + "\n",
    () => process.exit(1));
});
