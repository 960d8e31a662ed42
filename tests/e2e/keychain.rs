//! The client SDK on the REAL OS keychain: gnome-keyring's Secret Service over D-Bus, with the
//! SDK's default `SecretStorage::OsKeychain` (`sdk.rs` runs the same SDK on an in-memory one).
//!
//! `scripts/test.sh` runs the suite inside `scripts/keyring-session.sh`, which starts an unlocked
//! gnome-keyring on a private session bus and sets `GATEHOUSE_TEST_KEYRING=1`; without it the
//! keychain tests fail and say so (they never skip silently). Only these tests:
//!
//! ```text
//! scripts/test.sh --test e2e keychain
//! dbus-run-session -- bash scripts/keyring-session.sh \
//!     cargo test -p gatehouse-tests --test e2e keychain
//! ```
//!
//! The failure cases ("no Secret Service", "locked keyring") need another D-Bus environment than
//! this process has. Environment variables are per process and tests run in parallel, so they are
//! never changed here: the test binary runs itself again as a child (`child_probe`, selected with
//! `--exact` and switched on by `GATEHOUSE_KEYCHAIN_PROBE=1`) in that environment and reports
//! what `App::build` said on one `PROBE-RESULT:` line. Every child is bounded by a timeout.

// Test code: a panic is a failed test with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use gatehouse_client::store::keychain;
use gatehouse_client::{App, Credentials, UserState};

use crate::support::*;

const KEYRING_ENV: &str = "GATEHOUSE_TEST_KEYRING";
const PROBE_ENV: &str = "GATEHOUSE_KEYCHAIN_PROBE";
/// The full name of [`child_probe`] in this test binary (module path inside `e2e`).
const PROBE_TEST: &str = "keychain::child_probe";
const CHILD_TIMEOUT: Duration = Duration::from_secs(30);

fn require_real_keyring() {
    if std::env::var_os(KEYRING_ENV).is_none() {
        panic!(
            "{KEYRING_ENV} is not set: this test needs a real, unlocked gnome-keyring on a \
             private D-Bus session. Run it through scripts/test.sh (e.g. \
             `scripts/test.sh --test e2e keychain`), or as \
             `dbus-run-session -- bash scripts/keyring-session.sh \
             cargo test -p gatehouse-tests --test e2e keychain`"
        );
    }
}

/// An App with the default secret storage (the OS keychain, after its self-test).
async fn os_app(t: &TestServer, dir: &Path) -> App {
    App::builder(APP)
        .base_url(&t.base)
        .data_dir(dir)
        .build()
        .await
        .unwrap_or_else(|e| panic!("App::build on the real keychain failed ({}): {e}", e.code()))
}

