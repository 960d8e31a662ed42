//! Issue 13 in the real window: an authenticator app added from the Account tab (the key read
//! from the screen, its codes computed by an independent RFC 6238 implementation, PyPI's
//! `pyotp`), ten recovery codes shown once; signing in again stops at the "Two-step
//! verification" form (a wrong code explained, then the right one); after a restart the account
//! comes back signed in from the keychain; a recovery code signs in once; and removing the
//! factor lets the password alone sign in again, each step checked against the server too.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};

use super::gui::Gui;
use super::security::register_and_sign_in;
use super::webdriver::{self, Driver};
use super::{account_id, local_url, login_url, post, unlabelled, wait_state, PASSWORD};

const EMAIL: &str = "two-step@example.test";

fn python() -> PathBuf {
    let py = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("peers/.venv/bin/python");
    assert!(
        py.exists(),
        "tests/peers/.venv is missing: run scripts/setup.sh (it installs pyotp)"
    );
    py
}

/// `pyotp`'s code for `secret` now, and the 30-second step it belongs to.
fn pyotp_now(secret: &str) -> (String, u64) {
    let script = concat!(
        "import sys, time, pyotp\n",
        "t = int(time.time())\n",
        "print(pyotp.TOTP(sys.argv[1]).at(t), t // 30)\n",
    );
    let out = Command::new(python())
        .args(["-c", script, secret])
        .output()
        .expect("python runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "pyotp failed (is it installed in tests/peers/.venv?): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut words = text.split_whitespace();
    let code = words.next().expect("a code").to_string();
    let step = words.next().expect("a step").parse().expect("a number");
    assert_eq!(code.len(), 6, "six digits: {code}");
    (code, step)
}

/// A code of a later step than `used` (the server takes each step once: a replay is refused).
async fn fresh_code(secret: &str, used: Option<u64>) -> (String, u64) {
    loop {
        let (code, step) = pyotp_now(secret);
        if used.is_none_or(|u| step > u) {
            return (code, step);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn focused(d: &Driver) -> Value {
    d.script("return document.activeElement.id;", json!([]))
        .await
}

async fn challenge_open(d: &Driver) -> bool {
    let script = "return document.getElementById('mfa-dialog').open;";
    d.script(script, json!([])).await == json!(true)
}

/// Logs the account out from the Account tab, then signs in again with the password: the
/// challenge form opens, its code field focused.
async fn sign_in_again(d: &Driver, id: &str) {
    d.click(&format!("#accounts li[data-id=\"{id}\"] button"))
        .await;
    d.click("#tab-account").await;
    if d.script(
        "return !document.getElementById('do-logout').hidden;",
        json!([]),
    )
    .await
        == json!(true)
    {
        d.click("#do-logout").await;
        wait_state(d, id, "logged_out").await;
        d.click(&format!("#accounts li[data-id=\"{id}\"] button"))
            .await;
    }
    d.click("#do-reauth").await;
    d.type_into("#f-password", PASSWORD).await;
    d.press("#f-password", webdriver::ENTER).await;
    d.wait("#mfa-code").await;
    assert!(challenge_open(d).await);
    d.until(
        "the code field to have the focus",
        "return document.activeElement.id === 'mfa-code';",
        json!([]),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_step_sign_in_in_the_window() {
    let gui = Gui::start();
    let d = gui.launch().await;
    d.wait("#provider-local-userpass").await;
    d.click("#tab-connections").await;
    let base = local_url(&d).await;
    let login = login_url(&base, "gatehouse-dev", "local-userpass");
    let body = json!({"username": EMAIL, "password": PASSWORD});
    let id = register_and_sign_in(&d, EMAIL).await;

    // Add an authenticator app: the QR code and the key show, the factor is listed unconfirmed.
    d.click("#tab-account").await;
    d.wait_text("#mfa-summary", "Off").await;
    assert_eq!(d.count("#mfa-factors li").await, 0);
    d.type_into("#mfa-new-name", "Test phone").await;
    d.click("#do-enroll-totp").await;
    let secret = d
        .until(
            "the authenticator key",
            "return document.getElementById('totp-secret').value;",
            json!([]),
        )
        .await
        .as_str()
        .unwrap()
        .to_string();
    let qr = concat!(
        "const i = document.getElementById('totp-qr');",
        " return i.complete && i.naturalWidth > 0 && i.src.startsWith('data:image/svg+xml');",
    );
    d.until("the QR code to be drawn", qr, json!([])).await;
    d.wait_text("#mfa-factors li[data-confirmed=\"false\"]", "Test phone")
        .await;
    assert_eq!(
        focused(&d).await,
        "totp-code",
        "the code field has the focus"
    );
    assert_eq!(unlabelled(&d).await, json!([]), "every control is named");
    // Still one factor short: the password alone signs in.
    assert_eq!(post(&login, body.clone()).await.0, 200);
    d.script(
        "document.getElementById('account-mfa').scrollIntoView();",
        json!([]),
    )
    .await;
    d.dismiss_notices().await;
    d.screenshot(&gui.shot("30-two-step-enrol")).await;

    // A wrong code is explained; pyotp's code confirms it (Enter submits), and ten recovery
    // codes show once.
    d.type_into("#totp-code", "12345").await;
    d.press("#totp-code", webdriver::ENTER).await;
    d.wait_text("#totp-error", "6 digits").await;
    let (code, used) = fresh_code(&secret, None).await;
    d.type_into("#totp-code", &code).await;
    d.press("#totp-code", webdriver::ENTER).await;
    d.wait_count("#recovery-codes li", 10).await;
    let recovery: Vec<String> = d
        .script(
            "return [...document.querySelectorAll('#recovery-codes li')].map(l => l.textContent);",
            json!([]),
        )
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    assert!(recovery.iter().all(|c| c.len() >= 8), "{recovery:?}");
    assert_eq!(
        d.count("#totp-enroll[hidden]").await,
        1,
        "the key goes once confirmed"
    );
    assert_eq!(d.text("#totp-secret").await, "");
    d.wait_text("#mfa-factors li[data-confirmed=\"true\"]", "Test phone")
        .await;
    d.wait_text("#mfa-summary", "10 recovery codes left").await;
    d.screenshot(&gui.shot("31-two-step-recovery-codes")).await;
    d.click("#do-dismiss-codes").await;
    assert_eq!(d.count("#recovery-codes li").await, 0, "shown once");

    // The server now wants the second step of a password sign-in.
    let (status, refused) = post(&login, body.clone()).await;
    assert_eq!(status, 401, "{refused}");
    assert_eq!(refused["error_code"], "MfaRequired", "{refused}");

    // Log out and sign in again: the challenge form; a wrong code first, then pyotp's.
    sign_in_again(&d, &id).await;
    assert_eq!(
        d.count("#mfa-kind-row[hidden]").await,
        0,
        "a recovery code is offered"
    );
    assert_eq!(unlabelled(&d).await, json!([]), "every control is named");
    d.wait_text("#mfa-countdown", "ends in").await;
    d.dismiss_notices().await;
    d.screenshot(&gui.shot("32-two-step-challenge")).await;
    let (wrong, _) = pyotp_now("JBSWY3DPEHPK3PXP");
    d.type_into("#mfa-code", &wrong).await;
    d.press("#mfa-code", webdriver::ENTER).await;
    d.until(
        "the wrong code's message",
        "return document.getElementById('mfa-error').textContent;",
        json!([]),
    )
    .await;
    assert!(challenge_open(&d).await, "a wrong code keeps the form open");
    wait_state(&d, &id, "logged_out").await;
    // The server delays the next attempt on the account after a wrong one.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (code, _) = fresh_code(&secret, Some(used)).await;
    d.type_into("#mfa-code", &code).await;
    d.press("#mfa-code", webdriver::ENTER).await;
    wait_state(&d, &id, "active").await;
    d.until(
        "the challenge form to close",
        "return !document.getElementById('mfa-dialog').open;",
        json!([]),
    )
    .await;
    d.wait_text(".notice", &format!("Signed in as {EMAIL}"))
        .await;

    // Restart: the account comes back signed in from the keychain, no second step asked.
    d.quit().await;
    let d = gui.launch().await;
    wait_state(&d, &id, "active").await;
    assert!(!challenge_open(&d).await);
    assert_eq!(account_id(&d, EMAIL).await, id);
    // The Local backend listens on a new port each start.
    d.click("#tab-connections").await;
    let login = login_url(&local_url(&d).await, "gatehouse-dev", "local-userpass");

    // Sign out and in again with a recovery code (the toggle): it works once.
    sign_in_again(&d, &id).await;
    d.click("#mfa-kind").await;
    d.wait_text("#mfa-code-label", "Recovery code").await;
    d.type_into("#mfa-code", &recovery[0]).await;
    d.press("#mfa-code", webdriver::ENTER).await;
    wait_state(&d, &id, "active").await;
    d.wait_text(".notice", "recovery code is used up").await;
    d.click("#tab-account").await;
    d.wait_text("#mfa-summary", "9 recovery codes left").await;

    // Remove the factor (just signed in: no renewed sign-in needed); the password alone signs
    // in again.
    let factor = d
        .until(
            "the factor's id",
            concat!(
                "const b = document.querySelector('#mfa-factors .remove-factor');",
                " return b && b.dataset.id;",
            ),
            json!([]),
        )
        .await
        .as_str()
        .unwrap()
        .to_string();
    // The warning about the used recovery code stays until dismissed: it covers the corner.
    d.dismiss_notices().await;
    d.click(&format!(".remove-factor[data-id=\"{factor}\"]"))
        .await;
    d.click("#confirm-ok").await;
    d.wait_count("#mfa-factors li", 0).await;
    d.wait_text("#mfa-summary", "Off").await;
    let (status, answer) = post(&login, body).await;
    assert_eq!(status, 200, "{answer}");
    d.quit().await;
}
