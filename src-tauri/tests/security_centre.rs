//! The security centre and the self-service commands through Tauri's mock runtime: real IPC
//! dispatch into a real `Desktop` whose Local backend is the embedded gatehoused on loopback
//! (issue 17, "The security centre in the window" and the window side of "Self-service").

// Test code: a failed unwrap is a failed test with its message (helpers outside #[test] too).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{confirmation_link, Window};
use serde_json::{json, Value};

const ADA: &str = "ada@example.test";
const BOB: &str = "bob@example.test";
const PASSWORD: &str = "correct horse battery";

fn email_sign_in(email: &str, password: &str) -> Value {
    let request = json!({"method": "email", "email": email, "password": password});
    json!({"connection": "local", "request": request})
}

/// Registers `email` on Local, confirms it from the outbox and signs in; the account's id.
fn register_and_sign_in(w: &Window, email: &str) -> String {
    w.ok(
        "register_email",
        json!({"connection": "local", "email": email, "password": PASSWORD}),
    );
    let link = confirmation_link(w, email);
    w.ok(
        "confirm_email",
        json!({"connection": "local", "link": link}),
    );
    let user = w.ok("sign_in", email_sign_in(email, PASSWORD));
    user["id"].as_str().unwrap().to_string()
}

/// The security centre's card of account `id`.
fn card(w: &Window, id: &str) -> Value {
    let centre = w.ok("security_centre", json!({}));
    centre["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["account"]["id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("no card for {id}: {centre}"))
}

fn kinds(card: &Value) -> Vec<String> {
    card["activity"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_string())
        .collect()
}

