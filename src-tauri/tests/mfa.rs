//! Two-step sign-in through Tauri's mock runtime (issue 13, the window's side): real IPC
//! dispatch into a real `Desktop` whose Local backend is the embedded gatehoused on loopback.
//! TOTP codes come from Python's `pyotp` (tests/peers/.venv, made by scripts/setup.sh), an
//! implementation independent of the server's.

// Test code: a failed unwrap is a failed test with its message (helpers outside #[test] too).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{confirmation_link, Window};
use gatehouse_desktop::UiEvent;
use serde_json::{json, Value};

const ADA: &str = "ada@example.test";
const PASSWORD: &str = "correct horse battery";

fn email_sign_in(email: &str) -> Value {
    let request = json!({"method": "email", "email": email, "password": PASSWORD});
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
    let user = w.ok("sign_in", email_sign_in(email));
    user["id"].as_str().unwrap().to_string()
}

/// The TOTP code of `secret` at now + `offset` seconds, computed by pyotp.
fn pyotp(secret: &str, offset: i64) -> String {
    let python =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/peers/.venv/bin/python");
    assert!(
        python.exists(),
        "tests/peers/.venv is missing: run scripts/setup.sh (it installs pyotp)"
    );
    let out = std::process::Command::new(python)
        .args([
            "-c",
            "import sys, time, pyotp; \
             print(pyotp.TOTP(sys.argv[1]).at(time.time() + int(sys.argv[2])))",
            secret,
            &offset.to_string(),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "pyotp: {out:?}");
    let code = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert_eq!(code.len(), 6, "{code}");
    code
}

/// The challenges the window was told about, newest last.
fn challenges(w: &Window) -> Vec<Value> {
    w.shell
        .events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            UiEvent::MfaChallenge { challenge } => Some(serde_json::to_value(challenge).unwrap()),
            _ => None,
        })
        .collect()
}

/// Signs `email` in again, which the server answers with a challenge: the challenge's id, after
/// checking the command failed with `MfaRequired` and the window got the event.
fn challenged_sign_in(w: &Window, email: &str) -> String {
    let before = challenges(w).len();
    let e = w.err("sign_in", email_sign_in(email));
    assert_eq!(e["code"], "MfaRequired", "{e}");
    let all = challenges(w);
    assert_eq!(
        all.len(),
        before + 1,
        "one mfa-challenge event per challenge"
    );
    let c = all.last().unwrap();
    assert_eq!(c["connection"], "local");
    assert_eq!(c["provider"], "local-userpass");
    assert_eq!(c["enroll"], false);
    let methods: Vec<&str> = c["methods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap())
        .collect();
    assert!(
        methods.contains(&"totp") && methods.contains(&"recovery_code"),
        "{c}"
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let expires = c["expires_at"].as_i64().unwrap();
    assert!(expires > now && expires <= now + 310, "{c}");
    // The window gets the id, methods and expiry only.
    let keys: Vec<&String> = c.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "connection",
            "enroll",
            "expires_at",
            "id",
            "methods",
            "provider"
        ]
    );
    c["id"].as_str().unwrap().to_string()
}

fn log_out(w: &Window, user: &str) {
    w.ok("log_out", json!({"connection": "local", "user": user}));
    assert!(w.ok("overview", json!({}))["active"].is_null());
}

fn who(user: &str) -> Value {
    json!({"connection": "local", "user": user})
}

