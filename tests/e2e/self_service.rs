//! Self-service changes of the signed-in user (issue 17): change email (confirmed from the new
//! address, undoable from the old one for 72 hours), change phone (a code texted to the new
//! number through the Twilio stand-in), edit the profile's name and picture — each needing a
//! recent sign-in and leaving an activity event.

use gatehouse_client::{Error, ProfileUpdate, User};
use reqwest::Method;
use serde_json::{json, Value};

use crate::both_backends;
use crate::peers::pkce_pair;
use crate::phone::{confirmed, server as phone_server};
use crate::sdk::{email_login, Sdk};
use crate::support::*;

both_backends!(
    an_email_change_waits_for_the_new_address_and_can_be_undone,
    email_changes_refuse_bad_input_and_stale_links,
    a_phone_change_is_proven_by_a_code_to_the_new_number,
    the_profile_name_and_picture_can_be_edited,
    every_change_needs_a_recent_sign_in
);

/// The default `[tokens] recent_sign_in_secs`.
const WINDOW: i64 = 300;

fn sdk_code(e: &Error) -> String {
    e.code().to_string()
}

fn email_of(user: &User) -> String {
    user.profile().unwrap().data["email"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn login_status(t: &TestServer, email: &str) -> u16 {
    t.login(
        APP,
        "local-userpass",
        json!({"username": email, "password": PASSWORD}),
    )
    .await
    .status
    .as_u16()
}

/// Submits a mailed link's page (its button's POST); returns the page's HTML.
async fn press(t: &TestServer, path: &str, (token, token_id): &(String, String)) -> String {
    let r = t
        .http
        .post(format!("{}/app/{APP}{path}", t.base))
        .form(&[("token", token), ("tokenId", token_id)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.text().await.unwrap()
}

async fn activity(t: &TestServer, access: &str) -> Vec<Value> {
    t.call(Method::GET, &t.api("/auth/activity"), Some(access), None)
        .await
        .ok()
        .as_array()
        .unwrap()
        .clone()
}

fn stages(events: &[Value], kind: &str) -> Vec<String> {
    let mut s: Vec<String> = events
        .iter()
        .filter(|e| e["kind"] == kind)
        .map(|e| e["detail"]["stage"].as_str().unwrap_or("").to_string())
        .collect();
    s.reverse();
    s
}

async fn an_email_change_waits_for_the_new_address_and_can_be_undone(b: Backend) {
    let t = TestServer::start(b).await;
    let sdk = Sdk::new();
    let app = sdk.app(&t).await;
    let user = email_login(&t, &app, "change-old").await;
    let old = email_of(&user);
    let other_device = t.password_login(&old, PASSWORD).await;
    let new = unique_email("change-new");

    let seen = t.outbox().len();
    user.change_email(&new).await.unwrap();
    let confirm = t.mailed_token_after(seen, &new, "/email-change").await;
    // Until the new address confirms, nothing changed: the old address signs in, the new not.
    assert_eq!(login_status(&t, &old).await, 200);
    assert_eq!(login_status(&t, &new).await, 401);
    // Opening the link (as a mail scanner would) changes nothing either.
    let page = t
        .http
        .get(format!(
            "{}/app/{APP}/email-change?token={}&tokenId={}",
            t.base, confirm.0, confirm.1
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page
        .text()
        .await
        .unwrap()
        .contains("<form method=\"post\">"));
    assert_eq!(login_status(&t, &old).await, 200);

    let html = press(&t, "/email-change", &confirm).await;
    assert!(html.contains("Email address changed"), "{html}");
    // The same password now signs in with the new address only, as the same user.
    assert_eq!(login_status(&t, &old).await, 401);
    let signed_in = t.password_login(&new, PASSWORD).await;
    assert_eq!(signed_in.user_id, user.id());
    let profile = user.refresh_profile().await.unwrap();
    assert_eq!(profile.data["email"], new.as_str());
    let identity = profile
        .identities
        .iter()
        .find(|i| i.provider_type == "local-userpass")
        .unwrap();
    assert_eq!(identity.provider_data["email"], new.as_str());
    // A used link stays used.
    let again = press(&t, "/email-change", &confirm).await;
    assert!(again.contains("already used"), "{again}");

    // The old address got a notice with an undo link; undoing restores it and ends every
    // session, and the page says so.
    let undo = t.mailed_token_after(seen, &old, "/email-change/undo").await;
    let notice = t.mails_to(&old).await;
    assert!(notice
        .iter()
        .any(|m| m["text"].as_str().unwrap().contains(new.as_str())));
    let events = activity(&t, &signed_in.access).await;
    assert_eq!(
        stages(&events, "email_changed"),
        ["requested", "confirmed"],
        "{events:?}"
    );
    let html = press(&t, "/email-change/undo", &undo).await;
    assert!(html.contains("every session was ended"), "{html}");
    assert!(html.contains(old.as_str()), "{html}");
    assert_eq!(login_status(&t, &new).await, 401);
    let back = t.password_login(&old, PASSWORD).await;
    assert_eq!(back.user_id, user.id());
    for ended in [&other_device.refresh, &signed_in.refresh] {
        t.call(Method::POST, &t.api("/auth/session"), Some(ended), None)
            .await
            .err(401, "InvalidSession");
    }
    assert!(user
        .refresh_profile()
        .await
        .unwrap_err()
        .is_invalid_session());
    let again = press(&t, "/email-change/undo", &undo).await;
    assert!(again.contains("already used"), "{again}");
    let events = activity(&t, &back.access).await;
    assert_eq!(
        stages(&events, "email_changed"),
        ["requested", "confirmed", "undone"]
    );
}

async fn change_email(t: &TestServer, access: &str, new: &str) -> Reply {
    t.call(
        Method::POST,
        &t.api("/auth/email/change"),
        Some(access),
        Some(json!({ "new_email": new })),
    )
    .await
}

async fn email_changes_refuse_bad_input_and_stale_links(b: Backend) {
    let t = TestServer::start(b).await;
    let email = unique_email("refuse");
    let u = t.email_user(&email).await;
    let taken = unique_email("taken");
    t.register_and_confirm(APP, &taken, PASSWORD).await;

    let bad = change_email(&t, &u.access, "not an address")
        .await
        .err(400, "InvalidEmail");
    assert!(bad["error"]
        .as_str()
        .unwrap()
        .contains("invalid email address"));
    let same = change_email(&t, &u.access, &email.to_uppercase())
        .await
        .err(400, "BadRequest");
    assert!(same["error"]
        .as_str()
        .unwrap()
        .contains("already the account's"));
    // The same code and status register answers (a strict app) for a taken address.
    t.register_and_confirm(STRICT_APP, &taken, PASSWORD).await;
    t.post(
        STRICT_APP,
        "/auth/providers/local-userpass/register",
        json!({"email": taken, "password": PASSWORD}),
    )
    .await
    .err(409, "AccountNameInUse");
    let in_use = change_email(&t, &u.access, &taken)
        .await
        .err(409, "AccountNameInUse");
    assert!(in_use["error"].as_str().unwrap().contains("already exists"));
    let anon = t.anonymous().await;
    let none = change_email(&t, &anon.access, &unique_email("anon"))
        .await
        .err(400, "BadRequest");
    assert!(none["error"]
        .as_str()
        .unwrap()
        .contains("no email/password identity"));

    // A newer request voids the older link; an expired link is refused with its own message.
    let first = unique_email("first");
    let seen = t.outbox().len();
    change_email(&t, &u.access, &first).await.void();
    let first_link = t.mailed_token_after(seen, &first, "/email-change").await;
    let second = unique_email("second");
    change_email(&t, &u.access, &second).await.void();
    let second_link = t.mailed_token_after(seen, &second, "/email-change").await;
    let html = press(&t, "/email-change", &first_link).await;
    assert!(html.contains("newer change request replaced it"), "{html}");
    t.state().clock.advance(24 * 3600 + 1);
    let html = press(&t, "/email-change", &second_link).await;
    assert!(html.contains("has expired"), "{html}");
    let html = press(
        &t,
        "/email-change",
        &(second_link.0.clone(), "0".repeat(24)),
    )
    .await;
    assert!(html.contains("not valid"), "{html}");
    assert_eq!(login_status(&t, &email).await, 200, "nothing changed");

    // A confirmed change whose undo link is used after 72 hours: refused, the address stays.
    let fresh = t.password_login(&email, PASSWORD).await;
    let third = unique_email("third");
    let seen = t.outbox().len();
    change_email(&t, &fresh.access, &third).await.void();
    let link = t.mailed_token_after(seen, &third, "/email-change").await;
    // Someone registers the new address meanwhile: the link cannot take it over.
    t.register_and_confirm(APP, &third, PASSWORD).await;
    let html = press(&t, "/email-change", &link).await;
    assert!(html.contains("already exists"), "{html}");
    assert_eq!(login_status(&t, &email).await, 200);

    let fourth = unique_email("fourth");
    let seen = t.outbox().len();
    change_email(&t, &fresh.access, &fourth).await.void();
    let link = t.mailed_token_after(seen, &fourth, "/email-change").await;
    press(&t, "/email-change", &link).await;
    let undo = t
        .mailed_token_after(seen, &email, "/email-change/undo")
        .await;
    t.state().clock.advance(72 * 3600 + 1);
    let html = press(&t, "/email-change/undo", &undo).await;
    assert!(html.contains("undo link has expired"), "{html}");
    assert!(html.contains("72 hours"), "{html}");
    assert_eq!(login_status(&t, &fourth).await, 200);
    assert_eq!(login_status(&t, &email).await, 401);
}

const NEW_PHONE: &str = "+14155552672";
const OTHER_PHONE: &str = "+14155552673";
const TAKEN_PHONE: &str = "+14155552674";

async fn phone_change(t: &TestServer, access: &str, phone: &str, challenge: &str) -> Reply {
    t.call(
        Method::POST,
        &t.api("/auth/phone/change"),
        Some(access),
        Some(json!({"new_phone": phone, "code_challenge": challenge})),
    )
    .await
}

async fn phone_confirm(t: &TestServer, access: &str, body: Value) -> Reply {
    t.call(
        Method::POST,
        &t.api("/auth/phone/change/confirm"),
        Some(access),
        Some(body),
    )
    .await
}

async fn a_phone_change_is_proven_by_a_code_to_the_new_number(b: Backend) {
    let (t, twilio) = phone_server(b, false).await;
    let old = "+14155552671";
    confirmed(&t, &twilio, old).await;
    confirmed(&t, &twilio, TAKEN_PHONE).await;
    let tokens = Tokens::from(
        t.login(
            APP,
            "phone-password",
            json!({"phone": old, "password": PASSWORD}),
        )
        .await
        .ok(),
    );
    let (verifier, challenge) = pkce_pair();

    // Bad input, each with its own answer and nothing texted or changed.
    phone_change(&t, &tokens.access, TAKEN_PHONE, &challenge)
        .await
        .err(409, "AccountNameInUse");
    phone_change(&t, &tokens.access, old, &challenge)
        .await
        .err(400, "BadRequest");
    phone_change(&t, &tokens.access, "+1 415", &challenge)
        .await
        .err(400, "InvalidPhone");
    let email_only = t.email_user(&unique_email("no-phone")).await;
    let none = phone_change(&t, &email_only.access, NEW_PHONE, &challenge)
        .await
        .err(400, "BadRequest");
    assert!(none["error"]
        .as_str()
        .unwrap()
        .contains("no phone identity"));

    // A code for another number is refused as such; a wrong code as wrong.
    let seen = twilio.count_to(OTHER_PHONE);
    phone_change(&t, &tokens.access, OTHER_PHONE, &challenge)
        .await
        .void();
    let code = twilio.code_after(OTHER_PHONE, seen).await;
    let other = phone_confirm(
        &t,
        &tokens.access,
        json!({"new_phone": NEW_PHONE, "code": code, "code_verifier": verifier}),
    )
    .await
    .err(400, "InvalidCode");
    assert!(other["error"]
        .as_str()
        .unwrap()
        .contains("sent to another number"));
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let refused = phone_confirm(
        &t,
        &tokens.access,
        json!({"new_phone": OTHER_PHONE, "code": wrong, "code_verifier": verifier}),
    )
    .await
    .err(400, "InvalidCode");
    assert!(refused["error"].as_str().unwrap().contains("not right"));

    // Through the SDK: the code to the new number moves the account; the old number is told.
    let sdk = Sdk::new();
    let app = sdk.app(&t).await;
    let user = app
        .log_in(gatehouse_client::Credentials::phone_password(old, PASSWORD))
        .await
        .unwrap();
    let seen = twilio.count_to(NEW_PHONE);
    let old_texts = twilio.count_to(old);
    let pending = user.change_phone(NEW_PHONE).await.unwrap();
    assert!(!format!("{pending:?}").contains("verifier:"));
    let code = twilio.code_after(NEW_PHONE, seen).await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    assert_eq!(
        sdk_code(
            &user
                .confirm_phone_change(&pending, wrong)
                .await
                .unwrap_err()
        ),
        "InvalidCode"
    );
    let profile = user.confirm_phone_change(&pending, &code).await.unwrap();
    assert_eq!(profile.data["phone"], NEW_PHONE);
    assert!(profile
        .identities
        .iter()
        .any(|i| i.provider_data.get("phone") == Some(&json!(NEW_PHONE))));
    for _ in 0..100 {
        if twilio.count_to(old) > old_texts {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let notice = twilio
        .sent
        .lock()
        .unwrap()
        .iter()
        .rev()
        .find(|(to, _)| to == old)
        .unwrap()
        .1
        .clone();
    assert!(notice.contains("was changed"), "{notice}");
    // The same code again is used up.
    assert_ne!(
        sdk_code(
            &user
                .confirm_phone_change(&pending, &code)
                .await
                .unwrap_err()
        ),
        ""
    );
    let moved = t
        .login(
            APP,
            "phone-password",
            json!({"phone": NEW_PHONE, "password": PASSWORD}),
        )
        .await
        .ok();
    assert_eq!(moved["user_id"], user.id());
    assert_eq!(
        t.login(
            APP,
            "phone-password",
            json!({"phone": old, "password": PASSWORD}),
        )
        .await
        .status,
        401
    );
    let events = activity(&t, moved["access_token"].as_str().unwrap()).await;
    assert_eq!(
        stages(&events, "phone_changed"),
        ["requested", "requested", "confirmed"],
        "{events:?}"
    );
}

async fn the_profile_name_and_picture_can_be_edited(b: Backend) {
    let t = TestServer::start(b).await;
    let sdk = Sdk::new();
    let app = sdk.app(&t).await;
    let user = email_login(&t, &app, "profile").await;
    let picture = "https://images.example.test/me.png";
    let profile = user
        .update_profile(ProfileUpdate {
            name: Some(Some("  Ada Lovelace  ".into())),
            picture_url: Some(Some(picture.into())),
        })
        .await
        .unwrap();
    assert_eq!(profile.data["name"], "Ada Lovelace");
    assert_eq!(profile.data["picture_url"], picture);
    assert_eq!(
        profile.data["picture"], picture,
        "realm-web reads `picture`"
    );
    assert_eq!(user.profile().unwrap().data["name"], "Ada Lovelace");

    // Bad values are refused with a reason, and nothing changes.
    for (update, says) in [
        (
            json!({"picture_url": "http://images.example.test/me.png"}),
            "https URL",
        ),
        (
            json!({"picture_url": format!("https://x.test/{}", "a".repeat(2048))}),
            "2048",
        ),
        (json!({"name": "   "}), "1 to 100"),
        (json!({"name": "n".repeat(101)}), "1 to 100"),
        (json!({}), "nothing to change"),
        (json!({"nickname": "x"}), "unknown field"),
    ] {
        let r = t
            .call(
                Method::PATCH,
                &t.api("/auth/profile"),
                Some(&user.valid_access_token().await.unwrap()),
                Some(update),
            )
            .await
            .err(400, "InvalidParameter");
        assert!(r["error"].as_str().unwrap().contains(says), "{r}");
    }
    let sdk_err = user
        .update_profile(ProfileUpdate {
            name: None,
            picture_url: Some(Some("javascript:alert(1)".into())),
        })
        .await
        .unwrap_err();
    assert_eq!(sdk_code(&sdk_err), "InvalidParameter");
    let unchanged = user.refresh_profile().await.unwrap();
    assert_eq!(unchanged.data["name"], "Ada Lovelace");
    assert_eq!(unchanged.data["picture_url"], picture);

    // null clears a field; the other stays. Raw PATCH answers the profile as GET does.
    let r = t
        .call(
            Method::PATCH,
            &t.api("/auth/profile"),
            Some(&user.valid_access_token().await.unwrap()),
            Some(json!({"name": null})),
        )
        .await
        .ok();
    assert!(r["data"].get("name").is_none(), "{r}");
    assert_eq!(r["data"]["picture_url"], picture);
    assert_eq!(r["user_id"], user.id());
    let cleared = user
        .update_profile(ProfileUpdate {
            name: None,
            picture_url: Some(None),
        })
        .await
        .unwrap();
    assert!(cleared.data.get("picture_url").is_none());
    assert!(cleared.data.get("picture").is_none());
    let events = user.activity().await.unwrap();
    let edits: Vec<_> = events
        .iter()
        .filter(|e| e.kind == "profile_changed")
        .collect();
    assert_eq!(edits.len(), 3, "{events:?}");
    assert_eq!(edits[0].detail["fields"], json!(["picture_url"]));
}

async fn every_change_needs_a_recent_sign_in(b: Backend) {
    let (t, twilio) = phone_server(b, false).await;
    let email = unique_email("stale");
    let u = t.email_user(&email).await;
    let phone = "+14155552671";
    confirmed(&t, &twilio, phone).await;
    let p = Tokens::from(
        t.login(
            APP,
            "phone-password",
            json!({"phone": phone, "password": PASSWORD}),
        )
        .await
        .ok(),
    );
    t.state().clock.advance(WINDOW + 1);
    let fresh = |refresh: String| {
        let t = &t;
        async move {
            t.call(Method::POST, &t.api("/auth/session"), Some(&refresh), None)
                .await
                .ok()["access_token"]
                .as_str()
                .unwrap()
                .to_string()
        }
    };
    let access = fresh(u.refresh.clone()).await;
    let phone_access = fresh(p.refresh.clone()).await;
    let (verifier, challenge) = pkce_pair();
    let new = unique_email("stale-new");
    let seen = t.outbox().len();
    let refused = change_email(&t, &access, &new)
        .await
        .err(403, "RecentSignInRequired");
    assert!(refused["error"].as_str().unwrap().contains("email address"));
    t.call(
        Method::PATCH,
        &t.api("/auth/profile"),
        Some(&access),
        Some(json!({"name": "Late"})),
    )
    .await
    .err(403, "RecentSignInRequired");
    phone_change(&t, &phone_access, NEW_PHONE, &challenge)
        .await
        .err(403, "RecentSignInRequired");
    phone_confirm(
        &t,
        &phone_access,
        json!({"new_phone": NEW_PHONE, "code": "123456", "code_verifier": verifier}),
    )
    .await
    .err(403, "RecentSignInRequired");
    // Nothing was mailed, texted or changed.
    assert_eq!(t.outbox().len(), seen);
    assert_eq!(twilio.count_to(NEW_PHONE), 0);
    let profile = t
        .call(Method::GET, &t.api("/auth/profile"), Some(&access), None)
        .await
        .ok();
    assert!(profile["data"].get("name").is_none());

    // The SDK says so with its own variant; signed in again, the change goes through.
    let sdk = Sdk::new();
    let app = sdk.app(&t).await;
    let user = app
        .log_in(gatehouse_client::Credentials::email_password(
            &email, PASSWORD,
        ))
        .await
        .unwrap();
    t.state().clock.advance(WINDOW + 1);
    let stale = user.change_email(&new).await.unwrap_err();
    assert!(
        matches!(stale, Error::RecentSignInRequired { .. }),
        "{stale:?}"
    );
    let stale = user
        .update_profile(ProfileUpdate {
            name: Some(Some("Late".into())),
            picture_url: None,
        })
        .await
        .unwrap_err();
    assert!(
        matches!(stale, Error::RecentSignInRequired { .. }),
        "{stale:?}"
    );
    let again = app
        .log_in(gatehouse_client::Credentials::email_password(
            &email, PASSWORD,
        ))
        .await
        .unwrap();
    again.change_email(&new).await.unwrap();
    t.mailed_token_after(seen, &new, "/email-change").await;
}
