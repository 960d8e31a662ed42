//! The local agent over its real Unix socket, in front of a real `Desktop` whose Local backend
//! is the embedded gatehoused: status, tokens behind consent (once, always, deny, timeout,
//! revoked), the token working against the server, git credentials by host mapping, the
//! selector errors, protocol errors, and a peer of another uid refused.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use common::Recorder;
use gatehouse_desktop::views::ConsentPrompt;
use gatehouse_desktop::{Desktop, Options, Secrets, UiEvent};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

const ADA: &str = "ada@example.test";
const BOB: &str = "bob@example.test";
const PASSWORD: &str = "correct horse battery";

struct Agent {
    desktop: Arc<Desktop>,
    shell: Arc<Recorder>,
    socket: PathBuf,
    dir: tempfile::TempDir,
}

async fn start(open_dir_for_tests: bool) -> Agent {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("run").join("agent.sock");
    let shell = Arc::new(Recorder::default());
    let desktop = Arc::new(Desktop::new(
        Options {
            data_dir: dir.path().join("data"),
            secrets: Secrets::MemoryOnly,
            start_local: true,
            agent_socket: Some(socket.clone()),
        },
        shell.clone(),
    ));
    if open_dir_for_tests {
        desktop.open_agent_dir_for_tests();
    }
    desktop.ready().await;
    Agent {
        desktop,
        shell,
        socket,
        dir,
    }
}