/// `secret-tool search --all service gatehouse [username <account>]`: the `username` attribute
/// (the SDK's account name) of every matching entry. Secrets are never printed.
fn keychain_accounts(account: Option<&str>) -> Vec<String> {
    let mut args = vec!["search", "--all", "service", keychain::SERVICE];
    if let Some(account) = account {
        args.extend(["username", account]);
    }
    let mut last_error = String::new();
    for _ in 0..20 {
        let out = Command::new("secret-tool").args(&args).output().expect(
            "secret-tool runs (Debian package libsecret-tools; scripts/setup.sh installs it)",
        );
        // Labels and secrets go to stdout, attributes to stderr; exit 1 also means "nothing found".
        let stderr = String::from_utf8_lossy(&out.stderr);
        let errors: Vec<&str> = stderr
            .lines()
            .filter(|l| l.starts_with("secret-tool:"))
            .collect();
        if errors.is_empty() {
            let text = format!("{}\n{stderr}", String::from_utf8_lossy(&out.stdout));
            return text
                .lines()
                .filter_map(|l| l.trim().strip_prefix("attribute.username = "))
                .map(str::to_string)
                .collect();
        }
        // e.g. an entry another test deletes while secret-tool reads it: ask again.
        last_error = errors.join("; ");
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("secret-tool search {args:?} keeps failing: {last_error}");
}

/// `secret-tool lookup service gatehouse username <account>`: the stored secret, if any.
fn keychain_secret(account: &str) -> Option<String> {
    let out = Command::new("secret-tool")
        .args(["lookup", "service", keychain::SERVICE, "username", account])
        .output()
        .expect("secret-tool runs");
    (out.status.success() && !out.stdout.is_empty())
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(files_under(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_os_keychain_keeps_users_across_app_restarts() {
    require_real_keyring();
    let t = TestServer::start(Backend::Sqlite).await;
    let dir = tempfile::tempdir().unwrap();
    let app = os_app(&t, dir.path()).await;
    assert_eq!(app.secret_storage_description(), "the OS keychain");

    let email = unique_email("keychain");
    t.register_and_confirm(APP, &email, PASSWORD).await;
    let user = app
        .log_in(Credentials::email_password(&email, PASSWORD))
        .await
        .unwrap();
    let account = keychain::account(&t.base, APP, user.id());

    // The tokens are in the keychain, under the user's account name...
    let accounts = keychain_accounts(Some(&account));
    assert_eq!(
        accounts.len(),
        1,
        "one keychain entry for {account}: {accounts:?}"
    );
    assert_eq!(accounts[0], account);
    let stored: serde_json::Value =
        serde_json::from_str(&keychain_secret(&account).expect("secret-tool finds the entry"))
            .expect("the keychain entry is the SDK's JSON");
    let refresh = stored["refresh_token"]
        .as_str()
        .expect("the entry holds a refresh token")
        .to_string();
    assert!(refresh.len() > 20);
    let access = user.access_token().expect("logged in");

    // ...and in no file of the data dir: neither these tokens nor any JWT-shaped string at all.
    let files = files_under(dir.path());
    assert!(!files.is_empty(), "the account list was written");
    for file in &files {
        let text = String::from_utf8_lossy(&std::fs::read(file).unwrap()).into_owned();
        assert!(
            text.contains(user.id()),
            "{} lists the user",
            file.display()
        );
        assert!(
            !text.contains(&refresh),
            "{} contains the refresh token",
            file.display()
        );
        assert!(
            !text.contains(&access),
            "{} contains the access token",
            file.display()
        );
        assert!(
            !text.contains("eyJ"),
            "{} contains a JWT-shaped string",
            file.display()
        );
    }

    // A new App on the same data dir (the app restarted): the user is back, logged in, usable.
    let id = user.id().to_string();
    drop(user);
    drop(app);
    let app = os_app(&t, dir.path()).await;
    let user = app
        .current_user()
        .expect("the user is current again after a restart");
    assert_eq!(user.id(), id);
    assert_eq!(user.state(), UserState::LoggedIn);
    assert_eq!(user.email().as_deref(), Some(email.as_str()));
    let profile = user
        .refresh_profile()
        .await
        .expect("the restored tokens work");
    assert_eq!(profile.user_id, id);

    // Removing the user deletes its keychain entry.
    app.remove_user(&user).await.unwrap();
    assert_eq!(user.state(), UserState::Removed);
    assert!(app.all_users().is_empty());
    assert_eq!(
        keychain_accounts(Some(&account)),
        Vec::<String>::new(),
        "remove_user deleted the keychain entry"
    );
    assert!(keychain_secret(&account).is_none());
}

/// An entry overwritten with garbage by another program (security.md T-45): that user is shown
/// as signed out, the App still opens, and the other users are unaffected. Signing in again
/// replaces the entry. An oversized one reads the same way (T-46's guard on the way in is a unit
/// test of the SDK: the platform call is never made).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_garbage_keychain_entry_signs_out_that_user_only() {
    require_real_keyring();
    let t = TestServer::start(Backend::Sqlite).await;
    let dir = tempfile::tempdir().unwrap();
    let app = os_app(&t, dir.path()).await;
    let mut ids = Vec::new();
    for tag in ["garbage-a", "garbage-b", "garbage-c"] {
        let email = unique_email(tag);
        t.register_and_confirm(APP, &email, PASSWORD).await;
        let user = app
            .log_in(Credentials::email_password(&email, PASSWORD))
            .await
            .unwrap();
        ids.push((user.id().to_string(), email));
    }
    drop(app);
    let damage = |id: &str, text: &str| {
        keyring::Entry::new(keychain::SERVICE, &keychain::account(&t.base, APP, id))
            .unwrap()
            .set_password(text)
            .unwrap();
    };
    damage(&ids[0].0, "{not the SDK's json");
    damage(&ids[1].0, &"x".repeat(keychain::MAX_ENTRY_BYTES + 1));

    let app = os_app(&t, dir.path()).await;
    let state = |id: &str| {
        app.all_users()
            .into_iter()
            .find(|u| u.id() == id)
            .unwrap()
            .state()
    };
    assert_eq!(
        state(&ids[0].0),
        UserState::LoggedOut,
        "garbage entry: signed out"
    );
    assert_eq!(
        state(&ids[1].0),
        UserState::LoggedOut,
        "oversized entry: signed out"
    );
    assert_eq!(
        state(&ids[2].0),
        UserState::LoggedIn,
        "the other user is unaffected"
    );
    let other = app
        .all_users()
        .into_iter()
        .find(|u| u.id() == ids[2].0)
        .unwrap();
    other
        .refresh_profile()
        .await
        .expect("the untouched user's tokens still work");

    // Signing in again replaces the damaged entry with good tokens.
    let again = app
        .log_in(Credentials::email_password(&ids[0].1, PASSWORD))
        .await
        .unwrap();
    assert_eq!(again.id(), ids[0].0);
    let stored = keychain_secret(&keychain::account(&t.base, APP, &ids[0].0)).unwrap();
    assert!(
        serde_json::from_str::<serde_json::Value>(&stored).is_ok(),
        "entry rewritten"
    );
    for (id, _) in &ids {
        let user = app
            .all_users()
            .into_iter()
            .find(|u| u.id() == id.as_str())
            .unwrap();
        app.remove_user(&user).await.unwrap();
    }
}

/// Apps built at the same time (a desktop app opening two app ids at start-up) each pass the
/// keychain self-test: the probe entries of concurrent self-tests must not collide.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_apps_pass_the_keychain_self_test() {
    require_real_keyring();
    let dirs: Vec<_> = (0..8).map(|_| tempfile::tempdir().unwrap()).collect();
    for round in 0..8 {
        let builds = dirs.iter().map(|d| {
            App::builder(APP)
                .base_url("http://127.0.0.1:9")
                .data_dir(d.path())
                .build()
        });
        for (i, result) in futures_join_all(builds).await.into_iter().enumerate() {
            if let Err(e) = result {
                let code = e.code();
                panic!(
                    "round {round}: app {i} of 8 built at once failed the self-test ({code}): {e}"
                );
            }
        }
    }
    // Self-tests leave no entry behind (other tests' self-tests may be in flight for a moment).
    let probes = || {
        keychain_accounts(None)
            .into_iter()
            .filter(|a| a.starts_with("self-test|"))
            .collect::<Vec<_>>()
    };
    for _ in 0..40 {
        if probes().is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("self-test entries stay in the keychain: {:?}", probes());
}

/// Runs the futures concurrently (each on its own task) and returns their outputs in order.
async fn futures_join_all<F>(futures: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.expect("task"));
    }
    out
}

// ---- failure cases, in child processes ----------------------------------------------------------

/// Not a test of its own: does nothing unless `GATEHOUSE_KEYCHAIN_PROBE` is set. Then (in a child
/// started by the tests below) it builds an App with the default OS keychain — `build` sends no
/// request, so the base URL is a dummy — and prints what happened on one line.
#[tokio::test]
async fn child_probe() {
    if std::env::var_os(PROBE_ENV).is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    match App::builder(APP)
        .base_url("http://127.0.0.1:9")
        .data_dir(dir.path())
        .build()
        .await
    {
        // On a line of its own: libtest has already printed "test keychain::child_probe ... ".
        Ok(_) => println!("\nPROBE-RESULT: ok"),
        Err(e) => println!(
            "\nPROBE-RESULT: err {} {}",
            e.code(),
            e.to_string().replace('\n', " ")
        ),
    }
}

#[derive(Debug)]
enum Probe {
    Ok,
    Err { code: String, message: String },
}

/// Runs `cmd` (which must end up running this binary's `child_probe`), bounded by
/// [`CHILD_TIMEOUT`], and parses its `PROBE-RESULT:` line. The child gets its own process group,
/// so a timeout kills everything it started (dbus-daemon, gnome-keyring-daemon).
fn run_probe(mut cmd: Command) -> Probe {
    use std::os::unix::process::CommandExt as _;
    cmd.env(PROBE_ENV, "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > CHILD_TIMEOUT {
            let _ = Command::new("kill")
                .args(["-KILL", &format!("-{}", child.id())])
                .status();
            let _ = child.kill();
            let _ = child.wait();
            let (out, err) = (out_reader.join().unwrap(), err_reader.join().unwrap());
            panic!(
                "the keychain probe did not finish within {CHILD_TIMEOUT:?} (killed); \
                 stdout:\n{out}\nstderr:\n{err}"
            );
        }
        std::thread::sleep(Duration::from_millis(25));
    };
    let (out, err) = (out_reader.join().unwrap(), err_reader.join().unwrap());
    let line = out
        .lines()
        .find_map(|l| l.split_once("PROBE-RESULT: ").map(|(_, rest)| rest))
        .unwrap_or_else(|| {
            panic!(
                "the keychain probe printed no PROBE-RESULT line (exit {status}); \
             stdout:\n{out}\nstderr:\n{err}"
            )
        });
    if line == "ok" {
        return Probe::Ok;
    }
    let rest = line
        .strip_prefix("err ")
        .unwrap_or_else(|| panic!("unexpected probe line {line:?}"));
    let (code, message) = rest.split_once(' ').unwrap_or((rest, ""));
    Probe::Err {
        code: code.into(),
        message: message.into(),
    }
}

