//! Control characters in identifiers (security.md T-8, issue 12 item 16): NUL and the other C0
//! controls in usernames, emails, phone numbers, token ids, device ids and path ids answer 400
//! with a clear error on both databases — never a database error (PostgreSQL refuses NUL in text)
//! and never 503.

use reqwest::Method;
use serde_json::json;

use crate::both_backends;
use crate::support::*;

both_backends!(control_characters_in_identifiers_answer_400);

const CONTROLS: [&str; 5] = ["\u{0}", "\u{1}", "\u{8}", "\u{1b}", "\u{1f}"];

async fn control_characters_in_identifiers_answer_400(b: Backend) {
    let t = TestServer::start_with(b, |c| {
        let app = c.apps.get_mut(APP).unwrap();
        app.providers.push("phone-password".to_string());
        app.phone.allowed_countries = vec!["US".into()];
    })
    .await;
    let user = t.email_user(&unique_email("ctl")).await;
    for ctl in CONTROLS {
        let email = format!("a{ctl}b@example.test");
        let phone = format!("+1415555{ctl}2671");
        let body = t
            .login(
                APP,
                "local-userpass",
                json!({"username": email, "password": PASSWORD}),
            )
            .await
            .err(400, "InvalidParameter");
        assert!(
            body["error"]
                .as_str()
                .unwrap()
                .contains("control character"),
            "{body}"
        );
        let up = "/auth/providers/local-userpass";
        t.post(
            APP,
            &format!("{up}/register"),
            json!({"email": email, "password": PASSWORD}),
        )
        .await
        .err(400, "InvalidEmail");
        t.post(APP, &format!("{up}/reset/send"), json!({"email": email}))
            .await
            .err(400, "InvalidEmail");
        t.post(
            APP,
            &format!("{up}/reset"),
            json!({"token": "t", "tokenId": format!("id{ctl}"), "password": PASSWORD}),
        )
        .await
        .err(400, "InvalidParameter");
        t.post(
            APP,
            &format!("{up}/confirm"),
            json!({"token": format!("t{ctl}"), "tokenId": "id"}),
        )
        .await
        .err(400, "InvalidParameter");
        t.post(
            APP,
            "/auth/providers/phone-password/register",
            json!({"phone": phone, "password": PASSWORD}),
        )
        .await
        .err(400, "InvalidPhone");
        t.login(
            APP,
            "phone-password",
            json!({"phone": phone, "password": PASSWORD}),
        )
        .await
        .err(400, "InvalidPhone");
        // The device a client names is an id too.
        t.login(
            APP,
            "anon-user",
            json!({"options": {"device": {"deviceId": format!("d{ctl}")}}}),
        )
        .await
        .err(400, "InvalidParameter");
        // Ids in paths, percent-encoded.
        let id = format!("x{}", urlencode(ctl));
        for (method, path) in [
            (Method::GET, format!("/auth/api_keys/{id}")),
            (Method::DELETE, format!("/auth/sessions/{id}")),
        ] {
            t.call(method, &t.api(&path), Some(&user.access), None)
                .await
                .err(400, "InvalidParameter");
        }
    }
    // Nothing above reached the database as an outage: the server still answers normally.
    t.login(APP, "anon-user", json!({})).await.ok();
}

fn urlencode(s: &str) -> String {
    s.bytes().map(|b| format!("%{b:02X}")).collect()
}
