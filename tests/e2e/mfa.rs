//! Multi-factor sign-in (issue 13): TOTP checked against an independent implementation (Python's
//! pyotp, from tests/peers/.venv), with the server's clock moved instead of sleeping; replay,
//! skew, throttling, recovery codes (mailed over real SMTP), device binding, expiry, apps that
//! require a factor, the operator's reset with the real binary, and what realm-web sees.

use reqwest::Method;
use serde_json::{json, Value};

use crate::both_backends;
use crate::peers::smtp::SmtpPeer;
use crate::support::*;

both_backends!(
    totp_enrols_challenges_and_refuses_replays_and_far_steps,
    wrong_codes_void_the_challenge_then_lock_the_account,
    recovery_codes_work_once_are_mailed_and_regenerate,
    management_needs_a_recent_sign_in_and_api_keys_are_exempt,
    challenges_are_bound_to_their_device_and_expire,
    a_required_app_enrols_through_the_challenge,
    admin_reset_mfa_removes_every_factor,
    realm_web_sees_the_documented_error,
);

const DEVICE_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaa";
const DEVICE_B: &str = "bbbbbbbbbbbbbbbbbbbbbbbb";

/// pyotp's code for `secret` at each Unix time in `times` (one Python run for all of them).
fn pyotp(secret: &str, times: &[i64]) -> Vec<String> {
    let python = concat!(env!("CARGO_MANIFEST_DIR"), "/peers/.venv/bin/python");
    assert!(
        std::path::Path::new(python).exists(),
        "tests/peers/.venv is missing: run scripts/setup.sh (it installs pyotp)"
    );
    let out = std::process::Command::new(python)
        .args([
            "-c",
            "import sys, pyotp\nt = pyotp.TOTP(sys.argv[1])\n\
             print(' '.join(t.at(int(x)) for x in sys.argv[2:]))",
            secret,
        ])
        .args(times.iter().map(i64::to_string))
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

fn code(t: &TestServer, secret: &str, offset_secs: i64) -> String {
    pyotp(secret, &[t.state().now() + offset_secs]).remove(0)
}

/// Moves the server's clock to 2 s into a fresh 30-second step, so a test's codes stay in it.
fn align(t: &TestServer) {
    let now = t.state().now();
    t.state().clock.advance(30 - now.rem_euclid(30) + 2);
}

async fn enroll(t: &TestServer, access: &str) -> Value {
    t.call(
        Method::POST,
        &t.api("/auth/mfa/totp"),
        Some(access),
        Some(json!({"name": "Phone"})),
    )
    .await
    .ok()
}

async fn confirm(t: &TestServer, access: &str, factor: &str, code: &str) -> Reply {
    let url = t.api(&format!("/auth/mfa/totp/{factor}/confirm"));
    t.call(
        Method::POST,
        &url,
        Some(access),
        Some(json!({"code": code})),
    )
    .await
}

/// A confirmed email user with a confirmed TOTP factor: (tokens, base32 secret, recovery codes).
async fn user_with_totp(t: &TestServer, email: &str) -> (Tokens, String, Vec<String>) {
    let u = t.email_user(email).await;
    align(t);
    let e = enroll(t, &u.access).await;
    let secret = e["secret"].as_str().unwrap().to_string();
    let factor = e["factor_id"].as_str().unwrap();
    let c = confirm(t, &u.access, factor, &code(t, &secret, 0))
        .await
        .ok();
    let codes: Vec<String> = serde_json::from_value(c["recovery_codes"].clone()).unwrap();
    // The confirmation used this step: move on to a fresh one.
    t.state().clock.advance(30);
    (u, secret, codes)
}

async fn sign_in(t: &TestServer, app: &str, email: &str, device: Option<&str>) -> Reply {
    let mut body = json!({"username": email, "password": PASSWORD});
    if let Some(d) = device {
        body["options"] = json!({"device": {"deviceId": d, "platform": "linux"}});
    }
    t.login(app, "local-userpass", body).await
}

/// Signs in and expects the challenge; its id.
async fn challenge(t: &TestServer, email: &str) -> String {
    let e = sign_in(t, APP, email, None).await.err(401, "MfaRequired");
    e["mfa"]["challenge_id"].as_str().unwrap().to_string()
}

async fn complete(t: &TestServer, app: &str, challenge: &str, proof: Value) -> Reply {
    let mut body = json!({"challenge_id": challenge});
    body.as_object_mut()
        .unwrap()
        .extend(proof.as_object().unwrap().clone());
    t.post(app, "/auth/mfa/complete", body).await
}

async fn totp(t: &TestServer, challenge: &str, code: &str) -> Reply {
    complete(t, APP, challenge, json!({"totp_code": code})).await
}

async fn activity_kinds(t: &TestServer, access: &str) -> Vec<String> {
    let events = t
        .call(Method::GET, &t.api("/auth/activity"), Some(access), None)
        .await
        .ok();
    events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_string())
        .collect()
}

