//! Issue 13's passkeys in the real window. WebKitGTK has no WebAuthn, so the app sends the
//! person to the server's page in the system browser: here the test's fake browser records the
//! URL, Debian's Chromium with Chrome's virtual authenticator runs the page, and the
//! `gatehouse://` link the page ends on is delivered to the running app as a launcher would (a
//! second instance). A passkey is added from the Account tab; the account signs in with it
//! alone (passwordless); after a restart, a password sign-in is challenged and the passkey
//! answers the challenge — each step checked against the server too.

use serde_json::json;

use super::gui::Gui;
use super::security::register_and_sign_in;
use super::webdriver::{self, Driver};
use super::{local_url, login_url, post, wait_state, PASSWORD};
use crate::peers::chromium::Chromium;

const EMAIL: &str = "passkey-person@example.test";

/// The app's next browser page, run by Chromium's authenticator; its deep link goes to the app.
async fn run_page(gui: &Gui, chromium: &Chromium, seen: usize, what: &str) {
    let page = gui.opened_url(seen).await;
    assert!(
        page.starts_with("http://localhost:"),
        "{what}: the browser opens the server's own page (the relying party is localhost): {page}"
    );
    chromium.open(&page).await;
    let back = chromium
        .outcome()
        .await
        .unwrap_or_else(|code| panic!("{what}: the passkey page failed with {code}"));
    assert!(back.starts_with("gatehouse://auth/callback?"), "{back}");
    gui.open_link(&back);
}

async fn log_out(d: &Driver, id: &str) {
    d.click(&format!("#accounts li[data-id=\"{id}\"] button"))
        .await;
    d.click("#tab-account").await;
    d.click("#do-logout").await;
    wait_state(d, id, "logged_out").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_passkey_added_in_the_window_signs_in_before_and_after_a_restart() {
    let gui = Gui::start();
    let d = gui.launch().await;
    d.wait("#provider-local-userpass").await;
    let chromium = Chromium::start().await;
    let id = register_and_sign_in(&d, EMAIL).await;
    d.click("#tab-connections").await;
    let login = login_url(&local_url(&d).await, "gatehouse-dev", "local-userpass");
    let body = json!({"username": EMAIL, "password": PASSWORD});

    // Add a passkey: the browser page makes it, the deep link brings it back, it is listed.
    d.click("#tab-account").await;
    d.wait_text("#mfa-summary", "Off").await;
    d.type_into("#mfa-new-name", "Test laptop").await;
    d.click("#do-add-passkey").await;
    run_page(&gui, &chromium, 0, "registration").await;
    d.wait_text(".notice", &format!("A passkey was added to {EMAIL}"))
        .await;
    d.wait_text("#mfa-factors li[data-confirmed=\"true\"]", "Test laptop")
        .await;
    d.wait_text("#mfa-summary", "1 passkey").await;
    assert_eq!(chromium.credentials().await.len(), 1, "one resident key");
    d.dismiss_notices().await;
    d.screenshot(&gui.shot("33-passkey-added")).await;
    // The passkey is a second factor now: the password alone is challenged.
    let (status, refused) = post(&login, body.clone()).await;
    assert_eq!(status, 401, "{refused}");
    assert_eq!(refused["error_code"], "MfaRequired", "{refused}");
    assert!(
        refused["mfa"]["methods"]
            .as_array()
            .unwrap()
            .contains(&json!("passkey")),
        "{refused}"
    );

    // Passwordless: log out, then the Passkey button alone signs the same account in.
    log_out(&d, &id).await;
    d.click("#tab-signin").await;
    d.click("#provider-passkey").await;
    d.click("#do-browser").await;
    d.wait(".pending-signin").await;
    run_page(&gui, &chromium, 1, "passwordless sign-in").await;
    wait_state(&d, &id, "active").await;
    d.wait_text(".notice", &format!("Signed in as {EMAIL}"))
        .await;

    // Restart: the account comes back signed in from the keychain.
    d.quit().await;
    let d = gui.launch().await;
    wait_state(&d, &id, "active").await;

    // A password sign-in stops at the second step; "Use a passkey" answers it in the browser.
    log_out(&d, &id).await;
    d.click(&format!("#accounts li[data-id=\"{id}\"] button"))
        .await;
    d.click("#do-reauth").await;
    d.type_into("#f-password", PASSWORD).await;
    d.press("#f-password", webdriver::ENTER).await;
    d.wait("#mfa-code").await;
    d.click("#do-mfa-passkey").await;
    run_page(&gui, &chromium, 2, "second factor").await;
    wait_state(&d, &id, "active").await;
    d.until(
        "the challenge form to close",
        "return !document.getElementById('mfa-dialog').open;",
        json!([]),
    )
    .await;
    d.quit().await;
}
