#!/usr/bin/env node
// The OFFICIAL, unmodified realm-web 2.0.1 client checks every entry of docs/protocol.md's table of
// App Services' error texts (strict mode) word for word, as realm-js's own integration tests do,
// plus a custom JWT with neither `iat` nor `iss` (the token those tests sign).
//
// Inputs (environment):
//   GATEHOUSE_URL           server origin, e.g. http://127.0.0.1:PORT
//   GATEHOUSE_STRICT_APP    strict app: auto-confirm, a reset function that refuses, custom-token
//                           (HS256, no issuer, no maximum age; mySecretField -> secret)
//   GATEHOUSE_STRICT_FN_APP strict app whose confirmation function refuses every address
//   GATEHOUSE_DEFAULT_APP   the same settings as GATEHOUSE_STRICT_APP without strict mode
//   GATEHOUSE_JWT_SECRET    the custom-token HMAC secret
//
// Output: one JSON line per step, {"step", "ok": true, "error"?}; the first failure prints
// {"step", "ok": false, "error"} and exits 1; success ends with {"step":"done","ok":true}.
"use strict";

const assert = require("node:assert/strict");
const crypto = require("node:crypto");
const Realm = require("realm-web");

const PASSWORD = "correct horse battery staple";

const { step, refusal, done, fail } = require("./steps.cjs");

/** Asserts the App Services text exactly, as realm-js's tests compare `err.error`. */
async function says(promise, errorCode, statusCode, text) {
  const err = await refusal(promise, errorCode, statusCode);
  assert.equal(err.error, text);
  return { error: err.error };
}

const email = (tag) => `${tag}-${crypto.randomBytes(5).toString("hex")}@example.com`;
const b64url = (v) => Buffer.from(typeof v === "string" ? v : JSON.stringify(v)).toString("base64url");

function hs256(claims, secret) {
  const input = `${b64url({ alg: "HS256", typ: "JWT" })}.${b64url(claims)}`;
  const sig = crypto.createHmac("sha256", secret).update(input).digest("base64url");
  return `${input}.${sig}`;
}

async function main() {
  const env = (name) => {
    const v = process.env[name];
    if (!v) throw new Error(`environment variable ${name} is not set`);
    return v;
  };
  const baseUrl = env("GATEHOUSE_URL").replace(/\/+$/, "");
  const appOf = (name) => new Realm.App({ id: env(name), baseUrl });
  const strict = appOf("GATEHOUSE_STRICT_APP");
  const strictFn = appOf("GATEHOUSE_STRICT_FN_APP");
  const plain = appOf("GATEHOUSE_DEFAULT_APP");
  const auth = strict.emailPasswordAuth;
  const badToken = { token: "e30=", tokenId: "some-token-id" };

  await step("confirm with a bad token: invalid token data", () =>
    says(auth.confirmUser(badToken), "UserpassTokenInvalid", 400, "invalid token data"),
  );
  await step("reset with a bad token: invalid token data", () =>
    says(
      auth.resetPassword({ ...badToken, password: "another long passphrase 7" }),
      "UserpassTokenInvalid",
      400,
      "invalid token data",
    ),
  );

  const alice = email("alice");
  await step("register (automatic confirmation)", () => auth.registerUser({ email: alice, password: PASSWORD }));
  await step("custom confirmation retried under automatic confirmation", () =>
    says(
      auth.retryCustomConfirmation({ email: alice }),
      "BadRequest",
      400,
      `cannot run confirmation for ${alice}: automatic confirmation is enabled`,
    ),
  );
  await step("reset function refuses", () =>
    says(
      auth.callResetPasswordFunction({ email: alice, password: "my new long passphrase 8" }, "some-argument"),
      "BadRequest",
      400,
      `failed to reset password for user "${alice}"`,
    ),
  );
  await step("confirmation function refuses a registration", async () => {
    const bob = email("bob");
    return says(
      strictFn.emailPasswordAuth.registerUser({ email: bob, password: PASSWORD }),
      "BadRequest",
      400,
      `failed to confirm user "${bob}"`,
    );
  });
  await step("second registration: name already in use", () =>
    says(auth.registerUser({ email: alice, password: PASSWORD }), "AccountNameInUse", 409, "name already in use"),
  );
  await step("resend for a confirmed address: already confirmed", () =>
    says(auth.resendConfirmationEmail({ email: alice }), "UserAlreadyConfirmed", 400, "already confirmed"),
  );
  await step("reset function for an unknown address: user not found", () =>
    says(
      auth.callResetPasswordFunction({ email: email("nobody"), password: "my new long passphrase 8" }),
      "UserNotFound",
      404,
      "user not found",
    ),
  );
  await step("reset mail for an unknown address: user not found", () =>
    says(auth.sendResetPasswordEmail({ email: email("nobody") }), "UserNotFound", 404, "user not found"),
  );
  await step("confirmation function for an unknown address: user not found", () =>
    says(
      strictFn.emailPasswordAuth.retryCustomConfirmation({ email: email("nobody") }),
      "UserNotFound",
      404,
      "user not found",
    ),
  );
  const creds = Realm.Credentials.emailPassword(alice, PASSWORD);
  await step("wrong password: invalid username/password", () =>
    says(
      strict.logIn(Realm.Credentials.emailPassword(alice, "not the password at all")),
      "InvalidPassword",
      401,
      "invalid username/password",
    ),
  );
  await step("unknown API key id: API key not found", async () => {
    const user = await strict.logIn(creds);
    return says(user.apiKeys.fetch("000000000000000000000000"), "APIKeyNotFound", 404, "API key not found");
  });
  await step("login of a deleted user: invalid username/password", async () => {
    const user = await strict.logIn(creds);
    await strict.deleteUser(user);
    return says(strict.logIn(creds), "InvalidPassword", 401, "invalid username/password");
  });

  await step("custom JWT without iat and iss", async () => {
    const token = hs256(
      { aud: env("GATEHOUSE_STRICT_APP"), exp: 4070908800, sub: "my-awesome-internal-id", mySecretField: "some-secret-stuff" },
      env("GATEHOUSE_JWT_SECRET"),
    );
    const user = await strict.logIn(Realm.Credentials.jwt(token));
    assert.ok(user instanceof Realm.User);
    assert.equal(user.profile.secret, "some-secret-stuff");
    const again = await strict.logIn(Realm.Credentials.jwt(token));
    assert.equal(again.id, user.id);
    return { userId: user.id };
  });

  // The default mode keeps Gatehouse's descriptive words (same codes and statuses).
  await step("default mode: descriptive texts", async () => {
    const pa = plain.emailPasswordAuth;
    const token = await refusal(pa.confirmUser(badToken), "UserpassTokenInvalid", 400);
    assert.ok(token.error.startsWith("invalid token data: "), token.error);
    const carol = email("carol");
    await pa.registerUser({ email: carol, password: PASSWORD });
    const retry = await refusal(pa.retryCustomConfirmation({ email: carol }), "NotConfigured", 400);
    assert.notEqual(retry.error, `cannot run confirmation for ${carol}: automatic confirmation is enabled`);
    const reset = await refusal(
      pa.callResetPasswordFunction({ email: carol, password: "my new long passphrase 8" }),
      "BadRequest",
      400,
    );
    assert.ok(!reset.error.includes(carol), reset.error);
    return { errors: [token.error, retry.error, reset.error] };
  });

  done();
}

main().catch(fail);