async fn profile_works(t: &TestServer, access: &str) {
    t.call(Method::GET, &t.api("/auth/profile"), Some(access), None)
        .await
        .ok();
}

async fn totp_enrols_challenges_and_refuses_replays_and_far_steps(b: Backend) {
    let t = TestServer::start(b).await;
    let email = unique_email("totp");
    let u = t.email_user(&email).await;
    align(&t);
    let e = enroll(&t, &u.access).await;
    let secret = e["secret"].as_str().unwrap().to_string();
    let factor = e["factor_id"].as_str().unwrap().to_string();
    assert_eq!(secret.len(), 32, "160 bits in base32 without padding");
    assert_eq!(
        e["otpauth_uri"],
        format!(
            "otpauth://totp/E2E%20App:{}?secret={secret}&issuer=E2E%20App\
             &algorithm=SHA1&digits=6&period=30",
            email.replace('@', "%40")
        )
    );
    // Unconfirmed, the factor asks for nothing at sign-in.
    let _ = Tokens::from(sign_in(&t, APP, &email, None).await.ok());
    // At rest the secret is sealed: the stored column does not contain it.
    let stored: String = sqlx::query_scalar("SELECT secret_enc FROM mfa_factors WHERE id = $1")
        .bind(&factor)
        .fetch_one(t.state().db.reader())
        .await
        .unwrap();
    assert!(!stored.contains(&secret) && !stored.contains(&secret.to_lowercase()));
    confirm(&t, &u.access, &factor, "000000")
        .await
        .err(400, "MfaCodeInvalid");
    let c = confirm(&t, &u.access, &factor, &code(&t, &secret, 0))
        .await
        .ok();
    assert_eq!(c["factor"]["confirmed"], true);
    let codes = c["recovery_codes"].as_array().unwrap();
    assert_eq!(codes.len(), 10);
    let status = t
        .call(Method::GET, &t.api("/auth/mfa"), Some(&u.access), None)
        .await
        .ok();
    assert_eq!(status["recovery_codes_left"], 10);
    assert_eq!(status["required"], false);
    assert_eq!(status["factors"][0]["name"], "Phone");

    // Two steps on: S+2 now. A sign-in is challenged, with the documented `mfa` member.
    t.state().clock.advance(60);
    let e = sign_in(&t, APP, &email, None).await.err(401, "MfaRequired");
    let mfa = &e["mfa"];
    assert_eq!(mfa["methods"], json!(["totp", "recovery_code"]));
    assert_eq!(mfa["provider"], "local-userpass");
    let ttl = mfa["expires_at"].as_i64().unwrap() - t.state().now();
    assert!((295..=300).contains(&ttl), "{ttl}");
    // The previous step's code is accepted once; the tokens work.
    let id = mfa["challenge_id"].as_str().unwrap();
    let tokens = Tokens::from(totp(&t, id, &code(&t, &secret, -30)).await.ok());
    profile_works(&t, &tokens.access).await;
    // The challenge is single use.
    totp(&t, id, &code(&t, &secret, 0))
        .await
        .err(400, "MfaChallengeInvalid");
    // The current step's code, once.
    let now_code = code(&t, &secret, 0);
    let id = challenge(&t, &email).await;
    let _ = Tokens::from(totp(&t, &id, &now_code).await.ok());
    let id = challenge(&t, &email).await;
    let e = totp(&t, &id, &now_code).await.err(400, "MfaCodeInvalid");
    assert!(e["error"].as_str().unwrap().contains("already used"), "{e}");
    // The next step's code (clock skew the other way) on the same challenge.
    let _ = Tokens::from(totp(&t, &id, &code(&t, &secret, 30)).await.ok());
    // Two steps away either side: refused.
    let id = challenge(&t, &email).await;
    for offset in [60, -60] {
        let e = totp(&t, &id, &code(&t, &secret, offset))
            .await
            .err(400, "MfaCodeInvalid");
        assert!(e["error"].as_str().unwrap().contains("wrong code"), "{e}");
    }
    let kinds = activity_kinds(&t, &tokens.access).await;
    assert!(kinds.contains(&"mfa_enrolled".to_string()), "{kinds:?}");
    assert!(kinds.contains(&"mfa_failed".to_string()), "{kinds:?}");
}

