//! Mail through a real SMTP server (aiosmtpd, with AUTH): the test reads the captured message as a
//! mail client would and follows its link. And an SMTP relay that is down changes no answer.

use gatehouse_server::config::SmtpConfig;
use serde_json::json;

use crate::both_backends;
use crate::peers::SmtpPeer;
use crate::support::*;

both_backends!(
    confirmation_mail_arrives_over_smtp_and_its_link_works,
    a_dead_smtp_relay_changes_no_answer,
    a_magic_link_arrives_over_smtp_and_signs_in_the_device_that_asked
);

/// An `[smtp]` pointing at `port` where nothing listens.
fn dead_relay(port: u16) -> SmtpConfig {
    SmtpConfig {
        host: "127.0.0.1".into(),
        port,
        security: "none".into(),
        username: None,
        password: None,
        from: "Gatehouse <no-reply@gatehouse.test>".into(),
    }
}

async fn confirmation_mail_arrives_over_smtp_and_its_link_works(b: Backend) {
    let peer = SmtpPeer::start();
    let t = TestServer::start_with(b, |c| c.smtp = Some(peer.config())).await;
    let email = unique_email("smtp");
    t.post(
        APP,
        "/auth/providers/local-userpass/register",
        json!({"email": email, "password": PASSWORD}),
    )
    .await
    .void();
    let link = peer.link(&email, r"https?://\S+/confirm\?\S+");
    assert!(link.starts_with(&t.base), "{link}");
    // What a person does: open the page, press its button.
    let page = page_text(&t.http, &link).await;
    assert!(page.contains("Confirm my email address"));
    let (token, token_id) = token_of(&link);
    let done = press_button(&t.http, &link, &token, &token_id).await;
    assert!(done.contains("confirmed"), "{done}");
    t.login(
        APP,
        "local-userpass",
        json!({"username": email, "password": PASSWORD}),
    )
    .await
    .ok();
    assert!(
        t.outbox().is_empty(),
        "with SMTP configured nothing goes to the dev outbox"
    );
}

async fn a_dead_smtp_relay_changes_no_answer(b: Backend) {
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let t = TestServer::start_with(b, |c| c.smtp = Some(dead_relay(dead))).await;
    let email = unique_email("dead");
    t.post(
        APP,
        "/auth/providers/local-userpass/register",
        json!({"email": email, "password": PASSWORD}),
    )
    .await
    .void();
    t.post(
        APP,
        "/auth/providers/local-userpass/reset/send",
        json!({"email": email}),
    )
    .await
    .void();
    t.post(
        APP,
        "/auth/providers/local-userpass/confirm/send",
        json!({"email": unique_email("nobody")}),
    )
    .await
    .void();
}

async fn a_magic_link_arrives_over_smtp_and_signs_in_the_device_that_asked(b: Backend) {
    let peer = SmtpPeer::start();
    let t = TestServer::start_with(b, |c| {
        c.smtp = Some(peer.config());
        c.apps
            .get_mut(APP)
            .unwrap()
            .providers
            .push("magic-link".into());
    })
    .await;
    let email = unique_email("smtp-magic");
    t.post(
        APP,
        "/auth/providers/local-userpass/register",
        json!({"email": email, "password": PASSWORD}),
    )
    .await
    .void();
    let confirm = peer.link(&email, r"https?://\S+/confirm\?\S+");
    let (token, token_id) = token_of(&confirm);
    t.http
        .post(&confirm)
        .form(&[("token", token), ("tokenId", token_id)])
        .send()
        .await
        .unwrap();
    let sdk = crate::sdk::Sdk::new();
    let app = sdk.app(&t).await;
    let pending = app
        .send_magic_link(&email, "gatehouse://auth/callback")
        .await
        .unwrap();
    let link = peer.link(&email, r"https?://\S+/magic\?\S+");
    // The mail client (or its scanner) opens the link: a page, nothing consumed.
    assert!(page_text(&t.http, &link)
        .await
        .contains("Continue in the app"));
    let (token, token_id) = token_of(&link);
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let pressed = no_redirects
        .post(link.split('?').next().unwrap())
        .form(&[("token", token), ("tokenId", token_id)])
        .send()
        .await
        .unwrap();
    let deep_link = pressed.headers()["location"].to_str().unwrap().to_string();
    let user = app.complete_magic_link(&pending, &deep_link).await.unwrap();
    assert_eq!(user.email().as_deref(), Some(email.as_str()));
}
