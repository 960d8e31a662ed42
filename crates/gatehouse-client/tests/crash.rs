//! Crash safety of the account list: a child process saves `Metadata` in a tight loop (each save a
//! different number of users, so the file size varies a lot) and is killed with SIGKILL at varied
//! moments; after every kill the file must load, and hold exactly one of the shapes written.
//!
//! The child is this test binary run again (`child_writer`, selected with `--exact` and switched
//! on by `GATEHOUSE_CRASH_WRITER=<path>`), so no extra binary is needed.
//!
//! ```text
//! cargo test -p gatehouse-client --test crash
//! ```

// Test code: helpers may unwrap (a panic is a failed test) and build JSON with `json!`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_macros)]

use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use gatehouse_client::store::{Metadata, MetadataFile, StoredUser, UserStatus};
use gatehouse_client::{Identity, Profile};

const WRITER_ENV: &str = "GATEHOUSE_CRASH_WRITER";
const SEED_ENV: &str = "GATEHOUSE_CRASH_SEED";
const SERVER: &str = "http://127.0.0.1:9090";
const APP_ID: &str = "crash-app";
const MAX_USERS: usize = 200;
const ROUNDS: u64 = 40;

/// The list with `n` users: a pure function of `n`, so the parent can tell a written shape from
/// anything else. Every third user has a cached profile, to make entries (and the file) bigger.
fn shape(n: usize) -> Metadata {
    let users = (0..n)
        .map(|k| StoredUser {
            id: format!("{k:024x}"),
            status: if k % 4 == 3 {
                UserStatus::LoggedOut
            } else {
                UserStatus::LoggedIn
            },
            provider_type: if k % 2 == 0 {
                "local-userpass".into()
            } else {
                "anon-user".into()
            },
            device_id: format!("d{n:023x}"),
            profile: (k % 3 == 0).then(|| Profile {
                user_id: format!("{k:024x}"),
                domain_id: "000000000000000000000000".into(),
                user_type: "normal".into(),
                identities: vec![Identity {
                    id: format!("i{k:023x}"),
                    provider_type: "local-userpass".into(),
                    provider_id: "p".repeat(24),
                    provider_data: serde_json::Map::from_iter([(
                        "email".to_string(),
                        serde_json::json!(format!("user{k}@example.test")),
                    )]),
                }],
                data: serde_json::Map::from_iter([(
                    "email".to_string(),
                    serde_json::json!(format!("user{k}@example.test")),
                )]),
            }),
            added_at: 1_700_000_000 + k as i64,
            last_active_at: 1_700_000_000 + (n * 1000 + k) as i64,
        })
        .collect();
    Metadata {
        format: 1,
        server: SERVER.into(),
        app_id: APP_ID.into(),
        device_id: Some(format!("d{n:023x}")),
        active: n.checked_sub(1).map(|k| format!("{k:024x}")),
        users,
    }
}

/// Not a test of its own: does nothing unless `GATEHOUSE_CRASH_WRITER` is set. Then (in a child
/// started by the test below) it saves lists of 1..=200 users to that path until it is killed.
#[test]
fn child_writer() {
    let Some(path) = std::env::var_os(WRITER_ENV) else {
        return;
    };
    let seed: usize = std::env::var(SEED_ENV)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let file = MetadataFile {
        path: PathBuf::from(path),
    };
    for i in 0usize.. {
        let n = 1 + (seed * 131 + i * 37) % MAX_USERS;
        file.save(&shape(n)).expect("save");
        if i == 0 {
            // The parent starts its clock only now: every kill lands inside the save loop.
            println!("\nCRASH-WRITER: writing");
        }
    }
}

/// A small LCG with a fixed seed: varied, reproducible delays.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
}

fn stray_temp_files(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.contains(".json.tmp-"))
        })
        .collect()
}

#[track_caller]
fn load_one_of_the_shapes(file: &MetadataFile, round: u64) -> usize {
    let meta = file
        .load(SERVER, APP_ID)
        .unwrap_or_else(|e| panic!("round {round}: the list does not load after a kill: {e}"));
    assert_eq!(meta.format, 1, "round {round}");
    let n = meta.users.len();
    assert!((1..=MAX_USERS).contains(&n), "round {round}: {n} users");
    assert!(
        meta == shape(n),
        "round {round}: the file holds {n} users but is not the list that was written"
    );
    n
}

#[test]
fn killing_the_writer_at_any_moment_leaves_a_list_that_loads() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let file = MetadataFile::for_app(dir.path(), SERVER, APP_ID);
    // A stray temp file from an earlier crash, half written: must not get in the way.
    let planted = file.path.with_extension("json.tmp-4000000");
    let half = serde_json::to_vec_pretty(&shape(150)).unwrap();
    std::fs::write(&planted, &half[..half.len() / 2]).unwrap();

    let exe = std::env::current_exe().unwrap();
    let mut lcg = Lcg(0x0005_eed6_a7e4_005e);
    let mut seen = std::collections::BTreeSet::new();
    for round in 0..ROUNDS {
        let delay = Duration::from_millis(5 + lcg.next() % 76); // 5..=80 ms
        let mut child = Command::new(&exe)
            .args(["--exact", "child_writer", "--nocapture", "--test-threads=1"])
            .env(WRITER_ENV, &file.path)
            .env(SEED_ENV, round.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            let mut lines = Vec::new();
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if line.contains("CRASH-WRITER: writing") {
                    let _ = tx.send(());
                }
                lines.push(line);
            }
            lines
        });
        if rx.recv_timeout(Duration::from_secs(10)).is_err() {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "round {round}: the writer never started; its output: {:?}",
                reader.join().unwrap()
            );
        }
        std::thread::sleep(delay);
        child.kill().unwrap(); // SIGKILL
        let status = child.wait().unwrap();
        reader.join().unwrap();
        assert!(
            !status.success(),
            "round {round}: the writer was killed, not finished ({status})"
        );
        seen.insert(load_one_of_the_shapes(&file, round));
    }

    let strays = stray_temp_files(dir.path());
    assert!(strays.contains(&planted));
    eprintln!(
        "{ROUNDS} kills; {} different lists found after them; {} stray temp files \
         (1 planted); {:?}",
        seen.len(),
        strays.len(),
        started.elapsed()
    );
    assert!(
        seen.len() >= 5,
        "the kills should land at different moments: {seen:?}"
    );

    // With every stray temp file still there, the list loads, and saving over it still works.
    load_one_of_the_shapes(&file, ROUNDS);
    file.save(&shape(7)).unwrap();
    assert_eq!(file.load(SERVER, APP_ID).unwrap(), shape(7));
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn the_writer_is_named_as_the_test_expects() {
    // If `child_writer` moved, the re-exec above would run nothing and fail obscurely.
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--list", "--exact", "child_writer"])
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(
        listed.lines().any(|l| l == "child_writer: test"),
        "child_writer is not in --list: {listed}"
    );
}