async fn wrong_codes_void_the_challenge_then_lock_the_account(b: Backend) {
    let t = TestServer::start(b).await;
    let email = unique_email("throttle");
    let (_, secret, _) = user_with_totp(&t, &email).await;
    let wrong = |c: &str| {
        if c == "123456" {
            "654321".to_string()
        } else {
            "123456".into()
        }
    };
    let right = code(&t, &secret, 0);
    let id = challenge(&t, &email).await;
    for n in 1..=5 {
        let e = totp(&t, &id, &wrong(&right))
            .await
            .err(400, "MfaCodeInvalid");
        assert_eq!(
            e["error"].as_str().unwrap().contains("sign in again"),
            n == 5,
            "{e}"
        );
    }
    // Void: even the right code is refused now.
    totp(&t, &id, &right).await.err(400, "MfaChallengeInvalid");
    // Five more on a second challenge: ten in the window, the account is locked.
    let id = challenge(&t, &email).await;
    for _ in 0..5 {
        totp(&t, &id, &wrong(&right))
            .await
            .err(400, "MfaCodeInvalid");
    }
    let id = challenge(&t, &email).await;
    let locked = totp(&t, &id, &right).await;
    let retry: i64 = locked.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((850..=900).contains(&retry), "{retry}");
    locked.err(400, "TooManyAttempts");
    // Fifteen minutes later the right code passes (on a fresh challenge: the old one expired).
    t.state().clock.advance(901);
    let id = challenge(&t, &email).await;
    let tokens = Tokens::from(totp(&t, &id, &code(&t, &secret, 0)).await.ok());
    let failed = activity_kinds(&t, &tokens.access).await;
    assert!(
        failed.iter().filter(|k| *k == "mfa_failed").count() >= 10,
        "{failed:?}"
    );
}

async fn recovery_codes_work_once_are_mailed_and_regenerate(b: Backend) {
    let peer = SmtpPeer::start();
    let t = TestServer::start_with(b, |c| {
        c.smtp = Some(peer.config());
        c.apps.get_mut(APP).unwrap().userpass.auto_confirm = true;
    })
    .await;
    let email = unique_email("recovery");
    t.post(
        APP,
        "/auth/providers/local-userpass/register",
        json!({"email": email, "password": PASSWORD}),
    )
    .await
    .void();
    let u = Tokens::from(sign_in(&t, APP, &email, None).await.ok());
    align(&t);
    let e = enroll(&t, &u.access).await;
    let secret = e["secret"].as_str().unwrap().to_string();
    let c = confirm(
        &t,
        &u.access,
        e["factor_id"].as_str().unwrap(),
        &code(&t, &secret, 0),
    )
    .await;
    let codes: Vec<String> = serde_json::from_value(c.ok()["recovery_codes"].clone()).unwrap();
    assert!(
        codes.iter().all(|c| c.len() == 11 && &c[5..6] == "-"),
        "{codes:?}"
    );

    // Typed in upper case without the dash: still the code.
    let typed = codes[0].replace('-', "").to_uppercase();
    let id = challenge(&t, &email).await;
    let tokens = Tokens::from(
        complete(&t, APP, &id, json!({"recovery_code": typed}))
            .await
            .ok(),
    );
    profile_works(&t, &tokens.access).await;
    let mail = peer.wait_for(&email, "recovery code was used").await;
    assert!(
        mail["body"]
            .as_str()
            .unwrap()
            .contains("Recovery codes left: 9"),
        "{mail}"
    );
    let kinds = activity_kinds(&t, &tokens.access).await;
    assert!(
        kinds.contains(&"mfa_recovery_code_used".to_string()),
        "{kinds:?}"
    );
    // Used once, never again.
    let id = challenge(&t, &email).await;
    complete(&t, APP, &id, json!({"recovery_code": codes[0]}))
        .await
        .err(400, "MfaCodeInvalid");

    // New codes void the old ones.
    let fresh = t
        .call(
            Method::POST,
            &t.api("/auth/mfa/recovery_codes"),
            Some(&tokens.access),
            None,
        )
        .await
        .ok();
    let fresh: Vec<String> = serde_json::from_value(fresh["recovery_codes"].clone()).unwrap();
    assert_eq!(fresh.len(), 10);
    complete(&t, APP, &id, json!({"recovery_code": codes[1]}))
        .await
        .err(400, "MfaCodeInvalid");
    let _ = Tokens::from(
        complete(&t, APP, &id, json!({"recovery_code": fresh[0]}))
            .await
            .ok(),
    );
    let kinds = activity_kinds(&t, &tokens.access).await;
    assert!(
        kinds.contains(&"mfa_recovery_codes_regenerated".to_string()),
        "{kinds:?}"
    );
}

