//! Redirect sign-in end to end: the client SDK starts it, a cookie-keeping browser follows the
//! server, the real `oidc-provider` (as Google and as Apple with `form_post`) or the GitHub,
//! Discord, X and Facebook stand-ins, and lands on the app's `gatehouse://` redirect, which the
//! SDK completes. Adversarial cases of security.md B.5.

use std::time::Duration;

use gatehouse_client::{App, Error as SdkError};
use gatehouse_server::config::{Config, OAuthClientConfig};
use gatehouse_server::Secret;
use serde_json::json;

use crate::peers::browser::{Browser, Landing};
use crate::peers::oidc::OidcPeer;
use crate::peers::standins::{
    DiscordStandin, DiscordUser, FacebookStandin, FacebookUser, GithubEmail, GithubStandin,
    GithubUser, XStandin, XUser,
};
use crate::peers::{free_port, pkce_pair, query_param, with_query};
use crate::sdk::Sdk;
use crate::support::{Backend, TestServer, APP};

const REDIRECT: &str = "gatehouse://auth/callback";

fn is_app(url: &str) -> bool {
    url.starts_with(REDIRECT)
}

/// A test server on a port known in advance (the OpenID provider must know our callback).
async fn server_on(
    backend: Backend,
    port: u16,
    provider: &str,
    client: OAuthClientConfig,
    tweak: impl FnOnce(&mut Config),
) -> TestServer {
    TestServer::start_with(backend, |c| {
        c.listen = format!("127.0.0.1:{port}").parse().unwrap();
        c.outbound.allow_loopback_http = true;
        c.outbound.timeout_ms = 2000;
        let app = c.apps.get_mut(APP).unwrap();
        app.providers.push(provider.into());
        match provider {
            "oauth2-google" => app.google = Some(client),
            "oauth2-apple" => app.apple = Some(client),
            "oauth2-github" => app.github = Some(client),
            "oauth2-discord" => app.discord = Some(client),
            "oauth2-twitter" => app.twitter = Some(client),
            "oauth2-facebook" => app.facebook = Some(client),
            _ => unreachable!(),
        }
        tweak(c);
    })
    .await
}

pub(crate) async fn oidc(backend: Backend, provider: &str) -> (TestServer, OidcPeer) {
    let port = free_port();
    let op = OidcPeer::start(&[format!(
        "http://127.0.0.1:{port}/api/client/v2.0/auth/callback/{provider}"
    )])
    .await;
    let client = OAuthClientConfig {
        client_id: op.client_id.clone(),
        client_secret: Some(Secret::new(op.client_secret.clone())),
        issuer: Some(op.issuer.clone()),
        authorize_url: Some(op.authorize_url()),
        token_url: Some(op.token_url()),
        jwks_url: Some(op.jwks_url()),
        token_endpoint_auth: Some("client_secret_basic".into()),
        ..Default::default()
    };
    (server_on(backend, port, provider, client, |_| {}).await, op)
}

/// Starts with the SDK and follows the browser to the app's redirect.
async fn browse(app: &App, provider: &str, login: &str) -> (Landing, Browser) {
    let started = app.begin_redirect_login(provider, REDIRECT).unwrap();
    let browser = Browser::new();
    let landing = browser
        .navigate(&format!("{}&login_hint={login}", started.url), is_app)
        .await;
    (landing, browser)
}

async fn google_redirect_journey(backend: Backend) {
    let (t, _op) = oidc(backend, "oauth2-google").await;
    let sdk = Sdk::new();
    let app = sdk.app(&t).await;
    let (landing, _) = browse(&app, "oauth2-google", "alice@example.test").await;
    assert!(is_app(&landing.url), "{landing:#?}");
    assert!(
        !landing.url.contains("access_token") && !landing.url.contains("refresh"),
        "no tokens in the redirect URL"
    );
    let code = query_param(&landing.url, "code").unwrap();
    let user = app.complete_redirect_login(&landing.url).await.unwrap();
    let profile = user.profile().unwrap();
    assert_eq!(profile.data["email"], "alice@example.test");
    assert_eq!(profile.identities[0].provider_type, "oauth2-google");
    assert_eq!(profile.identities[0].id, "alice@example.test");
    // The same URL again: no pending sign-in matches any more.
    assert!(matches!(
        app.complete_redirect_login(&landing.url).await,
        Err(SdkError::UnknownRedirect)
    ));
    // The code replayed straight at the server: refused, and the session it opened is revoked.
    let replay = t
        .login(
            APP,
            "oauth2-google",
            json!({"code": code, "code_verifier": "x".repeat(43)}),
        )
        .await;
    replay.err(400, "CodeAlreadyUsed");
    assert!(
        user.refresh_profile().await.is_err(),
        "the first redemption's session was revoked"
    );
    // Signing in again finds the same user.
    let (landing, _) = browse(&app, "oauth2-google", "alice@example.test").await;
    let again = app.complete_redirect_login(&landing.url).await.unwrap();
    assert_eq!(again.id(), user.id());
}

