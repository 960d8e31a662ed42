//! The test server: a real `gatehoused` (the library's `Server`) on 127.0.0.1:0 with a fresh
//! SQLite file in a temp dir, or a fresh database on the PostgreSQL server named by
//! `GATEHOUSE_TEST_PG_URL` (scripts/test.sh starts one). Requests go over real HTTP.

use std::path::PathBuf;
use std::time::Duration;

use gatehouse_server::config::{AppConfig, Config};
use gatehouse_server::Server;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

pub const APP: &str = "e2e-app";
pub const STRICT_APP: &str = "e2e-strict";
pub const PASSWORD: &str = "correct horse battery staple";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Generates one `#[tokio::test]` per backend for each listed `async fn(Backend)`.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name($crate::support::Backend::Sqlite).await }) *
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name($crate::support::Backend::Postgres).await }) *
        }
    };
}

pub struct TestServer {
    pub server: Option<Server>,
    pub base: String,
    pub http: reqwest::Client,
    pub dir: tempfile::TempDir,
    pub database_url: String,
}

/// Test-suite configuration: cheap Argon2 (the production floor is asserted by a unit test),
/// rate limits off unless a test turns them on, mail to the outbox.
pub fn test_config(dir: &std::path::Path, database_url: &str) -> Config {
    let mut config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.to_path_buf(),
        database_url: Some(database_url.to_string()),
        ..Config::default()
    };
    config.passwords.argon2_memory_kib = 256;
    config.passwords.argon2_iterations = 1;
    config.passwords.insecure_fast_hashing = true;
    config.rate_limits.enabled = false;
    config.apps.insert(
        APP.into(),
        AppConfig {
            name: "E2E App".into(),
            ..AppConfig::default()
        },
    );
    config.apps.insert(
        STRICT_APP.into(),
        AppConfig {
            strict_app_services_errors: true,
            ..AppConfig::default()
        },
    );
    config
}

/// A fresh, empty database for one test.
pub fn fresh_database(backend: Backend, dir: &std::path::Path) -> String {
    match backend {
        Backend::Sqlite => format!("sqlite://{}", dir.join("gatehouse.db").display()),
        Backend::Postgres => {
            let admin = std::env::var("GATEHOUSE_TEST_PG_URL").expect(
                "GATEHOUSE_TEST_PG_URL is not set: the PostgreSQL half of the suite needs a \
                 server. Run scripts/test.sh, which starts a throwaway PostgreSQL and sets it.",
            );
            let name = format!("gh_{}", hex_id());
            let status = std::process::Command::new("psql")
                .args([
                    admin.as_str(),
                    "-q",
                    "-v",
                    "ON_ERROR_STOP=1",
                    "-c",
                    &format!("CREATE DATABASE {name}"),
                ])
                .status()
                .expect("psql runs (apt package postgresql-client)");
            assert!(status.success(), "CREATE DATABASE {name} failed");
            let (prefix, _) = admin.rsplit_once('/').expect("URL has a database path");
            format!("{prefix}/{name}")
        }
    }
}

fn hex_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{}_{}_{}",
        std::process::id(),
        nanos,
        N.fetch_add(1, Ordering::Relaxed)
    )
}

impl TestServer {
    pub async fn start(backend: Backend) -> TestServer {
        Self::start_with(backend, |_| {}).await
    }

