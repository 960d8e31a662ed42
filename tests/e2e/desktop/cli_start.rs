//! Issue 16: the `gatehouse` command when the app is not running. With a display it starts the
//! real app in the background (tray only: no window mapped) and goes on; sign-ins, switching and
//! signing out then work from the terminal alone, with the real keychain. With no display it
//! says so and exits 3.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::gui::{app_binary, Gui};
use super::PASSWORD;

const BEA: &str = "bea@example.test";

/// The `gatehouse` command, built next to the desktop binary (`cargo build --workspace --bins`).
fn cli(app: &Path) -> PathBuf {
    let bin = app.parent().unwrap().join("gatehouse");
    assert!(
        bin.is_file(),
        "{} is missing: build it first (cargo build -p gatehouse-cli; scripts/test.sh does)",
        bin.display()
    );
    bin
}

/// Runs `command` with `input` on its stdin: (exit code, stdout, stderr).
async fn run(command: Command, input: &str) -> (i32, String, String) {
    let mut command = tokio::process::Command::from(command);
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = command.spawn().unwrap();
    {
        use tokio::io::AsyncWriteExt as _;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(input.as_bytes()).await.unwrap();
    }
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("the command finished within a minute")
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `gatehouse ARGS` in the Gui's environment, the app binary named by GATEHOUSE_DESKTOP_BIN.
async fn gatehouse(gui: &Gui, args: &[&str], input: &str) -> (i32, String, String) {
    let mut c = gui.command(&cli(&gui.app));
    c.args(args).env("GATEHOUSE_DESKTOP_BIN", &gui.app);
    run(c, input).await
}

/// `gatehouse --json ARGS`, which must succeed: its JSON answer.
async fn gatehouse_json(gui: &Gui, args: &[&str], input: &str) -> Value {
    let all: Vec<&str> = ["--json"].iter().chain(args).copied().collect();
    let (code, out, err) = gatehouse(gui, &all, input).await;
    assert_eq!(code, 0, "gatehouse {}: {out} {err}", all.join(" "));
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// `accounts --json`: (id, state, active) of each account.
async fn accounts(gui: &Gui) -> Vec<(String, String, bool)> {
    let v = gatehouse_json(gui, &["accounts"], "").await;
    v["accounts"]
        .as_array()
        .unwrap_or_else(|| panic!("{v}"))
        .iter()
        .map(|a| {
            (
                a["id"].as_str().unwrap().to_string(),
                a["state"].as_str().unwrap().to_string(),
                a["active"].as_bool().unwrap(),
            )
        })
        .collect()
}

async fn active(gui: &Gui) -> String {
    let list = accounts(gui).await;
    let active: Vec<_> = list.iter().filter(|a| a.2).collect();
    assert_eq!(active.len(), 1, "one active account: {list:?}");
    active[0].0.clone()
}

/// The background app: the process whose environment has the Gui's HOME and whose command line
/// has `--background` (its WebKit helpers share the environment, not the argument).
fn background_pids(home: &Path) -> Vec<u32> {
    let home = format!("HOME={}", home.display()).into_bytes();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let (Ok(env), Ok(cmdline)) = (
            std::fs::read(format!("/proc/{pid}/environ")),
            std::fs::read(format!("/proc/{pid}/cmdline")),
        ) else {
            continue;
        };
        let has_home = env.split(|b| *b == 0).any(|v| v == home.as_slice());
        let background = cmdline.split(|b| *b == 0).any(|a| a == b"--background");
        if has_home && background && alive(pid) {
            found.push(pid);
        }
    }
    found
}

/// Running: present and not a zombie (an orphan's parent may never reap it here).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rfind(')').map(|i| s[i + 2..].starts_with('Z')))
        .is_some_and(|zombie| !zombie)
}

