#!/usr/bin/env node
// Drives the OFFICIAL, unmodified realm-web 2.0.1 client (Node build) against a running gatehoused.
//
// Inputs (environment):
//   GATEHOUSE_URL              server origin, e.g. http://127.0.0.1:PORT (a trailing slash is stripped)
//   GATEHOUSE_APP_ID           app id, e.g. gatehouse-dev
//   GATEHOUSE_OUTBOX           the server's dev outbox (JSONL: one {to, subject, text, links[]} per line)
//   GATEHOUSE_ACCESS_TTL_SECS  the access-token lifetime the server was started with (keep it short, e.g. 2)
//
// Output: one JSON line per step on stdout, {"step": name, "ok": true, ...}. The first failure prints
// {"step": name, "ok": false, "error", "errorCode", "statusCode", "requests"} and exits 1; success ends
// with {"step":"done","ok":true} and exit 0. "requests" lists the HTTP requests of the failed step
// (method, path, status; never tokens or bodies). Secrets (passwords, tokens, API keys) are never printed.
//
// Only public realm-web API is used. Two configuration options are set, both documented in
// realm-web's typings: `fetch` (a thin wrapper around Node's global fetch that records method, path
// and status for the failure report) and, for the second App used for API-key logins, `storage`
// (a prefixed view of realm-web's own default in-memory storage, so the two App objects do not share
// user state). The location request is NOT skipped.
"use strict";

const assert = require("node:assert/strict");
const crypto = require("node:crypto");
const fs = require("node:fs");
const Realm = require("realm-web");

const HEX24 = /^[0-9a-f]{24}$/;
const STEP_TIMEOUT_MS = 20_000;

// ---------------------------------------------------------------------------------------------
// Output and step bookkeeping
// ---------------------------------------------------------------------------------------------

let currentStep = "config";
let stepRequests = [];

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

let finished = false;
function finish(code, obj) {
  if (finished) return; // report only the first failure
  finished = true;
  // Write the last line, then exit once it is flushed (keep-alive sockets must not delay the exit).
  process.stdout.write(JSON.stringify(obj) + "\n", () => process.exit(code));
}

/** The error's message, plus its cause (Node's fetch says only "fetch failed" otherwise). */
function describe(err) {
  let text = err && err.message ? err.message : String(err);
  const cause = err && err.cause;
  if (cause) text += ` (cause: ${cause.message || cause.code || String(cause)})`;
  return text;
}

function fail(err) {
  finish(1, {
    step: currentStep,
    ok: false,
    error: describe(err),
    errorCode: (err && err.errorCode) ?? null,
    statusCode: (err && err.statusCode) ?? null,
    requests: stepRequests,
  });
}

process.on("unhandledRejection", fail);
process.on("uncaughtException", fail);