    pub async fn start_with(backend: Backend, tweak: impl FnOnce(&mut Config)) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let database_url = fresh_database(backend, dir.path());
        let mut config = test_config(dir.path(), &database_url);
        tweak(&mut config);
        let server = Server::start(config).await.expect("server starts");
        let base = server.url();
        TestServer {
            server: Some(server),
            base,
            // Below the server's idle cut (10 s): a pooled connection the server is closing
            // right then would fail the next request (the SDK does the same).
            http: reqwest::Client::builder()
                .pool_idle_timeout(std::time::Duration::from_secs(5))
                .build()
                .unwrap(),
            dir,
            database_url,
        }
    }

    pub fn state(&self) -> &gatehouse_server::AppState {
        &self.server.as_ref().expect("running").state
    }

    /// Stops the server and starts a new one on the same port, data dir and database.
    pub async fn restart(&mut self, tweak: impl FnOnce(&mut Config)) {
        self.stop().await;
        self.start_again(tweak).await;
    }

    /// Stops the server (clients now get connection errors).
    pub async fn stop(&mut self) {
        self.server.take().expect("running").shutdown().await;
    }

    /// Starts the server again on the same port, data dir and database.
    pub async fn start_again(&mut self, tweak: impl FnOnce(&mut Config)) {
        let mut config = test_config(self.dir.path(), &self.database_url);
        config.listen = self
            .base
            .trim_start_matches("http://")
            .parse()
            .expect("base is http://ip:port");
        tweak(&mut config);
        let server = Server::start(config).await.expect("server restarts");
        self.base = server.url();
        self.server = Some(server);
    }

    /// How many users the app has, read from the server's own store.
    pub async fn user_count(&self) -> usize {
        gatehouse_server::store::users::list(self.state().db.reader(), APP)
            .await
            .unwrap()
            .len()
    }

    pub fn api(&self, path: &str) -> String {
        format!("{}/api/client/v2.0{path}", self.base)
    }

    pub fn app_path(&self, app: &str, path: &str) -> String {
        self.api(&format!("/app/{app}{path}"))
    }

    /// Sends a request and returns (status, headers, parsed JSON body or Null).
    pub async fn call(
        &self,
        method: Method,
        url: &str,
        bearer: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        send_json(&self.http, method, url, bearer, body).await
    }

    pub async fn post(&self, app: &str, path: &str, body: Value) -> Reply {
        self.call(Method::POST, &self.app_path(app, path), None, Some(body))
            .await
    }

    pub async fn login(&self, app: &str, provider: &str, body: Value) -> Reply {
        self.post(app, &format!("/auth/providers/{provider}/login"), body)
            .await
    }

    /// Signs in to [`APP`] with an email and password; the login must succeed.
    pub async fn password_login(&self, email: &str, password: &str) -> Tokens {
        Tokens::from(
            self.login(
                APP,
                "local-userpass",
                json!({"username": email, "password": password}),
            )
            .await
            .ok(),
        )
    }

    /// Resets the password of `email` (an account of [`APP`]) the way its owner would: asks for
    /// the mail, follows its link's token, and sets `new_password`.
    pub async fn reset_password_by_mail(&self, email: &str, new_password: &str) {
        let seen = self.outbox().len();
        self.post(
            APP,
            "/auth/providers/local-userpass/reset/send",
            json!({"email": email}),
        )
        .await
        .void();
        let (token, token_id) = self.mailed_token_after(seen, email, "/reset").await;
        self.post(
            APP,
            "/auth/providers/local-userpass/reset",
            json!({"token": token, "tokenId": token_id, "password": new_password}),
        )
        .await
        .void();
    }

    pub async fn anonymous(&self) -> Tokens {
        Tokens::from(self.login(APP, "anon-user", json!({})).await.ok())
    }

    /// Registers, confirms through the mailed link, and logs in.
    pub async fn email_user(&self, email: &str) -> Tokens {
        self.register_and_confirm(APP, email, PASSWORD).await;
        Tokens::from(
            self.login(
                APP,
                "local-userpass",
                json!({"username": email, "password": PASSWORD}),
            )
            .await
            .ok(),
        )
    }

    pub async fn register_and_confirm(&self, app: &str, email: &str, password: &str) {
        let seen = self.outbox().len();
        self.post(
            app,
            "/auth/providers/local-userpass/register",
            json!({"email": email, "password": password}),
        )
        .await
        .void();
        let (token, token_id) = self.mailed_token_after(seen, email, "/confirm").await;
        self.post(
            app,
            "/auth/providers/local-userpass/confirm",
            json!({"token": token, "tokenId": token_id}),
        )
        .await
        .void();
    }

    pub fn outbox(&self) -> Vec<Value> {
        let path: PathBuf = self.dir.path().join("outbox.jsonl");
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// Waits (bounded) for a mail to `to` whose link path ends with `suffix`; returns its
    /// (token, tokenId).
    pub async fn mailed_token(&self, to: &str, suffix: &str) -> (String, String) {
        self.mailed_token_after(0, to, suffix).await
    }

    /// Like [`mailed_token`], among the mails after the first `seen` (mail is sent in the
    /// background, so a fresh request's mail may land a moment after its answer).
    pub async fn mailed_token_after(
        &self,
        seen: usize,
        to: &str,
        suffix: &str,
    ) -> (String, String) {
        for _ in 0..100 {
            if let Some(link) = self
                .outbox()
                .iter()
                .skip(seen)
                .rev()
                .filter(|m| m["to"] == to)
                .flat_map(|m| m["links"].as_array().cloned().unwrap_or_default())
                .filter_map(|l| l.as_str().map(str::to_string))
                .find(|l| l.split('?').next().unwrap_or("").ends_with(suffix))
            {
                return token_of(&link);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!(
            "no mail to {to} with a {suffix} link in the outbox: {:?}",
            self.outbox()
        );
    }

    /// Waits until the server's background jobs queued so far (the address-dependent work of
    /// register, resend, reset and magic-link requests, done after answering) have finished.
    pub async fn settle(&self) {
        self.state().background.settle().await;
    }

    pub async fn mails_to(&self, to: &str) -> Vec<Value> {
        self.settle().await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        self.outbox()
            .into_iter()
            .filter(|m| m["to"] == to)
            .collect()
    }
}

/// Sends a request with `http` (a bearer token and a JSON body when given); the whole answer.
pub async fn send_json(
    http: &reqwest::Client,
    method: Method,
    url: &str,
    bearer: Option<&str>,
    body: Option<Value>,
) -> Reply {
    let mut req = http.request(method, url);
    if let Some(token) = bearer {
        req = req.bearer_auth(token);
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    Reply::read(req.send().await.expect("request reaches the server")).await
}

/// The HTML of a page, as a browser opening a mailed link gets it.
pub async fn page_text(http: &reqwest::Client, url: &str) -> String {
    http.get(url).send().await.unwrap().text().await.unwrap()
}

/// Presses a mailed link's button: its token pair POSTed to `url`; the answer's HTML.
pub async fn press_button(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    token_id: &str,
) -> String {
    let form = [("token", token), ("tokenId", token_id)];
    let resp = http.post(url).form(&form).send().await.unwrap();
    resp.text().await.unwrap()
}

pub fn token_of(link: &str) -> (String, String) {
    let url = reqwest::Url::parse(link).unwrap();
    let get = |k: &str| {
        url.query_pairs()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.to_string())
            .unwrap()
    };
    (get("token"), get("tokenId"))
}

#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub json: Value,
    pub raw: Vec<u8>,
}

impl Reply {
    /// Reads a whole answer (the body as JSON, or `Null` when it is empty or not JSON).
    pub async fn read(resp: reqwest::Response) -> Reply {
        let status = resp.status();
        let headers = resp.headers().clone();
        let raw = resp.bytes().await.unwrap().to_vec();
        let json = serde_json::from_slice(&raw).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            json,
            raw,
        }
    }

    /// Asserts a 2xx JSON answer and returns its body.
    #[track_caller]
    pub fn ok(self) -> Value {
        assert!(
            self.status.is_success(),
            "expected success, got {} {}",
            self.status,
            self.json
        );
        self.json
    }

    /// Asserts a void answer: 204, no Content-Type, no body.
    #[track_caller]
    pub fn void(self) {
        assert_eq!(self.status, StatusCode::NO_CONTENT, "body: {}", self.json);
        assert!(self.headers.get("content-type").is_none());
        assert!(self.raw.is_empty());
    }

    /// Asserts an error answer with this status and code, in the exact App Services shape.
    #[track_caller]
    pub fn err(self, status: u16, code: &str) -> Value {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.json);
        assert_eq!(
            self.headers.get("content-type").unwrap(),
            "application/json"
        );
        assert_eq!(self.json["error_code"], code, "body: {}", self.json);
        assert!(self.json["error"].as_str().is_some_and(|e| !e.is_empty()));
        assert!(self.json.get("link").is_some());
        self.json
    }
}