#[test]
fn totp_from_enrolment_to_challenged_sign_ins_with_codes_and_recovery_codes() {
    let dir = tempfile::tempdir().unwrap();
    let w = Window::open(dir.path());
    let ada = register_and_sign_in(&w, ADA);

    let status = w.ok("mfa_status", who(&ada));
    assert_eq!(
        status,
        json!({"factors": [], "recovery_codes_left": 0, "required": false})
    );

    // Enrol: the secret as text, in the otpauth URI, and as a QR code of at least 200 px.
    let mut args = who(&ada);
    args["name"] = json!("Ada's phone");
    let enrolled = w.ok("enroll_totp", args);
    let factor = enrolled["factor_id"].as_str().unwrap().to_string();
    let secret = enrolled["secret"].as_str().unwrap().to_string();
    let uri = enrolled["otpauth_uri"].as_str().unwrap();
    assert!(
        uri.starts_with("otpauth://totp/") && uri.contains(&format!("secret={secret}")),
        "{uri}"
    );
    let svg = enrolled["qr_svg"].as_str().unwrap();
    assert!(svg.contains("<svg") && svg.contains("#000000"), "{svg}");
    let listed = w.ok("mfa_status", who(&ada));
    assert_eq!(listed["factors"][0]["id"], factor.as_str());
    assert_eq!(listed["factors"][0]["name"], "Ada's phone");
    assert_eq!(listed["factors"][0]["confirmed"], false);

    // Unconfirmed, the factor does not count: signing in is not challenged yet.
    log_out(&w, &ada);
    w.ok("sign_in", email_sign_in(ADA));
    assert!(challenges(&w).is_empty());

    // Confirm: a wrong code is refused; pyotp's is taken and gives ten recovery codes.
    let confirm = |code: &str| {
        let mut args = who(&ada);
        args["factorId"] = json!(factor);
        args["code"] = json!(code);
        w.invoke("confirm_totp", args)
    };
    let now = pyotp(&secret, 0);
    let wrong = if now == "000000" { "111111" } else { "000000" };
    assert_eq!(confirm(wrong).unwrap_err()["code"], "MfaCodeInvalid");
    let confirmed = confirm(&now).unwrap();
    assert_eq!(confirmed["factor"]["confirmed"], true);
    let codes: Vec<String> = confirmed["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    assert_eq!(codes.len(), 10);
    assert_eq!(w.ok("mfa_status", who(&ada))["recovery_codes_left"], 10);

    // Signing in again is challenged; nothing is stored until the answer.
    log_out(&w, &ada);
    let challenge = challenged_sign_in(&w, ADA);
    assert!(w.ok("overview", json!({}))["active"].is_null());
    let answer = |challenge: &str, kind: &str, code: &str| {
        w.invoke(
            "answer_mfa",
            json!({"challenge": challenge, "kind": kind, "code": code}),
        )
    };
    assert_eq!(
        answer(&challenge, "sms", "1").unwrap_err()["code"],
        "InvalidInput"
    );
    assert_eq!(
        answer(&challenge, "totp", wrong).unwrap_err()["code"],
        "MfaCodeInvalid"
    );
    // A wrong code kept the challenge: a recovery code answers it.
    let answered = answer(&challenge, "recovery_code", &codes[0]).unwrap();
    assert_eq!(answered["account"]["id"], ada.as_str());
    assert_eq!(answered["account"]["state"], "active");
    assert!(answered["recovery_codes"].is_null());
    assert_eq!(
        answer(&challenge, "totp", &now).unwrap_err()["code"],
        "NoPendingSignIn",
        "a challenge is answered once"
    );
    assert_eq!(w.ok("mfa_status", who(&ada))["recovery_codes_left"], 9);

    // A used recovery code is refused; the next step's TOTP code answers (the confirming code
    // of this step would be a replay).
    log_out(&w, &ada);
    let challenge = challenged_sign_in(&w, ADA);
    assert_eq!(
        answer(&challenge, "recovery_code", &codes[0]).unwrap_err()["code"],
        "MfaCodeInvalid"
    );
    let next = pyotp(&secret, 30);
    let answered = answer(&challenge, "totp", &next).unwrap();
    assert_eq!(answered["account"]["id"], ada.as_str());
    // The same code again, in a new challenge, is a replay.
    log_out(&w, &ada);
    let challenge = challenged_sign_in(&w, ADA);
    assert_eq!(
        answer(&challenge, "totp", &next).unwrap_err()["code"],
        "MfaCodeInvalid",
        "a TOTP code is taken once"
    );

    // Cancelled: the challenge is gone.
    w.ok("cancel_mfa", json!({"challenge": challenge}));
    assert_eq!(
        answer(&challenge, "recovery_code", &codes[1]).unwrap_err()["code"],
        "NoPendingSignIn"
    );
    assert_eq!(
        w.err("cancel_mfa", json!({"challenge": challenge}))["code"],
        "NoPendingSignIn"
    );

    // New recovery codes void the old ones; removing the factor ends the challenges.
    let challenge = challenged_sign_in(&w, ADA);
    answer(&challenge, "recovery_code", &codes[1]).unwrap();
    let fresh = w.ok("regenerate_recovery_codes", who(&ada));
    assert_eq!(fresh.as_array().unwrap().len(), 10);
    assert!(!fresh.as_array().unwrap().contains(&json!(codes[2])));
    log_out(&w, &ada);
    let challenge = challenged_sign_in(&w, ADA);
    assert_eq!(
        answer(&challenge, "recovery_code", &codes[2]).unwrap_err()["code"],
        "MfaCodeInvalid",
        "old recovery codes are void"
    );
    answer(&challenge, "recovery_code", fresh[0].as_str().unwrap()).unwrap();
    let mut args = who(&ada);
    args["factorId"] = json!(factor);
    let after = w.ok("remove_mfa_factor", args);
    assert_eq!(after["factors"], json!([]));
    log_out(&w, &ada);
    w.ok("sign_in", email_sign_in(ADA));

    // Nothing secret crossed in an event (the shell records them all).
    let events = format!("{:?}", w.shell.events.lock().unwrap());
    assert!(!events.contains(&secret) && !events.contains(&codes[3]));
}

#[test]
fn a_challenge_answered_with_a_passkey_goes_through_the_browser_and_its_deep_link() {
    let dir = tempfile::tempdir().unwrap();
    let w = Window::open(dir.path());
    let ada = register_and_sign_in(&w, ADA);
    let enrolled = w.ok("enroll_totp", who(&ada));
    let secret = enrolled["secret"].as_str().unwrap().to_string();
    let mut args = who(&ada);
    args["factorId"] = enrolled["factor_id"].clone();
    args["code"] = json!(pyotp(&secret, 0));
    w.ok("confirm_totp", args);
    log_out(&w, &ada);
    let challenge = challenged_sign_in(&w, ADA);

    // The server's passkey page opens in the browser, bound to the challenge and a state.
    let started = w.ok("mfa_with_passkey", json!({"challenge": challenge}));
    let state = started["state"].as_str().unwrap().to_string();
    let url = started["url"].as_str().unwrap().to_string();
    assert_eq!(w.shell.opened.lock().unwrap().last(), Some(&url));
    let parsed = url::Url::parse(&url).unwrap();
    let query: std::collections::HashMap<String, String> =
        parsed.query_pairs().into_owned().collect();
    assert_eq!(query["challenge_id"], challenge);
    assert_eq!(query["state"], state);
    assert_eq!(query["redirect"], "gatehouse://auth/callback");
    assert!(!url.contains("verifier"), "{url}");
    let pending = w.ok("overview", json!({}))["pending"].clone();
    assert_eq!(pending[0]["state"], state.as_str(), "{pending}");
    assert_eq!(pending[0]["provider"], "passkey");
    assert_eq!(pending[0]["kind"], "browser");

    // A forged code in the deep link is refused by the server; the sign-in ends.
    let link = format!("gatehouse://auth/callback?code=forged&state={state}");
    let e = w.err("complete_from_url", json!({"url": link}));
    assert_ne!(e["code"], "UnknownRedirect", "{e}");
    let finished =
        w.shell.events.lock().unwrap().iter().any(
            |e| matches!(e, UiEvent::SignInFinished { state: s, ok: false, .. } if *s == state),
        );
    assert!(finished, "the window is told the passkey answer failed");

    // The typed-code fallback reaches the same completion; cancelling forgets the page too.
    let again = w.ok("mfa_with_passkey", json!({"challenge": challenge}));
    let state = again["state"].as_str().unwrap().to_string();
    w.ok("cancel_mfa", json!({"challenge": challenge}));
    assert_eq!(
        w.err("complete_with_code", json!({"state": state, "code": "x"}))["code"],
        "NoPendingSignIn"
    );
    assert!(w.ok("overview", json!({}))["pending"]
        .as_array()
        .unwrap()
        .is_empty());
}

#[test]
fn adding_a_passkey_opens_the_servers_page_and_waits_for_its_deep_link() {
    let dir = tempfile::tempdir().unwrap();
    let w = Window::open(dir.path());
    let ada = register_and_sign_in(&w, ADA);
    let mut args = who(&ada);
    args["name"] = json!("  ");
    assert_eq!(w.err("add_passkey", args)["code"], "InvalidInput");
    let mut args = who(&ada);
    args["name"] = json!("Laptop");
    let started = w.ok("add_passkey", args);
    let state = started["state"].as_str().unwrap().to_string();
    let url = started["url"].as_str().unwrap().to_string();
    assert_eq!(w.shell.opened.lock().unwrap().last(), Some(&url));
    let server = w.ok("overview", json!({}))["connections"][0]["url"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        url::Url::parse(&url).unwrap().origin(),
        url::Url::parse(&server).unwrap().origin(),
        "the page is the server's own"
    );
    let pending = w.ok("overview", json!({}))["pending"].clone();
    assert_eq!(pending[0]["provider"], "passkey", "{pending}");

    // A code the page never gave is refused; the account is untouched and still signed in.
    let e = w.err(
        "complete_with_code",
        json!({"state": state, "code": "forged"}),
    );
    assert_ne!(e["code"], "NoPendingSignIn", "{e}");
    assert_eq!(w.ok("overview", json!({}))["active"]["id"], ada.as_str());
    assert_eq!(w.ok("mfa_status", who(&ada))["factors"], json!([]));
}
