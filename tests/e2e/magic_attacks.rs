//! Magic links under attack (security.md T-14; issue 12, item 17). `magic.rs` covers the scanner
//! GET, a redeem without a verifier, a wrong verifier burning the code, and a second redeem. This
//! file covers the rest: a link the attacker asked for and the victim clicked gives the
//! attacker's device nothing, a new request of the same flow voids the older link, and another
//! flow's request can neither void nor shadow a code someone is typing.

use base64::Engine as _;
use reqwest::Method;
use serde_json::{json, Value};

use crate::both_backends;
use crate::magic::{magic_mails, server, DEEP_LINK};
use crate::sdk::Sdk;
use crate::support::*;

both_backends!(
    an_attacker_requested_link_clicked_by_the_victim_signs_in_nobody,
    a_new_request_of_the_same_flow_voids_the_older_link,
    another_flow_cannot_void_or_shadow_a_code_being_typed
);

/// A PKCE pair: (verifier, S256 challenge).
fn pkce(tag: &str) -> (String, String) {
    let verifier = format!("{tag}-{}", "v".repeat(50));
    let digest = ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes());
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest);
    (verifier, challenge)
}

async fn send(t: &TestServer, email: &str, challenge: &str, state: &str) {
    t.post(
        APP,
        "/auth/providers/magic-link/send",
        json!({
            "email": email, "code_challenge": challenge, "code_challenge_method": "S256",
            "redirect_uri": DEEP_LINK, "state": state
        }),
    )
    .await
    .void();
}

/// Presses the page's button: the 303 Location, or the page's status and text.
async fn press(link: &str) -> Result<String, (u16, String)> {
    let resp = crate::magic::press(link).await;
    if resp.status() == 303 {
        return Ok(resp.headers()["location"].to_str().unwrap().to_string());
    }
    Err((resp.status().as_u16(), resp.text().await.unwrap()))
}

fn code_in(location: &str) -> String {
    let url = reqwest::Url::parse(location).unwrap();
    let code = url.query_pairs().find(|(k, _)| k == "code").unwrap().1;
    code.to_string()
}

async fn redeem(t: &TestServer, body: Value) -> Reply {
    t.login(APP, "magic-link", body).await
}

async fn session_count(t: &TestServer, access: &str) -> usize {
    t.call(Method::GET, &t.api("/auth/sessions"), Some(access), None)
        .await
        .ok()
        .as_array()
        .unwrap()
        .len()
}

async fn an_attacker_requested_link_clicked_by_the_victim_signs_in_nobody(b: Backend) {
    let t = server(b).await;
    let email = unique_email("victim");
    let owner = t.email_user(&email).await;
    let sessions = session_count(&t, &owner.access).await;
    let attacker = Sdk::new();
    let attacker_app = attacker.app(&t).await;
    let victim = Sdk::new();
    let victim_app = victim.app(&t).await;

    // The attacker asks for a link to the victim's address, on the attacker's device.
    let seen = t.outbox().len();
    let pending = attacker_app
        .send_magic_link(&email, DEEP_LINK)
        .await
        .unwrap();
    let (link, otp) = magic_mails(&t, &email, seen, 1).await.remove(0);
    // While it waits, the attacker guesses the typed code: wrong.
    let wrong = if otp.starts_with('2') {
        "3333-3333"
    } else {
        "2222-2222"
    };
    assert_eq!(
        attacker_app
            .complete_magic_link_with_code(&pending, wrong)
            .await
            .unwrap_err()
            .code(),
        "InvalidCode"
    );
    // The victim clicks it: the page hands the code to the deep link, which opens on the
    // victim's device — whose app started no such sign-in and refuses it.
    let location = press(&link).await.unwrap();
    assert!(location.starts_with(DEEP_LINK), "{location}");
    let own = victim_app.send_magic_link(&email, DEEP_LINK).await.unwrap();
    assert_eq!(
        victim_app
            .complete_magic_link(&own, &location)
            .await
            .unwrap_err()
            .code(),
        "InvalidArgument"
    );
    // Even a victim app that ignored the state could not use the code: its verifier is not the
    // attacker's, and trying burns the code.
    redeem(
        &t,
        json!({"code": code_in(&location), "code_verifier": pkce("victim").0}),
    )
    .await
    .err(400, "InvalidCode");
    // The attacker's device never sees the deep link, and the typed code of its flow is dead
    // with the link (even typed right, had the attacker read it); the code from the deep link,
    // had it leaked, is spent too.
    assert_eq!(
        attacker_app
            .complete_magic_link_with_code(&pending, &otp)
            .await
            .unwrap_err()
            .code(),
        "CodeAlreadyUsed"
    );
    assert_eq!(
        attacker_app
            .complete_magic_link(&pending, &location)
            .await
            .unwrap_err()
            .code(),
        "CodeAlreadyUsed"
    );
    assert!(attacker_app.current_user().is_none());
    assert_eq!(session_count(&t, &owner.access).await, sessions);
}

