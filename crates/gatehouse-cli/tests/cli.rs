//! The `gatehouse` binary against a stand-in agent on a real Unix socket: what each command
//! sends, what it prints (text and `--json`), its exit codes, and that no token ever reaches
//! stderr (every run checks that, in `support::run_with`).

// A test crate: its helpers may panic, a panic is a failed test with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use gatehouse_proto::agent::{
    AgentApiKey, AgentConnection, AgentCredential, AgentError, AgentErrorCode, AgentResponse,
    AgentResult, AgentSecret, AgentStatus,
};
use serde_json::{json, Value};
use support::*;

fn status_answer() -> String {
    ok(AgentResult::Status(AgentStatus {
        app_version: "0.1.0".into(),
        storage: "the OS keychain".into(),
        connections: vec![AgentConnection {
            id: "conn-work".into(),
            name: "Work".into(),
            url: BASE_URL.into(),
            app_id: APP_ID.into(),
            local: false,
            status: "ready".into(),
            problem: None,
        }],
        accounts: vec![
            ada(),
            account("Grace Hopper", "grace@example.test", "65f0aa02", false),
        ],
    }))
}

#[test]
fn token_prints_exactly_the_token_and_a_newline() {
    let rt = Runtime::new();
    let agent = rt.serve(vec![token_answer()]);
    let run = rt.run(&["token"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, format!("{TOKEN}\n"));
    assert_eq!(run.stderr, "");
    assert_eq!(agent.request(), json!({"version": 1, "command": "token"}));
}

#[test]
fn token_names_the_account_and_connection_and_prints_json() {
    let rt = Runtime::new();
    let agent = rt.serve(vec![token_answer()]);
    let run = rt.run(&[
        "token",
        "--account",
        "ada@example.test",
        "--connection",
        "Work",
        "--json",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        agent.request(),
        json!({"version": 1, "command": "token", "account": "ada@example.test",
               "connection": "Work"})
    );
    let out: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(out["access_token"], TOKEN);
    assert_eq!(out["base_url"], BASE_URL);
    assert_eq!(out["app_id"], APP_ID);
    assert_eq!(out["expires_at"], 1_900_000_000);
    assert_eq!(out["account"]["email"], "ada@example.test");
    assert_eq!(run.stdout.lines().count(), 1);
}

#[test]
fn status_and_accounts_in_text_and_json() {
    let rt = Runtime::new();
    let agent = rt.serve(vec![status_answer(), status_answer(), status_answer()]);
    let text = rt.run(&["status"]);
    assert_eq!(text.code, 0, "{}", text.stderr);
    assert!(text.stdout.contains("Gatehouse 0.1.0"), "{}", text.stdout);
    assert!(
        text.stdout.contains(&format!("Work  {BASE_URL}  ready")),
        "{}",
        text.stdout
    );
    let active = text
        .stdout
        .lines()
        .find(|l| l.starts_with("* Ada Lovelace"))
        .unwrap();
    assert!(
        active.contains("signs in again by 2030-03-17 17:46 UTC"),
        "{active}"
    );
    assert!(text.stdout.contains("  Grace Hopper"), "{}", text.stdout);

    let accounts = rt.run(&["accounts", "--json"]);
    let out: Value = serde_json::from_str(&accounts.stdout).unwrap();
    assert_eq!(out["accounts"].as_array().unwrap().len(), 2);
    assert_eq!(out["accounts"][0]["active"], true);
    assert_eq!(out["accounts"][0]["reauth_at"], 1_900_000_000);

    let status = rt.run(&["--json", "status"]);
    let out: Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(out["connections"][0]["url"], BASE_URL);
    assert_eq!(out["storage"], "the OS keychain");
    for request in agent.requests() {
        assert_eq!(request, json!({"version": 1, "command": "status"}));
    }
}

#[test]
fn status_works_with_no_accounts() {
    let rt = Runtime::new();
    let empty = ok(AgentResult::Status(AgentStatus {
        app_version: "0.1.0".into(),
        storage: "memory only (this run)".into(),
        connections: vec![],
        accounts: vec![],
    }));
    let _agent = rt.serve(vec![empty]);
    let run = rt.run(&["status"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("Accounts: none."), "{}", run.stdout);
}

#[test]
fn an_ambiguous_account_exits_4_and_lists_the_candidates() {
    let rt = Runtime::new();
    let mut error = AgentError::new(
        AgentErrorCode::AmbiguousAccount,
        "\"ada\" matches 2 accounts: name one by email or id",
    );
    error.candidates = vec![
        ada(),
        account("Ada Byron", "ada@home.test", "77aa0003", false),
    ];
    let line = serde_json::to_string(&AgentResponse::error(error)).unwrap() + "\n";
    let agent = rt.serve(vec![line.clone(), line]);
    let run = rt.run(&["switch", "ada"]);
    assert_eq!(run.code, 4);
    assert_eq!(run.stdout, "");
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(
        lines[0],
        "gatehouse: \"ada\" matches 2 accounts: name one by email or id"
    );
    assert_eq!(lines.len(), 3, "{}", run.stderr);
    for (line, (name, email, id)) in lines[1..].iter().zip([
        ("Ada Lovelace", "ada@example.test", "65f0aa01"),
        ("Ada Byron", "ada@home.test", "77aa0003"),
    ]) {
        for part in [name, email, "Work", id] {
            assert!(line.contains(part), "{line} lacks {part}");
        }
    }
    assert_eq!(
        agent.requests()[0],
        json!({"version": 1, "command": "switch", "account": "ada"})
    );

    let json_run = rt.run(&["switch", "ada", "--connection", "Work", "--json"]);
    assert_eq!(json_run.code, 4);
    let out: Value = serde_json::from_str(&json_run.stdout).unwrap();
    assert_eq!(out["error"]["code"], "ambiguous_account");
    assert_eq!(out["error"]["candidates"][1]["id"], "77aa0003");
    assert_eq!(
        agent.requests()[1],
        json!({"version": 1, "command": "switch", "account": "ada", "connection": "Work"})
    );
}

#[test]
fn unknown_account_exits_4() {
    let rt = Runtime::new();
    let _agent = rt.serve(vec![err(
        AgentErrorCode::UnknownAccount,
        "no account matches \"bob\"",
    )]);
    let run = rt.run(&["token", "--account", "bob"]);
    assert_eq!(run.code, 4);
    assert_eq!(run.stderr, "gatehouse: no account matches \"bob\"\n");
    assert_eq!(run.stdout, "");
}

#[test]
fn consent_denied_or_unanswered_exits_5_with_the_message() {
    let rt = Runtime::new();
    let _agent = rt.serve(vec![
        err(
            AgentErrorCode::ConsentDenied,
            "you denied /usr/bin/curl this account's token",
        ),
        err(
            AgentErrorCode::ConsentTimeout,
            "nobody answered the consent prompt within 120 s",
        ),
    ]);
    let denied = rt.run(&["token"]);
    assert_eq!(denied.code, 5);
    assert_eq!(
        denied.stderr,
        "gatehouse: you denied /usr/bin/curl this account's token\n"
    );
    let timeout = rt.run(&["token", "--json"]);
    assert_eq!(timeout.code, 5);
    let out: Value = serde_json::from_str(&timeout.stdout).unwrap();
    assert_eq!(
        out,
        json!({"error": {"code": "consent_timeout",
                         "message": "nobody answered the consent prompt within 120 s"}})
    );
}

#[test]
fn an_account_that_must_sign_in_again_exits_6() {
    let rt = Runtime::new();
    let _agent = rt.serve(vec![
        err(
            AgentErrorCode::SignInRequired,
            "Ada Lovelace must sign in again in the app",
        ),
        err(
            AgentErrorCode::RecentSignInRequired,
            "sign in again to create API keys",
        ),
    ]);
    let run = rt.run(&["token"]);
    assert_eq!(run.code, 6);
    assert!(run.stderr.contains("must sign in again"), "{}", run.stderr);
    let recent = rt.run(&["api-key", "create", "ci"]);
    assert_eq!(recent.code, 6);
}

#[test]
fn server_and_sign_in_failures_have_their_codes() {
    let rt = Runtime::new();
    let _agent = rt.serve(vec![
        err(
            AgentErrorCode::Unavailable,
            "the server at https://auth.example.test is down",
        ),
        err(AgentErrorCode::SignInFailed, "wrong email or password"),
        err(AgentErrorCode::Other, "something new"),
    ]);
    assert_eq!(rt.run(&["token"]).code, 8);
    let login = rt.run_stdin(
        &[
            "login",
            "--with",
            "local-userpass",
            "--username",
            "ada@example.test",
        ],
        "not it\n",
    );
    assert_eq!(login.code, 9);
    assert_eq!(login.stderr, "gatehouse: wrong email or password\n");
    assert_eq!(rt.run(&["status"]).code, 1);
}

#[test]
fn an_older_agent_exits_7_with_what_to_do() {
    let rt = Runtime::new();
    let old = "{\"version\":0,\"error\":{\"code\":\"version_mismatch\",\"message\":\"v0\"}}\n";
    let _agent = rt.serve(vec![old.into(), old.into()]);
    let run = rt.run(&["token"]);
    assert_eq!(run.code, 7);
    assert_eq!(
        run.stderr,
        "gatehouse: the running Gatehouse app speaks agent protocol v0, this command speaks v1: \
         restart the app after updating\n"
    );
    let json_run = rt.run(&["status", "--json"]);
    assert_eq!(json_run.code, 7);
    let out: Value = serde_json::from_str(&json_run.stdout).unwrap();
    assert_eq!(out["error"]["code"], "version_mismatch");
}

#[test]
fn something_else_on_the_socket_exits_7() {
    let rt = Runtime::new();
    let long = "x".repeat(70 * 1024);
    let _agent = rt.serve(vec![
        "HTTP/1.1 400 Bad Request\r\n\r\n".into(),
        long,
        String::new(),
    ]);
    let expected = format!(
        "gatehouse: the socket at {} did not answer as a Gatehouse agent (an older app?)\n",
        rt.socket().display()
    );
    for _ in 0..3 {
        let run = rt.run(&["token"]);
        assert_eq!(run.code, 7);
        assert_eq!(run.stderr, expected);
    }
}

#[test]
fn no_app_and_no_display_exits_3() {
    let rt = Runtime::new();
    let run = rt.run(&["token"]);
    assert_eq!(run.code, 3);
    assert_eq!(
        run.stderr,
        "gatehouse: Gatehouse is not running and cannot be started: no display ($DISPLAY and \
         $WAYLAND_DISPLAY are unset). Start the Gatehouse app in your desktop session first.\n"
    );
    let json_run = rt.run(&["status", "--json"]);
    assert_eq!(json_run.code, 3);
    let out: Value = serde_json::from_str(&json_run.stdout).unwrap();
    assert_eq!(out["error"]["code"], "app_unreachable");
}

#[test]
fn a_display_but_no_desktop_binary_exits_3() {
    let rt = Runtime::new();
    let mut cmd = rt.command(&["token"]);
    cmd.env("DISPLAY", ":97");
    let run = run_with(cmd, "");
    assert_eq!(run.code, 3);
    assert!(
        run.stderr.contains("GATEHOUSE_DESKTOP_BIN names"),
        "{}",
        run.stderr
    );
}

/// A stand-in `gatehouse-desktop`: records its arguments and whether its stdio is closed to
/// us, then (like the real app) keeps running while its agent serves.
fn fake_desktop(rt: &Runtime, body: &str) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = rt.dir.path().join("fake-desktop");
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

#[test]
fn the_app_is_started_in_the_background_when_nothing_listens() {
    let rt = Runtime::new();
    let marker = rt.dir.path().join("started");
    let desktop = fake_desktop(
        &rt,
        &format!(
            "echo \"$@\" > {m}.tmp; ps -o pgid= -p $$ >> {m}.tmp; mv {m}.tmp {m}",
            m = marker.display()
        ),
    );
    // The script exits 0 at once and the agent comes up after it: like a second instance
    // handing over to a first one that is still starting, the command keeps waiting.
    let agent = rt.serve_after(marker.clone(), vec![token_answer()]);
    let mut cmd = rt.command(&["token"]);
    cmd.env("DISPLAY", ":97")
        .env("GATEHOUSE_DESKTOP_BIN", &desktop);
    let run = run_with(cmd, "");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, format!("{TOKEN}\n"));
    assert_eq!(agent.request()["command"], "token");
    let recorded = std::fs::read_to_string(&marker).unwrap();
    let mut lines = recorded.lines();
    assert_eq!(lines.next(), Some("--background"));
    // Its own process group: not ours (a Ctrl-C to this command must not reach the app).
    let pgid: u32 = lines.next().unwrap().trim().parse().unwrap();
    let own_pgid = std::fs::read_to_string("/proc/self/stat").unwrap();
    let own_pgid: u32 = own_pgid
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .nth(2)
        .unwrap()
        .parse()
        .unwrap();
    assert_ne!(pgid, own_pgid);
}

#[test]
fn an_app_that_exits_without_its_agent_exits_3() {
    let rt = Runtime::new();
    let desktop = fake_desktop(&rt, "exit 1");
    let mut cmd = rt.command(&["status"]);
    cmd.env("WAYLAND_DISPLAY", "wayland-0")
        .env("GATEHOUSE_DESKTOP_BIN", &desktop);
    let started = std::time::Instant::now();
    let run = run_with(cmd, "");
    assert_eq!(run.code, 3);
    assert!(
        run.stderr
            .contains("was started but failed (exit status: 1)"),
        "{}",
        run.stderr
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}

fn credential_answer() -> String {
    ok(AgentResult::Credential(AgentCredential {
        username: "ada@example.test".into(),
        password: AgentSecret(TOKEN.into()),
        expires_at: Some(1_900_000_000),
        account: ada(),
    }))
}

#[test]
fn credential_get_speaks_gits_protocol() {
    let rt = Runtime::new();
    let agent = rt.serve(vec![
        credential_answer(),
        err(
            AgentErrorCode::NoMapping,
            "no account is mapped to other.example",
        ),
        err(AgentErrorCode::ConsentDenied, "you denied git this account"),
    ]);
    let run = rt.run_stdin(
        &["credential", "get"],
        "protocol=https\nhost=git.example\nwwwauth[]=Basic realm=\"git\"\n\n",
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stdout,
        format!("username=ada@example.test\npassword={TOKEN}\n")
    );
    // No mapping: nothing at all, success, so git asks its next helper.
    let none = rt.run_stdin(
        &["credential", "get", "--json"],
        "protocol=https\nhost=other.example\n",
    );
    assert_eq!(
        (none.code, none.stdout.as_str(), none.stderr.as_str()),
        (0, "", "")
    );
    // Other errors: one line on stderr, never JSON on stdout (git reads it).
    let denied = rt.run_stdin(
        &["--json", "credential", "get"],
        "protocol=https\nhost=git.example\n",
    );
    assert_eq!(denied.code, 5);
    assert_eq!(denied.stdout, "");
    assert_eq!(denied.stderr, "gatehouse: you denied git this account\n");
    let requests = agent.requests();
    assert_eq!(
        requests[0],
        json!({"version": 1, "command": "credential", "protocol": "https", "host": "git.example"})
    );
    assert_eq!(requests[1]["host"], "other.example");
}

#[test]
fn credential_store_and_erase_do_nothing() {
    let rt = Runtime::new();
    let agent = rt.serve(vec![token_answer()]);
    for op in ["store", "erase", "some-future-operation"] {
        let run = rt.run_stdin(
            &["credential", op],
            &format!("protocol=https\nhost=git.example\nusername=ada\npassword={TOKEN}\n\n"),
        );
        assert_eq!(
            (run.code, run.stdout.as_str(), run.stderr.as_str()),
            (0, "", ""),
            "{op}"
        );
    }
    // Without protocol and host there is nothing to ask.
    let run = rt.run_stdin(&["credential", "get"], "\n");
    assert_eq!((run.code, run.stdout.as_str()), (0, ""));
    assert!(agent.requests().is_empty());
}

/// git itself runs the helper: both configuration forms docs/cli.md gives.
#[test]
fn git_credential_fill_uses_the_helper() {
    if std::process::Command::new("git")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("git is not installed: skipped");
        return;
    }
    let rt = Runtime::new();
    let home = tempfile::tempdir().unwrap();
    let bin_dir = std::path::Path::new(BIN).parent().unwrap();
    let agent = rt.serve(vec![credential_answer(), credential_answer()]);
    for helper in [
        format!("{BIN} credential"),
        "!gatehouse credential".to_owned(),
    ] {
        let mut cmd = std::process::Command::new("git");
        cmd.args(["-c", "credential.helper="])
            .arg("-c")
            .arg(format!("credential.https://git.example.helper={helper}"))
            .args(["credential", "fill"])
            .env("HOME", home.path())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("XDG_RUNTIME_DIR", rt.dir.path())
            .env(
                "PATH",
                format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap()),
            );
        let run = run_with(
            cmd,
            "protocol=https\nhost=git.example\npath=team/repo.git\n\n",
        );
        assert_eq!(run.code, 0, "{helper}: {}", run.stderr);
        assert!(
            run.stdout.contains("username=ada@example.test\n"),
            "{}",
            run.stdout
        );
        assert!(
            run.stdout.contains(&format!("password={TOKEN}\n")),
            "{}",
            run.stdout
        );
    }
    for request in agent.requests() {
        assert_eq!(request["host"], "git.example");
        assert_eq!(request["protocol"], "https");
    }
}

#[test]
fn exec_sets_the_environment_and_passes_the_exit_code_through() {
    let rt = Runtime::new();
    let agent = rt.serve(vec![token_answer(), token_answer(), token_answer()]);
    let script = format!(
        "test \"$MY_TOKEN\" = '{TOKEN}' && test \"$GATEHOUSE_BASE_URL\" = '{BASE_URL}' \
         && test \"$GATEHOUSE_APP_ID\" = '{APP_ID}' && test -z \"$GATEHOUSE_ACCESS_TOKEN\" \
         && exit 42; exit 3"
    );
    let run = rt.run(&[
        "exec",
        "--account",
        "ada",
        "--token-env",
        "MY_TOKEN",
        "--",
        "sh",
        "-c",
        &script,
    ]);
    assert_eq!(run.code, 42, "{}", run.stderr);
    assert_eq!(
        agent.requests()[0],
        json!({"version": 1, "command": "token", "account": "ada"})
    );
    let default_name = rt.run(&[
        "exec",
        "--",
        "sh",
        "-c",
        "printf %s \"$GATEHOUSE_ACCESS_TOKEN\"",
    ]);
    assert_eq!(
        (default_name.code, default_name.stdout.as_str()),
        (0, TOKEN)
    );
    let missing = rt.run(&["exec", "--", "/nonexistent/program"]);
    assert_eq!(missing.code, 127);
    assert!(missing
        .stderr
        .starts_with("gatehouse: cannot run /nonexistent/program"));
}

#[test]
fn switch_and_logout_name_the_account() {
    let rt = Runtime::new();
    let agent = rt.serve(vec![ok(AgentResult::Account(ada())), status_answer()]);
    let switch = rt.run(&["switch", "ada@example.test"]);
    assert_eq!(switch.code, 0, "{}", switch.stderr);
    assert_eq!(
        switch.stdout,
        "Switched to Ada Lovelace <ada@example.test> on Work.\n"
    );
    let logout = rt.run(&["logout", "65f0aa01", "--connection", "conn-work"]);
    assert_eq!(logout.code, 0, "{}", logout.stderr);
    assert_eq!(logout.stdout, "Signed out 65f0aa01.\n");
    let requests = agent.requests();
    assert_eq!(
        requests[0],
        json!({"version": 1, "command": "switch", "account": "ada@example.test"})
    );
    assert_eq!(
        requests[1],
        json!({"version": 1, "command": "logout", "account": "65f0aa01",
               "connection": "conn-work"})
    );
}

#[test]
fn login_sends_the_piped_password_and_prints_the_account() {
    let rt = Runtime::new();
    let agent = rt.serve(vec![
        ok(AgentResult::Account(ada())),
        ok(AgentResult::Account(ada())),
        ok(AgentResult::Account(ada())),
    ]);
    let run = rt.run_stdin(
        &[
            "login",
            "--connection",
            "Work",
            "--with",
            "email",
            "--username",
            "ada@example.test",
        ],
        "correct horse battery staple\nsecond line ignored\n",
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stdout,
        "Signed in as Ada Lovelace <ada@example.test> on Work.\n"
    );
    assert!(!run.stderr.contains("correct horse"));
    let json_run = rt.run_stdin(
        &[
            "login",
            "--with",
            "phone",
            "--username",
            "+15555550100",
            "--json",
        ],
        "pw\r\n",
    );
    assert_eq!(json_run.code, 0, "{}", json_run.stderr);
    let out: Value = serde_json::from_str(&json_run.stdout).unwrap();
    assert_eq!(out["id"], "65f0aa01");
    let browser = rt.run(&["login", "--with", "oauth2-github"]);
    assert_eq!(browser.code, 0, "{}", browser.stderr);
    let requests = agent.requests();
    assert_eq!(
        requests[0],
        json!({"version": 1, "command": "login", "connection": "Work",
               "provider": "local-userpass", "username": "ada@example.test",
               "password": "correct horse battery staple"})
    );
    assert_eq!(requests[1]["provider"], "phone-password");
    assert_eq!(requests[1]["password"], "pw");
    assert_eq!(
        requests[2],
        json!({"version": 1, "command": "login", "provider": "oauth2-github"})
    );
}

#[test]
fn login_without_a_username_or_password_from_a_pipe_is_a_usage_error() {
    let rt = Runtime::new();
    let agent = rt.serve(vec![ok(AgentResult::Account(ada()))]);
    let run = rt.run_stdin(&["login", "--with", "local-userpass"], "pw\n");
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("--username is needed"),
        "{}",
        run.stderr
    );
    let empty = rt.run_stdin(
        &["login", "--with", "local-userpass", "--username", "a@b.c"],
        "",
    );
    assert_eq!(empty.code, 2);
    assert_eq!(empty.stderr, "gatehouse: no password given\n");
    assert!(agent.requests().is_empty());
}

