//! The window's commands through Tauri's mock runtime: real IPC dispatch (argument names,
//! serialisation, `{code, message}` errors) into a real `Desktop` whose Local backend is the
//! embedded gatehoused on loopback. Memory-only secrets: the OS keychain is the GUI test's part.

// Test code: a failed unwrap is a failed test with its message (helpers outside #[test] too).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{confirmation_link, wait_for_message, Window};
use gatehouse_desktop::UiEvent;
use serde_json::{json, Value};

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

/// The code in a magic-link mail's text.
fn magic_code(text: &str) -> String {
    text.split("type this code into the app: ")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

#[test]
fn sign_in_switch_keys_and_errors_through_ipc() {
    let dir = tempfile::tempdir().unwrap();
    let w = Window::open(dir.path());
    let o = w.ok("overview", json!({}));
    assert_eq!(o["connections"][0]["id"], "local");
    assert_eq!(o["connections"][0]["status"], "ready", "{o}");
    // `localhost`, not 127.0.0.1: the Local backend's passkeys need a domain name.
    assert!(o["connections"][0]["url"]
        .as_str()
        .unwrap()
        .starts_with("http://localhost:"));
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
    let link = confirmation_link(&w, ADA);
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
    let otp = magic_code(&text);
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

/// Issue 15, item 7 in the window: "Link" with a magic link (finished by the mailed code) adds the
/// address to the account being linked, not a new account. (A texted code links through
/// `link_identity` with the flow `send_sms_code` kept, the same path its sign-in takes.)
#[test]
fn a_magic_link_links_its_address_to_the_account_through_ipc() {
    let dir = tempfile::tempdir().unwrap();
    let w = Window::open(dir.path());
    let anon = w.ok(
        "sign_in",
        json!({"connection": "local", "request": {"method": "anonymous"}}),
    );
    let id = anon["id"].as_str().unwrap();
    let email = "grace@example.test";
    let password = "lavender teapot 42";
    w.ok(
        "register_email",
        json!({"connection": "local", "email": email, "password": password}),
    );
    let link = confirmation_link(&w, email);
    w.ok(
        "confirm_email",
        json!({"connection": "local", "link": link}),
    );
    // Linking names an account of this device; an unknown one is refused before any mail.
    let e = w.err(
        "begin_magic_link",
        json!({"connection": "local", "email": email, "linkUser": "nobody"}),
    );
    assert_eq!(e["code"], "UnknownAccount", "{e}");
    let started = w.ok(
        "begin_magic_link",
        json!({"connection": "local", "email": email, "linkUser": id}),
    );
    let state = started["state"].as_str().unwrap();
    let text = wait_for_message(&w, |m| {
        m["to"] == email && m["subject"].as_str().unwrap().contains("sign-in link")
    });
    let linked = w.ok(
        "complete_with_code",
        json!({"state": state, "code": magic_code(&text)}),
    );
    assert_eq!(linked["id"], id, "the address joined the anonymous account");
    assert!(w.shell.events.lock().unwrap().iter().any(|e| matches!(
        e,
        UiEvent::SignInFinished { ok: true, message, .. } if message.contains("now linked")
    )));
    let o = w.ok("overview", json!({}));
    assert_eq!(o["accounts"].as_array().unwrap().len(), 1, "{o}");
    let request = json!({"method": "email", "email": email, "password": password});
    let by_password = w.ok(
        "sign_in",
        json!({"connection": "local", "request": request}),
    );
    assert_eq!(
        by_password["id"], id,
        "the address signs in as that account"
    );
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