crate::both_backends!(google_redirect_journey);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apple_form_post_needs_the_binding_cookie() {
    let (t, _op) = oidc(Backend::Sqlite, "oauth2-apple").await;
    let sdk = Sdk::new();
    let app = sdk.app(&t).await;
    let callback = t.api("/auth/callback/oauth2-apple");
    // Stop before the form POST back to us, then post it from a browser without our cookie.
    let started = app.begin_redirect_login("oauth2-apple", REDIRECT).unwrap();
    let browser = Browser::new();
    let at_form = browser
        .navigate(&format!("{}&login_hint=ann", started.url), |u| {
            u.starts_with(&callback)
        })
        .await;
    let fields = at_form
        .form
        .clone()
        .expect("Apple returns with a form_post");
    let pairs: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let stranger = Browser::new().post_form(&callback, &pairs, is_app).await;
    assert_eq!(stranger.status, 400, "{stranger:#?}");
    assert!(stranger.body.contains("another browser"));
    // The flow is not used up by the stranger; the real browser completes it.
    let landing = browser.post_form(&callback, &pairs, is_app).await;
    assert!(is_app(&landing.url), "{landing:#?}");
    let user = app.complete_redirect_login(&landing.url).await.unwrap();
    assert_eq!(
        user.profile().unwrap().identities[0].provider_type,
        "oauth2-apple"
    );
    // RFC 9207: an `iss` in the answer that is not the provider's ends the sign-in.
    let started = app.begin_redirect_login("oauth2-apple", REDIRECT).unwrap();
    let browser = Browser::new();
    let at_form = browser
        .navigate(&format!("{}&login_hint=ann", started.url), |u| {
            u.starts_with(&callback)
        })
        .await;
    let forged: Vec<(String, String)> = at_form
        .form
        .clone()
        .unwrap()
        .into_iter()
        .map(|(k, v)| {
            if k == "iss" {
                (k, "https://evil.example".to_string())
            } else {
                (k, v)
            }
        })
        .collect();
    assert!(
        forged.iter().any(|(k, _)| k == "iss"),
        "oidc-provider sends iss (RFC 9207)"
    );
    let pairs: Vec<(&str, &str)> = forged
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let landing = browser.post_form(&callback, &pairs, is_app).await;
    assert_eq!(
        query_param(&landing.url, "error").as_deref(),
        Some("invalid_request"),
        "{landing:#?}"
    );
    assert!(matches!(
        app.complete_redirect_login(&landing.url).await,
        Err(SdkError::RedirectFailed { .. })
    ));
}

fn standin_client(
    client_id: &str,
    secret: &str,
    authorize: String,
    token: String,
    api: String,
) -> OAuthClientConfig {
    OAuthClientConfig {
        client_id: client_id.into(),
        client_secret: Some(Secret::new(secret)),
        authorize_url: Some(authorize),
        token_url: Some(token),
        api_url: Some(api),
        ..Default::default()
    }
}

/// GitHub sign-in pointed at the stand-in.
fn with_github(c: &mut Config, gh: &GithubStandin) {
    c.outbound.allow_loopback_http = true;
    let app = c.apps.get_mut(APP).unwrap();
    app.providers.push("oauth2-github".into());
    app.github = Some(standin_client(
        &gh.client_id,
        &gh.client_secret,
        gh.authorize_url(),
        gh.token_url(),
        gh.api_base(),
    ));
}

