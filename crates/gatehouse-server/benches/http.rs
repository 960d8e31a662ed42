//! HTTP benchmark: a real `gatehoused` (the binary built in the same profile as this bench) on
//! loopback with SQLite and production Argon2id parameters, driven over HTTP/1.1 by one shared
//! `reqwest` client.
//!
//!     cargo bench -p gatehouse-server --bench http
//!
//! Measures, each at concurrency 1 and 64: `POST /auth/session` (refresh), API-key login,
//! anonymous login and email/password login, next to the raw Argon2id hash rate (same parameters,
//! in this process, at 1 thread and at one thread per core). Prints ops/s, p50, p99, errors and
//! the project's targets ("meets"/"below"). It only prints figures: no timing is ever asserted.
//!
//! Environment:
//!   GATEHOUSE_BENCH_SECS             seconds per timed measurement (default 3)
//!   GATEHOUSE_BENCH_PASSWORD_LOGINS  email/password logins per concurrency level (default 60
//!                                    at concurrency 1, 320 at 64)
//!   GATEHOUSE_BENCH_ONLY             comma-separated subset of: refresh, api-key, anonymous,
//!                                    password (the last includes the raw Argon2id rows)
//!   GATEHOUSE_LOG                    the server's log filter (default: its own, `info`)
//!   TMPDIR                           where the data directory (SQLite file) is created
//!
//! Without the `--bench` flag (`cargo test --benches`) it runs a short smoke pass instead.
//! See docs/benchmarks.md for what each row means and the figures measured so far.

// A benchmark is a test harness: a failed setup step should stop it loudly (Cargo.toml lints).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use argon2::{Algorithm, Argon2, Block, Params, Version};
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_gatehoused");
const APP: &str = "bench";
const APP_NAME: &str = "Load Test";
const EMAIL: &str = "runner@example.com";
/// At least 15 characters, not a common password, no context word (app name, email local part,
/// the product name).
const PASSWORD: &str = "correct horse battery staple at noon";
/// The production defaults (config.rs `PasswordConfig::default`), which the server runs with here.
const ARGON2_M_KIB: u32 = 19 * 1024;
const ARGON2_T: u32 = 2;
const ARGON2_P: u32 = 1;
const ARGON2_OUT: usize = 32;
const HIGH: usize = 64;

// ---------------------------------------------------------------------------------------------
// The server

