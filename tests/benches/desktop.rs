//! Desktop app figures, for a release build under Xvfb with the real keychain:
//!
//!   scripts/bench-desktop.sh
//!
//! Prints: release binary size; launch → account list rendered (process start to the window's
//! first full render, as the window reports it); PSS of the app and its WebKit processes with 10
//! accounts signed in, against an empty Tauri window built the same way; switch-user click →
//! list updated, measured in the page.

// A measurement harness: a failed step should stop it loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../e2e/desktop/gui.rs"]
#[allow(dead_code)]
mod gui;
#[path = "../e2e/desktop/webdriver.rs"]
#[allow(dead_code)]
mod webdriver;
mod peers {
    pub fn free_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }
}

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::json;

/// PSS (KiB) of `root` and every descendant, per process: (pid, command name, KiB).
fn tree_pss_kib(root: u32) -> Vec<(u32, String, u64)> {
    let mut parents = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let after = &stat[stat.rfind(')').unwrap() + 2..];
        let ppid: u32 = after.split(' ').nth(1).unwrap().parse().unwrap();
        parents.push((pid, ppid));
    }
    let mut tree = vec![root];
    let mut i = 0;
    while i < tree.len() {
        let p = tree[i];
        tree.extend(parents.iter().filter(|(_, pp)| *pp == p).map(|(c, _)| *c));
        i += 1;
    }
    tree.iter()
        .map(|pid| {
            let pss = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
                .unwrap_or_default()
                .lines()
                .find(|l| l.starts_with("Pss:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0);
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .unwrap_or_default()
                .trim()
                .to_string();
            (*pid, comm, pss)
        })
        .collect()
}

fn total(processes: &[(u32, String, u64)]) -> u64 {
    processes.iter().map(|(_, _, kib)| kib).sum()
}

fn breakdown(processes: &[(u32, String, u64)]) -> String {
    processes
        .iter()
        .filter(|(_, _, kib)| *kib > 1024)
        .map(|(_, comm, kib)| format!("{comm} {:.1}", *kib as f64 / 1024.0))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Starts `program` the way a user would (no WebDriver), waits `settle`, and measures it.
async fn measure_plain(g: &gui::Gui, program: &Path, settle: Duration) -> Vec<(u32, String, u64)> {
    let mut child = g.command(program).spawn().unwrap_or_else(|e| {
        panic!(
            "{}: {e} (scripts/bench-desktop.sh builds it)",
            program.display()
        )
    });
    tokio::time::sleep(settle).await;
    let pss = tree_pss_kib(child.id());
    let _ = child.kill();
    let _ = child.wait();
    pss
}

/// The processes running `exe`.
fn pids_of(exe: &Path) -> Vec<u32> {
    let want = std::fs::canonicalize(exe).unwrap();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if std::fs::read_link(format!("/proc/{pid}/exe"))
            .ok()
            .as_deref()
            == Some(want.as_path())
        {
            found.push(pid);
        }
    }
    found
}

/// The newest process running `exe`.
fn pid_of(exe: &Path) -> u32 {
    *pids_of(exe)
        .iter()
        .max()
        .unwrap_or_else(|| panic!("{} is not running", exe.display()))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

const SIGN_IN_TEN: &str = r#"
const done = arguments[arguments.length - 1];
const { invoke } = window.__TAURI__.core;
(async () => {
  const emails = [...Array(10).keys()].map((i) => `bench${i}-${Date.now()}@example.test`);
  const password = "bench passphrase 123";
  for (const email of emails) {
    await invoke("register_email", { connection: "local", email, password });
  }
  for (let tries = 0; tries < 100; tries++) {
    const mails = await invoke("outbox");
    const links = emails.map((e) => mails.find((m) => m.to === e)).filter(Boolean)
      .map((m) => m.links.find((l) => l.includes("/confirm")));
    if (links.length === emails.length) {
      for (const link of links) await invoke("confirm_email", { connection: "local", link });
      break;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  for (const email of emails) {
    await invoke("sign_in", { connection: "local", request: { method: "email", email, password } });
  }
  done((await invoke("overview")).accounts.length);
})().catch((e) => done("error: " + JSON.stringify(e)));
"#;

const SWITCH_TIMES: &str = r#"
const done = arguments[arguments.length - 1];
(async () => {
  const times = [];
  for (let i = 0; i < 20; i++) {
    const target = [...document.querySelectorAll('#accounts li')]
      .find((li) => li.dataset.state !== 'active');
    const id = target.dataset.id;
    const t0 = performance.now();
    target.querySelector('button').click();
    await new Promise((resolve) => {
      const check = () => {
        const li = document.querySelector(`#accounts li[data-id="${id}"]`);
        if (li && li.dataset.state === 'active') resolve(); else requestAnimationFrame(check);
      };
      check();
    });
    times.push(performance.now() - t0);
  }
  done(times);
})();
"#;

#[tokio::main]
async fn main() {
    let g = gui::Gui::start();
    let size = std::fs::metadata(&g.app).unwrap().len();
    println!(
        "release binary            {:>8.1} MB   ({})   target < 25 MB",
        size as f64 / 1e6,
        g.app.display()
    );

    let mut launches = Vec::new();
    for _ in 0..5 {
        let d = g.launch().await;
        let ms = d
            .script("return Number(document.body.dataset.readyMs);", json!([]))
            .await
            .as_f64()
            .unwrap();
        launches.push(ms);
        d.quit().await;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    println!(
        "launch → account list     {:>8.0} ms   median of 5 {:?}   target < 600 ms",
        median(launches.clone()),
        launches
    );

    let d = g.launch().await;
    let n = d.script_async(SIGN_IN_TEN, json!([])).await;
    assert_eq!(n.as_u64(), Some(10), "ten accounts signed in: {n}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let driven_pss = tree_pss_kib(pid_of(&g.app));

    let times: Vec<f64> = d
        .script_async(SWITCH_TIMES, json!([]))
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    let mut sorted = times.clone();
    sorted.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!(
        "switch click → list       {:>8.1} ms   median of 20, p95 {:.1} ms   target < 50 ms",
        median(times),
        sorted[18]
    );
    d.quit().await;
    // A single instance: wait until the driven one is gone before starting it again.
    // (Otherwise the new one would hand over to it and exit, and be measured as nothing.)
    for _ in 0..100 {
        if pids_of(&g.app).is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        pids_of(&g.app).is_empty(),
        "the driven app is still running 10 s after its session ended"
    );

    // Memory is compared like for like: both windows started as a user would, without WebDriver
    // (whose automation session adds to the web process), and measured after the same wait. The
    // app restores the ten accounts from the keychain.
    let app_pss = measure_plain(&g, &g.app, Duration::from_secs(4)).await;
    let empty: PathBuf = g
        .app
        .parent()
        .unwrap()
        .join("examples")
        .join("empty_window");
    let empty_pss = measure_plain(&g, &empty, Duration::from_secs(4)).await;
    println!(
        "PSS, 10 accounts          {:>8.1} MiB  (app + WebKit processes: {})",
        total(&app_pss) as f64 / 1024.0,
        breakdown(&app_pss)
    );
    println!(
        "PSS, empty Tauri window   {:>8.1} MiB  ({})",
        total(&empty_pss) as f64 / 1024.0,
        breakdown(&empty_pss)
    );
    println!(
        "PSS difference            {:>8.1} MiB  target < 30 MiB",
        (total(&app_pss) as f64 - total(&empty_pss) as f64) / 1024.0
    );
    println!(
        "  (while driven over WebDriver, just after signing in: {:.1} MiB: {})",
        total(&driven_pss) as f64 / 1024.0,
        breakdown(&driven_pss)
    );
}
