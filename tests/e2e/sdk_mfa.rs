//! The client SDK's two-step sign-in against a real gatehoused (issue 13): TOTP enrolment, the
//! challenge as its own error with nothing stored, completion with the first login's device,
//! recovery codes, an app that requires a factor, and the account after a restart of the app.
//! Codes come from Python's pyotp (tests/peers/.venv), independent of the server's TOTP; the
//! server's clock is moved instead of sleeping. SDK behaviour: SQLite only.

use gatehouse_client::{App, Credentials, Error, MfaChallenge, MfaProof, UserState};

use crate::sdk::Sdk;
use crate::support::*;

/// pyotp's code for `secret` at the server's now + `offset` seconds.
fn code(t: &TestServer, secret: &str, offset: i64) -> String {
    let python = concat!(env!("CARGO_MANIFEST_DIR"), "/peers/.venv/bin/python");
    assert!(
        std::path::Path::new(python).exists(),
        "tests/peers/.venv is missing: run scripts/setup.sh (it installs pyotp)"
    );
    let at = t.state().now() + offset;
    let out = std::process::Command::new(python)
        .args([
            "-c",
            "import sys, pyotp; print(pyotp.TOTP(sys.argv[1]).at(int(sys.argv[2])))",
            secret,
            &at.to_string(),
        ])
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Moves the server's clock to 2 s into a fresh 30-second step.
fn next_step(t: &TestServer) {
    let now = t.state().now();
    t.state().clock.advance(30 - now.rem_euclid(30) + 2);
}

fn wrong(right: &str) -> &'static str {
    if right == "000000" {
        "111111"
    } else {
        "000000"
    }
}

