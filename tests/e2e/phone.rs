//! Phone/password and SMS one-time codes through a loopback stand-in that speaks Twilio's
//! Messages API (form fields, basic auth, its JSON answers and error bodies), and the adversarial
//! cases of security.md T-13.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::{Form, Json};
use gatehouse_client::{Credentials, UserState};
use gatehouse_server::config::{Bucket, SmsConfig};
use gatehouse_server::Secret;
use serde_json::{json, Value};

use crate::both_backends;
use crate::peers::pkce_pair;
use crate::sdk::Sdk;
use crate::support::*;

both_backends!(
    register_confirm_log_in_and_reset_by_text,
    sms_codes_sign_in_a_confirmed_number,
    sms_codes_are_bound_to_the_flow_that_asked,
    reset_codes_asked_by_the_sdk_are_bound_to_its_flow,
    phone_and_sms_code_identities_link_to_an_existing_user,
    codes_resist_guessing_reuse_expiry_and_cross_use,
    sends_are_limited_and_country_bound
);

pub(crate) const SID: &str = "AC0123456789abcdef0123456789abcdef";
pub(crate) const TOKEN: &str = "twilio-auth-token";
const PHONE: &str = "+14155552671";

/// Twilio's Messages API, as much of it as a sender uses.
#[derive(Clone, Default)]
pub(crate) struct Twilio {
    pub(crate) sent: Arc<Mutex<Vec<(String, String)>>>,
}

async fn messages(
    State(t): State<Twilio>,
    Path(sid): Path<String>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> axum::response::Response {
    use base64::Engine as _;
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{SID}:{TOKEN}"))
    );
    if sid != SID
        || headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str())
    {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"code": 20003, "message": "Authenticate",
            "more_info": "https://www.twilio.com/docs/errors/20003", "status": 401})),
        )
            .into_response();
    }
    let (Some(to), Some(from), Some(body)) = (form.get("To"), form.get("From"), form.get("Body"))
    else {
        return (
            StatusCode::BAD_REQUEST,
            Json(
                json!({"code": 21604, "message": "A 'To' phone number is required.",
            "more_info": "https://www.twilio.com/docs/errors/21604", "status": 400}),
            ),
        )
            .into_response();
    };
    if !to.starts_with('+') {
        let body = json!({
            "code": 21211,
            "message": format!("The 'To' number {to} is not a valid phone number."),
            "more_info": "https://www.twilio.com/docs/errors/21211",
            "status": 400
        });
        return (StatusCode::BAD_REQUEST, Json(body)).into_response();
    }
    t.sent.lock().unwrap().push((to.clone(), body.clone()));
    let sid = "SM0123456789abcdef0123456789abcdef";
    let message = json!({
        "sid": sid, "account_sid": SID, "to": to, "from": from,
        "body": body, "status": "queued", "direction": "outbound-api", "num_segments": "1",
        "price": null, "uri": format!("/2010-04-01/Accounts/{SID}/Messages/{sid}.json")
    });
    (StatusCode::CREATED, Json(message)).into_response()
}