/** Runs one step with a timeout; `fn` may return extra fields for the success line. */
async function step(name, fn, timeoutMs = STEP_TIMEOUT_MS) {
  currentStep = name;
  stepRequests = [];
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`step timed out after ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    const extra = await Promise.race([fn(), timeout]);
    emit({ step: name, ok: true, ...(extra || {}) });
  } finally {
    clearTimeout(timer);
  }
}

/** Asserts that `promise` rejects with a realm-web MongoDBRealmError; returns the error. */
async function expectRealmError(promise, { errorCode, statusCode } = {}) {
  let err;
  try {
    await promise;
  } catch (e) {
    err = e;
  }
  assert.ok(err, "expected the call to fail, but it succeeded");
  if (!(err instanceof Realm.MongoDBRealmError)) {
    throw err; // a network or client-side error: report it as is
  }
  if (errorCode !== undefined) {
    assert.equal(err.errorCode, errorCode, `errorCode (server said: ${err.message})`);
  }
  if (statusCode !== undefined) {
    assert.equal(err.statusCode, statusCode, `statusCode (server said: ${err.message})`);
  } else {
    assert.ok(err.statusCode >= 400 && err.statusCode < 500, `expected a 4xx, got ${err.statusCode}: ${err.message}`);
  }
  return err;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const random = () => crypto.randomBytes(6).toString("hex");
// `_id` is a plain hex string from gatehoused; realm-web would turn {"$oid": …} into an ObjectId.
const idOf = (v) => (typeof v === "string" ? v : v && typeof v.toHexString === "function" ? v.toHexString() : String(v));

// ---------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------

function requireEnv(name) {
  const value = process.env[name];
  if (!value) throw new Error(`environment variable ${name} is not set`);
  return value;
}

/** realm-web's `fetch` option: Node's global fetch, recording method/path/status of every request. */
async function recordingFetch(url, init = {}) {
  const entry = { method: init.method || "GET", path: new URL(url).pathname, status: null };
  stepRequests.push(entry);
  const response = await globalThis.fetch(url, init);
  entry.status = response.status;
  return response;
}

/**
 * Returns {token, tokenId} from the newest outbox mail to `email` that carries a link with both
 * query parameters, polling up to `timeoutMs` (the server writes mail in the background).
 */
async function waitForMailLink(outbox, email, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  const wanted = email.toLowerCase();
  for (;;) {
    let text = "";
    try {
      text = fs.readFileSync(outbox, "utf8");
    } catch (e) {
      if (e.code !== "ENOENT") throw e;
    }
    const lines = text.split("\n").filter((l) => l.trim() !== "");
    for (let i = lines.length - 1; i >= 0; i--) {
      let mail;
      try {
        mail = JSON.parse(lines[i]);
      } catch {
        continue; // a line still being written
      }
      if (!mail || typeof mail.to !== "string" || mail.to.toLowerCase() !== wanted) continue;
      for (const link of Array.isArray(mail.links) ? mail.links : []) {
        let url;
        try {
          url = new URL(link);
        } catch {
          continue;
        }
        const token = url.searchParams.get("token");
        const tokenId = url.searchParams.get("tokenId");
        if (token && tokenId) return { token, tokenId, subject: mail.subject };
      }
    }
    if (Date.now() >= deadline) {
      throw new Error(`no mail to ${email} with a token/tokenId link in ${outbox} after ${timeoutMs} ms`);
    }
    await sleep(100);
  }
}

// ---------------------------------------------------------------------------------------------
// The flow
// ---------------------------------------------------------------------------------------------

async function main() {
  let baseUrl, appId, outbox, ttlSecs;
  await step("config", async () => {
    baseUrl = requireEnv("GATEHOUSE_URL").replace(/\/+$/, "");
    appId = requireEnv("GATEHOUSE_APP_ID");
    outbox = requireEnv("GATEHOUSE_OUTBOX");
    ttlSecs = Number(requireEnv("GATEHOUSE_ACCESS_TTL_SECS"));
    assert.ok(Number.isFinite(ttlSecs) && ttlSecs > 0, "GATEHOUSE_ACCESS_TTL_SECS must be a positive number");
    return { baseUrl, appId, accessTtlSecs: ttlSecs, node: process.version };
  });

  const app = new Realm.App({ id: appId, baseUrl, fetch: recordingFetch });

  // --- a. Location + anonymous login ----------------------------------------------------------
  await step("location", async () => {
    const hostname = await app.locationUrl; // GET {baseUrl}/api/client/v2.0/app/{appId}/location
    assert.equal(typeof hostname, "string");
    assert.match(hostname, /^https?:\/\//, "location hostname must be an http(s) origin");
    return { hostname };
  });

  await step("anonymous-login", async () => {
    const user = await app.logIn(Realm.Credentials.anonymous());
    assert.match(user.id, HEX24, "user.id must be 24 hex characters");
    assert.equal(user.providerType, "anon-user");
    assert.equal(user.state, "active");
    assert.ok(user.profile && typeof user.profile === "object", "user.profile must exist");
    assert.ok(user.identities.some((i) => i.providerType === "anon-user"), "identities must include anon-user");

    await user.logOut(); // DELETE /auth/session with the refresh token
    assert.equal(user.state, "logged-out");
    await app.removeUser(user);
    assert.equal(user.state, "removed");
    assert.equal(app.currentUser, null);
    return { userId: user.id };
  });

  // --- b. Email/password: register, confirm from the outbox, log in ---------------------------
  const email = `rw-${random()}@example.test`;
  // Long, not common, and does not contain the email's local part (the password policy refuses that).
  const password = `correct horse battery staple ${random()}`;
  let user;

  await step("register", async () => {
    await app.emailPasswordAuth.registerUser({ email, password });
    return { email };
  });

  let confirmation;
  await step("outbox-mail", async () => {
    confirmation = await waitForMailLink(outbox, email);
    return { subject: confirmation.subject };
  });

  await step("confirm", async () => {
    await app.emailPasswordAuth.confirmUser({ token: confirmation.token, tokenId: confirmation.tokenId });
  });

  await step("email-login", async () => {
    user = await app.logIn(Realm.Credentials.emailPassword(email, password));
    assert.match(user.id, HEX24, "user.id must be 24 hex characters");
    assert.equal(user.state, "active");
    assert.equal(user.providerType, "local-userpass");
    assert.equal(user.profile.email, email);
    assert.ok(
      user.identities.some((i) => i.providerType === "local-userpass"),
      `identities must include local-userpass, got ${JSON.stringify(user.identities)}`,
    );
    assert.equal(app.currentUser, user);
    return { userId: user.id };
  });

  // --- c. Wrong password ----------------------------------------------------------------------
  await step("wrong-password", async () => {
    const err = await expectRealmError(app.logIn(Realm.Credentials.emailPassword(email, `${password} nope`)), {
      errorCode: "InvalidPassword",
      statusCode: 401,
    });
    // A failed login must not disturb the logged-in user.
    assert.equal(user.state, "active");
    return { errorCode: err.errorCode, statusCode: err.statusCode };
  });

  // --- d. User API keys -----------------------------------------------------------------------
  // API-key logins go through a second App with its own storage: logging in as the same user id in
  // `app` would overwrite the email/password session's tokens on `user`, and the key calls below
  // must keep using that session's refresh token.
  const keyApp = new Realm.App({
    id: appId,
    baseUrl,
    fetch: recordingFetch,
    storage: Realm.getEnvironment().defaultStorage.prefix("gatehouse-api-key-app"),
  });
  const keyLogin = async (key) => {
    const keyUser = await keyApp.logIn(Realm.Credentials.apiKey(key));
    assert.equal(keyUser.id, user.id, "an API-key login must yield the key owner's user id");
    assert.equal(keyUser.state, "active");
    await keyApp.removeUser(keyUser); // log that session out again
    return keyUser.id;
  };
  let apiKey; // { _id, key, name, disabled }
  let keyId;

  await step("api-key-create", async () => {
    apiKey = await user.apiKeys.create("ci-key");
    assert.equal(typeof apiKey.key, "string", "create must return the secret `key`");
    assert.ok(apiKey.key.length >= 16, "the secret key looks too short");
    keyId = idOf(apiKey._id);
    assert.match(keyId, HEX24, "_id must be 24 hex characters");
    assert.equal(apiKey.name, "ci-key");
    assert.equal(apiKey.disabled, false);
    return { keyId };
  });

  await step("api-key-login", async () => ({ userId: await keyLogin(apiKey.key) }));

  await step("api-key-list", async () => {
    const all = await user.apiKeys.fetchAll();
    assert.ok(Array.isArray(all), "fetchAll must return an array");
    const listed = all.find((k) => idOf(k._id) === keyId);
    assert.ok(listed, `fetchAll must list ${keyId}`);
    assert.equal(listed.name, "ci-key");
    assert.equal(listed.disabled, false);
    assert.ok(!("key" in listed), "fetchAll must not return the secret");
    const one = await user.apiKeys.fetch(keyId);
    assert.equal(idOf(one._id), keyId);
    assert.equal(one.name, "ci-key");
    assert.ok(!("key" in one), "fetch must not return the secret");
    return { count: all.length };
  });

  await step("api-key-disable", async () => {
    await user.apiKeys.disable(keyId);
    const one = await user.apiKeys.fetch(keyId);
    assert.equal(one.disabled, true, "fetch must report the key as disabled");
  });

  await step("api-key-disabled-login", async () => {
    const err = await expectRealmError(keyApp.logIn(Realm.Credentials.apiKey(apiKey.key)));
    return { errorCode: err.errorCode ?? null, statusCode: err.statusCode };
  });

  await step("api-key-enable", async () => {
    await user.apiKeys.enable(keyId);
    const one = await user.apiKeys.fetch(keyId);
    assert.equal(one.disabled, false, "fetch must report the key as enabled");
  });

  await step("api-key-reenabled-login", async () => ({ userId: await keyLogin(apiKey.key) }));

  await step("api-key-delete", async () => {
    await user.apiKeys.delete(keyId);
    const all = await user.apiKeys.fetchAll();
    assert.ok(Array.isArray(all), "fetchAll must return an array");
    assert.ok(!all.some((k) => idOf(k._id) === keyId), "fetchAll must no longer list the deleted key");
  });

  await step("api-key-deleted-login", async () => {
    const err = await expectRealmError(keyApp.logIn(Realm.Credentials.apiKey(apiKey.key)));
    return { errorCode: err.errorCode ?? null, statusCode: err.statusCode };
  });

  // --- e. Expired access token: 401 InvalidSession -> POST /auth/session -> retry -------------
  const waitMs = Math.round((ttlSecs + 1.5) * 1000);
  await step(
    "refresh",
    async () => {
      const before = user.accessToken;
      assert.equal(typeof before, "string");
      await sleep(waitMs);
      stepRequests = []; // only the requests of the profile call below
      await user.refreshProfile();
      assert.equal(user.profile.email, email);
      assert.notEqual(user.accessToken, before, "the access token must have been refreshed");
      assert.ok(
        stepRequests.some((r) => r.method === "POST" && r.path.endsWith("/auth/session") && r.status >= 200 && r.status < 300),
        "realm-web must have refreshed through POST /auth/session",
      );
      return { waitedMs: waitMs, requests: stepRequests };
    },
    waitMs + STEP_TIMEOUT_MS,
  );

  // --- f. Log out, log in again, delete the user ----------------------------------------------
  await step("logout", async () => {
    await user.logOut();
    assert.equal(user.state, "logged-out");
    assert.equal(user.accessToken, null);
    assert.equal(user.refreshToken, null);
  });

  await step("relogin", async () => {
    const again = await app.logIn(Realm.Credentials.emailPassword(email, password));
    assert.equal(again.id, user.id);
    assert.equal(again.state, "active");
    user = again;
    return { userId: user.id };
  });

  await step("delete-user", async () => {
    // DELETE /auth/delete (access token of the current user), then DELETE /auth/session.
    await app.deleteUser(user);
    assert.equal(user.state, "removed");
    assert.equal(app.currentUser, null);
  });

  await step("deleted-login", async () => {
    const err = await expectRealmError(app.logIn(Realm.Credentials.emailPassword(email, password)), {
      errorCode: "InvalidPassword",
    });
    return { errorCode: err.errorCode, statusCode: err.statusCode };
  });
}

main().then(() => {
  currentStep = "done";
  finish(0, { step: "done", ok: true });
}, fail);