fn active_id(w: &Window) -> String {
    w.ok("overview", json!({}))["active"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn the_centre_shows_every_account_and_acts_on_any_without_switching() {
    let dir = tempfile::tempdir().unwrap();
    let w = Window::open(dir.path());
    let ada = register_and_sign_in(&w, ADA);
    let created = w.ok("create_api_key", json!({"name": "ada-ci"}));
    let key_id = created["key"]["id"].as_str().unwrap().to_string();
    let secret = created["secret"].as_str().unwrap().to_string();
    let bob = register_and_sign_in(&w, BOB);
    assert_eq!(active_id(&w), bob, "Bob signed in last: he is active");

    // Both accounts, each with its sessions (this device's marked), keys and activity.
    let centre = w.ok("security_centre", json!({}));
    assert_eq!(centre["accounts"].as_array().unwrap().len(), 2, "{centre}");
    assert!(
        !centre.to_string().contains(&secret),
        "a key's secret never shows again"
    );
    for id in [&ada, &bob] {
        let c = card(&w, id);
        assert_eq!(c["must_sign_in"], false, "{c}");
        assert_eq!(c["problem"], Value::Null, "{c}");
        let sessions = c["sessions"].as_array().unwrap();
        assert_eq!(sessions.len(), 1, "{c}");
        assert_eq!(sessions[0]["current"], true, "{c}");
        assert!(kinds(&c).contains(&"sign_in".to_string()), "{c}");
        assert_eq!(c["summary"]["devices"], 1, "{c}");
        assert!(
            c["summary"]["last_sign_in"].as_i64().unwrap() > 1_700_000_000,
            "{c}"
        );
    }
    let ada_card = card(&w, &ada);
    assert_eq!(ada_card["keys"][0]["name"], "ada-ci", "{ada_card}");
    assert_eq!(ada_card["keys"][0]["enabled"], true);
    assert_eq!(ada_card["summary"]["active_keys"], 1);
    assert_eq!(card(&w, &bob)["keys"], json!([]));
    assert_eq!(card(&w, &bob)["account"]["state"], "active");

    // Disable Ada's key while Bob stays active: the server refuses the key at once.
    let scope = json!({"connection": "local", "user": ada});
    let mut args = scope.clone();
    args["id"] = json!(key_id);
    args["enabled"] = json!(false);
    let keys = w.ok("set_api_key_enabled", args);
    assert_eq!(keys[0]["enabled"], false, "{keys}");
    assert_eq!(active_id(&w), bob, "nothing switched");
    assert_eq!(card(&w, &ada)["summary"]["active_keys"], 0);
    let by_key = json!({"connection": "local", "request": {"method": "api_key", "key": secret}});
    let e = w.err("sign_in", by_key);
    assert_ne!(e["code"], "InvalidInput", "the server refused it: {e}");
    assert_eq!(active_id(&w), bob);
    // Half a scope is refused rather than guessed.
    let e = w.err(
        "sessions",
        json!({"connection": "local", "user": null, "id": "x"}),
    );
    assert_eq!(e["code"], "InvalidInput", "{e}");
    // The sessions of a named account are its own.
    let ada_sessions = w.ok("sessions", scope.clone());
    assert_eq!(ada_sessions, card(&w, &ada)["sessions"]);

    // Sign Ada out everywhere: this device's session too, so she must sign in again; Bob is
    // untouched and stays active.
    let o = w.ok("revoke_all_sessions", scope.clone());
    let ada_view = o["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == ada.as_str())
        .cloned()
        .unwrap();
    assert_eq!(ada_view["state"], "logged_out", "{o}");
    assert_eq!(o["active"]["id"], bob.as_str());
    let ada_card = card(&w, &ada);
    assert_eq!(ada_card["must_sign_in"], true, "{ada_card}");
    assert_eq!(ada_card["sessions"], json!([]));
    let bob_card = card(&w, &bob);
    assert_eq!(bob_card["must_sign_in"], false);
    assert_eq!(bob_card["sessions"].as_array().unwrap().len(), 1);
    // Her session really ended on the server: actions on her account need a new sign-in.
    let e = w.err("revoke_other_sessions", scope);
    assert!(!e["code"].as_str().unwrap().is_empty(), "{e}");
    // Signed in again, her card is whole again.
    w.ok("sign_in", email_sign_in(ADA, PASSWORD));
    assert_eq!(card(&w, &ada)["must_sign_in"], false);
}

#[test]
fn a_wrong_current_password_changes_nothing_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let w = Window::open(dir.path());
    let ada = register_and_sign_in(&w, ADA);
    let new_password = "another horse battery";
    let change = |current: &str| {
        json!({
            "connection": "local",
            "user": ada,
            "currentPassword": current,
            "newPassword": new_password,
        })
    };
    let e = w.err("change_password", change("not the password"));
    assert_eq!(e["code"], "InvalidPassword", "{e}");
    assert_eq!(
        e["message"],
        "The current password is not right: nothing was changed"
    );
    // The old password still signs in (after the server's delay that follows a wrong one).
    std::thread::sleep(std::time::Duration::from_millis(1100));
    w.ok("sign_in", email_sign_in(ADA, PASSWORD));
    let e = w.err("change_password", change(""));
    assert_eq!(e["code"], "InvalidInput", "{e}");

    // With the right one it changes: the new password signs in, the old one no longer does.
    w.ok("change_password", change(PASSWORD));
    w.ok("sign_in", email_sign_in(ADA, new_password));
    let e = w.err("sign_in", email_sign_in(ADA, PASSWORD));
    assert_eq!(e["code"], "InvalidPassword", "{e}");
    assert!(
        kinds(&card(&w, &ada)).contains(&"password_changed".to_string()),
        "{}",
        card(&w, &ada)
    );
}

#[test]
fn a_failed_sign_in_is_unusual_until_marked_as_seen() {
    let dir = tempfile::tempdir().unwrap();
    let w = Window::open(dir.path());
    let ada = register_and_sign_in(&w, ADA);
    let who = json!({"connection": "local", "user": ada});
    w.ok("mark_security_seen", who.clone());
    let c = card(&w, &ada);
    assert_eq!(c["summary"]["unusual_count"], 0, "{c}");
    let looked = c["summary"]["last_looked"].as_i64().unwrap();
    // Times are whole seconds: the failure must be strictly after the look.
    std::thread::sleep(std::time::Duration::from_millis(1100));

    let e = w.err("sign_in", email_sign_in(ADA, "wrong password"));
    assert_eq!(e["code"], "InvalidPassword");
    // The server records a failure a few milliseconds after answering (so the answer's timing
    // says nothing about the account): wait for it.
    let mut c = card(&w, &ada);
    for _ in 0..100 {
        if c["summary"]["unusual_count"] != 0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
        c = card(&w, &ada);
    }
    assert_eq!(c["summary"]["unusual_count"], 1, "{c}");
    assert_eq!(c["summary"]["unusual_kinds"], json!(["sign_in_failed"]));
    assert_eq!(c["activity"][0]["kind"], "sign_in_failed", "{c}");

    w.ok("mark_security_seen", who);
    let c = card(&w, &ada);
    assert_eq!(c["summary"]["unusual_count"], 0, "{c}");
    assert!(c["summary"]["last_looked"].as_i64().unwrap() > looked);
    assert_eq!(
        c["activity"][0]["kind"], "sign_in_failed",
        "still listed, only no longer flagged"
    );
    // Kept in the desktop's settings file, so it survives a restart.
    let saved = std::fs::read_to_string(dir.path().join("settings.json")).unwrap();
    assert!(saved.contains(&format!("local/{ada}")), "{saved}");
    assert_eq!(
        w.err(
            "mark_security_seen",
            json!({"connection": "local", "user": "nobody"})
        )["code"],
        "UnknownAccount"
    );
}

#[test]
fn name_email_and_phone_change_through_ipc() {
    let dir = tempfile::tempdir().unwrap();
    let w = Window::open(dir.path());
    let ada = register_and_sign_in(&w, ADA);
    let who = json!({"connection": "local", "user": ada});
    let with = |extra: Value| {
        let mut args = who.clone();
        args.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        args
    };

    // Name and picture: shown in every account list.
    let picture = "https://example.test/ada.png";
    let d = w.ok(
        "update_profile",
        with(json!({"name": "Ada Lovelace", "pictureUrl": picture})),
    );
    assert_eq!(d["account"]["display_name"], "Ada Lovelace", "{d}");
    let o = w.ok("overview", json!({}));
    assert_eq!(o["active"]["display_name"], "Ada Lovelace", "{o}");
    assert_eq!(o["active"]["picture"], picture, "{o}");
    let e = w.err(
        "update_profile",
        with(json!({"name": "Ada", "pictureUrl": "http://example.test/a.png"})),
    );
    assert!(!e["code"].as_str().unwrap().is_empty(), "{e}");

    // Email: a confirmation to the new address; the old one keeps signing in meanwhile.
    let new_email = "ada.lovelace@example.test";
    w.ok("change_email", with(json!({"newEmail": new_email})));
    let mailed = (0..100).any(|_| {
        let hit = w
            .ok("outbox", json!({}))
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["to"] == new_email);
        if !hit {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        hit
    });
    assert!(
        mailed,
        "no mail to {new_email}: {}",
        w.ok("outbox", json!({}))
    );
    w.ok("sign_in", email_sign_in(ADA, PASSWORD));
    let e = w.err("change_email", with(json!({"newEmail": " "})));
    assert_eq!(e["code"], "InvalidInput", "{e}");

    // A phone change needs its texted code first; a code without one is refused.
    let e = w.err("confirm_phone_change", with(json!({"code": "123456"})));
    assert_eq!(e["code"], "InvalidInput", "{e}");
    assert!(
        e["message"].as_str().unwrap().contains("ask for a code"),
        "{e}"
    );
}

/// The newest text's code (its first word) once there are more than `before` texts.
fn next_code(w: &Window, before: usize) -> String {
    for _ in 0..100 {
        let texts: Vec<Value> = w
            .ok("outbox", json!({}))
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["channel"] == "sms")
            .cloned()
            .collect();
        if texts.len() > before {
            let text = texts[0]["text"].as_str().unwrap();
            return text.split(' ').next().unwrap().to_string();
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("no new text in the Local outbox");
}

/// `args` with `"connection": "local"`.
fn with_local(mut args: Value) -> Value {
    args["connection"] = json!("local");
    args
}

fn texts(w: &Window) -> usize {
    w.ok("outbox", json!({}))
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["channel"] == "sms")
        .count()
}

#[test]
fn a_phone_account_changes_its_number_and_asks_for_codes_through_ipc() {
    let dir = tempfile::tempdir().unwrap();
    let w = Window::open(dir.path());
    let (old, new) = ("+14155552671", "+14155552672");
    let password = "phone passphrase 1";
    let register = |code: Option<&str>| {
        let args = json!({"phone": old, "password": password, "code": code});
        with_local(args)
    };
    w.ok("register_phone", register(None));
    let code = next_code(&w, 0);
    w.ok("register_phone", register(Some(&code)));
    let sign_in = |phone: &str| {
        let request = json!({"method": "phone", "phone": phone, "password": password});
        json!({"connection": "local", "request": request})
    };
    let user = w.ok("sign_in", sign_in(old));
    let who = json!({"connection": "local", "user": user["id"]});
    let with = |extra: Value| {
        let mut args = who.clone();
        args.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        args
    };

    // A code to the new number; a wrong one keeps the change waiting, the right one finishes it.
    let before = texts(&w);
    w.ok("change_phone", with(json!({"newPhone": new})));
    let code = next_code(&w, before);
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let e = w.err("confirm_phone_change", with(json!({"code": wrong})));
    assert_ne!(e["code"], "InvalidInput", "the server refused it: {e}");
    w.ok("confirm_phone_change", with(json!({"code": code})));
    let signed_in = w.ok("sign_in", sign_in(new));
    assert_eq!(
        signed_in["id"], user["id"],
        "the new number signs in as the account"
    );
    let e = w.err("confirm_phone_change", with(json!({"code": code})));
    assert_eq!(
        e["code"], "InvalidInput",
        "nothing is waiting any more: {e}"
    );

    // Reset and confirmation codes reach the server: a second text to a number within a
    // minute is refused, saying when to try again.
    let phone_only = |phone: &str| json!({"connection": "local", "phone": phone});
    let e = w.err("send_phone_reset_code", phone_only(new));
    assert_eq!(e["code"], "TooManyRequests", "{e}");
    assert!(
        e["message"].as_str().unwrap().contains("try again in"),
        "{e}"
    );
    let e = w.err("resend_phone_confirmation", phone_only(old));
    assert_eq!(e["code"], "TooManyRequests", "{e}");
    let reset = json!({"connection": "local", "phone": new, "code": " ", "password": "x"});
    assert_eq!(w.err("reset_phone_password", reset)["code"], "InvalidInput");
}