async fn management_needs_a_recent_sign_in_and_api_keys_are_exempt(b: Backend) {
    let t = TestServer::start(b).await;
    let email = unique_email("manage");
    let (u, secret, _) = user_with_totp(&t, &email).await;
    // A user API key made while the session was fresh logs in without a challenge.
    let key = t
        .call(
            Method::POST,
            &t.api("/auth/api_keys"),
            Some(&u.refresh),
            Some(json!({"name": "ci"})),
        )
        .await
        .ok();
    let by_key = t
        .login(APP, "api-key", json!({"key": key["key"]}))
        .await
        .ok();
    assert_eq!(by_key["user_id"], u.user_id.as_str());
    // Anonymous users cannot enrol.
    let anon = t.anonymous().await;
    let e = t
        .call(
            Method::POST,
            &t.api("/auth/mfa/totp"),
            Some(&anon.access),
            Some(json!({})),
        )
        .await
        .err(403, "Forbidden");
    assert!(e["error"].as_str().unwrap().contains("anonymous"), "{e}");

    // Ten minutes later the session is no longer recent: removing, regenerating and enrolling
    // are refused until a new sign-in.
    t.state().clock.advance(600);
    let access = t
        .call(
            Method::POST,
            &t.api("/auth/session"),
            Some(&u.refresh),
            None,
        )
        .await
        .ok()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let status = t
        .call(Method::GET, &t.api("/auth/mfa"), Some(&access), None)
        .await
        .ok();
    let factor = status["factors"][0]["id"].as_str().unwrap().to_string();
    let remove = t.api(&format!("/auth/mfa/factors/{factor}"));
    t.call(Method::DELETE, &remove, Some(&access), None)
        .await
        .err(403, "RecentSignInRequired");
    t.call(
        Method::POST,
        &t.api("/auth/mfa/recovery_codes"),
        Some(&access),
        None,
    )
    .await
    .err(403, "RecentSignInRequired");
    t.call(
        Method::POST,
        &t.api("/auth/mfa/totp"),
        Some(&access),
        Some(json!({})),
    )
    .await
    .err(403, "RecentSignInRequired");
    let id = challenge(&t, &email).await;
    let fresh = Tokens::from(totp(&t, &id, &code(&t, &secret, 0)).await.ok());
    t.call(Method::DELETE, &remove, Some(&fresh.access), None)
        .await
        .void();
    // No factor left: no challenge, and the recovery codes went with it.
    let _ = Tokens::from(sign_in(&t, APP, &email, None).await.ok());
    let status = t
        .call(Method::GET, &t.api("/auth/mfa"), Some(&fresh.access), None)
        .await
        .ok();
    assert_eq!(status["factors"], json!([]));
    assert_eq!(status["recovery_codes_left"], 0);
    let kinds = activity_kinds(&t, &fresh.access).await;
    assert!(kinds.contains(&"mfa_removed".to_string()), "{kinds:?}");
}

async fn challenges_are_bound_to_their_device_and_expire(b: Backend) {
    let t = TestServer::start(b).await;
    let email = unique_email("device");
    let (_, secret, _) = user_with_totp(&t, &email).await;
    let e = sign_in(&t, APP, &email, Some(DEVICE_A))
        .await
        .err(401, "MfaRequired");
    let id = e["mfa"]["challenge_id"].as_str().unwrap();
    let answer = |device: Option<&str>| {
        let mut proof = json!({"totp_code": code(&t, &secret, 0)});
        if let Some(d) = device {
            proof["options"] = json!({"device": {"deviceId": d}});
        }
        proof
    };
    let e = complete(&t, APP, id, answer(Some(DEVICE_B)))
        .await
        .err(400, "MfaChallengeInvalid");
    assert!(
        e["error"].as_str().unwrap().contains("another device"),
        "{e}"
    );
    complete(&t, APP, id, answer(None))
        .await
        .err(400, "MfaChallengeInvalid");
    // Another app cannot answer it either.
    complete(&t, STRICT_APP, id, answer(Some(DEVICE_A)))
        .await
        .err(400, "MfaChallengeInvalid");
    let ok = complete(&t, APP, id, answer(Some(DEVICE_A))).await.ok();
    assert_eq!(ok["device_id"], DEVICE_A);

    // Five minutes on, a challenge is void.
    let id = challenge(&t, &email).await;
    t.state().clock.advance(301);
    let e = totp(&t, &id, &code(&t, &secret, 0))
        .await
        .err(400, "MfaChallengeInvalid");
    assert!(e["error"].as_str().unwrap().contains("expired"), "{e}");
    // Maintenance keeps it a day (a late answer hears "expired"), then deletes it.
    let db = &t.state().db;
    let now = t.state().now();
    let kept = gatehouse_server::store::maintenance::prune(db, now, 3600)
        .await
        .unwrap();
    assert_eq!(kept.second_factor, 0, "{b:?}");
    let pruned = gatehouse_server::store::maintenance::prune(db, now + 24 * 3600, 3600)
        .await
        .unwrap();
    assert!(pruned.second_factor >= 1, "{pruned:?}");
    let e = totp(&t, &id, &code(&t, &secret, 0))
        .await
        .err(400, "MfaChallengeInvalid");
    assert!(!e["error"].as_str().unwrap().contains("expired"), "{e}");
    totp(&t, "0123456789abcdef01234567", &code(&t, &secret, 0))
        .await
        .err(400, "MfaChallengeInvalid");
}

