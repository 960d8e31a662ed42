// What the smaller realm-web scripts share: one JSON line per step on stdout, the first failure
// reported once (with the step it happened in) and exit 1, and a check for the MongoDBRealmError
// a refused call rejects with.
"use strict";

const assert = require("node:assert/strict");
const Realm = require("realm-web");

let current = "config";
let finished = false;

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

function finish(code, obj) {
  if (finished) return;
  finished = true;
  process.stdout.write(JSON.stringify(obj) + "\n", () => process.exit(code));
}

const fail = (err) => finish(1, { step: current, ok: false, error: String((err && err.stack) || err) });
process.on("unhandledRejection", fail);
process.on("uncaughtException", fail);

async function step(name, fn) {
  current = name;
  const extra = await fn();
  emit({ step: name, ok: true, ...(extra || {}) });
}

/** The MongoDBRealmError `promise` rejects with; checks its code and status. */
async function refusal(promise, errorCode, statusCode) {
  let err;
  try {
    await promise;
  } catch (e) {
    err = e;
  }
  assert.ok(err, "expected the call to fail, but it succeeded");
  if (!(err instanceof Realm.MongoDBRealmError)) throw err;
  assert.equal(err.errorCode, errorCode, `errorCode (server said: ${err.message})`);
  assert.equal(err.statusCode, statusCode, `statusCode (server said: ${err.message})`);
  return err;
}

/** Ends the script: the last line says so, exit 0. */
function done() {
  finish(0, { step: "done", ok: true });
}

module.exports = { step, refusal, done, fail };