/// One exchange: the line, then the answer until the agent closes.
async fn ask_line(socket: &Path, line: &str) -> Value {
    let mut s = UnixStream::connect(socket).await.unwrap();
    s.write_all(format!("{line}\n").as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    assert!(out.ends_with('\n'), "one line: {out}");
    serde_json::from_str(&out).unwrap()
}

async fn ask(socket: &Path, request: Value) -> Value {
    ask_line(socket, &request.to_string()).await
}

fn code(answer: &Value) -> &str {
    answer["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("not an error: {answer}"))
}

fn ok(answer: &Value) -> &Value {
    assert_eq!(answer["version"], 1, "{answer}");
    answer
        .get("ok")
        .unwrap_or_else(|| panic!("not ok: {answer}"))
}

/// The next consent prompt the window was shown (and taken off the recorder).
async fn next_prompt(shell: &Recorder) -> ConsentPrompt {
    for _ in 0..400 {
        {
            let mut events = shell.events.lock().unwrap();
            let found = events
                .iter()
                .position(|e| matches!(e, UiEvent::ConsentRequested { .. }));
            if let Some(i) = found {
                if let UiEvent::ConsentRequested { prompt } = events.remove(i) {
                    return prompt;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("no consent prompt was shown");
}

fn settled(shell: &Recorder, id: &str) -> Option<String> {
    shell.events.lock().unwrap().iter().find_map(|e| match e {
        UiEvent::ConsentSettled { id: i, outcome } if i == id => Some(outcome.clone()),
        _ => None,
    })
}

fn no_prompt_shown(shell: &Recorder) -> bool {
    !shell
        .events
        .lock()
        .unwrap()
        .iter()
        .any(|e| matches!(e, UiEvent::ConsentRequested { .. }))
}

/// A request that needs consent, answered `answer` through `Desktop::answer_consent`.
async fn with_consent(a: &Agent, request: Value, answer: &str) -> (ConsentPrompt, Value) {
    let socket = a.socket.clone();
    let pending = tokio::spawn(async move { ask(&socket, request).await });
    let prompt = next_prompt(&a.shell).await;
    assert_eq!(a.desktop.pending_consents(), vec![prompt.clone()]);
    a.desktop.answer_consent(&prompt.id, answer).await.unwrap();
    let outcome = if answer == "deny" {
        "denied"
    } else {
        "allowed"
    };
    assert_eq!(settled(&a.shell, &prompt.id).as_deref(), Some(outcome));
    assert!(a.desktop.pending_consents().is_empty());
    (prompt, pending.await.unwrap())
}

/// Registers `email` on the Local backend and confirms it from the outbox.
async fn register(d: &Arc<Desktop>, email: &str) {
    d.register_email("local", email, PASSWORD).await.unwrap();
    for _ in 0..200 {
        let outbox = serde_json::to_value(d.outbox().await.unwrap()).unwrap();
        let link = outbox
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["to"] == email)
            .flat_map(|m| m["links"].as_array().unwrap().clone())
            .filter_map(|l| l.as_str().map(str::to_string))
            .find(|l| l.contains("/confirm"));
        if let Some(link) = link {
            d.confirm_email("local", &link).await.unwrap();
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("no confirmation link for {email}");
}

async fn login(socket: &Path, email: &str) -> Value {
    let answer = ask(
        socket,
        json!({"version": 1, "command": "login", "provider": "local-userpass",
               "username": email, "password": PASSWORD}),
    )
    .await;
    ok(&answer)["kind"].as_str().map(|_| ()).unwrap();
    answer["ok"].clone()
}

/// `GET {base}/api/client/v2.0/auth/profile` with the token, over a plain TCP socket.
async fn profile_status(base_url: &str, token: &str) -> String {
    let host = base_url.trim_start_matches("http://").trim_end_matches('/');
    let mut s = tokio::net::TcpStream::connect(host).await.unwrap();
    let request = format!(
        "GET /api/client/v2.0/auth/profile HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer \
         {token}\r\nConnection: close\r\n\r\n"
    );
    s.write_all(request.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_need_consent_once_always_or_never() {
    let a = start(false).await;
    let mode = std::fs::metadata(a.socket.parent().unwrap())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700, "the socket's directory is private");
    let mode = std::fs::metadata(&a.socket).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);

    register(&a.desktop, ADA).await;
    let signed = login(&a.socket, ADA).await;
    assert_eq!(signed["kind"], "account");
    assert_eq!(signed["email"], ADA);
    assert_eq!(signed["active"], true);
    let ada_id = signed["id"].as_str().unwrap().to_string();

    let status = ask(&a.socket, json!({"version": 1, "command": "status"})).await;
    let status = ok(&status);
    assert_eq!(status["kind"], "status");
    assert_eq!(status["app_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(status["connections"][0]["id"], "local");
    assert_eq!(status["accounts"][0]["email"], ADA);
    assert_eq!(status["accounts"][0]["state"], "active");

    // Allowed once: a token that works against the server, and no grant.
    let token_request = json!({"version": 1, "command": "token"});
    let (prompt, answer) = with_consent(&a, token_request.clone(), "once").await;
    assert_eq!(prompt.purpose, "token");
    assert_eq!(prompt.account.id, ada_id);
    assert_eq!(prompt.connection_name, "Local");
    let me = std::env::current_exe().unwrap();
    assert_eq!(prompt.program.exe, me.to_string_lossy());
    assert_eq!(prompt.program.pid, std::process::id());
    assert!(prompt.expires_at_ms > 0);
    let token = ok(&answer);
    assert_eq!(token["kind"], "token");
    let access = token["access_token"].as_str().unwrap();
    assert!(access.starts_with("eyJ"));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!(token["expires_at"].as_i64().unwrap() > now);
    assert_eq!(token["account"]["email"], ADA);
    let base = token["base_url"].as_str().unwrap();
    let reply = profile_status(base, access).await;
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(profile_status(base, "not-a-token")
        .await
        .starts_with("HTTP/1.1 401"));
    assert!(a.desktop.connected_programs().await.is_empty());

    // Denied.
    let (_, answer) = with_consent(&a, token_request.clone(), "deny").await;
    assert_eq!(code(&answer), "consent_denied");
    assert!(!answer.to_string().contains("eyJ"));

    // Always: remembered, then answered without a prompt; each use counted.
    let (_, answer) = with_consent(&a, token_request.clone(), "always").await;
    ok(&answer);
    let grants = a.desktop.connected_programs().await;
    assert_eq!(grants.len(), 1);
    assert_eq!(grants[0].exe, me.to_string_lossy());
    assert_eq!(grants[0].user, ada_id);
    assert_eq!(grants[0].account_name, ADA);
    assert_eq!(grants[0].uses, 1);
    a.shell.events.lock().unwrap().clear();
    let again = ask(&a.socket, token_request.clone()).await;
    assert_eq!(ok(&again)["kind"], "token");
    assert!(no_prompt_shown(&a.shell));
    assert_eq!(a.desktop.connected_programs().await[0].uses, 2);
    assert!(a.desktop.connected_programs().await[0]
        .last_used_at
        .is_some());
    let file = std::fs::read_to_string(a.dir.path().join("data/programs.json")).unwrap();
    assert!(file.contains(&ada_id) && !file.contains("eyJ"), "{file}");

    // A git host mapped to the account: the grant covers it too.
    let credential = json!({"version": 1, "command": "credential", "protocol": "https",
                            "host": "Git.Example.test:8443"});
    assert_eq!(
        code(&ask(&a.socket, credential.clone()).await),
        "no_mapping"
    );
    assert!(a
        .desktop
        .set_account_hosts("local", &ada_id, &["bad host".into()])
        .await
        .is_err());
    let hosts = a
        .desktop
        .set_account_hosts("local", &ada_id, &[" GIT.example.test:8443 ".into()])
        .await
        .unwrap();
    assert_eq!(hosts.len(), 1);
    assert_eq!(hosts[0].host, "git.example.test:8443");
    assert_eq!(hosts[0].account_name, ADA);
    let answer = ask(&a.socket, credential.clone()).await;
    let cred = ok(&answer);
    assert_eq!(cred["kind"], "credential");
    assert_eq!(cred["username"], ADA);
    let reply = profile_status(base, cred["password"].as_str().unwrap()).await;
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    let other = json!({"version": 1, "command": "credential", "protocol": "https",
                       "host": "elsewhere.test"});
    assert_eq!(code(&ask(&a.socket, other).await), "no_mapping");

    // Revoked: the prompt is back; this time nobody answers.
    let id = a.desktop.connected_programs().await[0].id.clone();
    assert!(a.desktop.revoke_program(&id).await.unwrap().is_empty());
    assert!(a.desktop.revoke_program(&id).await.is_err());
    a.desktop.set_consent_timeout(Duration::from_secs(2));
    let started = std::time::Instant::now();
    let socket = a.socket.clone();
    let pending =
        tokio::spawn(async move { ask(&socket, json!({"version": 1, "command": "token"})).await });
    let prompt = next_prompt(&a.shell).await;
    let answer = pending.await.unwrap();
    assert_eq!(code(&answer), "consent_timeout");
    assert!(started.elapsed() < Duration::from_secs(6));
    assert_eq!(settled(&a.shell, &prompt.id).as_deref(), Some("timeout"));
    assert!(a.desktop.pending_consents().is_empty());
    assert_eq!(
        a.desktop
            .answer_consent(&prompt.id, "once")
            .await
            .unwrap_err()
            .code(),
        "NoPendingConsent"
    );

    // A program that goes away withdraws its prompt.
    a.desktop.set_consent_timeout(Duration::from_secs(60));
    let mut s = UnixStream::connect(&a.socket).await.unwrap();
    s.write_all(b"{\"version\":1,\"command\":\"token\"}\n")
        .await
        .unwrap();
    let prompt = next_prompt(&a.shell).await;
    drop(s);
    for _ in 0..200 {
        if settled(&a.shell, &prompt.id).is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(settled(&a.shell, &prompt.id).as_deref(), Some("cancelled"));
    assert!(a.desktop.pending_consents().is_empty());

    // Shutting down removes the socket.
    a.desktop.shutdown().await;
    assert!(!a.socket.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn selectors_and_protocol_errors_are_specific() {
    let a = start(false).await;
    register(&a.desktop, ADA).await;
    register(&a.desktop, BOB).await;
    let ada = login(&a.socket, ADA).await;
    let bob = login(&a.socket, BOB).await;
    let (ada_id, bob_id) = (ada["id"].as_str().unwrap(), bob["id"].as_str().unwrap());

    let token = |account: &str| json!({"version": 1, "command": "token", "account": account});
    let unknown = ask(&a.socket, token("nobody@example.test")).await;
    assert_eq!(code(&unknown), "unknown_account");
    let unknown_conn = json!({"version": 1, "command": "token", "connection": "Nowhere"});
    assert_eq!(
        code(&ask(&a.socket, unknown_conn).await),
        "unknown_connection"
    );

    // Two accounts with one name: ambiguous, both listed.
    for id in [ada_id, bob_id] {
        a.desktop
            .update_profile("local", id, "Twin", "")
            .await
            .unwrap();
    }
    let twin = ask(&a.socket, token("twin")).await;
    assert_eq!(code(&twin), "ambiguous_account");
    assert_eq!(twin["error"]["candidates"].as_array().unwrap().len(), 2);

    // Switch by email (case-insensitive), then by id.
    let switched = ask(
        &a.socket,
        json!({"version": 1, "command": "switch", "account": "ADA@example.TEST"}),
    )
    .await;
    assert_eq!(ok(&switched)["id"], ada_id);
    assert_eq!(switched["ok"]["active"], true);

    // Bob signs out: his token needs a new sign-in, and switching to him too.
    let out = ask(
        &a.socket,
        json!({"version": 1, "command": "logout", "account": bob_id}),
    )
    .await;
    assert_eq!(ok(&out)["kind"], "status");
    assert_eq!(code(&ask(&a.socket, token(BOB)).await), "sign_in_required");
    let to_bob = json!({"version": 1, "command": "switch", "account": BOB});
    assert_eq!(code(&ask(&a.socket, to_bob).await), "sign_in_required");

    // Login errors.
    let wrong = ask(
        &a.socket,
        json!({"version": 1, "command": "login", "provider": "local-userpass",
               "username": ADA, "password": "wrong password here"}),
    )
    .await;
    assert_eq!(code(&wrong), "sign_in_failed");
    let magic = ask(
        &a.socket,
        json!({"version": 1, "command": "login", "provider": "no-such-provider"}),
    )
    .await;
    assert_eq!(code(&magic), "unsupported_provider");

    // Protocol errors.
    let old = ask_line(&a.socket, r#"{"version":0,"command":"status"}"#).await;
    assert_eq!(code(&old), "version_mismatch");
    let message = old["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("version 1") && message.contains("version 0"),
        "{message}"
    );
    assert_eq!(code(&ask_line(&a.socket, "garbage").await), "bad_request");
    assert_eq!(
        code(&ask_line(&a.socket, r#"{"version":1,"command":"fly"}"#).await),
        "bad_request"
    );
    let long = format!("{{\"version\":1,\"pad\":\"{}\"}}", "x".repeat(70_000));
    assert_eq!(code(&ask_line(&a.socket, &long).await), "bad_request");

    // A second app on the same socket does not take it over.
    let shell = Arc::new(Recorder::default());
    let second = Arc::new(Desktop::new(
        Options {
            data_dir: a.dir.path().join("data2"),
            secrets: Secrets::MemoryOnly,
            start_local: false,
            agent_socket: Some(a.socket.clone()),
        },
        shell,
    ));
    second.ready().await;
    let status = ask(&a.socket, json!({"version": 1, "command": "status"})).await;
    assert_eq!(ok(&status)["accounts"].as_array().unwrap().len(), 2);
    second.shutdown().await;
    assert!(
        a.socket.exists(),
        "the second app leaves the first one's socket"
    );
    a.desktop.shutdown().await;
    assert!(!a.socket.exists());

    // A socket file left by an app that died is replaced.
    drop(std::os::unix::net::UnixListener::bind(&a.socket).unwrap());
    assert!(a.socket.exists());
    let third = Arc::new(Desktop::new(
        Options {
            data_dir: a.dir.path().join("data3"),
            secrets: Secrets::MemoryOnly,
            start_local: false,
            agent_socket: Some(a.socket.clone()),
        },
        Arc::new(Recorder::default()),
    ));
    third.ready().await;
    let status = ask(&a.socket, json!({"version": 1, "command": "status"})).await;
    assert!(ok(&status)["accounts"].as_array().unwrap().is_empty());
    third.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_user_is_refused() {
    use std::os::unix::process::CommandExt;
    let a = start(true).await;
    // The temp dir must be enterable by the other user (the agent's own dir was opened by the
    // test hook).
    std::fs::set_permissions(a.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let script = "import socket, sys\n\
                  s = socket.socket(socket.AF_UNIX)\n\
                  s.connect(sys.argv[1])\n\
                  s.sendall(b'{\"version\":1,\"command\":\"status\"}\\n')\n\
                  print(s.makefile().read(), end='')\n";
    let socket = a.socket.clone();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("/usr/bin/python3")
            .arg("-c")
            .arg(script)
            .arg(&socket)
            .uid(65534)
            .gid(65534)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(code(&answer), "forbidden", "{answer}");
    // The same request from our own uid is answered.
    let mine = ask(&a.socket, json!({"version": 1, "command": "status"})).await;
    assert_eq!(ok(&mine)["kind"], "status");
    a.desktop.shutdown().await;
}

/// The window's side of the agent, through the mock runtime: the new commands answer, with
/// the argument names the window uses.
#[test]
fn the_window_commands_for_programs_hosts_and_prefs() {
    let dir = tempfile::tempdir().unwrap();
    let w = common::Window::open(dir.path());
    assert_eq!(w.ok("pending_consents", json!({})), json!([]));
    assert_eq!(w.ok("connected_programs", json!({})), json!([]));
    assert_eq!(w.ok("account_hosts", json!({})), json!([]));
    let e = w.err("answer_consent", json!({"id": "nope", "answer": "once"}));
    assert_eq!(e["code"], "NoPendingConsent");
    let e = w.err("answer_consent", json!({"id": "nope", "answer": "maybe"}));
    assert_eq!(e["code"], "InvalidInput");
    assert_eq!(
        w.err("revoke_program", json!({"id": "nope"}))["code"],
        "UnknownProgram"
    );
    let anon = w.ok(
        "sign_in",
        json!({"connection": "local", "request": {"method": "anonymous"}}),
    );
    let user = anon["id"].as_str().unwrap();
    let hosts = w.ok(
        "set_account_hosts",
        json!({"connection": "local", "user": user, "hosts": ["Example.test", "b.test:22"]}),
    );
    assert_eq!(hosts.as_array().unwrap().len(), 2);
    assert_eq!(hosts[0]["host"], "b.test:22");
    assert_eq!(hosts[1]["account_name"], "Anonymous user");
    let bad = json!({"connection": "local", "user": user, "hosts": ["x/y"]});
    assert_eq!(w.err("set_account_hosts", bad)["code"], "InvalidInput");
    assert_eq!(
        w.ok("window_prefs", json!({})),
        json!({"keep_in_tray": true, "start_at_login": false})
    );
    let prefs = json!({"keep_in_tray": false, "start_at_login": true});
    assert_eq!(w.ok("set_window_prefs", json!({"prefs": prefs})), prefs);
    let saved = std::fs::read_to_string(dir.path().join("settings.json")).unwrap();
    let saved: Value = serde_json::from_str(&saved).unwrap();
    assert_eq!(saved["window"], prefs);
    assert_eq!(saved["host_mappings"].as_array().unwrap().len(), 2);
}
