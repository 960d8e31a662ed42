//! Self-tests of the stand-ins: each provider's full happy path through the Browser and reqwest
//! (authorize → code → token → user), and the error answers tests will rely on.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::*;
use crate::peers::{pkce_pair, with_query, Browser};

const CB: &str = "http://127.0.0.1:1/app-callback";

/// Runs the authorize step in a browser and returns the landing at CB.
async fn authorize(url: &str, extra: &[(&str, &str)]) -> crate::peers::Landing {
    let landing = Browser::new()
        .navigate(&with_query(url, extra), |u| u.starts_with(CB))
        .await;
    assert!(landing.url.starts_with(CB), "{landing:#?}");
    landing
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .user_agent("gatehouse-selftest")
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_full_flow() {
    let gh = GithubStandin::start().await;
    gh.set_user(
        GithubUser::new("alice", 1001, "alice@example.test")
            .private_email()
            .with_emails(vec![
                GithubEmail::new("alice@example.test", true, true),
                GithubEmail::new("old@example.test", false, false),
            ]),
    );
    let (verifier, challenge) = pkce_pair();
    let landing = authorize(
        &gh.authorize_url(),
        &[
            ("client_id", gh.client_id.as_str()),
            ("redirect_uri", CB),
            ("scope", "read:user user:email"),
            ("state", "st-1"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
    )
    .await;
    assert_eq!(landing.param("state").as_deref(), Some("st-1"));
    let code = landing.param("code").unwrap();
    let token: Value = http()
        .post(gh.token_url())
        .header("accept", "application/json")
        .form(&[
            ("client_id", gh.client_id.as_str()),
            ("client_secret", &gh.client_secret),
            ("code", &code),
            ("redirect_uri", CB),
            ("code_verifier", &verifier),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(token["token_type"], "bearer");
    assert_eq!(token["scope"], "read:user,user:email");
    let access = token["access_token"].as_str().unwrap();
    assert!(access.starts_with("gho_"));

    let user = http()
        .get(format!("{}/user", gh.api_base()))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(user.status(), 200);
    let user: Value = user.json().await.unwrap();
    assert_eq!(
        (user["login"].as_str(), user["id"].as_u64(), &user["email"]),
        (Some("alice"), Some(1001), &Value::Null)
    );
    let emails: Value = http()
        .get(format!("{}/user/emails", gh.api_base()))
        .header("authorization", format!("token {access}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(emails.as_array().unwrap().len(), 2);
    assert_eq!(emails[0]["primary"], true);
    assert_eq!(emails[1]["verified"], false);
    assert_eq!((gh.token_calls(), gh.user_calls()), (1, 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_errors() {
    let gh = GithubStandin::start().await;
    let (verifier, challenge) = pkce_pair();
    let code = authorize(
        &gh.authorize_url(),
        &[
            ("client_id", gh.client_id.as_str()),
            ("redirect_uri", CB),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
    )
    .await
    .param("code")
    .unwrap();
    let exchange = |verifier: String, secret: String| {
        let (url, id, code) = (gh.token_url(), gh.client_id.clone(), code.clone());
        async move {
            // No Accept header: GitHub's form-encoded answer, HTTP 200 even for errors.
            let r = http()
                .post(url)
                .form(&[
                    ("client_id", id),
                    ("client_secret", secret),
                    ("code", code),
                    ("code_verifier", verifier),
                ])
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            assert!(r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/x-www-form-urlencoded"));
            crate::peers::parse_form(&r.text().await.unwrap())
        }
    };
    assert_eq!(
        exchange(verifier.clone(), "wrong".into()).await["error"],
        "incorrect_client_credentials"
    );
    let wrong = exchange("x".repeat(43), gh.client_secret.clone()).await;
    assert_eq!(wrong["error"], "bad_verification_code");
    assert_eq!(
        wrong["error_description"],
        "The code passed is incorrect or expired."
    );
    let ok = exchange(verifier.clone(), gh.client_secret.clone()).await;
    let access = ok["access_token"].clone();
    assert_eq!(ok["scope"], "");
    assert_eq!(
        exchange(verifier, gh.client_secret.clone()).await["error"],
        "bad_verification_code",
        "codes are single use"
    );

    // API: no User-Agent → 403; bad token → 401; no user:email scope → 404 on /user/emails.
    let no_ua = reqwest::Client::new()
        .get(format!("{}/user", gh.api_base()))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(no_ua.status(), 403);
    let bad = http()
        .get(format!("{}/user", gh.api_base()))
        .bearer_auth("gho_nope")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 401);
    assert_eq!(
        bad.json::<Value>().await.unwrap()["message"],
        "Bad credentials"
    );
    let emails = http()
        .get(format!("{}/user/emails", gh.api_base()))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(emails.status(), 404);

    // Denied consent.
    gh.set_deny(true);
    let denied = authorize(
        &gh.authorize_url(),
        &[
            ("client_id", gh.client_id.as_str()),
            ("redirect_uri", CB),
            ("state", "s9"),
        ],
    )
    .await;
    assert_eq!(denied.param("error").as_deref(), Some("access_denied"));
    assert_eq!(
        denied.param("error_description").as_deref(),
        Some("The user has denied your application access.")
    );
    assert_eq!(denied.param("state").as_deref(), Some("s9"));
    assert!(denied.param("error_uri").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switches_down_delay_and_counters() {
    let gh = GithubStandin::start().await;
    let post = || {
        http()
            .post(gh.token_url())
            .header("accept", "application/json")
            .form(&[("code", "x")])
            .send()
    };
    gh.set_down(true);
    assert_eq!(post().await.unwrap().status(), 503);
    gh.set_down(false);
    gh.set_token_delay(Duration::from_millis(300));
    let t = Instant::now();
    let r: Value = post().await.unwrap().json().await.unwrap();
    assert!(t.elapsed() >= Duration::from_millis(300));
    assert_eq!(r["error"], "incorrect_client_credentials");
    assert_eq!((gh.token_calls(), gh.user_calls()), (2, 0));
    gh.sign_out();
    let page = Browser::new()
        .navigate(
            &with_query(
                &gh.authorize_url(),
                &[("client_id", gh.client_id.as_str()), ("redirect_uri", CB)],
            ),
            |u| u.starts_with(CB),
        )
        .await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Sign in to GitHub"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discord_full_flow_and_errors() {
    let dc = DiscordStandin::start().await;
    let (verifier, challenge) = pkce_pair();
    let params = [
        ("client_id", dc.client_id.as_str()),
        ("redirect_uri", CB),
        ("response_type", "code"),
        ("scope", "identify email"),
        ("state", "d1"),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ];
    let code = authorize(&dc.authorize_url(), &params)
        .await
        .param("code")
        .unwrap();
    let exchange = |code: String, verifier: String, secret: String| {
        let (url, id) = (dc.token_url(), dc.client_id.clone());
        async move {
            let r = http()
                .post(url)
                .basic_auth(id, Some(secret))
                .form(&[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", CB),
                    ("code_verifier", &verifier),
                ])
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (s, wrong) = exchange(code.clone(), "y".repeat(43), dc.client_secret.clone()).await;
    assert_eq!((s, wrong["error"].as_str()), (400, Some("invalid_grant")));
    let (s, bad_client) = exchange(code.clone(), verifier.clone(), "nope".into()).await;
    assert_eq!(
        (s, bad_client),
        (401, serde_json::json!({"error": "invalid_client"}))
    );
    let (s, token) = exchange(code.clone(), verifier.clone(), dc.client_secret.clone()).await;
    assert_eq!(s, 200, "{token}");
    assert_eq!(
        (
            token["token_type"].as_str(),
            token["expires_in"].as_u64(),
            token["scope"].as_str()
        ),
        (Some("Bearer"), Some(604800), Some("identify email"))
    );
    let (s, reused) = exchange(code, verifier, dc.client_secret.clone()).await;
    assert_eq!(
        (s, reused["error_description"].as_str()),
        (400, Some("Invalid \"code\" in request."))
    );

    let me: Value = http()
        .get(format!("{}/users/@me", dc.api_base()))
        .bearer_auth(token["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (
            me["id"].as_str(),
            me["email"].as_str(),
            me["verified"].as_bool()
        ),
        (
            Some("80351110224678912"),
            Some("nelly@discord.example"),
            Some(true)
        )
    );
    let unauth = http()
        .get(format!("{}/users/@me", dc.api_base()))
        .bearer_auth("nope")
        .send()
        .await
        .unwrap();
    assert_eq!(unauth.status(), 401);
    assert_eq!(
        unauth.json::<Value>().await.unwrap(),
        serde_json::json!({"message": "401: Unauthorized", "code": 0})
    );

    // Client credentials in the body work too; without the email scope there is no email.
    let (v2, c2) = pkce_pair();
    let code = authorize(
        &dc.authorize_url(),
        &[
            ("client_id", dc.client_id.as_str()),
            ("redirect_uri", CB),
            ("scope", "identify"),
            ("code_challenge", &c2),
            ("code_challenge_method", "S256"),
        ],
    )
    .await
    .param("code")
    .unwrap();
    let token: Value = http()
        .post(dc.token_url())
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CB),
            ("code_verifier", &v2),
            ("client_id", &dc.client_id),
            ("client_secret", &dc.client_secret),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let me: Value = http()
        .get(format!("{}/users/@me", dc.api_base()))
        .bearer_auth(token["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        me.get("email").is_none() && me.get("verified").is_none(),
        "{me}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn x_full_flow_and_errors() {
    let x = XStandin::start().await;
    let (verifier, challenge) = pkce_pair();
    let code = authorize(
        &x.authorize_url(),
        &[
            ("response_type", "code"),
            ("client_id", x.client_id.as_str()),
            ("redirect_uri", CB),
            ("scope", "users.read tweet.read"),
            ("state", "x1"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
    )
    .await
    .param("code")
    .unwrap();
    let exchange = |verifier: String, basic: bool| {
        let (url, id, secret, code) = (
            x.token_url(),
            x.client_id.clone(),
            x.client_secret.clone(),
            code.clone(),
        );
        async move {
            let mut req = http().post(url).form(&[
                ("code", code.as_str()),
                ("grant_type", "authorization_code"),
                ("redirect_uri", CB),
                ("code_verifier", &verifier),
            ]);
            if basic {
                req = req.basic_auth(id, Some(secret));
            }
            let r = req.send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (s, body) = exchange(verifier.clone(), false).await;
    assert_eq!(
        (s, body["error"].as_str()),
        (401, Some("unauthorized_client"))
    );
    let (s, body) = exchange("z".repeat(43), true).await;
    assert_eq!(
        (s, body["error_description"].as_str()),
        (
            400,
            Some("Value passed for the authorization code was invalid.")
        )
    );
    let (s, token) = exchange(verifier.clone(), true).await;
    assert_eq!(
        (
            s,
            token["token_type"].as_str(),
            token["expires_in"].as_u64()
        ),
        (200, Some("bearer"), Some(7200))
    );
    assert_eq!(token["scope"], "users.read tweet.read");
    let (s, body) = exchange(verifier, true).await;
    assert_eq!(
        (s, body["error"].as_str()),
        (400, Some("invalid_request")),
        "reused code"
    );

    let me: Value = http()
        .get(format!("{}/users/me", x.api_base()))
        .bearer_auth(token["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        me,
        serde_json::json!({
            "data": {"id": "2244994945", "name": "The XDevelopers", "username": "XDevelopers"}
        })
    );
    let unauth = http()
        .get(format!("{}/users/me", x.api_base()))
        .bearer_auth("nope")
        .send()
        .await
        .unwrap();
    assert_eq!(unauth.status(), 401);
    assert_eq!(
        unauth.json::<Value>().await.unwrap()["title"],
        "Unauthorized"
    );

    // PKCE is mandatory at X.
    let no_pkce = authorize(
        &x.authorize_url(),
        &[
            ("client_id", x.client_id.as_str()),
            ("redirect_uri", CB),
            ("state", "x2"),
        ],
    )
    .await;
    assert_eq!(
        (
            no_pkce.param("error").as_deref(),
            no_pkce.param("state").as_deref()
        ),
        (Some("invalid_request"), Some("x2"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn facebook_full_flow_and_errors() {
    let fb = FacebookStandin::start().await;
    let (verifier, challenge) = pkce_pair();
    let landing = authorize(
        &fb.authorize_url(),
        &[
            ("client_id", fb.client_id.as_str()),
            ("redirect_uri", CB),
            ("scope", "email,public_profile"),
            ("state", "f1"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
    )
    .await;
    assert!(landing.url.ends_with("#_=_"));
    let code = landing.param("code").unwrap();
    let exchange = |verifier: String, secret: String| {
        let (url, id, code) = (fb.token_url(), fb.client_id.clone(), code.clone());
        async move {
            let r = http()
                .get(url)
                .query(&[
                    ("client_id", id.as_str()),
                    ("redirect_uri", CB),
                    ("client_secret", &secret),
                    ("code", &code),
                    ("code_verifier", &verifier),
                ])
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (s, e) = exchange(verifier.clone(), "bad".into()).await;
    assert_eq!(
        (s, e["error"]["type"].as_str(), e["error"]["code"].as_u64()),
        (400, Some("OAuthException"), Some(1))
    );
    let (s, e) = exchange("w".repeat(43), fb.client_secret.clone()).await;
    assert_eq!((s, e["error"]["code"].as_u64()), (400, Some(100)));
    assert!(e["error"]["fbtrace_id"].is_string());
    let (s, token) = exchange(verifier.clone(), fb.client_secret.clone()).await;
    assert_eq!(
        (
            s,
            token["token_type"].as_str(),
            token["expires_in"].as_u64()
        ),
        (200, Some("bearer"), Some(5183944))
    );
    let (s, e) = exchange(verifier, fb.client_secret.clone()).await;
    assert_eq!(
        (s, e["error"]["error_subcode"].as_u64()),
        (400, Some(36009)),
        "reused code"
    );
    let access = token["access_token"].as_str().unwrap().to_string();

    let app_token = format!("{}|{}", fb.client_id, fb.client_secret);
    let debug = |input: String, app: String| {
        let url = format!("{}/debug_token", fb.graph_base());
        async move {
            let r = http()
                .get(url)
                .query(&[("input_token", input), ("access_token", app)])
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (s, d) = debug(access.clone(), app_token.clone()).await;
    assert_eq!(
        (
            s,
            d["data"]["is_valid"].as_bool(),
            d["data"]["app_id"].as_str()
        ),
        (200, Some(true), Some(fb.client_id.as_str()))
    );
    assert_eq!(d["data"]["user_id"], "10158000000000001");
    let (s, e) = debug(access.clone(), format!("{}|wrong", fb.client_id)).await;
    assert_eq!((s, e["error"]["code"].as_u64()), (400, Some(190)));

    let me = |token: String, proof: Option<String>| {
        let url = format!("{}/me", fb.graph_base());
        async move {
            let mut q = vec![
                ("fields", "id,name,email".to_string()),
                ("access_token", token),
            ];
            q.extend(proof.map(|p| ("appsecret_proof", p)));
            let r = http().get(url).query(&q).send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (s, user) = me(
        access.clone(),
        Some(FacebookStandin::appsecret_proof(&access)),
    )
    .await;
    assert_eq!(
        (s, user["email"].as_str(), user["name"].as_str()),
        (
            200,
            Some("fbuser@facebook.example"),
            Some("Open Graph Test User")
        )
    );
    let (s, e) = me(access.clone(), Some("00".repeat(32))).await;
    assert_eq!(
        (s, e["error"]["type"].as_str()),
        (400, Some("GraphMethodException"))
    );
    let (s, e) = me("EAAnope".into(), None).await;
    assert_eq!((s, e["error"]["code"].as_u64()), (400, Some(190)));

    // Token mode: a token for another app is reported with that app's id; a revoked one as invalid.
    let user = FacebookUser::new("10158000000000002", "No Mail", None);
    let foreign = fb.issue_token(&user, "999999999999999");
    let (_, d) = debug(foreign, app_token.clone()).await;
    assert_eq!(d["data"]["app_id"], "999999999999999");
    let own = fb.issue_token(&user, &fb.client_id);
    let (s, u) = me(own.clone(), None).await;
    assert_eq!((s, u.get("email")), (200, None));
    fb.revoke_token(&own);
    let (_, d) = debug(own, app_token.clone()).await;
    assert_eq!(d["data"]["is_valid"], false);
    let (_, d) = debug("garbage".into(), app_token).await;
    assert_eq!(d["data"]["error"]["code"], 190);

    fb.set_deny(true);
    let denied = authorize(
        &fb.authorize_url(),
        &[
            ("client_id", fb.client_id.as_str()),
            ("redirect_uri", CB),
            ("state", "f2"),
        ],
    )
    .await;
    assert_eq!(
        (
            denied.param("error_reason").as_deref(),
            denied.param("error_code").as_deref(),
            denied.param("state").as_deref()
        ),
        (Some("user_denied"), Some("200"), Some("f2"))
    );
}