#[derive(Debug, Clone)]
pub struct Tokens {
    pub access: String,
    pub refresh: String,
    pub user_id: String,
    pub device_id: String,
}

impl From<Value> for Tokens {
    fn from(v: Value) -> Tokens {
        Tokens {
            access: v["access_token"].as_str().expect("access_token").into(),
            refresh: v["refresh_token"].as_str().expect("refresh_token").into(),
            user_id: v["user_id"].as_str().expect("user_id").into(),
            device_id: v["device_id"].as_str().expect("device_id").into(),
        }
    }
}

/// A unique address per call, so tests never collide.
pub fn unique_email(tag: &str) -> String {
    format!("{tag}-{}@example.test", hex_id().replace('_', "-"))
}

/// Two-sided p-value of the Mann-Whitney U test that `a` and `b` come from the same
/// distribution: normal approximation with tie correction (fine for samples of a few hundred).
pub fn mann_whitney_p(a: &[f64], b: &[f64]) -> f64 {
    let (n1, n2) = (a.len() as f64, b.len() as f64);
    let mut all: Vec<(f64, bool)> = a
        .iter()
        .map(|&x| (x, true))
        .chain(b.iter().map(|&x| (x, false)))
        .collect();
    all.sort_by(|x, y| x.0.total_cmp(&y.0));
    let (mut rank_sum_a, mut ties, mut i) = (0.0, 0.0, 0);
    while i < all.len() {
        let j = (i..all.len())
            .find(|&j| all[j].0 != all[i].0)
            .unwrap_or(all.len());
        let tied = (j - i) as f64;
        let rank = (i + j + 1) as f64 / 2.0; // the mean of ranks i+1 ..= j
        rank_sum_a += rank * all[i..j].iter().filter(|x| x.1).count() as f64;
        ties += tied * tied * tied - tied;
        i = j;
    }
    let n = n1 + n2;
    let u = rank_sum_a - n1 * (n1 + 1.0) / 2.0;
    let sigma = (n1 * n2 / 12.0 * ((n + 1.0) - ties / (n * (n - 1.0)))).sqrt();
    let z = ((u - n1 * n2 / 2.0).abs() - 0.5).max(0.0) / sigma;
    erfc(z / std::f64::consts::SQRT_2)
}

