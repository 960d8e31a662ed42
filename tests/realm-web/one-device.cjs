#!/usr/bin/env node
// Two realm-web `App`s on one device (they share its device id, as two App instances in one Node
// process or two browser tabs do) signed in as the same user: both keep working (issue 15,
// item 1). Drives the OFFICIAL, unmodified realm-web client.
//
// Inputs (environment): GATEHOUSE_URL, GATEHOUSE_APP_ID, GATEHOUSE_EMAIL, GATEHOUSE_PASSWORD (a
// confirmed account). Output: one JSON line, {"ok": true, ...} or {"ok": false, "error"}; exit 0/1.
"use strict";

const assert = require("node:assert/strict");
const Realm = require("realm-web");

async function main() {
  const baseUrl = process.env.GATEHOUSE_URL.replace(/\/$/, "");
  const id = process.env.GATEHOUSE_APP_ID;
  const credentials = Realm.Credentials.emailPassword(process.env.GATEHOUSE_EMAIL, process.env.GATEHOUSE_PASSWORD);
  const storage = (name) => Realm.getEnvironment().defaultStorage.prefix(name);

  const first = new Realm.App({ id, baseUrl, storage: storage("first") });
  const one = await first.logIn(credentials);
  const deviceId = one.deviceId;
  assert.match(deviceId, /^[0-9a-f]{24}$/);

  // The second App starts on the same device: the device id the first was given.
  const second = new Realm.App({ id, baseUrl, storage: storage("second") });
  storage("second").prefix(`app(${id})`).set("deviceId", deviceId);
  const two = await second.logIn(credentials);
  assert.equal(two.id, one.id, "the same user");
  assert.equal(two.deviceId, deviceId, "the same device");

  // Both sessions work: API keys go through each one's refresh token, and each refreshes.
  for (const user of [one, two]) {
    assert.deepEqual(await user.apiKeys.fetchAll(), []);
    await user.refreshCustomData();
    assert.equal(user.isLoggedIn, true);
  }
  await one.logOut();
  assert.deepEqual(await two.apiKeys.fetchAll(), [], "logging one out leaves the other");
  process.stdout.write(JSON.stringify({ ok: true, deviceId }) + "\n");
}

main().catch((e) => {
  process.stdout.write(JSON.stringify({ ok: false, error: String(e && e.stack ? e.stack : e) }) + "\n",
    () => process.exit(1));
});