/// The running `gatehoused`; killed when dropped (also when the bench panics).
struct Daemon {
    child: Child,
    log: PathBuf,
    dir: tempfile::TempDir,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Daemon {
    fn log_tail(&self) -> String {
        let mut text = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.log) {
            let _ = f.read_to_string(&mut text);
        }
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind 127.0.0.1:0")
        .local_addr()
        .expect("local addr")
        .port()
}

fn write_config(dir: &Path, port: u16) -> PathBuf {
    let path = dir.join("gatehoused.toml");
    // Production Argon2 parameters and durability settings: only the rate limits are off (they
    // would answer 429 within a second) and confirmation mail is skipped.
    let text = format!(
        r#"listen = "127.0.0.1:{port}"
data_dir = "{dir}"

[rate_limits]
enabled = false

[apps.{APP}]
name = "{APP_NAME}"
providers = ["anon-user", "local-userpass", "api-key"]

[apps.{APP}.userpass]
auto_confirm = true
"#,
        dir = dir.display()
    );
    std::fs::write(&path, text).expect("write the config file");
    path
}

async fn start_daemon(http: &reqwest::Client) -> (Daemon, String) {
    let dir = tempfile::Builder::new()
        .prefix("gatehouse-bench-")
        .tempdir()
        .expect("temp dir");
    let port = free_port();
    let config = write_config(dir.path(), port);
    let log = dir.path().join("gatehoused.log");
    let stderr = std::fs::File::create(&log).expect("create the server log");
    let child = Command::new(BIN)
        .arg("--config")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {BIN}: {e}"));
    let mut daemon = Daemon { child, log, dir };
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = http.get(format!("{base}/health/ready")).send().await {
            if r.status() == 204 {
                return (daemon, base);
            }
        }
        if let Ok(Some(status)) = daemon.child.try_wait() {
            panic!(
                "gatehoused exited during startup ({status}); its log:\n{}",
                daemon.log_tail()
            );
        }
        if Instant::now() > deadline {
            panic!(
                "gatehoused not ready after 30 s; its log:\n{}",
                daemon.log_tail()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn post(
    http: &reqwest::Client,
    url: &str,
    bearer: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = http.post(url);
    if let Some(token) = bearer {
        req = req.bearer_auth(token);
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    let resp = req
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {url}: {e}"));
    let status = resp.status().as_u16();
    let bytes = resp.bytes().await.unwrap_or_default();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[track_caller]
fn expect(what: &str, (status, body): (u16, Value), want: u16) -> Value {
    assert_eq!(status, want, "setup step {what:?} failed: {status} {body}");
    body
}

// ---------------------------------------------------------------------------------------------
// Load generation

#[derive(Clone, Copy)]
enum Stop {
    After(Duration),
    Count(u64),
}

/// One request kind: method POST, a URL, optional bearer token, a JSON body (or none).
struct Request {
    url: String,
    bearer: Option<String>,
    body: Option<String>,
}

impl Request {
    fn build(&self, http: &reqwest::Client) -> reqwest::RequestBuilder {
        let mut req = http.post(&self.url);
        if let Some(token) = &self.bearer {
            req = req.bearer_auth(token);
        }
        if let Some(body) = &self.body {
            req = req
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.clone());
        }
        req
    }
}

struct Outcome {
    ok: u64,
    errors: u64,
    first_error: Option<String>,
    /// Latency of each successful request, microseconds, sorted.
    latencies_us: Vec<u32>,
    elapsed: Duration,
    /// Successes completed in the first and in the last third of the run (timed runs only: a
    /// fixed-count run ramps up and down).
    timed: bool,
    first_third: u64,
    last_third: u64,
    /// CPU time and minor page faults per successful request: (server, this client process).
    cost: Option<Cost>,
}

/// Resources used per operation, from /proc (Linux only).
#[derive(Clone, Copy)]
struct Cost {
    server_cpu_us: f64,
    client_cpu_us: f64,
    /// Minor page faults in the process doing the work (the server; this process for raw hashes).
    faults: f64,
}

/// CPU ticks (utime + stime) and minor faults of a process so far, from /proc/<pid>/stat.
#[derive(Clone, Copy)]
struct ProcStat {
    ticks: u64,
    minflt: u64,
}

/// Linux reports CPU times in USER_HZ, which is 100 on every architecture Rust targets.
const USER_HZ: f64 = 100.0;

fn proc_stat(pid: &str) -> Option<ProcStat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the ")" that ends the command name: state is field 3; minflt 10, utime 14, stime
    // 15.
    let fields: Vec<&str> = text.rsplit_once(')')?.1.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    Some(ProcStat {
        ticks: field(14)? + field(15)?,
        minflt: field(10)?,
    })
}

fn cpu_us_per_op(before: ProcStat, after: ProcStat, ops: u64) -> f64 {
    (after.ticks - before.ticks) as f64 / USER_HZ * 1e6 / ops.max(1) as f64
}

impl Outcome {
    fn rate(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }

    fn percentile_ms(&self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return f64::NAN;
        }
        let rank = ((p / 100.0) * self.latencies_us.len() as f64).ceil() as usize;
        self.latencies_us[rank.clamp(1, self.latencies_us.len()) - 1] as f64 / 1000.0
    }

    /// Rate in the last third relative to the first third, as a signed percentage.
    fn drift(&self) -> String {
        if !self.timed || self.first_third < 20 {
            return "-".into();
        }
        format!(
            "{:+.0}%",
            (self.last_third as f64 / self.first_third as f64 - 1.0) * 100.0
        )
    }
}

async fn run(
    http: &reqwest::Client,
    request: &Arc<Request>,
    concurrency: usize,
    stop: Stop,
) -> Outcome {
    let start = Instant::now();
    let issued = Arc::new(AtomicU64::new(0));
    let first_error: Arc<Mutex<Option<String>>> = Arc::new(Mutex::new(None));
    let mut tasks = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        let (http, request, issued, first_error) = (
            http.clone(),
            request.clone(),
            issued.clone(),
            first_error.clone(),
        );
        tasks.push(tokio::spawn(async move {
            // (completion offset since start, latency), both in microseconds.
            let mut done: Vec<(u64, u32)> = Vec::new();
            let mut errors = 0u64;
            loop {
                match stop {
                    Stop::After(d) if start.elapsed() >= d => break,
                    Stop::Count(n) if issued.fetch_add(1, Ordering::Relaxed) >= n => break,
                    _ => {}
                }
                let t0 = Instant::now();
                let failure = match request.build(&http).send().await {
                    Ok(resp) => {
                        let status = resp.status();
                        match resp.bytes().await {
                            Ok(_) if status.is_success() => None,
                            Ok(body) => {
                                Some(format!("{status} {}", String::from_utf8_lossy(&body)))
                            }
                            Err(e) => Some(format!("{status}, reading the body failed: {e}")),
                        }
                    }
                    Err(e) => Some(format!("request failed: {e}")),
                };
                match failure {
                    None => done.push((
                        start.elapsed().as_micros() as u64,
                        t0.elapsed().as_micros() as u32,
                    )),
                    Some(message) => {
                        errors += 1;
                        first_error
                            .lock()
                            .expect("not poisoned")
                            .get_or_insert(message);
                    }
                }
            }
            (done, errors)
        }));
    }
    let mut done = Vec::new();
    let mut errors = 0;
    for task in tasks {
        let (d, e) = task.await.expect("load task");
        done.extend(d);
        errors += e;
    }
    let elapsed = start.elapsed();
    let third = elapsed.as_micros() as u64 / 3;
    let first_third = done.iter().filter(|(at, _)| *at < third).count() as u64;
    let last_third = done.iter().filter(|(at, _)| *at >= 2 * third).count() as u64;
    let mut latencies_us: Vec<u32> = done.iter().map(|(_, l)| *l).collect();
    latencies_us.sort_unstable();
    let first_error = first_error.lock().expect("not poisoned").take();
    Outcome {
        ok: latencies_us.len() as u64,
        errors,
        first_error,
        latencies_us,
        elapsed,
        timed: matches!(stop, Stop::After(_)),
        first_third,
        last_third,
        cost: None,
    }
}

/// Opens connections and warms caches, then measures.
async fn measure(
    http: &reqwest::Client,
    request: &Arc<Request>,
    concurrency: usize,
    stop: Stop,
    server: u32,
) -> Outcome {
    let warmup = match stop {
        Stop::After(d) => {
            Stop::After((d / 10).clamp(Duration::from_millis(50), Duration::from_millis(500)))
        }
        Stop::Count(_) => Stop::Count(concurrency.min(4) as u64),
    };
    let _ = run(http, request, concurrency, warmup).await;
    let server = server.to_string();
    let before = (proc_stat(&server), proc_stat("self"));
    let mut outcome = run(http, request, concurrency, stop).await;
    let after = (proc_stat(&server), proc_stat("self"));
    if let ((Some(s0), Some(c0)), (Some(s1), Some(c1))) = (before, after) {
        outcome.cost = Some(Cost {
            server_cpu_us: cpu_us_per_op(s0, s1, outcome.ok),
            client_cpu_us: cpu_us_per_op(c0, c1, outcome.ok),
            faults: (s1.minflt - s0.minflt) as f64 / outcome.ok.max(1) as f64,
        });
    }
    outcome
}

// ---------------------------------------------------------------------------------------------
// Raw Argon2id

struct HashRate {
    hashes: u64,
    elapsed: Duration,
    latencies_us: Vec<u32>,
    cost: Option<Cost>,
}

impl HashRate {
    fn rate(&self) -> f64 {
        self.hashes as f64 / self.elapsed.as_secs_f64()
    }
    fn percentile_ms(&self, p: f64) -> f64 {
        let rank = ((p / 100.0) * self.latencies_us.len() as f64).ceil() as usize;
        self.latencies_us[rank.clamp(1, self.latencies_us.len()) - 1] as f64 / 1000.0
    }
}

/// Argon2id with the server's parameters on `threads` OS threads for `duration`: the pure cost of
/// the algorithm, each thread reusing one block array (no allocation or page faults per hash).
fn raw_argon2(threads: usize, duration: Duration) -> HashRate {
    let params =
        Params::new(ARGON2_M_KIB, ARGON2_T, ARGON2_P, Some(ARGON2_OUT)).expect("valid parameters");
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    let before = proc_stat("self");
    let start = Instant::now();
    let per_thread: Vec<Vec<u32>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|i| {
                let argon2 = argon2.clone();
                s.spawn(move || {
                    let mut latencies = Vec::new();
                    let mut blocks = vec![Block::default(); argon2.params().block_count()];
                    let mut out = [0u8; ARGON2_OUT];
                    let mut salt = [0u8; 16];
                    let mut n = 0u64;
                    while start.elapsed() < duration || latencies.is_empty() {
                        salt[..8].copy_from_slice(&n.to_le_bytes());
                        salt[8] = i as u8;
                        let t0 = Instant::now();
                        argon2
                            .hash_password_into_with_memory(
                                PASSWORD.as_bytes(),
                                &salt,
                                &mut out,
                                &mut blocks,
                            )
                            .expect("argon2 hashes");
                        latencies.push(t0.elapsed().as_micros() as u32);
                        n += 1;
                    }
                    std::hint::black_box(out);
                    latencies
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("hash thread"))
            .collect()
    });
    let elapsed = start.elapsed();
    let mut latencies_us: Vec<u32> = per_thread.into_iter().flatten().collect();
    latencies_us.sort_unstable();
    let hashes = latencies_us.len() as u64;
    let cost = before.zip(proc_stat("self")).map(|(b, a)| Cost {
        server_cpu_us: f64::NAN,
        client_cpu_us: cpu_us_per_op(b, a, hashes),
        faults: (a.minflt - b.minflt) as f64 / hashes as f64,
    });
    HashRate {
        hashes,
        elapsed,
        latencies_us,
        cost,
    }
}

// ---------------------------------------------------------------------------------------------
// Report

struct Row {
    operation: String,
    concurrency: String,
    rate: f64,
    p50: f64,
    p99: f64,
    errors: String,
    drift: String,
    cost: Option<Cost>,
    target: String,
    verdict: String,
}

impl Row {
    fn from_outcome(
        operation: &str,
        concurrency: usize,
        o: &Outcome,
        target: &str,
        verdict: &str,
    ) -> Row {
        Row {
            operation: operation.into(),
            concurrency: concurrency.to_string(),
            rate: o.rate(),
            p50: o.percentile_ms(50.0),
            p99: o.percentile_ms(99.0),
            errors: o.errors.to_string(),
            drift: o.drift(),
            cost: o.cost,
            target: target.into(),
            verdict: verdict.into(),
        }
    }
}

fn print_row(r: &Row) {
    let num = |v: Option<f64>| match v {
        Some(v) if v.is_finite() => format!("{v:.0}"),
        _ => "-".into(),
    };
    println!(
        "{:<30} {:>4} {:>9.1} {:>8.2} {:>8.2} {:>6} {:>6} {:>8} {:>8} {:>7}  {:<26} {}",
        r.operation,
        r.concurrency,
        r.rate,
        r.p50,
        r.p99,
        r.errors,
        r.drift,
        num(r.cost.map(|c| c.server_cpu_us)),
        num(r.cost.map(|c| c.client_cpu_us)),
        num(r.cost.map(|c| c.faults)),
        r.target,
        r.verdict
    );
}

fn print_header() {
    println!(
        "{:<30} {:>4} {:>9} {:>8} {:>8} {:>6} {:>6} {:>8} {:>8} {:>7}  {:<26} verdict",
        "operation",
        "conc",
        "ops/s",
        "p50 ms",
        "p99 ms",
        "errors",
        "drift",
        "srv µs",
        "cli µs",
        "flt/op",
        "target"
    );
    println!("{}", "-".repeat(136));
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "meets"
    } else {
        "below"
    }
}

fn at_least(rate: f64, min: f64) -> &'static str {
    verdict(rate >= min)
}