/// Complementary error function, x >= 0 (Numerical Recipes `erfcc`, error below 1.2e-7).
fn erfc(x: f64) -> f64 {
    let t = 1.0 / (1.0 + 0.5 * x);
    let poly = [
        -1.26551223,
        1.00002368,
        0.37409196,
        0.09678418,
        -0.18628806,
        0.27886807,
        -1.13520398,
        1.48851587,
        -0.82215223,
        0.17087277,
    ];
    let sum = poly.iter().rev().fold(0.0, |acc, c| c + t * acc);
    t * (-x * x + sum).exp()
}

/// The `gatehoused` binary next to this test binary (`target/debug/deps/e2e-…`).
pub fn gatehoused() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let bin = exe
        .parent()
        .and_then(std::path::Path::parent)
        .unwrap()
        .join("gatehoused");
    assert!(
        bin.is_file(),
        "{} is missing: build it first (cargo build -p gatehouse-server --bins; scripts/test.sh \
         does)",
        bin.display()
    );
    bin
}

pub fn run_gatehoused(args: &[&str]) -> std::process::Output {
    let mut cmd = std::process::Command::new(gatehoused());
    for (name, _) in std::env::vars() {
        if name.starts_with("GATEHOUSE_") {
            cmd.env_remove(name);
        }
    }
    cmd.args(args)
        .env("GATEHOUSE_LOG", "warn")
        .output()
        .unwrap()
}

/// Runs `tests/realm-web/<script>` (the official realm-web client) with `env`, asserts that it
/// reported every step ok and ended with `{"step": "done"}`, and returns its steps.
pub async fn realm_web_steps(script: &str, env: &[(&str, &str)]) -> Vec<Value> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/realm-web");
    assert!(
        std::path::Path::new(dir)
            .join("node_modules/realm-web")
            .exists(),
        "realm-web is not installed: run scripts/setup.sh (it runs npm ci in tests/realm-web)"
    );
    let output = tokio::process::Command::new("node")
        .arg(format!("{dir}/{script}"))
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let steps: Vec<Value> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert!(
        output.status.success()
            && steps.last().is_some_and(|s| s["step"] == "done")
            && steps.iter().all(|s| s["ok"] == true),
        "realm-web {script} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    steps
}
