//! Issue 16 in the real window with the real keychain: the `gatehouse` command asks the running
//! app for a token, the consent prompt is answered through WebDriver, the token works against
//! the server, "always allow" makes the next request silent, revoking the grant in Connected
//! programs brings the prompt back, "deny" is a non-zero exit with a clear message, and `git
//! credential fill` through the helper answers with the account mapped to the host.

use std::path::PathBuf;
use std::process::{Output, Stdio};

use serde_json::{json, Value};

use super::gui::Gui;
use super::local_url;
use super::security::register_and_sign_in;
use super::webdriver::Driver;

/// The `gatehouse` command, built next to the desktop binary (`cargo build --workspace --bins`).
fn cli(gui: &Gui) -> PathBuf {
    let bin = gui.app.parent().unwrap().join("gatehouse");
    assert!(
        bin.is_file(),
        "{} is missing: build it first (cargo build -p gatehouse-cli; scripts/test.sh does)",
        bin.display()
    );
    bin
}

/// Runs `program args` in the app's environment (display, runtime dir) on a blocking thread, with
/// `input` on its stdin.
fn run(gui: &Gui, program: &std::path::Path, args: &[&str], input: &str) -> Run {
    let mut command = gui.command(program);
    command
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().unwrap();
    let input = input.to_string();
    Run(tokio::task::spawn_blocking(move || {
        use std::io::Write as _;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(input.as_bytes()).unwrap();
        drop(stdin);
        child.wait_with_output().unwrap()
    }))
}

struct Run(tokio::task::JoinHandle<Output>);