/// This test binary, running only [`child_probe`].
fn probe_args() -> (PathBuf, [&'static str; 4]) {
    (
        std::env::current_exe().unwrap(),
        ["--exact", PROBE_TEST, "--nocapture", "--test-threads=1"],
    )
}

/// Asserts the typed keychain error: the stable code, a reason matching `why`, and the advice to
/// choose memory-only sessions.
#[track_caller]
fn assert_keychain_error(probe: Probe, situation: &str, why: &[&str]) {
    let Probe::Err { code, message } = probe else {
        panic!("{situation}: App::build succeeded, expected a KeychainUnavailable error");
    };
    assert_eq!(
        code,
        gatehouse_client::codes::KEYCHAIN,
        "{situation}: wrong code; message: {message}"
    );
    let lower = message.to_lowercase();
    assert!(
        why.iter().any(|w| lower.contains(w)),
        "{situation}: the message does not say why (expected one of {why:?}): {message}"
    );
    assert!(
        message.contains("memory-only"),
        "{situation}: the message does not say what to do (memory-only sessions): {message}"
    );
    eprintln!("{situation}: {message}");
}

#[test]
fn the_probe_is_named_as_the_tests_expect() {
    // If `child_probe` moved, the re-exec below would run nothing and fail obscurely.
    let (exe, _) = probe_args();
    let out = Command::new(exe)
        .args(["--list", "--exact", PROBE_TEST])
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(
        listed.lines().any(|l| l == format!("{PROBE_TEST}: test")),
        "{PROBE_TEST} is not in --list: {listed}"
    );
}

#[test]
fn no_secret_service_is_a_clear_keychain_error() {
    let (exe, args) = probe_args();
    let mut cmd = Command::new(exe);
    cmd.args(args)
        .env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent");
    let probe = run_probe(cmd);
    assert_keychain_error(
        probe,
        "no session bus",
        &["secret service", "d-bus", "dbus"],
    );
}

/// The locked keyring, in a child D-Bus session of its own: a first gnome-keyring creates the
/// "login" keyring (unlocked with a password) in a private folder and is stopped; a second one is
/// started on the same files WITHOUT unlocking, and with no DISPLAY, so the unlock prompt cannot
/// show. Then the probe runs against it.
#[test]
fn a_locked_keyring_is_a_clear_keychain_error() {
    const SCRIPT: &str = r#"
set -euo pipefail
owned() {
  dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
    org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null \
    | grep -q 'boolean true'
}
not_owned() { ! owned; }
wait_for() {
  for _ in $(seq 200); do "$1" && return 0; sleep 0.05; done
  echo "locked-keyring setup: timed out: $1" >&2; return 1
}
mkdir -m 700 "$KDIR/data" "$KDIR/c1" "$KDIR/c2" "$KDIR/runtime"
# anything D-Bus starts on demand (a keyring daemon, the prompter) stays out of the real $HOME
dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
  org.freedesktop.DBus.UpdateActivationEnvironment \
  "dict:string:string:XDG_DATA_HOME,$KDIR/data,XDG_RUNTIME_DIR,$KDIR/runtime" >/dev/null
# 1. create the login keyring with a password (the daemon reads it on stdin), then stop it
printf '%s' locked-test-password \
  | XDG_DATA_HOME="$KDIR/data" gnome-keyring-daemon --foreground --unlock --components=secrets \
      -C "$KDIR/c1" >/dev/null 2>"$KDIR/first.log" &
first=$!
wait_for owned
kill "$first"; wait "$first" || true
wait_for not_owned
test -s "$KDIR/data/keyrings/login.keyring" \
  || { echo "locked-keyring setup: no login.keyring was written" >&2; exit 1; }
# 2. the same keyring files, daemon started without unlocking: the keyring stays locked
XDG_DATA_HOME="$KDIR/data" gnome-keyring-daemon --foreground --start --components=secrets \
  -C "$KDIR/c2" </dev/null >/dev/null 2>"$KDIR/second.log" &
second=$!
trap 'kill "$second" 2>/dev/null; wait "$second" 2>/dev/null || true' EXIT
wait_for owned
"$@"
"#;
    let kdir = tempfile::tempdir().unwrap();
    let (exe, args) = probe_args();
    let mut cmd = Command::new("dbus-run-session");
    cmd.args(["--", "bash", "-c", SCRIPT, "locked-keyring"])
        .arg(exe)
        .args(args)
        .env("KDIR", kdir.path())
        // No display: the unlock prompt (gcr-prompter, started over D-Bus) cannot show and fails.
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .env_remove("GNOME_KEYRING_CONTROL")
        .env_remove("DBUS_SESSION_BUS_ADDRESS");
    let probe = run_probe(cmd);
    assert_keychain_error(probe, "locked keyring", &["locked", "prompt", "no result"]);
}
