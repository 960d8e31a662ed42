//! Passkeys end to end in a real browser: Debian's Chromium driven by chromedriver, with Chrome's
//! virtual authenticator (WebDriver's WebAuthn extension: ctap2, internal, resident keys, user
//! verification) running the server's own ceremony pages. Registration, passwordless sign-in,
//! the second factor of a challenged password sign-in, and each refusal with its own code: a
//! replayed assertion, a wrong origin (the same page through another port), a counter that
//! went backwards, an unknown (removed) credential.

use base64::Engine as _;
use reqwest::Method;
use serde_json::{json, Value};

use crate::peers::chromium::Chromium;
use crate::peers::{free_port, query_param};
use crate::support::{unique_email, Backend, TestServer, APP, PASSWORD};

const CALLBACK: &str = "gatehouse://auth/callback";

struct Pkce {
    verifier: String,
    challenge: String,
}

fn pkce() -> Pkce {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let verifier = b64.encode(
        ring::rand::generate::<[u8; 32]>(&ring::rand::SystemRandom::new())
            .unwrap()
            .expose(),
    );
    let challenge = b64.encode(ring::digest::digest(
        &ring::digest::SHA256,
        verifier.as_bytes(),
    ));
    Pkce {
        verifier,
        challenge,
    }
}

/// RFC 4648 base32 (no padding), as TOTP secrets are shown.
fn base32(text: &str) -> Vec<u8> {
    let (mut bits, mut value, mut out) = (0u32, 0u64, Vec::new());
    for c in text.trim_end_matches('=').chars() {
        let digit = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
            .find(c.to_ascii_uppercase())
            .expect("base32 digit");
        value = (value << 5) | digit as u64;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((value >> bits) as u8);
        }
    }
    out
}

/// The RFC 6238 code of now (SHA-1, 30 s, 6 digits), computed here, not by the server.
fn totp_now(secret: &[u8]) -> String {
    let step = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        / 30;
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
    let mac = ring::hmac::sign(&key, &step.to_be_bytes());
    let mac = mac.as_ref();
    let at = (mac[19] & 0x0f) as usize;
    let n = u32::from_be_bytes([mac[at] & 0x7f, mac[at + 1], mac[at + 2], mac[at + 3]]);
    format!("{:06}", n % 1_000_000)
}

/// A TCP forwarder from another port to the server: the same pages, another origin.
async fn forwarder(to: u16) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            tokio::spawn(async move {
                if let Ok(mut out) = tokio::net::TcpStream::connect(("127.0.0.1", to)).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                }
            });
        }
    });
    port
}

fn sign_in_url(origin: &str, p: &Pkce, state: &str) -> String {
    format!(
        "{origin}/api/client/v2.0/app/{APP}/auth/providers/passkey/login?redirect={}&state={state}\
         &code_challenge={}&code_challenge_method=S256",
        CALLBACK.replace(':', "%3A").replace('/', "%2F"),
        p.challenge
    )
}