async fn a_new_request_of_the_same_flow_voids_the_older_link(b: Backend) {
    let t = server(b).await;
    let email = unique_email("again");
    let owner = t.email_user(&email).await;
    let (verifier, challenge) = pkce("device");
    // The same device asks twice in one flow (the same challenge), e.g. "send again".
    let seen = t.outbox().len();
    send(&t, &email, &challenge, "first").await;
    send(&t, &email, &challenge, "second").await;
    let mails = magic_mails(&t, &email, seen, 2).await;
    assert_eq!(mails.len(), 2);
    let ((old_link, old_otp), (new_link, _)) = (mails[0].clone(), mails[1].clone());
    // The older link and its code are void; the newer ones work.
    let (status, page) = press(&old_link).await.unwrap_err();
    assert_eq!(status, 200);
    assert!(page.contains("expired"), "{page}");
    redeem(
        &t,
        json!({"email": email, "otp": old_otp, "code_verifier": verifier}),
    )
    .await
    .err(400, "InvalidCode");
    let location = press(&new_link).await.unwrap();
    assert!(location.ends_with("&state=second"), "{location}");
    let user = redeem(
        &t,
        json!({"code": code_in(&location), "code_verifier": verifier}),
    )
    .await
    .ok();
    assert_eq!(user["user_id"], owner.user_id.as_str());
    // A code handed to the app by an older link's page is voided too.
    let seen = t.outbox().len();
    send(&t, &email, &challenge, "third").await;
    let (opened, _) = magic_mails(&t, &email, seen, 1).await.remove(0);
    let handed = press(&opened).await.unwrap();
    send(&t, &email, &challenge, "fourth").await;
    t.settle().await;
    redeem(
        &t,
        json!({"code": code_in(&handed), "code_verifier": verifier}),
    )
    .await
    .err(400, "CodeExpired");
}

async fn another_flow_cannot_void_or_shadow_a_code_being_typed(b: Backend) {
    let t = server(b).await;
    let email = unique_email("typing");
    let owner = t.email_user(&email).await;
    let victim = Sdk::new();
    let victim_app = victim.app(&t).await;
    let (_, attacker_challenge) = pkce("attacker");

    // The owner asks for a link and starts typing its code; meanwhile someone asks for links to
    // the same address from other flows.
    let seen = t.outbox().len();
    let pending = victim_app.send_magic_link(&email, DEEP_LINK).await.unwrap();
    let (link, otp) = magic_mails(&t, &email, seen, 1).await.remove(0);
    for n in 0..3 {
        send(&t, &email, &attacker_challenge, &format!("attacker-{n}")).await;
    }
    assert_eq!(magic_mails(&t, &email, seen, 4).await.len(), 4);
    // A wrong guess from the attacker's flow does not reach the owner's code's attempts.
    let (attacker_verifier, _) = pkce("attacker");
    for _ in 0..5 {
        redeem(
            &t,
            json!({"email": email, "otp": otp.replace(|c: char| c != '-', "2"),
                   "code_verifier": attacker_verifier}),
        )
        .await
        .err(400, "InvalidCode");
    }
    let user = victim_app
        .complete_magic_link_with_code(&pending, &otp)
        .await
        .unwrap();
    assert_eq!(user.id(), owner.user_id);
    // The same holds for the link: another flow's request leaves it working.
    let seen = t.outbox().len();
    let pending = victim_app.send_magic_link(&email, DEEP_LINK).await.unwrap();
    let (link2, _) = magic_mails(&t, &email, seen, 1).await.remove(0);
    send(&t, &email, &attacker_challenge, "attacker-late").await;
    t.settle().await;
    let location = press(&link2).await.unwrap();
    let user = victim_app
        .complete_magic_link(&pending, &location)
        .await
        .unwrap();
    assert_eq!(user.id(), owner.user_id);
    // The first link was used up by its typed code.
    assert!(press(&link).await.is_err());
}