/// A SQLite test server with GitHub sign-in pointed at the stand-in.
async fn github_server(gh: &GithubStandin, tweak: impl FnOnce(&mut Config)) -> TestServer {
    TestServer::start_with(Backend::Sqlite, |c| {
        with_github(c, gh);
        tweak(c);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_in_whose_redemption_could_not_reach_the_server_can_be_completed_later() {
    let gh = GithubStandin::start().await;
    let mut t = github_server(&gh, |_| {}).await;
    gh.set_user(GithubUser::new("patient", 11, "patient@example.test"));
    let sdk = Sdk::new();
    let app = sdk.app(&t).await;
    let (landing, _) = browse(&app, "oauth2-github", "").await;
    t.stop().await;
    let err = app.complete_redirect_login(&landing.url).await.unwrap_err();
    assert_eq!(err.code(), "Transport", "{err:?}");
    assert_eq!(
        app.pending_redirect_logins(),
        1,
        "the sign-in is kept when the server was unreachable"
    );
    t.start_again(|c| with_github(c, &gh)).await;
    let user = app.complete_redirect_login(&landing.url).await.unwrap();
    assert_eq!(user.profile().unwrap().identities[0].id, "11");
    assert_eq!(app.pending_redirect_logins(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_discord_x_and_facebook_redirects() {
    let gh = GithubStandin::start().await;
    let dc = DiscordStandin::start().await;
    let x = XStandin::start().await;
    let fb = FacebookStandin::start().await;
    let t = TestServer::start_with(Backend::Sqlite, |c| {
        c.outbound.allow_loopback_http = true;
        let app = c.apps.get_mut(APP).unwrap();
        app.providers.extend(
            [
                "oauth2-github",
                "oauth2-discord",
                "oauth2-twitter",
                "oauth2-facebook",
            ]
            .map(String::from),
        );
        app.github = Some(standin_client(
            &gh.client_id,
            &gh.client_secret,
            gh.authorize_url(),
            gh.token_url(),
            gh.api_base(),
        ));
        app.discord = Some(standin_client(
            &dc.client_id,
            &dc.client_secret,
            dc.authorize_url(),
            dc.token_url(),
            dc.api_base(),
        ));
        app.twitter = Some(standin_client(
            &x.client_id,
            &x.client_secret,
            x.authorize_url(),
            x.token_url(),
            x.api_base(),
        ));
        let mut f = standin_client(
            &fb.client_id,
            &fb.client_secret,
            fb.authorize_url(),
            fb.token_url(),
            fb.graph_base(),
        );
        f.token_url = Some(fb.token_url());
        app.facebook = Some(f);
    })
    .await;
    let sdk = Sdk::new();
    let app = sdk.app(&t).await;
    // GitHub: the public email is not trusted; only the verified primary one is.
    gh.set_user(
        GithubUser::new("octo", 583231, "public@example.test").with_emails(vec![
            GithubEmail::new("unverified@example.test", true, false),
            GithubEmail::new("other@example.test", false, true),
        ]),
    );
    let (landing, _) = browse(&app, "oauth2-github", "").await;
    let octo = app.complete_redirect_login(&landing.url).await.unwrap();
    let p = octo.profile().unwrap();
    assert_eq!(p.identities[0].id, "583231", "keyed by GitHub's numeric id");
    assert!(
        p.data.get("email").is_none(),
        "no verified primary email, no email: {:?}",
        p.data
    );
    assert_eq!(p.data["username"], "octo");
    // Discord: an unverified email is dropped, the snowflake id is the key.
    dc.set_user(DiscordUser::new("80351110224678912", "nelly", "nelly@example.test").unverified());
    let (landing, _) = browse(&app, "oauth2-discord", "").await;
    let nelly = app.complete_redirect_login(&landing.url).await.unwrap();
    assert_eq!(
        nelly.profile().unwrap().identities[0].id,
        "80351110224678912"
    );
    assert!(nelly.profile().unwrap().data.get("email").is_none());
    // X (OAuth 2.0 with PKCE required by the stand-in, as by X).
    x.set_user(XUser::new("2244994945", "XDevelopers"));
    let (landing, _) = browse(&app, "oauth2-twitter", "").await;
    let xdev = app.complete_redirect_login(&landing.url).await.unwrap();
    assert_eq!(xdev.profile().unwrap().identities[0].id, "2244994945");
    // Facebook.
    fb.set_user(FacebookUser::new(
        "10158000000000002",
        "Fay",
        Some("fay@example.test"),
    ));
    let (landing, _) = browse(&app, "oauth2-facebook", "").await;
    let fay = app.complete_redirect_login(&landing.url).await.unwrap();
    assert_eq!(fay.profile().unwrap().data["name"], "Fay");
    assert_eq!(app.all_users().len(), 4);

    // The person declines at GitHub: the app hears access_denied, nothing is created.
    gh.set_deny(true);
    let (landing, _) = browse(&app, "oauth2-github", "").await;
    assert_eq!(
        query_param(&landing.url, "error").as_deref(),
        Some("access_denied")
    );
    let err = app.complete_redirect_login(&landing.url).await.unwrap_err();
    assert!(
        matches!(&err, SdkError::RedirectFailed { reason, .. } if reason == "access_denied"),
        "{err:?}"
    );
    gh.set_deny(false);
    // Discord down, X slow: a clear retryable error back in the app, never a hang.
    dc.set_down(true);
    let (landing, _) = browse(&app, "oauth2-discord", "").await;
    assert_eq!(
        query_param(&landing.url, "error").as_deref(),
        Some("temporarily_unavailable"),
        "{landing:#?}"
    );
    x.set_token_delay(Duration::from_secs(15));
    let started = std::time::Instant::now();
    let (landing, _) = browse(&app, "oauth2-twitter", "").await;
    assert_eq!(
        query_param(&landing.url, "error").as_deref(),
        Some("temporarily_unavailable"),
        "{landing:#?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(14),
        "the outbound timeout bounds a slow provider"
    );
    assert_eq!(app.all_users().len(), 4, "no half-created users");
}

/// A token endpoint that refuses the code, each in its own shape: GitHub with HTTP 200 and an
/// `error` member, Discord with RFC 6749's 401 `invalid_client`, Facebook with Graph's error
/// object. Each ends as `access_denied` in the app, naming the provider's error, and nobody is
/// created.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_endpoint_refusals_in_each_providers_shape_end_as_access_denied() {
    let gh = GithubStandin::start().await;
    let dc = DiscordStandin::start().await;
    let fb = FacebookStandin::start().await;
    let t = TestServer::start_with(Backend::Sqlite, |c| {
        c.outbound.allow_loopback_http = true;
        let app = c.apps.get_mut(APP).unwrap();
        app.providers
            .extend(["oauth2-github", "oauth2-discord", "oauth2-facebook"].map(String::from));
        // Every client secret is wrong: the authorization succeeds, the exchange is refused.
        app.github = Some(standin_client(
            &gh.client_id,
            "not-the-secret",
            gh.authorize_url(),
            gh.token_url(),
            gh.api_base(),
        ));
        app.discord = Some(standin_client(
            &dc.client_id,
            "not-the-secret",
            dc.authorize_url(),
            dc.token_url(),
            dc.api_base(),
        ));
        app.facebook = Some(standin_client(
            &fb.client_id,
            "not-the-secret",
            fb.authorize_url(),
            fb.token_url(),
            fb.graph_base(),
        ));
    })
    .await;
    gh.set_user(GithubUser::new("octo", 583231, "octo@example.test"));
    dc.set_user(DiscordUser::new(
        "80351110224678912",
        "nelly",
        "nelly@example.test",
    ));
    fb.set_user(FacebookUser::new("10158000000000002", "Fay", None));
    let sdk = Sdk::new();
    let app = sdk.app(&t).await;
    for (provider, error) in [
        ("oauth2-github", "incorrect_client_credentials"),
        ("oauth2-discord", "invalid_client"),
        ("oauth2-facebook", "OAuthException"),
    ] {
        let (landing, _) = browse(&app, provider, "").await;
        assert!(is_app(&landing.url), "{provider}: {landing:#?}");
        assert_eq!(
            query_param(&landing.url, "error").as_deref(),
            Some("access_denied"),
            "{provider}: {landing:#?}"
        );
        let description = query_param(&landing.url, "error_description").unwrap_or_default();
        assert!(description.contains(error), "{provider}: {description}");
        let err = app.complete_redirect_login(&landing.url).await.unwrap_err();
        assert!(
            matches!(&err, SdkError::RedirectFailed { reason, .. } if reason == "access_denied"),
            "{provider}: {err:?}"
        );
    }
    assert!(app.all_users().is_empty());
    assert_eq!(t.user_count().await, 0, "no half-created users");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callback_state_cookie_and_mix_up_checks_happen_before_any_token_exchange() {
    let gh = GithubStandin::start().await;
    let dc = DiscordStandin::start().await;
    let t = TestServer::start_with(Backend::Sqlite, |c| {
        c.outbound.allow_loopback_http = true;
        let app = c.apps.get_mut(APP).unwrap();
        app.providers
            .extend(["oauth2-github", "oauth2-discord"].map(String::from));
        app.github = Some(standin_client(
            &gh.client_id,
            &gh.client_secret,
            gh.authorize_url(),
            gh.token_url(),
            gh.api_base(),
        ));
        app.discord = Some(standin_client(
            &dc.client_id,
            &dc.client_secret,
            dc.authorize_url(),
            dc.token_url(),
            dc.api_base(),
        ));
    })
    .await;
    gh.set_user(GithubUser::new("octo", 1, "octo@example.test"));
    let sdk = Sdk::new();
    let app = sdk.app(&t).await;
    let gh_callback = t.api("/auth/callback/oauth2-github");
    let dc_callback = t.api("/auth/callback/oauth2-discord");
    let stop_at_us = |u: &str| u.starts_with(&gh_callback);
    let started = app.begin_redirect_login("oauth2-github", REDIRECT).unwrap();
    let browser = Browser::new();
    let at_callback = browser.navigate(&started.url, stop_at_us).await;
    let code = query_param(&at_callback.url, "code").unwrap();
    let state = query_param(&at_callback.url, "state").unwrap();
    let page = |l: &Landing| (l.status, l.body.clone());
    // No state, a wrong state, the right state from a browser without the cookie, and the
    // answer delivered to Discord's callback (mix-up): all stopped with a page.
    for url in [
        with_query(&gh_callback, &[("code", code.as_str())]),
        with_query(
            &gh_callback,
            &[("code", code.as_str()), ("state", "forged")],
        ),
    ] {
        let l = browser.navigate(&url, is_app).await;
        assert_eq!(page(&l).0, 400, "{l:#?}");
    }
    let l = Browser::new().navigate(&at_callback.url, is_app).await;
    assert!(
        l.status == 400 && l.body.contains("another browser"),
        "{l:#?}"
    );
    let l = browser
        .navigate(
            &with_query(
                &dc_callback,
                &[("code", code.as_str()), ("state", state.as_str())],
            ),
            is_app,
        )
        .await;
    assert!(
        l.status == 400 && l.body.contains("wrong provider"),
        "{l:#?}"
    );
    assert_eq!(
        gh.token_calls() + dc.token_calls(),
        0,
        "nothing reached a token endpoint"
    );
    // The mix-up attempt burned the flow: the genuine answer no longer works either.
    let l = browser.navigate(&at_callback.url, is_app).await;
    assert_eq!(l.status, 400);
    assert_eq!(gh.token_calls(), 0);

    // An expired flow (11 minutes) ends in the app with an error, without an exchange.
    let started = app.begin_redirect_login("oauth2-github", REDIRECT).unwrap();
    let browser = Browser::new();
    let at_callback = browser.navigate(&started.url, stop_at_us).await;
    t.state().clock.advance(11 * 60);
    let l = browser.navigate(&at_callback.url, is_app).await;
    assert_eq!(
        query_param(&l.url, "error").as_deref(),
        Some("expired"),
        "{l:#?}"
    );
    assert_eq!(gh.token_calls(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_code_is_single_use_short_lived_and_bound_to_the_verifier() {
    let gh = GithubStandin::start().await;
    let t = github_server(&gh, |c| {
        // Loopback redirects work only where registered (any port, this path).
        let app = c.apps.get_mut(APP).unwrap();
        app.redirect_uris.push("http://127.0.0.1/cb".into());
    })
    .await;
    gh.set_user(GithubUser::new("octo", 7, "octo@example.test"));
    let start = t.app_path(APP, "/auth/providers/oauth2-github/login");
    let run = |challenge: Option<String>, method: &'static str| {
        let mut params = vec![
            ("redirect".to_string(), REDIRECT.to_string()),
            ("state".to_string(), "app-state".to_string()),
        ];
        if let Some(c) = challenge {
            params.push(("code_challenge".into(), c));
            params.push(("code_challenge_method".into(), method.into()));
        }
        let url = with_query(&start, &params);
        async move { Browser::new().navigate(&url, is_app).await }
    };
    // Start-time checks: no challenge (realm-web mode is off), `plain`, and redirect variants.
    let (_, challenge) = pkce_pair();
    assert_eq!(run(None, "").await.status, 400);
    assert_eq!(run(Some(challenge.clone()), "plain").await.status, 400);
    for redirect in [
        "gatehouse://auth/callback/",
        "GATEHOUSE://auth/callback",
        "gatehouse://auth/callback?x=1",
        "https://good@evil.example/",
        "http://evil.example:8080/cb",
        "javascript:alert(1)",
        "com.evil.app://cb",
        "http://127.0.0.1.evil.example:80/cb",
        "http://127.0.0.1:49152/not-registered",
        "http://[::1]:49152/cb",
    ] {
        let url = with_query(
            &start,
            &[
                ("redirect", redirect),
                ("state", "s"),
                ("code_challenge", challenge.as_str()),
                ("code_challenge_method", "S256"),
            ],
        );
        let l = Browser::new()
            .navigate(&url, |u| !u.starts_with(&t.base))
            .await;
        assert_eq!(
            l.status, 400,
            "{redirect} must be refused without a redirect: {l:#?}"
        );
    }
    let url = with_query(
        &start,
        &[
            ("redirect", "http://127.0.0.1:49152/cb"),
            ("state", "s"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ],
    );
    let l = Browser::new()
        .navigate(&url, |u| u.starts_with("http://127.0.0.1:49152/"))
        .await;
    assert!(
        l.url.starts_with("http://127.0.0.1:49152/cb?code="),
        "loopback on any port is accepted: {l:#?}"
    );

    let redeem = |code: String, verifier: Option<String>| {
        let mut body = json!({"code": code});
        if let Some(v) = verifier {
            body["code_verifier"] = v.into();
        }
        let t = &t;
        async move { t.login(APP, "oauth2-github", body).await }
    };
    // Bad verifiers: missing, too short, too long, a `$`, wrong — each burns the code.
    for bad in [
        None,
        Some("a".repeat(42)),
        Some("a".repeat(129)),
        Some(format!("{}$", "a".repeat(43))),
        Some("b".repeat(43)),
    ] {
        let (verifier, challenge) = pkce_pair();
        let landing = run(Some(challenge), "S256").await;
        assert_eq!(
            query_param(&landing.url, "state").as_deref(),
            Some("app-state")
        );
        let code = query_param(&landing.url, "code").unwrap();
        redeem(code.clone(), bad).await.err(400, "InvalidCode");
        redeem(code, Some(verifier))
            .await
            .err(400, "CodeAlreadyUsed");
    }
    // Too late: 61 seconds.
    let (verifier, challenge) = pkce_pair();
    let code = query_param(&run(Some(challenge), "S256").await.url, "code").unwrap();
    t.state().clock.advance(61);
    redeem(code, Some(verifier)).await.err(400, "CodeExpired");
    // And the happy path, once.
    let (verifier, challenge) = pkce_pair();
    let code = query_param(&run(Some(challenge), "S256").await.url, "code").unwrap();
    let ok = redeem(code.clone(), Some(verifier.clone())).await.ok();
    assert!(ok["refresh_token"].is_string());
    redeem(code, Some(verifier))
        .await
        .err(400, "CodeAlreadyUsed");
    let refresh = t
        .call(
            reqwest::Method::POST,
            &t.api("/auth/session"),
            ok["refresh_token"].as_str(),
            None,
        )
        .await;
    assert_eq!(
        refresh.status, 401,
        "a replayed code revokes the session the first redemption opened"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linking_through_the_browser_and_identities_never_move() {
    let gh = GithubStandin::start().await;
    let t = github_server(&gh, |_| {}).await;
    let sdk = Sdk::new();
    let app = sdk.app(&t).await;
    let anon = app
        .log_in(gatehouse_client::Credentials::anonymous())
        .await
        .unwrap();
    gh.set_user(GithubUser::new("linky", 99, "linky@example.test"));
    let started = anon
        .begin_redirect_link("oauth2-github", REDIRECT)
        .await
        .unwrap();
    let landing = Browser::new().navigate(&started.url, is_app).await;
    let linked = app.complete_redirect_login(&landing.url).await.unwrap();
    assert_eq!(linked.id(), anon.id());
    let kinds: Vec<String> = linked
        .profile()
        .unwrap()
        .identities
        .iter()
        .map(|i| i.provider_type.clone())
        .collect();
    assert_eq!(kinds, ["anon-user", "oauth2-github"]);
    // Signing in with that GitHub account now finds the same user.
    let (landing, _) = browse(&app, "oauth2-github", "").await;
    assert_eq!(
        app.complete_redirect_login(&landing.url)
            .await
            .unwrap()
            .id(),
        anon.id()
    );
    // Another user cannot take the identity over.
    let other = app
        .log_in(gatehouse_client::Credentials::anonymous_new())
        .await
        .unwrap();
    let started = other
        .begin_redirect_link("oauth2-github", REDIRECT)
        .await
        .unwrap();
    let landing = Browser::new().navigate(&started.url, is_app).await;
    let err = app.complete_redirect_login(&landing.url).await.unwrap_err();
    assert_eq!(err.code(), "IdentityInUse", "{err:?}");
    // A foreign redirect (state from nowhere) is refused without a request.
    let err = app
        .complete_redirect_login("gatehouse://auth/callback?code=abc.def&state=not-mine")
        .await
        .unwrap_err();
    assert!(matches!(err, SdkError::UnknownRedirect));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn realm_web_popup_mode_is_opt_in_and_https_exact_only() {
    let gh = GithubStandin::start().await;
    let page = "https://app.example/oauth-done";
    let t = github_server(&gh, |c| {
        let app = c.apps.get_mut(APP).unwrap();
        app.redirect_uris.push(page.into());
        app.realm_web_redirects = true;
    })
    .await;
    gh.set_user(GithubUser::new("popup", 5, "popup@example.test"));
    let device = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        json!({"sdkVersion": "2.0.1", "platform": "node"}).to_string(),
    );
    let start = t.app_path(APP, "/auth/providers/oauth2-github/login");
    let url = with_query(
        &start,
        &[
            ("state", "abcdefghijkl"),
            ("redirect", page),
            ("device", device.as_str()),
        ],
    );
    let landing = Browser::new().navigate(&url, |u| u.starts_with(page)).await;
    let fragment = landing
        .url
        .split_once('#')
        .expect("a fragment")
        .1
        .to_string();
    let pairs: std::collections::HashMap<String, String> = fragment
        .split('&')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.to_string(), percent_decode(v)))
        .collect();
    assert_eq!(pairs["_baas_state"], "abcdefghijkl");
    assert_eq!(pairs["_baas_client_app_id"], APP);
    let parts: Vec<&str> = pairs["_baas_ua"].split('$').collect();
    assert_eq!(parts.len(), 4, "access$refresh$user$device");
    t.call(
        reqwest::Method::GET,
        &t.api("/auth/profile"),
        Some(parts[0]),
        None,
    )
    .await
    .ok();
    // Not for a loopback or custom-scheme redirect, even registered.
    let url = with_query(&start, &[("state", "abcdefghijkl"), ("redirect", REDIRECT)]);
    assert_eq!(
        Browser::new()
            .navigate(&url, |u| !u.starts_with(&t.base))
            .await
            .status,
        400
    );
}

fn percent_decode(s: &str) -> String {
    crate::peers::parse_form(&format!("v={}", s.replace('+', "%2B")))["v"].clone()
}
