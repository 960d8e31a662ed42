//! Issue 17 in the real window against a remote gatehoused: the email address changed from the
//! Account tab, its mails read from the real SMTP server (aiosmtpd), and the phone number changed
//! with the code texted through the Twilio stand-in (a wrong code first, with its message).

use gatehouse_server::config::SmsConfig;
use gatehouse_server::Secret;
use serde_json::json;

use crate::peers::SmtpPeer;
use crate::phone::Twilio;
use crate::support::{token_of, unique_email, Backend, TestServer, APP};

use super::gui::Gui;
use super::webdriver::{self, Driver};
use super::{account_id, wait_state, PASSWORD};

/// Distinct numbers: the server texts one number at most once a minute.
const OLD_PHONE: &str = "+14155552675";
const NEW_PHONE: &str = "+14155552676";

/// A gatehoused that mails over SMTP to `peer` and texts through the Twilio stand-in, with the
/// email/password and phone/password providers on.
async fn remote(peer: &SmtpPeer) -> (TestServer, Twilio) {
    let (twilio, url) = Twilio::start().await;
    // PostgreSQL here: the other remote in the window tests runs on SQLite.
    let t = TestServer::start_with(Backend::Postgres, |c| {
        c.smtp = Some(peer.config());
        c.sms = Some(SmsConfig {
            base_url: url,
            account_sid: crate::phone::SID.into(),
            auth_token: Secret::new(crate::phone::TOKEN),
            from: "+15005550006".into(),
        });
        let app = c.apps.get_mut(APP).unwrap();
        app.providers.push("phone-password".into());
        app.phone.allowed_countries = vec!["US".into()];
    })
    .await;
    (t, twilio)
}

/// The first link in `body` whose path contains `path`.
fn link_in(body: &str, path: &str) -> String {
    body.split_whitespace()
        .find(|w| w.starts_with("http") && w.contains(path))
        .unwrap_or_else(|| panic!("no {path} link in {body}"))
        .to_string()
}

/// Adds the remote as a connection and picks it on the Sign in tab.
async fn add_connection(d: &Driver, base: &str) {
    d.click("#tab-connections").await;
    d.type_into("#conn-name", "Remote").await;
    d.type_into("#conn-url", base).await;
    d.type_into("#conn-app", APP).await;
    d.click("#do-save-conn").await;
    d.wait_count("#connections li", 2).await;
    d.click("#tab-signin").await;
    pick_remote(d).await;
}

async fn pick_remote(d: &Driver) {
    let pick = concat!(
        "const s = document.getElementById('signin-connection');",
        " s.value = 'remote-1'; s.dispatchEvent(new Event('change'));",
    );
    d.script(pick, json!([])).await;
}

