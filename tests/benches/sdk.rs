//! Client SDK benchmark (prints figures; asserts nothing about speed):
//!
//! * `switch_user` latency with 10 users signed in (no network);
//! * the cost of one authenticated call through the SDK next to the same request over plain
//!   reqwest;
//! * 100 concurrent calls on an expired access token: wall time and refresh requests made;
//! * login + API-key list + refresh, N times, by this SDK and by the official realm-web client,
//!   side by side against the same server.
//!
//! Run: `cargo bench -p gatehouse-tests --bench sdk`. The server runs in-process with cheap
//! Argon2 parameters so that client costs, not password hashing, are what is measured.

// A measurement harness: a failed step should stop it loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gatehouse_client::store::keychain::MemoryKeychain;
use gatehouse_client::{App, Credentials, SecretStorage};
use gatehouse_server::config::{AppConfig, Config};
use serde_json::json;

const APP: &str = "bench";
const PASSWORD: &str = "correct horse battery staple";

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn summary(name: &str, mut samples: Vec<Duration>, target: &str) {
    samples.sort();
    let mean = samples.iter().sum::<Duration>() / samples.len() as u32;
    println!(
        "{name:<44} n={:<6} mean {:>9.1} µs  p50 {:>9.1} µs  p99 {:>9.1} µs   {target}",
        samples.len(),
        us(mean),
        us(percentile(&samples, 0.5)),
        us(percentile(&samples, 0.99))
    );
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

async fn server(dir: &std::path::Path, access_ttl: i64) -> gatehouse_server::Server {
    let mut c = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.to_path_buf(),
        ..Config::default()
    };
    c.passwords.argon2_memory_kib = 256;
    c.passwords.argon2_iterations = 1;
    c.passwords.insecure_fast_hashing = true;
    c.rate_limits.enabled = false;
    c.tokens.access_ttl_secs = access_ttl;
    let mut app = AppConfig::default();
    app.userpass.auto_confirm = true;
    c.apps.insert(APP.into(), app);
    gatehouse_server::Server::start(c).await.unwrap()
}

async fn app(base: &str, dir: &std::path::Path) -> App {
    App::builder(APP)
        .base_url(base)
        .data_dir(dir)
        .secret_storage(SecretStorage::Custom(Arc::new(MemoryKeychain::default())))
        .build()
        .await
        .unwrap()
}

