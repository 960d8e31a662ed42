//! Issue 17 in the real window: the Security tab over two accounts (a key of the one that is not
//! active disabled from there, checked against the server), a password changed from the Account
//! tab (a wrong current password first, with its message), and "Sign out everywhere".

use serde_json::json;

use super::gui::Gui;
use super::webdriver::{self, Driver};
use super::{account_id, local_url, login_url, post, wait_state, PASSWORD};

/// Registers `email` with the Email form, confirms it from the Local outbox (the newest message
/// is first) and signs in; the account's id.
pub(super) async fn register_and_sign_in(d: &Driver, email: &str) -> String {
    d.click("#tab-signin").await;
    d.click("#provider-local-userpass").await;
    d.type_into("#f-email", email).await;
    d.type_into("#f-password", PASSWORD).await;
    d.click("#do-register").await;
    d.wait_text(".notice", "Registered").await;
    d.click("#tab-outbox").await;
    // The server mails in the background: refresh the outbox until the message is there.
    let mailed = concat!(
        "const li = [...document.querySelectorAll('#outbox li')]",
        ".find(l => l.textContent.includes(arguments[0]));",
        " if (!li) document.getElementById('do-refresh-outbox').click();",
        " return !!li;",
    );
    d.until(&format!("the mail to {email}"), mailed, json!([email]))
        .await;
    d.click("#outbox li:first-child .use-confirm").await;
    d.wait_text(".notice", &format!("Confirmed {email}")).await;
    d.click("#tab-signin").await;
    d.press("#f-password", webdriver::ENTER).await;
    let id = account_id(d, email).await;
    wait_state(d, &id, "active").await;
    id
}

fn card(id: &str) -> String {
    format!(".sec-card[data-id=\"{id}\"]")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_security_centre_and_self_service_in_the_window() {
    let gui = Gui::start();
    let d = gui.launch().await;
    d.wait("#provider-local-userpass").await;
    let base = local_url_of(&d).await;

    // Ada with an API key, then Bob, who is active.
    let ada = register_and_sign_in(&d, "ada@example.test").await;
    d.click("#tab-keys").await;
    d.type_into("#key-name", "ada-ci").await;
    d.click("#do-create-key").await;
    let secret = d
        .until(
            "Ada's new key",
            "return document.getElementById('new-key-secret').value;",
            json!([]),
        )
        .await
        .as_str()
        .unwrap()
        .to_string();
    d.click("#do-dismiss-key").await;
    let bob = register_and_sign_in(&d, "bob@example.test").await;
    wait_state(&d, &ada, "logged_in").await;

    // The Security tab shows both; Ada's key is disabled from her card while Bob stays active.
    d.click("#tab-security").await;
    d.wait_count(".sec-card", 2).await;
    d.wait_text(&format!("{} .sec-summary", card(&ada)), "1 active key")
        .await;
    d.wait_text(&format!("{} .sec-summary", card(&bob)), "1 device")
        .await;
    d.click(&format!("{} > summary", card(&ada))).await;
    d.click(&format!("{} .sec-toggle-key", card(&ada))).await;
    d.wait_text(&format!("{} .key-enabled", card(&ada)), "disabled")
        .await;
    d.wait_text(&format!("{} .sec-summary", card(&ada)), "0 active keys")
        .await;
    wait_state(&d, &bob, "active").await;
    let key_login = login_url(&base, "gatehouse-dev", "api-key");
    assert_eq!(
        post(&key_login, json!({"key": secret})).await.0,
        401,
        "the disabled key is refused by the server"
    );
    // The filter narrows the view to one connection's or one account's cards.
    let pick = concat!(
        "const s = document.getElementById('security-account');",
        " s.value = arguments[0]; s.dispatchEvent(new Event('change'));",
    );
    d.script(pick, json!([format!("local/{bob}")])).await;
    d.wait_count(".sec-card", 1).await;
    d.wait(&card(&bob)).await;
    d.script(pick, json!([""])).await;
    d.wait_count(".sec-card", 2).await;
    d.screenshot(&gui.shot("20-security-centre")).await;

    // Bob changes his password on the Account tab: a wrong current one is explained first.
    d.click(&format!("#accounts li[data-id=\"{bob}\"] button"))
        .await;
    d.click("#tab-account").await;
    d.wait_text("#account-name", "bob@example.test").await;
    let new_password = "another horse battery";
    d.type_into("#sp-current", "not his password").await;
    d.type_into("#sp-new", new_password).await;
    d.click("#do-change-password").await;
    d.wait_text("#sp-error", "current password is not right")
        .await;
    // The server delays the next password attempt on the account after a wrong one.
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    d.type_into("#sp-current", PASSWORD).await;
    d.type_into("#sp-new", new_password).await;
    d.click("#do-change-password").await;
    d.wait_text(".notice", "password of bob@example.test is changed")
        .await;
    let email_login = login_url(&base, "gatehouse-dev", "local-userpass");
    let login = |password: &str| json!({"username": "bob@example.test", "password": password});
    // The new one first: a wrong password delays the next attempt on the account.
    assert_eq!(post(&email_login, login(new_password)).await.0, 200);
    assert_eq!(post(&email_login, login(PASSWORD)).await.0, 401);

    // His name, shown in the account list; then a new address, confirmed from its mail (the
    // Local outbox) while the old one keeps signing in.
    d.type_into("#pf-name", "Bob Builder").await;
    d.click("#do-save-profile").await;
    d.wait_text(
        &format!("#accounts li[data-id=\"{bob}\"] .name"),
        "Bob Builder",
    )
    .await;
    d.wait_text("#account-name", "Bob Builder").await;
    d.screenshot(&gui.shot("21-account-self-service")).await;
    d.type_into("#ce-email", "builder@example.test").await;
    d.click("#do-change-email").await;
    d.wait_text(
        ".notice",
        "confirmation link was mailed to builder@example.test",
    )
    .await;
    d.click("#tab-outbox").await;
    let mailed = concat!(
        "const hit = document.getElementById('outbox').textContent.includes(arguments[0]);",
        " if (!hit) document.getElementById('do-refresh-outbox').click();",
        " return hit;",
    );
    d.until(
        "the mail to the new address",
        mailed,
        json!(["builder@example.test"]),
    )
    .await;
    assert_eq!(post(&email_login, login(new_password)).await.0, 200);
    d.click("#tab-account").await;

    // Sign out everywhere: Bob's session here ends too, and his card offers to sign in again.
    d.click("#do-signout-everywhere").await;
    d.click("#confirm-ok").await;
    wait_state(&d, &bob, "logged_out").await;
    d.click("#tab-security").await;
    d.wait(&format!("{} .sec-reauth", card(&bob))).await;
    d.wait_text(
        &format!("{} .sec-summary", card(&bob)),
        "Must sign in again",
    )
    .await;
    d.quit().await;
}

async fn local_url_of(d: &Driver) -> String {
    d.click("#tab-connections").await;
    let url = local_url(d).await;
    d.click("#tab-signin").await;
    url
}
