//! The window's commands through Tauri's mock runtime: real IPC dispatch (argument names,
//! serialisation, `{code, message}` errors) into a real `Desktop` whose Local backend is the
//! embedded gatehoused on loopback. Memory-only secrets: the OS keychain is the GUI test's part.

// Test code: a failed unwrap is a failed test with its message (helpers outside #[test] too).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};

use gatehouse_desktop::{Desktop, Options, Secrets, Shell, UiEvent};
use serde_json::{json, Value};
use tauri::ipc::{CallbackFn, InvokeBody};
use tauri::test::{
    get_ipc_response, mock_builder, mock_context, noop_assets, MockRuntime, INVOKE_KEY,
};
use tauri::webview::InvokeRequest;
use tauri::WebviewWindow;

#[derive(Default)]
struct Recorder {
    events: Mutex<Vec<UiEvent>>,
    opened: Mutex<Vec<String>>,
}

impl Shell for Recorder {
    fn emit(&self, event: UiEvent) {
        self.events.lock().unwrap().push(event);
    }
    fn open_browser(&self, url: &str) -> Result<(), String> {
        self.opened.lock().unwrap().push(url.into());
        Ok(())
    }
}

struct Window {
    webview: WebviewWindow<MockRuntime>,
    shell: Arc<Recorder>,
    _app: tauri::App<MockRuntime>,
}

impl Window {
    fn open(dir: &std::path::Path) -> Window {
        let shell = Arc::new(Recorder::default());
        let desktop = Arc::new(Desktop::new(
            Options {
                data_dir: dir.into(),
                secrets: Secrets::MemoryOnly,
                start_local: true,
            },
            shell.clone(),
        ));
        let app = gatehouse_desktop::with_commands(mock_builder())
            .manage(desktop)
            .build(mock_context(noop_assets()))
            .expect("mock app");
        let webview = tauri::WebviewWindowBuilder::new(&app, "main", Default::default())
            .build()
            .expect("mock window");
        Window {
            webview,
            shell,
            _app: app,
        }
    }

    fn invoke(&self, cmd: &str, args: Value) -> Result<Value, Value> {
        let request = InvokeRequest {
            cmd: cmd.into(),
            callback: CallbackFn(0),
            error: CallbackFn(1),
            url: "tauri://localhost".parse().unwrap(),
            body: InvokeBody::Json(args),
            headers: Default::default(),
            invoke_key: INVOKE_KEY.to_string(),
        };
        let answer =
            get_ipc_response(&self.webview, request).map(|b| b.deserialize::<Value>().unwrap());
        // Whatever crosses IPC, nothing in it may look like a token (JWTs start with "eyJ").
        let text = format!("{answer:?}");
        assert!(
            !text.contains("eyJ"),
            "{cmd} sent a token to the window: {text}"
        );
        answer
    }

    fn ok(&self, cmd: &str, args: Value) -> Value {
        self.invoke(cmd, args)
            .unwrap_or_else(|e| panic!("{cmd} failed: {e}"))
    }