/// Logs in and expects the challenge.
async fn challenged(app: &App, email: &str) -> MfaChallenge {
    match app
        .log_in(Credentials::email_password(email, PASSWORD))
        .await
    {
        Err(Error::MfaRequired { challenge }) => challenge,
        other => panic!("expected MfaRequired, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdk_enrols_totp_and_answers_challenges_with_codes_and_recovery_codes() {
    let t = TestServer::start(Backend::Sqlite).await;
    let sdk = Sdk::new();
    let app = sdk.app(&t).await;
    let email = unique_email("sdk-mfa");
    t.register_and_confirm(APP, &email, PASSWORD).await;
    let user = app
        .log_in(Credentials::email_password(&email, PASSWORD))
        .await
        .unwrap();
    let mfa = user.mfa();
    let status = mfa.status().await.unwrap();
    assert!(status.factors.is_empty() && !status.required);

    // Enrol, then confirm with pyotp's code (a wrong one first).
    next_step(&t);
    let enrolment = mfa.enroll_totp(Some("Phone")).await.unwrap();
    assert!(
        !format!("{enrolment:?}").contains(&enrolment.secret),
        "the secret stays out of Debug"
    );
    let secret = enrolment.secret.clone();
    let now = code(&t, &secret, 0);
    let e = mfa
        .confirm_totp(&enrolment.factor_id, wrong(&now))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "MfaCodeInvalid", "{e}");
    let confirmed = mfa.confirm_totp(&enrolment.factor_id, &now).await.unwrap();
    assert!(confirmed.factor.confirmed);
    let codes = confirmed.recovery_codes.unwrap();
    assert_eq!(codes.len(), 10);

    // Signing in again: the challenge is its own error; nothing is stored.
    user.log_out().await.unwrap();
    let challenge = challenged(&app, &email).await;
    assert!(
        challenge.methods.iter().any(|m| m == "totp"),
        "{challenge:?}"
    );
    assert_eq!(challenge.provider, "local-userpass");
    assert!(!challenge.is_enrollment() && !challenge.is_expired());
    assert_eq!(user.state(), UserState::LoggedOut);
    assert!(app.current_user().is_none());

    // A wrong code keeps the challenge.
    let e = app
        .complete_mfa(&challenge, MfaProof::Totp(wrong(&now).into()))
        .await
        .unwrap_err();
    assert!(e.keeps_mfa_challenge(), "{e}");
    next_step(&t);
    let fresh = code(&t, &secret, 0);

    // The right code: the user is recorded as by a login. (The challenge is bound to the device
    // id this app's login sent; the server refuses a completion naming no or another device, so
    // this also shows the SDK sends the first login's device again.)
    let back = app
        .complete_mfa(&challenge, MfaProof::Totp(fresh))
        .await
        .unwrap();
    assert_eq!(back, user, "the same user id gives the same User");
    assert_eq!(back.state(), UserState::LoggedIn);
    assert_eq!(app.current_user().as_ref(), Some(&back));
    assert_eq!(back.mfa().status().await.unwrap().factors.len(), 1);

    // A recovery code answers once.
    back.log_out().await.unwrap();
    let challenge = challenged(&app, &email).await;
    app.complete_mfa(&challenge, MfaProof::RecoveryCode(codes[0].clone()))
        .await
        .unwrap();
    back.log_out().await.unwrap();
    let challenge = challenged(&app, &email).await;
    let e = app
        .complete_mfa(&challenge, MfaProof::RecoveryCode(codes[0].clone()))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "MfaCodeInvalid", "{e}");
    let user = app
        .complete_mfa(&challenge, MfaProof::RecoveryCode(codes[1].clone()))
        .await
        .unwrap();
    assert_eq!(user.mfa().status().await.unwrap().recovery_codes_left, 8);

    // A restart of the app keeps the account signed in; new codes void the old ones.
    drop(app);
    let app = sdk.app(&t).await;
    let user = app.current_user().expect("still signed in after a restart");
    let fresh_codes = user.mfa().regenerate_recovery_codes().await.unwrap();
    assert_eq!(fresh_codes.len(), 10);
    assert!(!fresh_codes.contains(&codes[2]));

    // Without its factor the account signs in with its password alone.
    user.mfa()
        .remove_factor(&enrolment.factor_id)
        .await
        .unwrap();
    user.log_out().await.unwrap();
    app.log_in(Credentials::email_password(&email, PASSWORD))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_that_requires_a_factor_enrols_through_the_challenge() {
    let t = TestServer::start_with(Backend::Sqlite, |c| {
        c.apps.get_mut(APP).unwrap().mfa = gatehouse_server::config::MfaPolicy::Required;
    })
    .await;
    let sdk = Sdk::new();
    let app = sdk.app(&t).await;
    let email = unique_email("sdk-mfa-required");
    t.register_and_confirm(APP, &email, PASSWORD).await;
    let challenge = match app
        .log_in(Credentials::email_password(&email, PASSWORD))
        .await
    {
        Err(Error::MfaEnrollmentRequired { challenge }) => challenge,
        other => panic!("expected MfaEnrollmentRequired, got {other:?}"),
    };
    assert!(challenge.is_enrollment());
    assert!(
        app.all_users().is_empty(),
        "nothing stored before the factor"
    );

    let enrolment = app.enroll_totp_for_challenge(&challenge).await.unwrap();
    next_step(&t);
    let first = code(&t, &enrolment.secret, 0);
    let e = app
        .complete_mfa_enrollment(&challenge, wrong(&first))
        .await
        .unwrap_err();
    assert!(e.keeps_mfa_challenge(), "{e}");
    let (user, codes) = app
        .complete_mfa_enrollment(&challenge, &first)
        .await
        .unwrap();
    assert_eq!(codes.len(), 10);
    assert_eq!(app.current_user().as_ref(), Some(&user));
    let status = user.mfa().status().await.unwrap();
    assert!(status.required && status.factors[0].confirmed);

    // Next time it is an ordinary challenge.
    user.log_out().await.unwrap();
    let challenge = challenged(&app, &email).await;
    next_step(&t);
    let user = app
        .complete_mfa(&challenge, MfaProof::Totp(code(&t, &enrolment.secret, 0)))
        .await
        .unwrap();
    assert_eq!(user.state(), UserState::LoggedIn);
}
