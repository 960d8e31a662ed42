#!/usr/bin/env node
// Two realm-web `App`s on one device (they share its device id, as two App instances in one Node
// process or two browser tabs do) signed in as the same user: both keep working (issue 15,
// item 1). Drives the OFFICIAL, unmodified realm-web client.
//
// Inputs (environment): GATEHOUSE_URL, GATEHOUSE_APP_ID, GATEHOUSE_EMAIL, GATEHOUSE_PASSWORD (a
// confirmed account). Output: one JSON line per step (steps.cjs), ending with {"step": "done"}.
"use strict";

const assert = require("node:assert/strict");
const Realm = require("realm-web");
const { step, done, fail } = require("./steps.cjs");

async function main() {
  const baseUrl = process.env.GATEHOUSE_URL.replace(/\/$/, "");
  const id = process.env.GATEHOUSE_APP_ID;
  const credentials = Realm.Credentials.emailPassword(process.env.GATEHOUSE_EMAIL, process.env.GATEHOUSE_PASSWORD);
  const storage = (name) => Realm.getEnvironment().defaultStorage.prefix(name);
  let one;
  let two;

  await step("first App signs in", async () => {
    one = await new Realm.App({ id, baseUrl, storage: storage("first") }).logIn(credentials);
    assert.match(one.deviceId, /^[0-9a-f]{24}$/);
    return { deviceId: one.deviceId };
  });

  await step("second App signs in on the same device", async () => {
    storage("second").prefix(`app(${id})`).set("deviceId", one.deviceId);
    two = await new Realm.App({ id, baseUrl, storage: storage("second") }).logIn(credentials);
    assert.equal(two.id, one.id, "the same user");
    assert.equal(two.deviceId, one.deviceId, "the same device");
  });

  await step("both sessions work", async () => {
    // API keys go through each one's refresh token, and each refreshes its access token.
    for (const user of [one, two]) {
      assert.deepEqual(await user.apiKeys.fetchAll(), []);
      await user.refreshCustomData();
      assert.equal(user.isLoggedIn, true);
    }
  });

  await step("logging one out leaves the other", async () => {
    await one.logOut();
    assert.deepEqual(await two.apiKeys.fetchAll(), []);
  });
  done();
}

main().catch(fail);