async fn email_user(app: &App, n: usize) -> (gatehouse_client::User, String) {
    let email = format!("bench{n}-{}@example.test", std::process::id());
    app.email_password_auth()
        .register(&email, PASSWORD)
        .await
        .unwrap();
    (
        app.log_in(Credentials::email_password(&email, PASSWORD))
            .await
            .unwrap(),
        email,
    )
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let secs: u64 = std::env::var("GATEHOUSE_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2);
    println!(
        "gatehouse-client benchmark — {} cores, {} build",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
    );
    let server_dir = tempfile::tempdir().unwrap();
    let srv = server(server_dir.path(), 900).await;
    let base = srv.url();
    let client_dir = tempfile::tempdir().unwrap();
    let sdk = app(&base, client_dir.path()).await;

    // 1. switch_user with 10 users.
    let mut users = Vec::new();
    for n in 0..10 {
        users.push(email_user(&sdk, n).await.0);
    }
    let mut samples = Vec::new();
    for i in 0..20_000 {
        let u = &users[i % users.len()];
        let t = Instant::now();
        sdk.switch_user(u).unwrap();
        samples.push(t.elapsed());
    }
    summary(
        "switch_user (10 users, no network)",
        samples,
        "target < 100 µs",
    );

    // 2. One authenticated call: SDK vs plain reqwest, same request (GET /auth/api_keys).
    let user = users[0].clone();
    let http = reqwest::Client::new();
    let url = format!("{base}/api/client/v2.0/auth/api_keys");
    let token = {
        let r: serde_json::Value = http
            .post(format!(
                "{base}/api/client/v2.0/app/{APP}/auth/providers/local-userpass/login"
            ))
            .json(&json!({"username": user.email().unwrap(), "password": PASSWORD}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        r["refresh_token"].as_str().unwrap().to_string()
    };
    let (mut plain, mut via_sdk) = (Vec::new(), Vec::new());
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        let t = Instant::now();
        let keys: Vec<gatehouse_client::ApiKey> = http
            .get(&url)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        plain.push(t.elapsed());
        assert!(keys.is_empty());
        let t = Instant::now();
        let keys = user.api_keys().fetch_all().await.unwrap();
        via_sdk.push(t.elapsed());
        assert!(keys.is_empty());
    }
    let mean = |v: &Vec<Duration>| v.iter().sum::<Duration>() / v.len() as u32;
    let overhead = (us(mean(&via_sdk)) / us(mean(&plain)) - 1.0) * 100.0;
    summary("GET /auth/api_keys over plain reqwest", plain, "");
    summary(
        "GET /auth/api_keys through the SDK",
        via_sdk,
        &format!("overhead {overhead:+.1}% (target < 5%)"),
    );

    // 3. 100 concurrent calls on an expired access token.
    let short_dir = tempfile::tempdir().unwrap();
    let short = server(short_dir.path(), 1).await;
    let short_sdk = app(&short.url(), tempfile::tempdir().unwrap().path()).await;
    let (flight_user, _) = email_user(&short_sdk, 100).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let before = short.state.metrics.refreshes.load(Ordering::Relaxed);
    let t = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..100 {
        let u = flight_user.clone();
        set.spawn(async move { u.call_function("noop", vec![]).await });
    }
    while let Some(r) = set.join_next().await {
        assert_eq!(r.unwrap().unwrap_err().code(), "FunctionNotFound");
    }
    let refreshes = short.state.metrics.refreshes.load(Ordering::Relaxed) - before;
    println!(
        "{:<44} {:>8.1} ms wall, {refreshes} refresh request(s)   target: exactly 1",
        "100 concurrent calls, expired access token",
        t.elapsed().as_secs_f64() * 1e3
    );

    // 4. login + API-key list + refresh: this SDK vs realm-web.
    let iterations: usize = std::env::var("GATEHOUSE_BENCH_ITERATIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(50);
    let (_, email) = email_user(&sdk, 200).await;
    let creds = Credentials::email_password(&email, PASSWORD);
    let warm = sdk.log_in(creds.clone()).await.unwrap();
    warm.api_keys().fetch_all().await.unwrap();
    let t = Instant::now();
    for _ in 0..iterations {
        let u = sdk.log_in(creds.clone()).await.unwrap();
        u.api_keys().fetch_all().await.unwrap();
        u.refresh_custom_data().await.unwrap();
    }
    let ours = t.elapsed().as_secs_f64() * 1e3 / iterations as f64;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/realm-web/bench.cjs");
    let node = tokio::process::Command::new("node")
        .arg(script)
        .env("GATEHOUSE_URL", &base)
        .env("GATEHOUSE_APP_ID", APP)
        .env("BENCH_EMAIL", &email)
        .env("BENCH_PASSWORD", PASSWORD)
        .env("BENCH_ITERATIONS", iterations.to_string())
        .output()
        .await;
    let theirs = node
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| serde_json::from_slice::<serde_json::Value>(&o.stdout).ok())
        .and_then(|v| v["per_iteration_ms"].as_f64());
    match theirs {
        Some(theirs) => println!(
            "{:<44} SDK {ours:>7.2} ms   realm-web {theirs:>7.2} ms   \
             SDK is {:.2}x faster (target ≥ 2x)",
            "login + list API keys + refresh (per run)",
            theirs / ours
        ),
        None => println!(
            "{:<44} SDK {ours:>7.2} ms   realm-web: not run (scripts/setup.sh installs it)",
            "login + list API keys + refresh (per run)"
        ),
    }
    println!(
        "note: each SDK login also writes the account list durably (fsync) and stores tokens in \
         the keychain (in memory here)"
    );
    srv.shutdown().await;
    short.shutdown().await;
}