async fn a_required_app_enrols_through_the_challenge(b: Backend) {
    let t = TestServer::start_with(b, |c| {
        c.apps.get_mut(APP).unwrap().mfa = gatehouse_server::config::MfaPolicy::Required;
    })
    .await;
    // Anonymous sign-in is not asked to enrol (there is nobody to sign in again).
    t.anonymous().await;
    let email = unique_email("required");
    t.register_and_confirm(APP, &email, PASSWORD).await;
    let e = sign_in(&t, APP, &email, Some(DEVICE_A))
        .await
        .err(401, "MfaEnrollmentRequired");
    assert_eq!(e["mfa"]["methods"], json!(["totp"]));
    let id = e["mfa"]["challenge_id"].as_str().unwrap();
    let device = json!({"device": {"deviceId": DEVICE_A}});
    let enrolment = t
        .post(
            APP,
            "/auth/mfa/enroll",
            json!({"challenge_id": id, "options": device}),
        )
        .await
        .ok();
    let secret = enrolment["secret"].as_str().unwrap();
    align(&t);
    let done = complete(
        &t,
        APP,
        id,
        json!({"totp_code": code(&t, secret, 0), "options": device}),
    )
    .await
    .ok();
    assert_eq!(done["recovery_codes"].as_array().unwrap().len(), 10);
    let tokens = Tokens::from(done);
    let status = t
        .call(Method::GET, &t.api("/auth/mfa"), Some(&tokens.access), None)
        .await
        .ok();
    assert_eq!(status["required"], true);
    assert_eq!(status["factors"][0]["confirmed"], true);
    // From now on the user is asked for the factor, not to enrol.
    sign_in(&t, APP, &email, None).await.err(401, "MfaRequired");
}

async fn admin_reset_mfa_removes_every_factor(b: Backend) {
    let t = TestServer::start(b).await;
    let email = unique_email("reset");
    let (u, _, _) = user_with_totp(&t, &email).await;
    let data_dir = t.dir.path().to_str().unwrap().to_string();
    let run = |args: &[&str]| {
        let mut all = vec![
            "--data-dir",
            &data_dir,
            "--database-url",
            &t.database_url,
            "admin",
        ];
        all.extend_from_slice(args);
        run_gatehoused(&all)
    };
    let out = run(&["user", "reset-mfa", &u.user_id]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("1 second factor"));
    let tokens = Tokens::from(sign_in(&t, APP, &email, None).await.ok());
    let kinds = activity_kinds(&t, &tokens.access).await;
    assert!(kinds.contains(&"mfa_reset".to_string()), "{kinds:?}");
    let out = run(&["user", "reset-mfa", &"0".repeat(24)]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no user with id"));
}

async fn realm_web_sees_the_documented_error(b: Backend) {
    let t = TestServer::start(b).await;
    let email = unique_email("realm-web-mfa");
    user_with_totp(&t, &email).await;
    let plain = unique_email("realm-web-plain");
    t.register_and_confirm(APP, &plain, PASSWORD).await;
    let steps = realm_web_steps(
        "mfa.cjs",
        &[
            ("GATEHOUSE_URL", &t.base),
            ("GATEHOUSE_APP_ID", APP),
            ("GATEHOUSE_EMAIL", &email),
            ("GATEHOUSE_PLAIN_EMAIL", &plain),
            ("GATEHOUSE_PASSWORD", PASSWORD),
        ],
    )
    .await;
    assert_eq!(steps.len(), 3, "{steps:?}");
}
