// Times the same sequence the Rust SDK benchmark times, with the official realm-web client:
// email/password login, list API keys, refresh the access token — ITERATIONS times, sequentially.
// Prints one JSON line: {"iterations": N, "total_ms": …, "per_iteration_ms": …}.
// Inputs: GATEHOUSE_URL, GATEHOUSE_APP_ID, BENCH_EMAIL, BENCH_PASSWORD, BENCH_ITERATIONS.
"use strict";
const Realm = require("realm-web");
const { performance } = require("node:perf_hooks");

async function main() {
  const env = process.env;
  const iterations = Number(env.BENCH_ITERATIONS || 50);
  const app = new Realm.App({ id: env.GATEHOUSE_APP_ID, baseUrl: env.GATEHOUSE_URL });
  const creds = Realm.Credentials.emailPassword(env.BENCH_EMAIL, env.BENCH_PASSWORD);
  // Warm-up: the location request and connection set-up are not part of the sequence.
  const warm = await app.logIn(creds);
  await warm.apiKeys.fetchAll();
  const start = performance.now();
  for (let i = 0; i < iterations; i++) {
    const user = await app.logIn(creds);
    const keys = await user.apiKeys.fetchAll();
    if (!Array.isArray(keys)) throw new Error("fetchAll did not return a list");
    await user.refreshAccessToken();
  }
  const total = performance.now() - start;
  console.log(JSON.stringify({ iterations, total_ms: total, per_iteration_ms: total / iterations }));
}

main().catch((e) => { console.error(e); process.exit(1); });