impl Twilio {
    pub(crate) async fn start() -> (Twilio, String) {
        let t = Twilio::default();
        let app = axum::Router::new()
            .route(
                "/2010-04-01/Accounts/{sid}/Messages.json",
                axum::routing::post(messages),
            )
            .with_state(t.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (t, url)
    }

    pub(crate) fn count_to(&self, to: &str) -> usize {
        self.sent
            .lock()
            .unwrap()
            .iter()
            .filter(|(t, _)| t == to)
            .count()
    }

    /// The code of the newest text to `to` after the first `seen` of them (bounded wait).
    pub(crate) async fn code_after(&self, to: &str, seen: usize) -> String {
        for _ in 0..200 {
            let texts: Vec<String> = self
                .sent
                .lock()
                .unwrap()
                .iter()
                .filter(|(t, _)| t == to)
                .map(|(_, b)| b.clone())
                .collect();
            if texts.len() > seen {
                let body = texts.last().unwrap();
                assert!(body.contains("Never share it"), "{body}");
                return body[..6].to_string();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("no new text to {to}");
    }
}

pub(crate) async fn server(b: Backend, throttled: bool) -> (TestServer, Twilio) {
    server_with(b, throttled, |_| {}).await
}

async fn server_with(
    b: Backend,
    throttled: bool,
    tweak: impl FnOnce(&mut gatehouse_server::config::Config),
) -> (TestServer, Twilio) {
    let (twilio, url) = Twilio::start().await;
    let t = TestServer::start_with(b, |c| {
        c.sms = Some(SmsConfig {
            base_url: url,
            account_sid: SID.into(),
            auth_token: Secret::new(TOKEN),
            from: "+15005550006".into(),
        });
        let app = c.apps.get_mut(APP).unwrap();
        app.providers
            .extend(["phone-password".to_string(), "sms-code".to_string()]);
        app.phone.allowed_countries = vec!["US".into(), "CA".into()];
        if throttled {
            c.rate_limits.enabled = true;
            for bucket in [
                &mut c.rate_limits.login,
                &mut c.rate_limits.register,
                &mut c.rate_limits.email_send,
            ] {
                *bucket = Bucket {
                    capacity: 1000,
                    period_secs: 1,
                };
            }
        }
        tweak(c);
    })
    .await;
    (t, twilio)
}

async fn register_confirm_log_in_and_reset_by_text(b: Backend) {
    let (t, twilio) = server(b, false).await;
    let sdk = Sdk::new();
    let app = sdk.app(&t).await;
    let phone_auth = app.phone_password_auth();
    phone_auth
        .register("+1 (415) 555-2671", PASSWORD)
        .await
        .unwrap();
    let code = twilio.code_after(PHONE, 0).await;
    let creds = Credentials::phone_password(PHONE, PASSWORD);
    assert_eq!(
        app.log_in(creds.clone()).await.unwrap_err().code(),
        "AuthError",
        "unconfirmed numbers cannot log in"
    );
    phone_auth.confirm("+1 415-555-2671", &code).await.unwrap();
    let user = app.log_in(creds.clone()).await.unwrap();
    assert_eq!(user.profile().unwrap().data["phone"], PHONE);
    assert_eq!(
        app.log_in(Credentials::phone_password(PHONE, "not the password, long"))
            .await
            .unwrap_err()
            .code(),
        "InvalidPassword"
    );
    // Reset by text: the old password and every session end.
    phone_auth.send_reset_code(PHONE).await.unwrap();
    let code = twilio.code_after(PHONE, 1).await;
    assert_eq!(
        phone_auth
            .reset_password(PHONE, &code, "short")
            .await
            .unwrap_err()
            .code(),
        "WeakPassword"
    );
    phone_auth
        .reset_password(PHONE, &code, "a whole new phone passphrase")
        .await
        .unwrap();
    assert!(user
        .refresh_profile()
        .await
        .unwrap_err()
        .is_invalid_session());
    assert_eq!(user.state(), UserState::LoggedOut);
    assert_eq!(
        app.log_in(creds).await.unwrap_err().code(),
        "InvalidPassword"
    );
    let again = app
        .log_in(Credentials::phone_password(
            PHONE,
            "a whole new phone passphrase",
        ))
        .await
        .unwrap();
    assert_eq!(again.id(), user.id());
    // A second registration of the number makes no second account and texts nothing new.
    phone_auth
        .register(PHONE, "somebody else's passphrase")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(twilio.count_to(PHONE), 2);
}

pub(crate) async fn confirmed(t: &TestServer, twilio: &Twilio, phone: &str) {
    t.post(
        APP,
        "/auth/providers/phone-password/register",
        json!({"phone": phone, "password": PASSWORD}),
    )
    .await
    .void();
    let code = twilio
        .code_after(phone, twilio.count_to(phone).saturating_sub(1))
        .await;
    t.post(
        APP,
        "/auth/providers/phone-password/confirm",
        json!({"phone": phone, "code": code}),
    )
    .await
    .void();
}

async fn sms_codes_sign_in_a_confirmed_number(b: Backend) {
    let (t, twilio) = server(b, false).await;
    confirmed(&t, &twilio, PHONE).await;
    let by_password = t
        .login(
            APP,
            "phone-password",
            json!({"phone": PHONE, "password": PASSWORD}),
        )
        .await
        .ok();
    let sdk = Sdk::new();
    let app = sdk.app(&t).await;
    let pending = app.send_sms_code(PHONE).await.unwrap();
    let code = twilio.code_after(PHONE, 1).await;
    let user = app.complete_sms_code(&pending, &code).await.unwrap();
    assert_eq!(
        user.id(),
        by_password["user_id"],
        "code and password sign in the same user"
    );
    assert_eq!(user.provider_type().as_deref(), Some("sms-code"));
    assert_eq!(
        app.log_in(Credentials::sms_code(&pending, &code))
            .await
            .unwrap_err()
            .code(),
        "CodeAlreadyUsed"
    );
    // An unknown or unconfirmed number gets the same answer and no text.
    let unknown = app.send_sms_code("+14155552672").await.unwrap();
    t.post(
        APP,
        "/auth/providers/phone-password/register",
        json!({"phone": "+14155552673", "password": PASSWORD}),
    )
    .await
    .void();
    app.send_sms_code("+14155552673").await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(twilio.count_to("+14155552672"), 0);
    assert_eq!(
        twilio.count_to("+14155552673"),
        1,
        "only the confirmation code"
    );
    assert_eq!(
        app.complete_sms_code(&unknown, "123456")
            .await
            .unwrap_err()
            .code(),
        "InvalidCode"
    );
}

/// Sends for a flow by raw HTTP (an attacker's client, or a second device).
async fn send_for(t: &TestServer, phone: &str, challenge: &str) -> Reply {
    t.post(
        APP,
        "/auth/providers/sms-code/send",
        json!({"phone": phone, "code_challenge": challenge, "code_challenge_method": "S256"}),
    )
    .await
}

async fn login_for(t: &TestServer, code: &str, verifier: &str) -> Reply {
    t.login(
        APP,
        "sms-code",
        json!({"phone": PHONE, "code": code, "code_verifier": verifier}),
    )
    .await
}

fn other_than(code: &str) -> &'static str {
    if code == "000000" {
        "111111"
    } else {
        "000000"
    }
}

/// Issue 12, item 17: a texted sign-in code belongs to the flow that asked for it, like a magic
/// link. The victim signs in through the SDK; the attacker knows the number and drives raw HTTP.
async fn sms_codes_are_bound_to_the_flow_that_asked(b: Backend) {
    let (t, twilio) = server(b, false).await;
    confirmed(&t, &twilio, PHONE).await;
    let sdk = Sdk::new();
    let app = sdk.app(&t).await;
    let mut texts = twilio.count_to(PHONE);
    let mut next_code = || {
        texts += 1;
        let seen = texts - 1;
        let twilio = twilio.clone();
        async move { twilio.code_after(PHONE, seen).await }
    };

    // Another flow's verifier cannot redeem the victim's code, even holding the code itself
    // (read over a shoulder, or forwarded), and its tries do not use up the victim's.
    let victim = app.send_sms_code(PHONE).await.unwrap();
    let code = next_code().await;
    let (attacker, attacker_challenge) = pkce_pair();
    for _ in 0..6 {
        login_for(&t, &code, &attacker)
            .await
            .err(400, "InvalidCode");
    }
    // A verifier that is no PKCE verifier at all is refused before any lookup.
    login_for(&t, &code, "short")
        .await
        .err(400, "InvalidParameter");
    t.login(APP, "sms-code", json!({"phone": PHONE, "code": code}))
        .await
        .err(400, "MissingParameter");
    let user = app.complete_sms_code(&victim, &code).await.unwrap();

    // The attacker's send, made while the victim is typing, neither voids nor replaces the
    // victim's code: both codes stay good, each for its own flow.
    let victim = app.send_sms_code(PHONE).await.unwrap();
    let victim_code = next_code().await;
    send_for(&t, PHONE, &attacker_challenge).await.void();
    let attacker_code = next_code().await;
    if attacker_code != victim_code {
        // The attacker's own code does not open the victim's flow.
        assert_eq!(
            app.complete_sms_code(&victim, &attacker_code)
                .await
                .unwrap_err()
                .code(),
            "InvalidCode"
        );
    }
    let again = app.complete_sms_code(&victim, &victim_code).await.unwrap();
    assert_eq!(again.id(), user.id());

    // Wrong guesses on the attacker's flow lock that flow's code only.
    let victim = app.send_sms_code(PHONE).await.unwrap();
    let victim_code = next_code().await;
    send_for(&t, PHONE, &attacker_challenge).await.void();
    let attacker_code = next_code().await;
    for _ in 0..5 {
        login_for(&t, other_than(&attacker_code), &attacker)
            .await
            .err(400, "InvalidCode");
    }
    login_for(&t, &attacker_code, &attacker)
        .await
        .err(400, "TooManyAttempts");
    app.complete_sms_code(&victim, &victim_code).await.unwrap();

    // A new send from the same flow replaces that flow's older code.
    let victim = app.send_sms_code(PHONE).await.unwrap();
    let first = next_code().await;
    app.resend_sms_code(&victim).await.unwrap();
    let second = next_code().await;
    if first != second {
        assert_eq!(
            app.complete_sms_code(&victim, &first)
                .await
                .unwrap_err()
                .code(),
            "InvalidCode"
        );
    }
    app.complete_sms_code(&victim, &second).await.unwrap();
    // A send without a challenge is refused: no code bound to no flow is ever texted.
    let before = twilio.count_to(PHONE);
    t.post(
        APP,
        "/auth/providers/sms-code/send",
        json!({"phone": PHONE}),
    )
    .await
    .err(400, "InvalidParameter");
    send_for(&t, PHONE, "not-a-challenge")
        .await
        .err(400, "InvalidParameter");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(twilio.count_to(PHONE), before);
}

/// Issue 12, item 17: the SDK binds the reset (and confirmation) codes it asks for to its own
/// flow. An attacker who asks for a reset code for the same number, unbound or for their own
/// flow, can neither void the owner's code nor use up its tries, nor redeem it without the
/// owner's verifier.
async fn reset_codes_asked_by_the_sdk_are_bound_to_its_flow(b: Backend) {
    let (t, twilio) = server(b, false).await;
    confirmed(&t, &twilio, PHONE).await;
    let sdk = Sdk::new();
    let app = sdk.app(&t).await;
    let auth = app.phone_password_auth();
    let seen = twilio.count_to(PHONE);
    auth.send_reset_code(PHONE).await.unwrap();
    let owner_code = twilio.code_after(PHONE, seen).await;
    let reset = |code: &str, verifier: Option<&str>| {
        let mut body = json!({"phone": PHONE, "code": code, "password": "a new long passphrase 1"});
        if let Some(v) = verifier {
            body["code_verifier"] = json!(v);
        }
        let t = &t;
        async move {
            t.post(APP, "/auth/providers/phone-password/reset", body)
                .await
        }
    };
    // Without the owner's verifier the owner's code opens nothing, and spends none of its tries.
    let (attacker, attacker_challenge) = pkce_pair();
    reset(&owner_code, None).await.err(400, "InvalidCode");
    reset(&owner_code, Some(&attacker))
        .await
        .err(400, "InvalidCode");
    // The attacker's own requests (unbound, and for their own flow) leave the owner's code alone;
    // guessing them to exhaustion locks those codes only.
    let seen = twilio.count_to(PHONE);
    t.post(
        APP,
        "/auth/providers/phone-password/reset/send",
        json!({"phone": PHONE}),
    )
    .await
    .void();
    let unbound = twilio.code_after(PHONE, seen).await;
    t.post(
        APP,
        "/auth/providers/phone-password/reset/send",
        json!({"phone": PHONE, "code_challenge": attacker_challenge}),
    )
    .await
    .void();
    twilio.code_after(PHONE, seen + 1).await;
    for _ in 0..5 {
        reset(other_than(&unbound), None)
            .await
            .err(400, "InvalidCode");
    }
    reset(&unbound, None).await.err(400, "TooManyAttempts");
    // A bad verifier is refused before any lookup.
    reset(&owner_code, Some("short"))
        .await
        .err(400, "InvalidParameter");
    auth.reset_password(PHONE, &owner_code, "the owner's new long passphrase")
        .await
        .unwrap();
    t.login(
        APP,
        "phone-password",
        json!({"phone": PHONE, "password": "the owner's new long passphrase"}),
    )
    .await
    .ok();
}

/// Issue 15, item 7: a phone/password identity, and a number proven by a texted code of this
/// flow, link to the signed-in user; a number that belongs to another user never moves.
async fn phone_and_sms_code_identities_link_to_an_existing_user(b: Backend) {
    let (t, twilio) = server(b, false).await;
    let second = "+14155552672";
    confirmed(&t, &twilio, PHONE).await;
    confirmed(&t, &twilio, second).await;
    let owner = t.email_user(&unique_email("phone-link")).await;
    let link = |provider: &str, access: &str, body: Value| {
        let url = format!(
            "{}?link=true",
            t.app_path(APP, &format!("/auth/providers/{provider}/login"))
        );
        let (t, access) = (&t, access.to_string());
        async move {
            t.call(reqwest::Method::POST, &url, Some(&access), Some(body))
                .await
        }
    };
    link(
        "phone-password",
        &owner.access,
        json!({"phone": PHONE, "password": "wrong but long enough"}),
    )
    .await
    .err(401, "InvalidPassword");
    link(
        "phone-password",
        &owner.access,
        json!({"phone": PHONE, "password": PASSWORD}),
    )
    .await
    .ok();
    let by_phone = t
        .login(
            APP,
            "phone-password",
            json!({"phone": PHONE, "password": PASSWORD}),
        )
        .await
        .ok();
    assert_eq!(by_phone["user_id"], owner.user_id.as_str());

    // The second number through a texted code of this flow.
    let (verifier, challenge) = pkce_pair();
    let seen = twilio.count_to(second);
    send_for(&t, second, &challenge).await.void();
    let code = twilio.code_after(second, seen).await;
    link(
        "sms-code",
        &owner.access,
        json!({"phone": second, "code": code, "code_verifier": verifier}),
    )
    .await
    .ok();
    let profile = t
        .call(
            reqwest::Method::GET,
            &t.api("/auth/profile"),
            Some(&owner.access),
            None,
        )
        .await
        .ok();
    let kinds: Vec<&str> = profile["identities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["provider_type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["local-userpass", "phone-password", "phone-password"]
    );

    // Another user cannot take a number that is already someone's.
    let other = t.email_user(&unique_email("phone-thief")).await;
    link(
        "phone-password",
        &other.access,
        json!({"phone": PHONE, "password": PASSWORD}),
    )
    .await
    .err(409, "IdentityInUse");
}

async fn codes_resist_guessing_reuse_expiry_and_cross_use(b: Backend) {
    let (t, twilio) = server(b, false).await;
    confirmed(&t, &twilio, PHONE).await;
    let (verifier, challenge) = pkce_pair();
    let login = |code: String| {
        let (t, verifier) = (&t, verifier.clone());
        async move { login_for(t, &code, &verifier).await }
    };
    let send = || send_for(&t, PHONE, &challenge);
    // Five wrong guesses void the code: the right one fails afterwards.
    send().await.void();
    let code = twilio.code_after(PHONE, 1).await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for _ in 0..5 {
        login(wrong.into()).await.err(400, "InvalidCode");
    }
    login(code).await.err(400, "TooManyAttempts");
    // 50 concurrent wrong guesses: at most five are ever compared, so the code is void after.
    send().await.void();
    let code = twilio.code_after(PHONE, 2).await;
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let (http, url) = (
            t.http.clone(),
            t.app_path(APP, "/auth/providers/sms-code/login"),
        );
        let (wrong, verifier) = (wrong.to_string(), verifier.clone());
        set.spawn(async move {
            http.post(url)
                .json(&json!({"phone": PHONE, "code": wrong, "code_verifier": verifier}))
                .send()
                .await
                .unwrap()
                .json::<serde_json::Value>()
                .await
                .unwrap()
        });
    }
    let mut compared = 0;
    while let Some(r) = set.join_next().await {
        if r.unwrap()["error_code"] == "InvalidCode" {
            compared += 1;
        }
    }
    assert!(compared <= 5, "{compared} guesses were compared");
    login(code).await.err(400, "TooManyAttempts");
    // A confirmation code does not sign in (cross-flow), and codes expire after 5 minutes.
    t.post(
        APP,
        "/auth/providers/phone-password/confirm/send",
        json!({"phone": "+14155552675"}),
    )
    .await
    .void();
    send().await.void();
    let code = twilio.code_after(PHONE, 3).await;
    t.state().clock.advance(5 * 60 + 1);
    login(code).await.err(400, "CodeExpired");
    // A reset code is no sign-in code, even while a sign-in code is pending.
    t.post(
        APP,
        "/auth/providers/phone-password/reset/send",
        json!({"phone": PHONE}),
    )
    .await
    .void();
    let reset_code = twilio.code_after(PHONE, 4).await;
    send().await.void();
    let login_code = twilio.code_after(PHONE, 5).await;
    if reset_code != login_code {
        login(reset_code).await.err(400, "InvalidCode");
    }
    login(login_code).await.ok();
    login("12345".into()).await.err(400, "InvalidCode");
}

/// A confirmed number (its registration text) and one text to another number: a second text
/// to either within the minute is refused with a Retry-After. Returns the PKCE challenge used.
async fn one_text_per_number_per_minute(t: &TestServer, twilio: &Twilio) -> String {
    confirmed(t, twilio, PHONE).await;
    // The registration text was the minute's one text to this number.
    let (_, challenge) = pkce_pair();
    let r = send_for(t, PHONE, &challenge).await;
    assert!(r.headers.contains_key("retry-after"));
    r.err(429, "TooManyRequests");
    // The same limit for a number without an account: nothing to learn from it.
    send_for(t, "+14155552679", &challenge).await.void();
    send_for(t, "+14155552679", &challenge)
        .await
        .err(429, "TooManyRequests");
    challenge
}

async fn sends_are_limited_and_country_bound(b: Backend) {
    let (t, twilio) = server(b, true).await;
    let challenge = one_text_per_number_per_minute(&t, &twilio).await;
    // Outside the allowlist: a clear refusal, and nothing reaches the SMS API.
    let before = twilio.sent.lock().unwrap().len();
    let e = send_for(&t, "+44 20 7946 0958", &challenge)
        .await
        .err(400, "CountryNotAllowed");
    assert!(e["error"].as_str().unwrap().contains("GB"));
    t.post(
        APP,
        "/auth/providers/phone-password/register",
        json!({"phone": "+4930901820", "password": PASSWORD}),
    )
    .await
    .err(400, "CountryNotAllowed");
    for bad in [
        "4155552671",
        "+1 415 555",
        "+1 415 555 2671 ext",
        "+1\n4155552671",
    ] {
        send_for(&t, bad, &challenge).await.err(400, "InvalidPhone");
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(twilio.sent.lock().unwrap().len(), before);
}

/// With `[rate_limits] shared` (PostgreSQL) the text budgets are rows of `send_log`, which every
/// instance on the database counts in (`cluster::rate_limits` shows the mail limit across three
/// instances): the same limits hold, decided in the database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_text_budgets_hold_in_the_database() {
    let (t, twilio) = server_with(Backend::Postgres, true, |c| c.rate_limits.shared = true).await;
    one_text_per_number_per_minute(&t, &twilio).await;
    // Each text counted under its number, its client and the server's daily budget.
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM send_log WHERE key LIKE 'sms%'")
        .fetch_one(t.state().db.reader())
        .await
        .unwrap();
    assert_eq!(rows, 6, "two texts, three keys each");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn texts_go_to_the_dev_outbox_without_an_sms_api() {
    let t = TestServer::start_with(Backend::Sqlite, |c| {
        let app = c.apps.get_mut(APP).unwrap();
        app.providers.push("phone-password".into());
        app.phone.allowed_countries = vec!["*".into()];
    })
    .await;
    t.post(
        APP,
        "/auth/providers/phone-password/register",
        json!({"phone": PHONE, "password": PASSWORD}),
    )
    .await
    .void();
    let mut text = None;
    for _ in 0..100 {
        text = t
            .outbox()
            .into_iter()
            .find(|m| m["channel"] == "sms" && m["to"] == PHONE);
        if text.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let code = text.expect("a text in the outbox")["text"]
        .as_str()
        .unwrap()[..6]
        .to_string();
    t.post(
        APP,
        "/auth/providers/phone-password/confirm",
        json!({"phone": PHONE, "code": code}),
    )
    .await
    .void();
    t.login(
        APP,
        "phone-password",
        json!({"phone": PHONE, "password": PASSWORD}),
    )
    .await
    .ok();
    assert!(t
        .outbox()
        .iter()
        .all(|m| m["channel"] == "sms" || m["channel"] == "email"));
}