async fn login_status(t: &TestServer, provider: &str, body: serde_json::Value) -> u16 {
    t.login(APP, provider, body).await.status.as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_and_phone_changes_in_the_window_through_smtp_and_sms() {
    let peer = SmtpPeer::start();
    let (t, twilio) = remote(&peer).await;
    let gui = Gui::start();
    let d = gui.launch().await;
    d.wait("#provider-anon-user").await;
    add_connection(&d, &t.base).await;

    // Register; the confirmation link, read from the SMTP server, is pasted into the window.
    let old = unique_email("window-old");
    d.click("#provider-local-userpass").await;
    d.type_into("#f-email", &old).await;
    d.type_into("#f-password", PASSWORD).await;
    d.click("#do-register").await;
    d.wait_text(".notice", "Registered").await;
    let confirm = peer.wait_for(&old, "Confirm").await;
    let link = link_in(confirm["body"].as_str().unwrap(), "/confirm");
    assert!(link.starts_with(&t.base), "{link}");
    d.click("#provider-form details > summary").await;
    d.type_into("#f-link", &link).await;
    d.click("#do-confirm-link").await;
    d.wait_text(".notice", "Account confirmed").await;
    d.press("#f-password", webdriver::ENTER).await;
    let ada = account_id(&d, &old).await;
    wait_state(&d, &ada, "active").await;

    // Change the address on the Account tab: the link goes to the new address only.
    d.dismiss_notices().await;
    d.click("#tab-account").await;
    d.wait_text("#account-name", &old).await;
    let new = unique_email("window-new");
    d.type_into("#ce-email", &new).await;
    d.click("#do-change-email").await;
    d.wait_text(".notice", &format!("confirmation link was mailed to {new}"))
        .await;
    let mail = peer.wait_for(&new, "Confirm your new email address").await;
    let link = link_in(mail["body"].as_str().unwrap(), "/email-change?");
    assert!(link.starts_with(&t.base), "{link}");
    // Until it is followed the old address signs in, the new one does not.
    let with = |email: &str| json!({"username": email, "password": PASSWORD});
    assert_eq!(login_status(&t, "local-userpass", with(&old)).await, 200);
    assert_eq!(login_status(&t, "local-userpass", with(&new)).await, 401);
    // What a person does: open the page, press its button.
    let page = t.http.get(&link).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let (token, token_id) = token_of(&link);
    let pressed = t
        .http
        .post(link.split('?').next().unwrap())
        .form(&[("token", token), ("tokenId", token_id)])
        .send()
        .await
        .unwrap();
    assert_eq!(pressed.status(), 200);
    let html = pressed.text().await.unwrap();
    assert!(html.contains("Email address changed"), "{html}");
    // The old address is told, with an undo link; the new one signs in, the old one not.
    let notice = peer.wait_for(&old, "was changed").await;
    let body = notice["body"].as_str().unwrap();
    assert!(body.contains(new.as_str()), "{body}");
    link_in(body, "/email-change/undo?");
    assert_eq!(login_status(&t, "local-userpass", with(&new)).await, 200);
    assert_eq!(login_status(&t, "local-userpass", with(&old)).await, 401);
    // The window shows the new address once the account is shown again.
    d.click("#tab-sessions").await;
    d.click("#tab-account").await;
    d.wait_text("#account-profile", &new).await;
    d.wait_text(&format!("#accounts li[data-id=\"{ada}\"] .name"), &new)
        .await;
    d.screenshot(&gui.shot("22-change-email-remote")).await;

    // A phone account on the same server: registered and confirmed with the texted code.
    d.dismiss_notices().await;
    d.click("#tab-signin").await;
    pick_remote(&d).await;
    d.click("#provider-phone-password").await;
    d.type_into("#f-phone", OLD_PHONE).await;
    d.type_into("#f-password", PASSWORD).await;
    d.click("#do-register").await;
    d.wait_text(".notice", "Registered").await;
    let code = twilio.code_after(OLD_PHONE, 0).await;
    d.type_into("#f-code", &code).await;
    d.click("#provider-form #do-confirm-phone").await;
    d.wait_text(".notice", "Phone confirmed").await;
    d.press("#f-password", webdriver::ENTER).await;
    let pat = account_id(&d, OLD_PHONE).await;
    wait_state(&d, &pat, "active").await;
    wait_state(&d, &ada, "logged_in").await;

    // Change the number on the Account tab: the code goes to the new number.
    d.dismiss_notices().await;
    d.click(&format!("#accounts li[data-id=\"{pat}\"] button"))
        .await;
    d.click("#tab-account").await;
    d.wait_text("#account-name", OLD_PHONE).await;
    let old_texts = twilio.count_to(OLD_PHONE);
    d.type_into("#cph-number", NEW_PHONE).await;
    d.click("#do-change-phone").await;
    d.wait_text(".notice", &format!("A code was texted to {NEW_PHONE}"))
        .await;
    let code = twilio.code_after(NEW_PHONE, 0).await;
    // A wrong code is explained under the form, and the change keeps waiting.
    let wrong = if code == "000000" { "111111" } else { "000000" };
    d.type_into("#cph-code", wrong).await;
    d.press("#cph-code", webdriver::ENTER).await;
    d.wait_text(
        "#cph-error",
        "The code is not right; check the latest text message",
    )
    .await;
    d.type_into("#cph-code", &code).await;
    d.press("#cph-code", webdriver::ENTER).await;
    d.wait_text(".notice", "new phone number is confirmed")
        .await;
    d.wait_text("#account-profile", NEW_PHONE).await;
    // The old number is told; the new one signs in, the old one not.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while twilio.count_to(OLD_PHONE) == old_texts {
        assert!(
            std::time::Instant::now() < deadline,
            "no notice to {OLD_PHONE}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let texts = twilio.sent.lock().unwrap().clone();
    let (_, last) = texts.iter().rev().find(|(to, _)| to == OLD_PHONE).unwrap();
    assert!(last.contains("was changed"), "{last}");
    let with = |phone: &str| json!({"phone": phone, "password": PASSWORD});
    assert_eq!(
        login_status(&t, "phone-password", with(NEW_PHONE)).await,
        200
    );
    assert_eq!(
        login_status(&t, "phone-password", with(OLD_PHONE)).await,
        401
    );
    d.quit().await;
}