/// SIGTERM the background app and wait for it to be gone.
fn stop_background_app(home: &Path) -> usize {
    let pids = background_pids(home);
    for pid in &pids {
        let status = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -TERM {pid}: {status}");
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    while pids.iter().any(|p| alive(*p)) {
        assert!(
            Instant::now() < deadline,
            "the background app did not exit within 15 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    pids.len()
}

/// Stops the background app even when the test fails half-way.
struct StopOnDrop<'a>(&'a Path);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        for pid in background_pids(self.0) {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
    }
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
}

/// The X windows titled "Gatehouse" and whether each is mapped, by `xwininfo` on the Gui's
/// display; `None` when xwininfo (x11-utils) is not installed.
fn gatehouse_windows(gui: &Gui) -> Option<Vec<(String, bool)>> {
    let xwininfo = find_on_path("xwininfo")?;
    let out = gui
        .command(&xwininfo)
        .args(["-root", "-tree"])
        .output()
        .unwrap();
    assert!(out.status.success(), "xwininfo -root -tree: {out:?}");
    let tree = String::from_utf8_lossy(&out.stdout).into_owned();
    let ids: Vec<String> = tree
        .lines()
        .filter(|l| l.contains("\"Gatehouse\""))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect();
    let windows = ids
        .into_iter()
        .map(|id| {
            let out = gui.command(&xwininfo).args(["-id", &id]).output().unwrap();
            let info = String::from_utf8_lossy(&out.stdout).into_owned();
            let mapped = info.contains("Map State: IsViewable");
            (id, mapped)
        })
        .collect();
    Some(windows)
}

/// Registers `email` on the Local backend over HTTP and confirms it with the link from the
/// Local outbox.
async fn register_on_local(gui: &Gui, base: &str, email: &str) {
    let providers = format!("{base}/api/client/v2.0/app/gatehouse-dev/auth/providers");
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{providers}/local-userpass/register"))
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "register: {}", r.status());
    let data = gui.home.path().join(".local/share");
    let deadline = Instant::now() + Duration::from_secs(20);
    let link = loop {
        let link = super::walk(&data)
            .into_iter()
            .filter(|p| p.file_name().is_some_and(|n| n == "outbox.jsonl"))
            .flat_map(|p| {
                std::fs::read_to_string(p)
                    .unwrap_or_default()
                    .lines()
                    .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                    .collect::<Vec<_>>()
            })
            .filter(|m| m["to"] == email)
            .flat_map(|m| m["links"].as_array().cloned().unwrap_or_default())
            .filter_map(|l| l.as_str().map(str::to_string))
            .find(|l| l.contains("/confirm"));
        if let Some(link) = link {
            break link;
        }
        assert!(
            Instant::now() < deadline,
            "no confirmation mail for {email}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let url = reqwest::Url::parse(&link).unwrap();
    let param = |name: &str| {
        url.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
            .unwrap_or_else(|| panic!("no {name} in {link}"))
    };
    let r = http
        .post(format!("{providers}/local-userpass/confirm"))
        .json(&json!({"token": param("token"), "tokenId": param("tokenId")}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "confirm: {}", r.status());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_starts_the_app_in_the_background() {
    let gui = Gui::start();
    let home = gui.home.path().to_path_buf();
    let _stop = StopOnDrop(&home);
    assert!(background_pids(&home).is_empty(), "no app runs yet");
    assert!(!home.join("run/gatehouse/agent.sock").exists());

    // `status` starts the app (--background) and answers once its agent listens.
    let (code, out, err) = gatehouse(&gui, &["status"], "").await;
    assert_eq!(code, 0, "gatehouse status started the app: {out} {err}");
    assert!(
        out.contains("Local"),
        "status names the Local connection: {out}"
    );
    assert_eq!(
        background_pids(&home).len(),
        1,
        "one app, in the background"
    );
    assert!(home.join("run/gatehouse/agent.sock").exists());

    // Tray only: its window is not on screen (checked again after a moment to settle).
    for wait in [0, 1_500] {
        tokio::time::sleep(Duration::from_millis(wait)).await;
        match gatehouse_windows(&gui) {
            Some(windows) => {
                // The window exists (made hidden), so the check below is not vacuous.
                assert!(!windows.is_empty(), "no X window titled Gatehouse at all");
                assert!(
                    windows.iter().all(|(_, mapped)| !mapped),
                    "a background start maps no window: {windows:?}"
                );
            }
            None => {
                eprintln!("xwininfo (x11-utils) is not installed: the window check is skipped");
                break;
            }
        }
    }

    // An anonymous sign-in from the terminal; a second one goes back to the same account (the
    // device's signed-in anonymous user is reused, as the window's "Continue anonymously").
    let anon = gatehouse_json(&gui, &["login", "--with", "anon-user"], "").await;
    let anon = anon["id"].as_str().unwrap().to_string();
    assert_eq!(
        accounts(&gui).await,
        vec![(anon.clone(), "active".into(), true)]
    );
    let again = gatehouse_json(&gui, &["login", "--with", "anon-user"], "").await;
    assert_eq!(
        again["id"],
        anon.as_str(),
        "the anonymous account is reused"
    );
    assert_eq!(accounts(&gui).await.len(), 1);

    // A second account: email and password, the password piped on stdin (never an argument).
    let status = gatehouse_json(&gui, &["status"], "").await;
    let base = status["connections"][0]["url"]
        .as_str()
        .unwrap()
        .to_string();
    register_on_local(&gui, &base, BEA).await;
    let bea = gatehouse_json(
        &gui,
        &["login", "--with", "email", "--username", BEA],
        &format!("{PASSWORD}\n"),
    )
    .await;
    assert_eq!(bea["email"], BEA);
    let bea = bea["id"].as_str().unwrap().to_string();
    assert_eq!(active(&gui).await, bea);
    assert_eq!(accounts(&gui).await.len(), 2);

    // Switch back to the anonymous account by id.
    let (code, out, err) = gatehouse(&gui, &["switch", &anon], "").await;
    assert_eq!(code, 0, "switch: {out} {err}");
    assert_eq!(active(&gui).await, anon);

    // Bea signs out: her token then needs a new sign-in (exit 6, said so).
    let (code, out, err) = gatehouse(&gui, &["logout", &bea], "").await;
    assert_eq!(code, 0, "logout: {out} {err}");
    let list = accounts(&gui).await;
    let state = list.iter().find(|a| a.0 == bea).map(|a| a.1.as_str());
    assert_eq!(state, Some("logged_out"), "{list:?}");
    let (code, out, err) = gatehouse(&gui, &["token", "--account", &bea], "").await;
    assert_eq!(code, 6, "a signed-out account's token: {out} {err}");
    assert!(out.trim().is_empty(), "nothing on stdout: {out}");
    assert!(
        err.contains("sign in"),
        "the message says to sign in: {err}"
    );

    assert_eq!(stop_background_app(&home), 1);
    assert!(background_pids(&home).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_display_the_command_says_so() {
    let app = app_binary();
    let home = tempfile::tempdir().unwrap();
    let runtime = tempfile::tempdir().unwrap();
    let mut c = Command::new(cli(&app));
    c.arg("status")
        .env("GATEHOUSE_DESKTOP_BIN", &app)
        .env("HOME", home.path())
        .env("XDG_RUNTIME_DIR", runtime.path())
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY");
    let (code, out, err) = run(c, "").await;
    assert_eq!(code, 3, "not running and cannot start: {out} {err}");
    assert!(err.contains("no display"), "the message says why: {err}");
    assert!(out.is_empty(), "{out}");
    assert!(
        std::fs::read_dir(runtime.path()).unwrap().next().is_none(),
        "nothing was started: the runtime dir stays empty"
    );
}
