//! Magic links (security.md S-21, S-22, T-14): the link's page is scanner-safe, hands a one-time
//! code to the app's deep link, and only the device holding the PKCE verifier can redeem it; the
//! mailed short code works the same way when the deep link never arrives.

use serde_json::json;

use crate::both_backends;
use crate::sdk::Sdk;
use crate::support::*;

both_backends!(
    the_deep_link_completes_on_the_device_that_asked,
    the_typed_code_works_instead,
    links_resist_scanners_other_devices_reuse_and_guessing,
    requests_are_checked_and_look_alike,
    a_magic_link_links_its_address_to_the_signed_in_user
);

pub(crate) const DEEP_LINK: &str = "gatehouse://auth/callback";

/// A test server whose app also enables magic links.
pub(crate) async fn server(b: Backend) -> TestServer {
    TestServer::start_with(b, |c| {
        c.apps
            .get_mut(APP)
            .unwrap()
            .providers
            .push("magic-link".into())
    })
    .await
}

/// The newest magic-link mail to `email`: (link, short code).
async fn magic_mail(t: &TestServer, email: &str, seen: usize) -> (String, String) {
    let mut mails = magic_mails(t, email, seen, 1).await;
    mails.pop().unwrap()
}

/// The magic-link mails to `email` after the first `seen` mails, oldest first: (link, code);
/// waits (bounded) until there are at least `want`.
pub(crate) async fn magic_mails(
    t: &TestServer,
    email: &str,
    seen: usize,
    want: usize,
) -> Vec<(String, String)> {
    t.settle().await;
    for _ in 0..100 {
        let mails: Vec<(String, String)> = t
            .outbox()
            .into_iter()
            .skip(seen)
            .filter(|m| m["to"] == email && m["subject"].as_str().unwrap().contains("sign-in"))
            .map(|m| {
                let text = m["text"].as_str().unwrap();
                let otp = text.split("type this code into the app: ").nth(1).unwrap()[..9].into();
                (m["links"][0].as_str().unwrap().to_string(), otp)
            })
            .collect();
        if mails.len() >= want {
            return mails;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("fewer than {want} magic-link mails to {email}");
}

/// What pressing the page's button does: the 303 Location (the deep link the OS would open).
pub(crate) async fn press(link: &str) -> reqwest::Response {
    let (token, token_id) = token_of(link);
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    no_redirects
        .post(link.split('?').next().unwrap())
        .form(&[("token", token), ("tokenId", token_id)])
        .send()
        .await
        .unwrap()
}

async fn the_deep_link_completes_on_the_device_that_asked(b: Backend) {
    let t = server(b).await;
    let email = unique_email("magic");
    let owner = t.email_user(&email).await;
    let sdk = Sdk::new();
    let app = sdk.app(&t).await;
    let seen = t.outbox().len();
    let pending = app.send_magic_link(&email, DEEP_LINK).await.unwrap();
    let (link, _) = magic_mail(&t, &email, seen).await;
    // Mail scanners fetch the link; nothing happens.
    for _ in 0..3 {
        let page = t.http.get(&link).send().await.unwrap();
        assert_eq!(page.status(), 200);
        assert!(page.text().await.unwrap().contains("Continue in the app"));
    }
    let pressed = press(&link).await;
    assert_eq!(pressed.status(), 303);
    let location = pressed.headers()["location"].to_str().unwrap().to_string();
    assert!(
        location.starts_with("gatehouse://auth/callback?code="),
        "{location}"
    );
    assert!(!location.contains("eyJ"), "never a token in a URL");
    let user = app.complete_magic_link(&pending, &location).await.unwrap();
    assert_eq!(user.id(), owner.user_id);
    assert_eq!(user.provider_type().as_deref(), Some("magic-link"));
    assert_eq!(
        app.complete_magic_link(&pending, &location)
            .await
            .unwrap_err()
            .code(),
        "CodeAlreadyUsed"
    );
    // The link is spent too.
    assert_eq!(
        press(&link).await.status(),
        200,
        "an error page, not a second redirect"
    );
}

async fn the_typed_code_works_instead(b: Backend) {
    let t = server(b).await;
    let email = unique_email("otp");
    let owner = t.email_user(&email).await;
    let sdk = Sdk::new();
    let app = sdk.app(&t).await;
    let seen = t.outbox().len();
    let pending = app.send_magic_link(&email, DEEP_LINK).await.unwrap();
    let (_, otp) = magic_mail(&t, &email, seen).await;
    let typed = otp.to_lowercase().replace('-', " ");
    let user = app
        .complete_magic_link_with_code(&pending, &typed)
        .await
        .unwrap();
    assert_eq!(user.id(), owner.user_id);
    assert_eq!(
        app.complete_magic_link_with_code(&pending, &otp)
            .await
            .unwrap_err()
            .code(),
        "CodeAlreadyUsed"
    );
}

async fn links_resist_scanners_other_devices_reuse_and_guessing(b: Backend) {
    let t = server(b).await;
    let email = unique_email("evil");
    t.email_user(&email).await;
    let victim = Sdk::new();
    let victim_app = victim.app(&t).await;
    let attacker = Sdk::new();
    let attacker_app = attacker.app(&t).await;

    // A redirect with another request's state is refused before anything is sent.
    let seen = t.outbox().len();
    let pending = victim_app.send_magic_link(&email, DEEP_LINK).await.unwrap();
    let (link, _) = magic_mail(&t, &email, seen).await;
    let location = press(&link).await.headers()["location"]
        .to_str()
        .unwrap()
        .to_string();
    let other = attacker_app
        .send_magic_link(&email, DEEP_LINK)
        .await
        .unwrap();
    assert_eq!(
        victim_app
            .complete_magic_link(&other, &location)
            .await
            .unwrap_err()
            .code(),
        "InvalidArgument"
    );
    // The attacker's device holds the code (state forged to match) but not the verifier: the code
    // fails and is burnt, so the victim's own device cannot use it either afterwards.
    let forged = location.replace(&pending.state, &other.state);
    assert_eq!(
        attacker_app
            .complete_magic_link(&other, &forged)
            .await
            .unwrap_err()
            .code(),
        "InvalidCode"
    );
    assert_eq!(
        victim_app
            .complete_magic_link(&pending, &location)
            .await
            .unwrap_err()
            .code(),
        "CodeAlreadyUsed"
    );
    // Without a verifier at all: refused.
    let code = location
        .split("code=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .to_string();
    t.login(APP, "magic-link", json!({"code": code}))
        .await
        .err(400, "MissingParameter");

    // Guessing the short code: five tries, then the code is dead.
    let seen = t.outbox().len();
    let pending = victim_app.send_magic_link(&email, DEEP_LINK).await.unwrap();
    let (_, otp) = magic_mail(&t, &email, seen).await;
    let wrong = if otp.starts_with('2') {
        "3333-3333"
    } else {
        "2222-2222"
    };
    for _ in 0..5 {
        assert_eq!(
            victim_app
                .complete_magic_link_with_code(&pending, wrong)
                .await
                .unwrap_err()
                .code(),
            "InvalidCode"
        );
    }
    assert_eq!(
        victim_app
            .complete_magic_link_with_code(&pending, &otp)
            .await
            .unwrap_err()
            .code(),
        "TooManyAttempts"
    );

    // Links expire after 10 minutes.
    let seen = t.outbox().len();
    victim_app.send_magic_link(&email, DEEP_LINK).await.unwrap();
    let (link, _) = magic_mail(&t, &email, seen).await;
    t.state().clock.advance(10 * 60 + 1);
    let page = press(&link).await;
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("expired"));
}

async fn requests_are_checked_and_look_alike(b: Backend) {
    let t = server(b).await;
    let email = unique_email("known");
    t.email_user(&email).await;
    let send = |body: serde_json::Value| t.post(APP, "/auth/providers/magic-link/send", body);
    let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    let ok = |email: &str| {
        json!({
            "email": email, "code_challenge": challenge, "redirect_uri": DEEP_LINK, "state": "s"
        })
    };
    // Known, unknown and unconfirmed addresses: the same answer; only the known one gets mail.
    let unknown = unique_email("nobody");
    let unconfirmed = unique_email("pending");
    t.post(
        APP,
        "/auth/providers/local-userpass/register",
        json!({"email": unconfirmed, "password": PASSWORD}),
    )
    .await
    .void();
    for who in [&email, &unknown, &unconfirmed] {
        send(ok(who)).await.void();
    }
    magic_mail(&t, &email, 0).await;
    assert!(t.mails_to(&unknown).await.is_empty());
    assert!(t
        .mails_to(&unconfirmed)
        .await
        .iter()
        .all(|m| !m["subject"].as_str().unwrap().contains("sign-in link")));
    // Bad requests are refused with a reason.
    let mut bad = ok(&email);
    bad["redirect_uri"] = json!("https://evil.example/cb");
    send(bad).await.err(400, "InvalidParameter");
    let mut bad = ok(&email);
    bad["code_challenge_method"] = json!("plain");
    send(bad).await.err(400, "InvalidParameter");
    let mut bad = ok(&email);
    bad["code_challenge"] = json!("short");
    send(bad).await.err(400, "InvalidParameter");
    // Loopback redirects only where the app registered one (issue 12, item 11).
    let mut loopback = ok(&email);
    loopback["redirect_uri"] = json!("http://127.0.0.1:53682/callback");
    send(loopback.clone()).await.err(400, "InvalidParameter");
    let cli = TestServer::start_with(b, |c| {
        let app = c.apps.get_mut(APP).unwrap();
        app.providers.push("magic-link".into());
        app.redirect_uris.push("http://127.0.0.1/callback".into());
    })
    .await;
    cli.email_user(&email).await;
    cli.post(APP, "/auth/providers/magic-link/send", loopback.clone())
        .await
        .void();
    loopback["redirect_uri"] = json!("http://127.0.0.1:53682/elsewhere");
    cli.post(APP, "/auth/providers/magic-link/send", loopback)
        .await
        .err(400, "InvalidParameter");
    // The mail names the device that asked.
    let mails = t.mails_to(&email).await;
    let mail = mails
        .iter()
        .rev()
        .find(|m| m["subject"].as_str().unwrap().contains("sign-in link"))
        .expect("a magic-link mail");
    assert!(
        mail["text"]
            .as_str()
            .unwrap()
            .contains("Requested by an unnamed device at 127.0.0.1"),
        "{mail}"
    );
    // Other providers' credentials are not magic-link credentials.
    let sdk = Sdk::new();
    assert_eq!(
        sdk.app(&t)
            .await
            .send_sms_code("+14155552671")
            .await
            .unwrap_err()
            .code(),
        "AuthProviderNotFound"
    );
}

/// Issue 15, item 7: a magic link redeemed with `?link=true` and a user's access token adds the
/// address it proves to that user; it is still bound to the device that asked for it.
async fn a_magic_link_links_its_address_to_the_signed_in_user(b: Backend) {
    let t = server(b).await;
    let owner = t.email_user(&unique_email("magic-owner")).await;
    let second = unique_email("magic-second");
    t.register_and_confirm(APP, &second, PASSWORD).await;
    let (verifier, challenge) = crate::peers::pkce_pair();
    let seen = t.outbox().len();
    t.post(
        APP,
        "/auth/providers/magic-link/send",
        json!({"email": second, "code_challenge": challenge, "code_challenge_method": "S256",
               "redirect_uri": DEEP_LINK, "state": "link-state"}),
    )
    .await
    .void();
    let (link, _) = magic_mail(&t, &second, seen).await;
    let pressed = press(&link).await;
    assert_eq!(pressed.status(), 303);
    let location = pressed.headers()["location"].to_str().unwrap().to_string();
    let code = reqwest::Url::parse(&location)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .to_string();
    let url = format!(
        "{}?link=true",
        t.app_path(APP, "/auth/providers/magic-link/login")
    );
    let linked = t
        .call(
            reqwest::Method::POST,
            &url,
            Some(&owner.access),
            Some(json!({"code": code, "code_verifier": verifier})),
        )
        .await
        .ok();
    assert_eq!(linked["user_id"], owner.user_id.as_str());
    let by_password = t.password_login(&second, PASSWORD).await;
    assert_eq!(
        by_password.user_id, owner.user_id,
        "the address now signs in as the owner"
    );
    // The code was spent by the link.
    t.call(
        reqwest::Method::POST,
        &url,
        Some(&owner.access),
        Some(json!({"code": code, "code_verifier": verifier})),
    )
    .await
    .err(400, "CodeAlreadyUsed");
}
