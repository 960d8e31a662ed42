#!/usr/bin/env node
// The OFFICIAL, unmodified realm-web 2.0.1 client calls app functions (issue 15, item 3):
// `user.functions.<name>(...)`, `user.callFunction` and `user.functions.callFunctionStreaming`,
// with EJSON arguments and results, and App Services' codes for a function that throws, an
// unknown one, a private one and one that runs past its timeout.
//
// Inputs (environment):
//   GATEHOUSE_URL   server origin, e.g. http://127.0.0.1:PORT
//   GATEHOUSE_APP   an app with anonymous login and the functions `echo` (answers its arguments
//                   and the caller's id), `add` (sums two numbers), `fails` (answers an error
//                   "boom: <first argument>"), `secret` (private) and `slow` (past its timeout)
//
// Output: one JSON line per step, {"step", "ok": true, ...}; the first failure prints
// {"step", "ok": false, "error"} and exits 1; success ends with {"step":"done","ok":true}.
"use strict";

const assert = require("node:assert/strict");
const Realm = require("realm-web");
const { BSON } = Realm;

const { step, refusal, done, fail } = require("./steps.cjs");

const BIG = "9007199254740993"; // 2^53 + 1: only a $numberLong carries it exactly
const WHEN = new Date(1700000000123);
const OID = "65f0000000000000000000bb";

async function main() {
  const app = new Realm.App({ id: process.env.GATEHOUSE_APP, baseUrl: process.env.GATEHOUSE_URL });
  let user;
  await step("anonymous login", async () => {
    user = await app.logIn(Realm.Credentials.anonymous());
    return { user_id: user.id };
  });

  await step("user.functions.echo with EJSON arguments and results", async () => {
    const answer = await user.functions.echo(
      BSON.Long.fromString(BIG),
      WHEN,
      { id: new BSON.ObjectId(OID), n: 1.5 },
      "text",
    );
    assert.equal(answer.user, user.id, "the hook was told who called");
    const [big, when, doc, text] = answer.args;
    // The hook saw the exact $numberLong (the Rust test checks); realm-web relaxes results,
    // so a long comes back as the nearest number.
    assert.equal(big, Number(BIG));
    assert.ok(when instanceof Date, "a Date came back");
    assert.equal(when.getTime(), WHEN.getTime());
    assert.ok(doc.id instanceof BSON.ObjectId, "an ObjectId came back");
    assert.equal(doc.id.toHexString(), OID);
    assert.equal(doc.n, 1.5);
    assert.equal(text, "text");
  });

  await step("user.callFunction", async () => {
    assert.equal(await user.callFunction("add", 2, 3), 5);
  });

  await step("a function that throws: FunctionExecutionError 400 with its message", async () => {
    const err = await refusal(user.functions.fails("why"), "FunctionExecutionError", 400);
    assert.equal(err.error, "boom: why");
  });

  await step("an unknown function: FunctionNotFound 404", async () => {
    const err = await refusal(user.functions.nope(), "FunctionNotFound", 404);
    assert.equal(err.error, "function not found: 'nope'");
  });

  await step("a private function is not found by clients", async () => {
    const err = await refusal(user.callFunction("secret"), "FunctionNotFound", 404);
    assert.equal(err.error, "function not found: 'secret'");
  });

  await step("a function past its timeout: FunctionExecutionError 400", async () => {
    const err = await refusal(user.functions.slow(), "FunctionExecutionError", 400);
    assert.match(err.error, /^execution time limit exceeded/);
  });

  await step("callFunctionStreaming answers the result as a server-sent event", async () => {
    const stream = await user.functions.callFunctionStreaming("echo", { n: BSON.Long.fromString(BIG) });
    let text = "";
    const decoder = new TextDecoder();
    for await (const chunk of stream) text += decoder.decode(chunk, { stream: true });
    const match = /^data: (.*)\n\n$/.exec(text);
    assert.ok(match, `one data event, got ${JSON.stringify(text)}`);
    const data = match[1].replace(/%0A/g, "\n").replace(/%0D/g, "\r").replace(/%25/g, "%");
    const answer = BSON.EJSON.parse(data, { relaxed: false });
    assert.equal(answer.user, user.id);
    assert.ok(answer.args[0].n instanceof BSON.Long);
    assert.equal(answer.args[0].n.toString(), BIG);
  });

  await step("the stream form refuses an unknown function before streaming", async () => {
    await refusal(user.functions.callFunctionStreaming("nope"), "FunctionNotFound", 404);
  });

  await user.logOut();
  done();
}

main().catch(fail);