    fn err(&self, cmd: &str, args: Value) -> Value {
        let e = self.invoke(cmd, args).expect_err(cmd);
        assert!(
            e["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{cmd}: errors carry a message: {e}"
        );
        e
    }
}

const ADA: &str = "ada@example.test";
const ADA_PASSWORD: &str = "correct horse battery";

/// `sign_in`'s arguments for Ada's email account on Local.
fn ada_sign_in() -> Value {
    let request = json!({"method": "email", "email": ADA, "password": ADA_PASSWORD});
    json!({"connection": "local", "request": request})
}

fn active(o: &Value) -> (String, String) {
    (
        o["active"]["connection"].as_str().unwrap().into(),
        o["active"]["id"].as_str().unwrap().into(),
    )
}

/// The text of the newest Local outbox message that matches (the server sends in the background).
fn wait_for_message(w: &Window, matches: impl Fn(&Value) -> bool) -> String {
    for _ in 0..100 {
        if let Some(m) = w
            .ok("outbox", json!({}))
            .as_array()
            .unwrap()
            .iter()
            .find(|m| matches(m))
        {
            return m["text"].as_str().unwrap().to_string();
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!(
        "no such message in the Local outbox: {}",
        w.ok("outbox", json!({}))
    );
}

#[test]
fn sign_in_switch_keys_and_errors_through_ipc() {
    let dir = tempfile::tempdir().unwrap();
    let w = Window::open(dir.path());
    let o = w.ok("overview", json!({}));
    assert_eq!(o["connections"][0]["id"], "local");
    assert_eq!(o["connections"][0]["status"], "ready", "{o}");
    assert!(o["connections"][0]["url"]
        .as_str()
        .unwrap()
        .starts_with("http://127.0.0.1:"));
    assert_eq!(o["accounts"], json!([]));
    assert_eq!(o["secrets"]["memory_only"], true);
    let providers: Vec<String> = w
        .ok("providers", json!({"connection": "local"}))
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["type"].as_str().unwrap().into())
        .collect();
    assert!(
        providers.contains(&"anon-user".into()) && providers.contains(&"local-userpass".into()),
        "{providers:?}"
    );

    // Anonymous.
    let anon = w.ok(
        "sign_in",
        json!({"connection": "local", "request": {"method": "anonymous"}}),
    );
    assert_eq!(anon["display_name"], "Anonymous user");
    assert_eq!(anon["state"], "active");
    assert_eq!(
        w.ok("api_keys", json!({}))["available"],
        false,
        "anonymous accounts get an explanation, not keys"
    );

    // Bad input is refused with a code and nothing changes.
    let e = w.err(
        "sign_in",
        json!({"connection": "local", "request": {"method": "function", "payload": "{nope"}}),
    );
    assert_eq!(e["code"], "InvalidInput");
    let e = w.err(
        "sign_in",
        json!({"connection": "nowhere", "request": {"method": "anonymous"}}),
    );
    assert_eq!(e["code"], "UnknownConnection");
    let wrong =
        json!({"method": "email", "email": "nobody@example.test", "password": "wrong password"});
    let e = w.err("sign_in", json!({"connection": "local", "request": wrong}));
    assert_eq!(e["code"], "InvalidPassword");
    assert_eq!(
        w.ok("overview", json!({}))["accounts"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // Email: register, confirm from the Local outbox, sign in.
    w.ok(
        "register_email",
        json!({"connection": "local", "email": ADA, "password": ADA_PASSWORD}),
    );
    // The server mails in the background: the message lands a moment after the answer.
    let mut link = None;
    for _ in 0..100 {
        let outbox = w.ok("outbox", json!({}));
        link = outbox
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|m| m["links"].as_array().unwrap().clone())
            .filter_map(|l| l.as_str().map(str::to_string))
            .find(|l| l.contains("/confirm"));
        if link.is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let link = link.expect("a confirmation link in the Local outbox");
    assert_eq!(
        w.err(
            "confirm_email",
            json!({"connection": "local", "link": "http://x/confirm?token=only"})
        )["code"],
        "InvalidInput"
    );
    w.ok(
        "confirm_email",
        json!({"connection": "local", "link": link}),
    );
    let ada = w.ok("sign_in", ada_sign_in());
    assert_eq!(ada["display_name"], "ada@example.test");
    let o = w.ok("overview", json!({}));
    assert_eq!(active(&o).1, ada["id"].as_str().unwrap());

    // Switch to the anonymous account and back.
    let o = w.ok(
        "switch_account",
        json!({"connection": "local", "user": anon["id"]}),
    );
    assert_eq!(active(&o).1, anon["id"].as_str().unwrap());
    let states: Vec<&str> = o["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["state"].as_str().unwrap())
        .collect();
    assert_eq!(
        states.iter().filter(|s| **s == "active").count(),
        1,
        "{states:?}"
    );
    w.ok(
        "switch_account",
        json!({"connection": "local", "user": ada["id"]}),
    );

    // API keys of the active account: the secret crosses once, at creation.
    let created = w.ok("create_api_key", json!({"name": "ci"}));
    let secret = created["secret"].as_str().unwrap().to_string();
    assert!(secret.len() >= 32);
    let id = created["key"]["id"].as_str().unwrap().to_string();
    assert!(created["key"]["created_at"].as_i64().unwrap() > 1_700_000_000);
    let panel = w.ok("api_keys", json!({}));
    assert_eq!(panel["keys"][0]["enabled"], true);
    assert!(
        !panel.to_string().contains(&secret),
        "listing never shows the secret again"
    );
    assert_eq!(
        w.err("create_api_key", json!({"name": "  "}))["code"],
        "InvalidInput"
    );
    let list = w.ok("set_api_key_enabled", json!({"id": id, "enabled": false}));
    assert_eq!(list[0]["enabled"], false);
    let e = w.err(
        "sign_in",
        json!({"connection": "local", "request": {"method": "api_key", "key": secret}}),
    );
    assert_ne!(
        e["code"], "InvalidInput",
        "a disabled key is refused by the server: {e}"
    );
    assert_eq!(w.ok("delete_api_key", json!({"id": id})), json!([]));

    // Sessions: this device's is marked.
    let sessions = w.ok("sessions", json!({}));
    assert!(
        sessions
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["current"] == true),
        "{sessions}"
    );

    // A link this app did not start is refused, visibly, and changes nothing.
    let e = w.err(
        "complete_from_url",
        json!({"url": "gatehouse://auth/callback?code=x&state=forged"}),
    );
    assert_eq!(e["code"], "UnknownRedirect");
    assert!(w
        .shell
        .events
        .lock()
        .unwrap()
        .iter()
        .any(|e| matches!(e, UiEvent::Notice { message, .. } if message.contains("refused"))));

    // A link naming its state twice, or oversized, is refused before any state is looked up.
    let notices = |w: &Window| {
        w.shell
            .events
            .lock()
            .unwrap()
            .iter()
            .filter(|e| matches!(e, UiEvent::Notice { .. }))
            .count()
    };
    for url in [
        "gatehouse://auth/callback?code=x&state=a&state=b".to_string(),
        format!(
            "gatehouse://auth/callback?state=s&code={}",
            "x".repeat(3000)
        ),
    ] {
        let before = notices(&w);
        let e = w.err("complete_from_url", json!({ "url": url }));
        assert_eq!(e["code"], "UnknownRedirect", "{url:.80}");
        assert_eq!(notices(&w), before + 1, "the refusal is shown");
    }

    // A browser sign-in opens the browser, waits, and can be cancelled.
    let started = w.ok(
        "begin_browser_sign_in",
        json!({"connection": "local", "provider": "oauth2-github", "linkUser": null}),
    );
    assert_eq!(w.shell.opened.lock().unwrap().len(), 1);
    let state = started["state"].as_str().unwrap().to_string();
    assert_eq!(
        w.ok("overview", json!({}))["pending"][0]["state"],
        state.as_str()
    );
    w.ok("cancel_pending", json!({"state": state}));
    assert_eq!(w.ok("overview", json!({}))["pending"], json!([]));
    assert_eq!(
        w.err("cancel_pending", json!({"state": state}))["code"],
        "NoPendingSignIn"
    );

    // Magic link, finished with the code from the mail ("type the code instead"); a wrong
    // code keeps the sign-in waiting.
    let started = w.ok(
        "begin_magic_link",
        json!({"connection": "local", "email": "ada@example.test"}),
    );
    let state = started["state"].as_str().unwrap().to_string();
    let text = wait_for_message(&w, |m| {
        m["subject"].as_str().unwrap().contains("sign-in link")
    });
    let otp = text
        .split("type this code into the app: ")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    assert_eq!(
        w.err(
            "complete_with_code",
            json!({"state": state, "code": "WRNG-CODE"})
        )["code"],
        "InvalidCode"
    );
    let back = w.ok("complete_with_code", json!({"state": state, "code": otp}));
    assert_eq!(back["id"], ada["id"]);
    assert!(w
        .shell
        .events
        .lock()
        .unwrap()
        .iter()
        .any(|e| matches!(e, UiEvent::SignInFinished { ok: true, .. })));
    assert_eq!(w.ok("overview", json!({}))["pending"], json!([]));

    // Phone: register, confirm with the texted code (from the Local outbox), sign in.
    let phone = "+1 415 555 2671";
    let password = "phone passphrase 1";
    w.ok(
        "register_phone",
        json!({"connection": "local", "phone": phone, "password": password, "code": null}),
    );
    let first = wait_for_message(&w, |m| m["channel"] == "sms");
    let code = first.split(' ').next().unwrap().to_string(); // "123456 is your … code."
    w.ok(
        "register_phone",
        json!({"connection": "local", "phone": phone, "password": "", "code": code}),
    );
    let request = json!({"method": "phone", "phone": phone, "password": password});
    let phone_user = w.ok(
        "sign_in",
        json!({"connection": "local", "request": request}),
    );
    // A second text to the same number within a minute is refused, with a sentence saying when.
    let e = w.err(
        "send_sms_code",
        json!({"connection": "local", "phone": phone}),
    );
    assert_eq!(e["code"], "TooManyRequests");
    // The wait is counted from the first text: at most a minute, at least a second.
    let message = e["message"].as_str().unwrap();
    let secs: u64 = message
        .split("try again in ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("the message says when to try again: {e}"));
    assert!(
        (1..=60).contains(&secs) && message.contains(" seconds"),
        "{e}"
    );
    // A code only signs in with the verifier of the send that asked for it, which the app
    // keeps; with no send of its own there is nothing to redeem (the refused send made none).
    let request = json!({"method": "sms_code", "phone": phone, "code": code});
    let e = w.err(
        "sign_in",
        json!({"connection": "local", "request": request}),
    );
    assert_eq!(e["code"], "InvalidInput", "{e}");
    assert!(
        e["message"].as_str().unwrap().contains("Send a code"),
        "{e}"
    );
    assert_eq!(phone_user["state"], "active", "{phone_user}");
    w.ok(
        "remove_account",
        json!({"connection": "local", "user": phone_user["id"]}),
    );
    w.ok(
        "switch_account",
        json!({"connection": "local", "user": ada["id"]}),
    );

    // Log out, remove, delete.
    let o = w.ok("log_out", json!({"connection": "local", "user": ada["id"]}));
    assert_eq!(
        active(&o).1,
        anon["id"].as_str().unwrap(),
        "the next signed-in account becomes active"
    );
    let ada_state = o["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == ada["id"])
        .unwrap()["state"]
        .clone();
    assert_eq!(ada_state, "logged_out");
    let o = w.ok(
        "remove_account",
        json!({"connection": "local", "user": ada["id"]}),
    );
    assert!(o["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .all(|a| a["id"] != ada["id"]));
    // Back in, then deleted on the server.
    let again = w.ok("sign_in", ada_sign_in());
    assert_eq!(again["id"], ada["id"]);
    let o = w.ok(
        "delete_account",
        json!({"connection": "local", "user": ada["id"]}),
    );
    assert!(o["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .all(|a| a["id"] != ada["id"]));
    let e = w.err("sign_in", ada_sign_in());
    assert_eq!(
        e["code"], "InvalidPassword",
        "the account is gone on the server"
    );
    // An anonymous account that logs out cannot come back: it leaves the list.
    let o = w.ok(
        "log_out",
        json!({"connection": "local", "user": anon["id"]}),
    );
    assert_eq!(o["accounts"], json!([]));
    assert!(o["active"].is_null());
}

#[test]
fn connections_are_checked_before_they_are_saved() {
    let dir = tempfile::tempdir().unwrap();
    let w = Window::open(dir.path());
    let local_url = w.ok("overview", json!({}))["connections"][0]["url"]
        .as_str()
        .unwrap()
        .to_string();
    let e = w.err(
        "add_connection",
        json!({"name": "", "url": "http://example.com", "appId": "x"}),
    );
    assert_eq!(e["code"], "InvalidInput");
    assert!(e["message"].as_str().unwrap().contains("https"), "{e}");
    let e = w.err(
        "add_connection",
        json!({"name": "", "url": "not a url", "appId": "x"}),
    );
    assert_eq!(e["code"], "InvalidInput");
    // Nothing listens on port 9 (discard): unreachable.
    let e = w.err(
        "add_connection",
        json!({"name": "", "url": "http://127.0.0.1:9", "appId": "x"}),
    );
    assert_eq!(e["code"], "ConnectionCheckFailed");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("No server answered"),
        "{e}"
    );
    let e = w.err(
        "add_connection",
        json!({"name": "", "url": local_url, "appId": "no-such-app"}),
    );
    assert_eq!(e["code"], "ConnectionCheckFailed");
    assert!(e["message"].as_str().unwrap().contains("no app"), "{e}");
    assert!(
        !dir.path().join("settings.json").exists()
            || !std::fs::read_to_string(dir.path().join("settings.json"))
                .unwrap()
                .contains("no-such-app")
    );

    // The Local server under a second name: a valid remote connection.
    let c = w.ok(
        "add_connection",
        json!({"name": "Loopback", "url": local_url, "appId": "gatehouse-dev"}),
    );
    assert_eq!(c["status"], "ready");
    let id = c["id"].as_str().unwrap().to_string();
    let e = w.err(
        "add_connection",
        json!({"name": "again", "url": local_url, "appId": "gatehouse-dev"}),
    );
    assert_eq!(e["code"], "InvalidInput");
    let renamed = w.ok(
        "edit_connection",
        json!({"id": id, "name": "Renamed", "url": local_url, "appId": "gatehouse-dev"}),
    );
    assert_eq!(renamed["name"], "Renamed");
    let saved = std::fs::read_to_string(dir.path().join("settings.json")).unwrap();
    assert!(
        saved.contains("Renamed") && !saved.contains("eyJ"),
        "{saved}"
    );
    let user = w.ok(
        "sign_in",
        json!({"connection": id, "request": {"method": "anonymous"}}),
    );
    assert_eq!(user["connection_name"], "Renamed");
    let e = w.err(
        "edit_connection",
        json!({"id": id, "name": "Renamed", "url": local_url, "appId": "other"}),
    );
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("Remove this connection's accounts"),
        "{e}"
    );
    assert_eq!(
        w.err("remove_connection", json!({"id": "local"}))["code"],
        "InvalidInput"
    );
    w.ok("remove_connection", json!({"id": id}));
    let o = w.ok("overview", json!({}));
    assert_eq!(o["connections"].as_array().unwrap().len(), 1);
    assert_eq!(o["accounts"], json!([]));
}