#[test]
fn api_keys_list_create_and_change() {
    let rt = Runtime::new();
    let key = AgentApiKey {
        id: "6601".into(),
        name: "ci".into(),
        enabled: true,
        created_at: Some(1_767_225_600),
    };
    let secret = "gk_secret_value_shown_once";
    let agent = rt.serve(vec![
        ok(AgentResult::ApiKeys {
            keys: vec![key.clone()],
        }),
        ok(AgentResult::ApiKeys {
            keys: vec![key.clone()],
        }),
        ok(AgentResult::NewApiKey {
            key: key.clone(),
            secret: AgentSecret(secret.into()),
        }),
        ok(AgentResult::NewApiKey {
            key: key.clone(),
            secret: AgentSecret(secret.into()),
        }),
        ok(AgentResult::Done),
        ok(AgentResult::Done),
        ok(AgentResult::Done),
    ]);
    let list = rt.run(&["api-key", "list", "--account", "ada"]);
    assert_eq!(list.code, 0, "{}", list.stderr);
    assert!(
        list.stdout
            .contains("6601  ci    yes      2026-01-01 00:00 UTC"),
        "{}",
        list.stdout
    );
    let list_json: Value =
        serde_json::from_str(&rt.run(&["api-key", "list", "--json"]).stdout).unwrap();
    assert_eq!(list_json["keys"][0]["id"], "6601");

    let create = rt.run(&["api-key", "create", "ci"]);
    assert_eq!(create.code, 0, "{}", create.stderr);
    assert_eq!(
        create.stdout.matches(secret).count(),
        1,
        "{}",
        create.stdout
    );
    assert!(
        create.stdout.contains("will not be shown again"),
        "{}",
        create.stdout
    );
    assert!(!create.stderr.contains(secret));
    let create_json: Value =
        serde_json::from_str(&rt.run(&["api-key", "create", "ci", "--json"]).stdout).unwrap();
    assert_eq!(create_json["secret"], secret);
    assert_eq!(create_json["key"]["name"], "ci");

    assert_eq!(
        rt.run(&["api-key", "disable", "6601"]).stdout,
        "Disabled API key 6601.\n"
    );
    assert_eq!(
        rt.run(&["api-key", "enable", "6601", "--json"]).stdout,
        "{\"ok\":true}\n"
    );
    assert_eq!(rt.run(&["api-key", "delete", "6601"]).code, 0);

    let actions: Vec<Value> = agent
        .requests()
        .into_iter()
        .map(|r| {
            assert_eq!(r["command"], "api_key");
            r["action"].clone()
        })
        .collect();
    assert_eq!(agent.requests()[0]["account"], "ada");
    assert_eq!(
        actions,
        [
            json!({"action": "list"}),
            json!({"action": "list"}),
            json!({"action": "create", "name": "ci"}),
            json!({"action": "create", "name": "ci"}),
            json!({"action": "disable", "id": "6601"}),
            json!({"action": "enable", "id": "6601"}),
            json!({"action": "delete", "id": "6601"}),
        ]
    );
}