async fn passkeys(backend: Backend) {
    let port = free_port();
    let origin = format!("http://localhost:{port}");
    let public_url = origin.clone();
    let server = TestServer::start_with(backend, move |c| {
        c.listen = format!("127.0.0.1:{port}").parse().unwrap();
        c.public_url = Some(public_url);
        c.apps
            .get_mut(APP)
            .unwrap()
            .providers
            .push("passkey".into());
    })
    .await;
    let browser = Chromium::start().await;
    let email = unique_email("passkey");
    let first = server.email_user(&email).await;

    // Registration: a page bound to this user; the browser comes back with a code that only
    // this app (its PKCE verifier) and this user (its token) can redeem.
    let p = pkce();
    let started = server
        .call(
            Method::POST,
            &server.api("/auth/mfa/passkeys/registrations"),
            Some(&first.access),
            Some(
                json!({"name": "Laptop", "redirect_uri": CALLBACK, "state": "reg-1",
                        "code_challenge": p.challenge}),
            ),
        )
        .await
        .ok();
    let page = started["url"].as_str().unwrap();
    assert!(page.starts_with(&origin), "{page}");
    browser.open(page).await;
    let back = browser.outcome().await.expect("registration succeeds");
    assert!(back.starts_with(&format!("{CALLBACK}?")), "{back}");
    assert_eq!(query_param(&back, "state").as_deref(), Some("reg-1"));
    let code = query_param(&back, "code").unwrap();
    let complete = server.api("/auth/mfa/passkeys/registrations/complete");
    let wrong = json!({"code": code, "code_verifier": pkce().verifier});
    server
        .call(Method::POST, &complete, Some(&first.access), Some(wrong))
        .await
        .err(400, "InvalidCode");
    // The wrong verifier burned the code: register again, then redeem properly.
    let p = pkce();
    let started = server
        .call(
            Method::POST,
            &server.api("/auth/mfa/passkeys/registrations"),
            Some(&first.access),
            Some(
                json!({"name": "Laptop", "redirect_uri": CALLBACK, "state": "reg-2",
                        "code_challenge": p.challenge}),
            ),
        )
        .await
        .ok();
    browser.open(started["url"].as_str().unwrap()).await;
    let back = browser.outcome().await.expect("registration succeeds");
    let code = query_param(&back, "code").unwrap();
    let factor = server
        .call(
            Method::POST,
            &complete,
            Some(&first.access),
            Some(json!({"code": code, "code_verifier": p.verifier})),
        )
        .await
        .ok();
    assert_eq!(factor["kind"], "passkey");
    assert_eq!(factor["name"], "Laptop");
    assert_eq!(factor["confirmed"], true);
    let factor_id = factor["id"].as_str().unwrap().to_string();

    // Passwordless sign-in: a discoverable credential, no user name asked.
    let p = pkce();
    browser.open(&sign_in_url(&origin, &p, "in-1")).await;
    let back = browser.outcome().await.expect("sign-in succeeds");
    assert_eq!(query_param(&back, "state").as_deref(), Some("in-1"));
    let code = query_param(&back, "code").unwrap();
    let login = server
        .login(
            APP,
            "passkey",
            json!({"code": code, "code_verifier": p.verifier}),
        )
        .await
        .ok();
    assert_eq!(login["user_id"].as_str(), Some(first.user_id.as_str()));
    let signed_in = login["access_token"].as_str().unwrap().to_string();
    server
        .login(
            APP,
            "passkey",
            json!({"code": code, "code_verifier": p.verifier}),
        )
        .await
        .err(400, "CodeAlreadyUsed");

    // A replayed assertion: the same answer posted again.
    let posted = browser
        .script("return document.getElementById('passkey').dataset.posted;")
        .await;
    let posted: Value = serde_json::from_str(posted.as_str().unwrap()).unwrap();
    let assertion = server.app_path(APP, "/auth/passkey/assertion");
    server
        .call(Method::POST, &assertion, None, Some(posted))
        .await
        .err(400, "PasskeyReplay");

    // The second factor: with a TOTP factor as well, a password sign-in of this user is
    // challenged; the passkey answers.
    let totp = server
        .call(
            Method::POST,
            &server.api("/auth/mfa/totp"),
            Some(&signed_in),
            Some(json!({"name": "Phone"})),
        )
        .await
        .ok();
    let confirm = format!(
        "/auth/mfa/totp/{}/confirm",
        totp["factor_id"].as_str().unwrap()
    );
    let secret = base32(totp["secret"].as_str().unwrap());
    server
        .call(
            Method::POST,
            &server.api(&confirm),
            Some(&signed_in),
            Some(json!({"code": totp_now(&secret)})),
        )
        .await
        .ok();
    let challenged = server
        .login(
            APP,
            "local-userpass",
            json!({"username": email, "password": PASSWORD}),
        )
        .await
        .err(401, "MfaRequired");
    let challenge_id = challenged["mfa"]["challenge_id"]
        .as_str()
        .unwrap()
        .to_string();
    let methods = challenged["mfa"]["methods"].to_string();
    assert!(
        methods.contains("passkey") && methods.contains("totp"),
        "{methods}"
    );
    let p = pkce();
    browser
        .open(&format!(
            "{origin}/api/client/v2.0/app/{APP}/auth/mfa/passkey?redirect={}&state=mfa-1\
             &code_challenge={}&challenge_id={challenge_id}",
            CALLBACK.replace(':', "%3A").replace('/', "%2F"),
            p.challenge
        ))
        .await;
    let back = browser.outcome().await.expect("the challenge is answered");
    assert_eq!(query_param(&back, "state").as_deref(), Some("mfa-1"));
    let code = query_param(&back, "code").unwrap();
    let done = server
        .post(
            APP,
            "/auth/mfa/complete",
            json!({"challenge_id": challenge_id, "passkey_code": code,
                   "code_verifier": p.verifier}),
        )
        .await
        .ok();
    assert_eq!(done["user_id"].as_str(), Some(first.user_id.as_str()));

    // A wrong origin: the same page and script through another port (RP id still localhost).
    let other = forwarder(port).await;
    let p = pkce();
    browser
        .open(&sign_in_url(
            &format!("http://localhost:{other}"),
            &p,
            "in-2",
        ))
        .await;
    assert_eq!(
        browser.outcome().await.unwrap_err(),
        "PasskeyOriginMismatch"
    );

    // A counter that goes backwards: the authenticator presents an older signCount.
    browser.set_sign_count(0).await;
    let p = pkce();
    browser.open(&sign_in_url(&origin, &p, "in-3")).await;
    assert_eq!(
        browser.outcome().await.unwrap_err(),
        "PasskeyCounterRegressed"
    );
    // The refused answer did not move the stored counter: the same old count fails again.
    browser.set_sign_count(0).await;
    browser.open(&sign_in_url(&origin, &pkce(), "in-4")).await;
    assert_eq!(
        browser.outcome().await.unwrap_err(),
        "PasskeyCounterRegressed"
    );

    // An unknown credential: the factor is removed on the server, the browser still has it.
    browser.set_sign_count(1_000).await;
    server
        .call(
            Method::DELETE,
            &server.api(&format!("/auth/mfa/factors/{factor_id}")),
            Some(&signed_in),
            None,
        )
        .await
        .void();
    browser.open(&sign_in_url(&origin, &pkce(), "in-5")).await;
    assert_eq!(browser.outcome().await.unwrap_err(), "PasskeyUnknown");
    drop(browser);
}

crate::both_backends!(passkeys);