/// The file system holding `path` (longest mount point that is a prefix of it), from /proc/mounts.
fn filesystem_of(path: &Path) -> String {
    let Ok(mounts) = std::fs::read_to_string("/proc/mounts") else {
        return "unknown".into();
    };
    let path = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    mounts
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (device, mount, fs) = (f.next()?, f.next()?, f.next()?);
            path.starts_with(mount)
                .then(|| (mount.len(), format!("{fs} ({device} on {mount})")))
        })
        .max_by_key(|(len, _)| *len)
        .map(|(_, s)| s)
        .unwrap_or_else(|| "unknown".into())
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|t| t.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

fn env_number<T: std::str::FromStr>(name: &str) -> Option<T> {
    let value = std::env::var(name).ok()?;
    Some(
        value
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={value:?} is not a number")),
    )
}

// ---------------------------------------------------------------------------------------------

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not: then only a smoke pass.
    let full = std::env::args().any(|a| a == "--bench");
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cores)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(bench(full, cores));
}

async fn bench(full: bool, cores: usize) {
    let secs: f64 = env_number("GATEHOUSE_BENCH_SECS").unwrap_or(if full { 3.0 } else { 0.3 });
    let duration = Duration::from_secs_f64(secs);
    let password_logins = |concurrency: usize| -> u64 {
        env_number("GATEHOUSE_BENCH_PASSWORD_LOGINS").unwrap_or(match (full, concurrency) {
            (false, c) => c.min(8) as u64,
            (true, 1) => 60,
            (true, c) => 5 * c as u64,
        })
    };

    let only = std::env::var("GATEHOUSE_BENCH_ONLY").ok();
    let selected = |name: &str| {
        only.as_deref()
            .is_none_or(|o| o.split(',').any(|s| s.trim() == name))
    };

    let http = reqwest::Client::builder()
        .no_proxy()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(4 * HIGH)
        .pool_idle_timeout(Duration::from_secs(600))
        .timeout(Duration::from_secs(60))
        .build()
        .expect("HTTP client");
    let (mut daemon, base) = start_daemon(&http).await;
    let server_pid = daemon.child.id();
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    println!(
        "gatehouse HTTP benchmark{}",
        if full {
            ""
        } else {
            " (SMOKE PASS: run with `cargo bench` for real figures)"
        }
    );
    println!(
        "  machine:   {cores} cores (available_parallelism), CPU {}",
        cpu_model()
    );
    println!(
        "  load avg:  {} (other work on the machine skews every figure)",
        load_average()
    );
    println!("  profile:   {profile} (bench binary and {BIN})");
    println!(
        "  server:    {base}, SQLite (WAL, synchronous=FULL) in {}",
        daemon.dir.path().display()
    );
    println!("  data fs:   {}", filesystem_of(daemon.dir.path()));
    println!(
        "  argon2id:  m={ARGON2_M_KIB} KiB, t={ARGON2_T}, p={ARGON2_P}, {ARGON2_OUT}-byte \
         output (production defaults)"
    );
    println!(
        "  timed runs {secs} s each after a short warm-up; client and server share the \
         machine's cores"
    );
    println!();

    // Setup: one confirmed email/password user, its session, one API key.
    let app = format!("{base}/api/client/v2.0/app/{APP}");
    expect(
        "register",
        post(
            &http,
            &format!("{app}/auth/providers/local-userpass/register"),
            None,
            Some(json!({"email": EMAIL, "password": PASSWORD})),
        )
        .await,
        204,
    );
    let login = expect(
        "password login",
        post(
            &http,
            &format!("{app}/auth/providers/local-userpass/login"),
            None,
            Some(json!({"username": EMAIL, "password": PASSWORD})),
        )
        .await,
        200,
    );
    let refresh_token = login["refresh_token"]
        .as_str()
        .expect("refresh_token in the login answer")
        .to_string();
    let key = expect(
        "create API key",
        post(
            &http,
            &format!("{base}/api/client/v2.0/auth/api_keys"),
            Some(&refresh_token),
            Some(json!({"name": "bench"})),
        )
        .await,
        201,
    );
    let key = key["key"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| panic!("no key in the answer: {key}"));

    let refresh = Arc::new(Request {
        url: format!("{base}/api/client/v2.0/auth/session"),
        bearer: Some(refresh_token),
        body: None,
    });
    let api_key = Arc::new(Request {
        url: format!("{app}/auth/providers/api-key/login"),
        bearer: None,
        body: Some(json!({"key": key}).to_string()),
    });
    let anonymous = Arc::new(Request {
        url: format!("{app}/auth/providers/anon-user/login"),
        bearer: None,
        body: Some("{}".into()),
    });
    let password = Arc::new(Request {
        url: format!("{app}/auth/providers/local-userpass/login"),
        bearer: None,
        body: Some(json!({"username": EMAIL, "password": PASSWORD}).to_string()),
    });

    // (position in the printed table, row): the table follows the order of the requirements,
    // the runs do not.
    let mut rows: Vec<(usize, Row)> = Vec::new();
    let mut errors: Vec<(String, String)> = Vec::new();
    let mut note_error = |label: String, o: &Outcome| {
        if let Some(e) = &o.first_error {
            errors.push((label, e.clone()));
        }
    };
    let timed = [
        (
            "refresh (POST /auth/session)",
            &refresh,
            ">= 15,000/s",
            15_000.0,
        ),
        ("api-key login", &api_key, ">= 5,000/s", 5_000.0),
        ("anonymous login", &anonymous, ">= 3,000/s", 3_000.0),
    ];
    // Refresh runs first: email/password and API-key logins open sessions for the same user, and
    // beyond `sessions_per_user` (50) the oldest one (the one refreshed here) is evicted. Then
    // email/password logins, before the API-key logins leave thousands of sessions on the user.
    for (position, step) in [
        (0, "refresh"),
        (3, "password"),
        (1, "api-key"),
        (2, "anonymous"),
    ] {
        if !selected(step) {
            continue;
        }
        if step == "password" {
            // Each login level right after the raw hash rate it is compared with.
            for (i, (concurrency, threads)) in [(1, 1), (HIGH, cores)].into_iter().enumerate() {
                eprintln!("measuring raw argon2id on {threads} thread(s) ...");
                let raw = raw_argon2(threads, duration);
                rows.push((
                    position + 2 * i,
                    Row {
                        operation: "raw argon2id hash (in-process)".into(),
                        concurrency: format!("{threads}t"),
                        rate: raw.rate(),
                        p50: raw.percentile_ms(50.0),
                        p99: raw.percentile_ms(99.0),
                        errors: "-".into(),
                        drift: "-".into(),
                        cost: raw.cost,
                        target: "reference".into(),
                        verdict: String::new(),
                    },
                ));
                let n = password_logins(concurrency);
                eprintln!(
                    "measuring email/password login at concurrency {concurrency} ({n} logins) ..."
                );
                let o = measure(&http, &password, concurrency, Stop::Count(n), server_pid).await;
                note_error(format!("email/password login c={concurrency}"), &o);
                let pct = o.rate() / raw.rate() * 100.0;
                let target = format!(
                    "{pct:.0}% of raw ({threads} thread{})",
                    if threads == 1 { "" } else { "s" }
                );
                rows.push((
                    position + 2 * i + 1,
                    Row::from_outcome(
                        "email/password login",
                        concurrency,
                        &o,
                        &target,
                        verdict(pct >= 90.0),
                    ),
                ));
            }
            continue;
        }
        let (name, request, target, min) = timed[position];
        for concurrency in [1, HIGH] {
            eprintln!("measuring {name} at concurrency {concurrency} ...");
            let o = measure(
                &http,
                request,
                concurrency,
                Stop::After(duration),
                server_pid,
            )
            .await;
            note_error(format!("{name} c={concurrency}"), &o);
            rows.push((
                position,
                Row::from_outcome(name, concurrency, &o, target, at_least(o.rate(), min)),
            ));
        }
    }
    rows.sort_by_key(|(position, _)| *position);

    let server_alive = matches!(daemon.child.try_wait(), Ok(None));
    println!();
    print_header();
    for (_, r) in &rows {
        print_row(r);
    }
    println!();
    println!(
        "ops/s counts successful (2xx) answers only; p50/p99 are their latencies. drift: \
         rate in the last third"
    );
    println!(
        "of the run vs the first third. srv µs / cli µs: CPU time per operation of \
         gatehoused / of this process"
    );
    println!(
        "(the HTTP client; on raw rows the hashing itself). flt/op: minor page faults per \
         operation in the process"
    );
    println!(
        "doing the work. Targets: refresh >= 15,000/s, API-key login >= 5,000/s, anonymous \
         login >= 3,000/s,"
    );
    println!(
        "email/password login within 10% of the raw Argon2id rate (concurrency 1 vs 1 \
         thread, concurrency {HIGH}"
    );
    println!("vs {cores} threads). Informational only: nothing here fails on a figure.");
    println!("load average at the end: {}", load_average());
    if !errors.is_empty() {
        println!();
        println!("first error of each run with errors:");
        for (label, e) in &errors {
            println!("  {label}: {}", e.chars().take(300).collect::<String>());
        }
    }
    if !server_alive {
        println!();
        println!(
            "gatehoused exited during the run; its log:\n{}",
            daemon.log_tail()
        );
    }
    drop(daemon);
}