#[test]
fn completions_and_man_page_come_from_the_definition() {
    let rt = Runtime::new();
    for args in [
        &["completions", "bash"][..],
        &["completions", "zsh"],
        &["completions", "fish"],
        &["man"],
    ] {
        let run = rt.run(args);
        assert_eq!(run.code, 0, "{args:?}: {}", run.stderr);
        assert!(run.stdout.len() > 500, "{args:?}");
        assert!(run.stdout.contains("gatehouse"), "{args:?}");
    }
    assert!(rt.run(&["man"]).stdout.contains(".TH gatehouse"));
    let help = rt.run(&["--help"]);
    assert!(help.stdout.contains("Exit codes:"));
    assert!(help.stdout.contains("7  agent protocol version mismatch"));
    assert_eq!(rt.run(&["token", "--bogus"]).code, 2);
}

/// The benchmark, printed and not asserted: the whole `gatehouse token` process against
/// an agent that answers at once (the real app's figure comes from the end-to-end tests).
#[test]
fn benchmark_token_process_wall_time() {
    const RUNS: usize = 50;
    let rt = Runtime::new();
    let _agent = rt.serve(vec![token_answer(); RUNS]);
    let mut times = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let started = std::time::Instant::now();
        let out = rt.command(&["token"]).output().unwrap();
        times.push(started.elapsed());
        assert!(out.status.success());
    }
    times.sort();
    eprintln!(
        "gatehouse token (this build's profile, stand-in agent): median {:?}, max {:?} \
         over {RUNS} runs (target < 20 ms)",
        times[RUNS / 2],
        times[RUNS - 1]
    );
}