impl Run {
    async fn finish(self) -> (i32, String, String) {
        let out = tokio::time::timeout(std::time::Duration::from_secs(60), self.0)
            .await
            .expect("the command finished within a minute")
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

/// Whether a consent prompt is on screen.
async fn prompt_shown(d: &Driver) -> bool {
    let script = concat!(
        "const b = document.getElementById('consent-always');",
        " return !!b && b.getClientRects().length > 0;",
    );
    d.script(script, json!([])).await == json!(true)
}

/// Waits for the prompt and returns its text.
async fn prompt_text(d: &Driver) -> String {
    let script = concat!(
        "const b = document.getElementById('consent-always');",
        " if (!b || !b.getClientRects().length) return null;",
        " const box = b.closest('dialog, [role=dialog]');",
        " return box ? box.textContent : null;",
    );
    d.until("the consent prompt", script, json!([]))
        .await
        .as_str()
        .unwrap()
        .to_string()
}

/// The account the token belongs to, asked of the server with the token itself.
async fn profile_email(base: &str, token: &str) -> Option<String> {
    let r = reqwest::Client::new()
        .get(format!("{base}/api/client/v2.0/auth/profile"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    if r.status() != 200 {
        return None;
    }
    let v: Value = r.json().await.unwrap();
    v["data"]["email"].as_str().map(str::to_string)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_programs_get_tokens_with_consent() {
    let gui = Gui::start();
    let d = gui.launch().await;
    d.wait("#provider-local-userpass").await;
    let cli = cli(&gui);
    d.click("#tab-connections").await;
    let base = local_url(&d).await;
    register_and_sign_in(&d, "ada@example.test").await;
    let me = std::env::current_exe().unwrap();
    let me_name = me.file_name().unwrap().to_string_lossy().into_owned();

    // `status` needs no consent and names the account.
    let (code, out, err) = run(&gui, &cli, &["accounts", "--json"], "").finish().await;
    assert_eq!(code, 0, "accounts --json: {err}");
    let accounts: Value = serde_json::from_str(&out).unwrap();
    assert!(out.contains("ada@example.test"), "{accounts}");

    // First token: the window asks, naming this test binary (the command's parent) and Ada.
    let pending = run(&gui, &cli, &["token"], "");
    let text = prompt_text(&d).await;
    assert!(
        text.contains("ada@example.test"),
        "the prompt names the account: {text}"
    );
    assert!(
        text.contains(&me_name),
        "the prompt names the program {me_name}: {text}"
    );
    d.screenshot(&gui.shot("16-consent-prompt")).await;
    d.click("#consent-always").await;
    let (code, token, err) = pending.finish().await;
    assert_eq!(code, 0, "gatehouse token after 'always allow': {err}");
    assert!(
        token.ends_with('\n') && !token.trim().contains('\n'),
        "{token:?}"
    );
    let token = token.trim().to_string();
    assert_eq!(
        profile_email(&base, &token).await.as_deref(),
        Some("ada@example.test"),
        "the token acts as Ada on her server"
    );
    assert!(!err.contains(&token), "no token on stderr");

    // Second request: no prompt.
    let (code, again, err) = run(&gui, &cli, &["token"], "").finish().await;
    assert_eq!(code, 0, "{err}");
    assert!(
        !prompt_shown(&d).await,
        "an allowed program is not asked again"
    );
    assert!(profile_email(&base, again.trim()).await.is_some());

    // Connected programs: one grant, used twice; revoking it brings the prompt back.
    d.click("#tab-programs").await;
    d.wait_count("#programs li", 1).await;
    let row = d.text("#programs li").await;
    assert!(
        row.contains(&me_name) && row.contains("ada@example.test"),
        "{row}"
    );
    d.screenshot(&gui.shot("16-connected-programs")).await;
    d.click("#programs li .revoke-program").await;
    d.wait_count("#programs li", 0).await;

    // Deny: a clear message and exit code 5, never a hang, never a token.
    let pending = run(&gui, &cli, &["token"], "");
    prompt_text(&d).await;
    d.click("#consent-deny").await;
    let (code, out, err) = pending.finish().await;
    assert_eq!(code, 5, "a denied request exits 5: {out} {err}");
    assert!(out.trim().is_empty(), "nothing on stdout: {out}");
    assert!(err.to_lowercase().contains("denied"), "{err}");

    // Unknown account: exit 4, named.
    let (code, _, err) = run(
        &gui,
        &cli,
        &["token", "--account", "nobody@example.test"],
        "",
    )
    .finish()
    .await;
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("nobody@example.test"), "{err}");

    // git: the host mapped to Ada in the Connections tab, then `git credential fill`.
    d.click("#tab-connections").await;
    map_host(&d, "ada@example.test", "git.example.test").await;
    let helper = format!("!{} credential", cli.display());
    let git = run(
        &gui,
        std::path::Path::new("/usr/bin/git"),
        &[
            "-c",
            "credential.helper=",
            "-c",
            &format!("credential.helper={helper}"),
            "credential",
            "fill",
        ],
        "protocol=https\nhost=git.example.test\n\n",
    );
    let text = prompt_text(&d).await;
    assert!(
        text.contains("git.example.test"),
        "the prompt says which host: {text}"
    );
    d.click("#consent-once").await;
    let (code, out, err) = git.finish().await;
    assert_eq!(code, 0, "git credential fill: {err}");
    assert!(out.contains("username=ada@example.test\n"), "{out}");
    let password = out
        .lines()
        .find_map(|l| l.strip_prefix("password="))
        .expect("git got a password");
    assert_eq!(
        profile_email(&base, password).await.as_deref(),
        Some("ada@example.test")
    );

    // A host nobody is mapped to: the helper stays silent and git gives up on its own.
    let (code, out, _) = run(
        &gui,
        std::path::Path::new("/usr/bin/git"),
        &[
            "-c",
            "credential.helper=",
            "-c",
            &format!("credential.helper={helper}"),
            "credential",
            "fill",
        ],
        "protocol=https\nhost=elsewhere.example.test\n\n",
    )
    .finish()
    .await;
    assert_ne!(code, 0, "git found no credential: {out}");
    assert!(!out.contains("password="), "{out}");

    // No token in the app's log (its stderr, which tauri-driver keeps).
    let log = std::fs::read_to_string(gui.home.path().join("tauri-driver.log")).unwrap_or_default();
    for t in [&token, again.trim(), password] {
        assert!(!log.contains(t), "a token is in the app's log");
    }
    d.quit().await;
}

/// Maps `host` to the account whose option names `email` in the Connections tab's host form.
async fn map_host(d: &Driver, email: &str, host: &str) {
    let pick = concat!(
        "const s = document.getElementById('hosts-account');",
        " const o = [...s.options].find(o => o.textContent.includes(arguments[0]));",
        " if (!o) return false; s.value = o.value;",
        " s.dispatchEvent(new Event('change', {bubbles: true})); return true;",
    );
    d.until("the host form's account choice", pick, json!([email]))
        .await;
    d.type_into("#hosts-list", host).await;
    d.click("#do-save-hosts").await;
    d.wait_text("#host-mappings", host).await;
}
