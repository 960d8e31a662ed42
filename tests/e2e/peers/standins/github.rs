//! GitHub OAuth app: github.com's `/login/oauth/*` plus the REST API under a base that includes a
//! path, as GitHub Enterprise Server's `{host}/api/v3` (so a server that drops the base's path
//! when joining `/user` fails here). Quirks kept on purpose: token errors are HTTP 200, the token
//! answer is form-encoded unless `Accept: application/json`, the API refuses requests without a
//! User-Agent (403), `/user.email` is only the *public* email (often null), and `/user/emails`
//! needs the `user:email` (or `user`) scope (404 otherwise).

use std::collections::HashMap;
use std::ops::Deref;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{json, Value};

use super::{basic_auth, bearer, json, login_page, redirect, Core, StandinUser, TokenError};
use crate::peers::{encode_form, random_token, serve, with_query, Served};

/// GitHub's documentation pages its error answers point at (`error_uri`).
macro_rules! authorize_errors_doc {
    () => {
        "https://docs.github.com/apps/managing-oauth-apps/\
         troubleshooting-authorization-request-errors/"
    };
}
const TOKEN_ERRORS_DOC: &str = "https://docs.github.com/apps/managing-oauth-apps/\
                                troubleshooting-oauth-app-access-token-request-errors/";

pub const CLIENT_ID: &str = "Ov23liGatehouseTest01";
pub const CLIENT_SECRET: &str = "3f1c2b9a8e7d6c5b4a39281706f5e4d3c2b1a090";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GithubEmail {
    pub email: String,
    pub primary: bool,
    pub verified: bool,
    /// "public", "private" or None (as GitHub answers for non-primary addresses).
    pub visibility: Option<String>,
}

impl GithubEmail {
    pub fn new(email: &str, primary: bool, verified: bool) -> GithubEmail {
        GithubEmail {
            email: email.into(),
            primary,
            verified,
            visibility: primary.then(|| "public".into()),
        }
    }
}

#[derive(Debug, Clone)]
pub struct GithubUser {
    pub login: String,
    pub id: u64,
    pub name: Option<String>,
    /// What `/user` shows as `email`: the public profile email, often null.
    pub public_email: Option<String>,
    /// What `/user/emails` lists.
    pub emails: Vec<GithubEmail>,
}

impl GithubUser {
    /// One primary, verified, public email.
    pub fn new(login: &str, id: u64, email: &str) -> GithubUser {
        GithubUser {
            login: login.into(),
            id,
            name: Some(format!("The {login}")),
            public_email: Some(email.into()),
            emails: vec![GithubEmail::new(email, true, true)],
        }
    }

    /// The same user with the profile email hidden (`/user` answers `"email": null`).
    pub fn private_email(mut self) -> GithubUser {
        self.public_email = None;
        for e in &mut self.emails {
            e.visibility = e.primary.then(|| "private".into());
        }
        self
    }

    pub fn with_emails(mut self, emails: Vec<GithubEmail>) -> GithubUser {
        self.emails = emails;
        self
    }
}

impl StandinUser for GithubUser {
    fn key(&self) -> String {
        self.id.to_string()
    }
}

pub struct GithubStandin {
    core: Arc<Core<GithubUser>>,
    served: Served,
}

impl Deref for GithubStandin {
    type Target = Core<GithubUser>;
    fn deref(&self) -> &Self::Target {
        &self.core
    }
}

impl GithubStandin {
    /// Starts with `octocat` (id 583231, octocat@github.example) signed in.
    pub async fn start() -> GithubStandin {
        let core = Arc::new(Core::new(
            CLIENT_ID,
            CLIENT_SECRET,
            GithubUser::new("octocat", 583231, "octocat@github.example"),
        ));
        let app = axum::Router::new()
            .route("/login/oauth/authorize", get(authorize))
            .route("/login/oauth/access_token", post(access_token))
            .route("/api/v3/user", get(user))
            .route("/api/v3/user/emails", get(emails))
            .with_state(core.clone());
        GithubStandin {
            core,
            served: serve(app).await,
        }
    }

    /// The web host (`https://github.com` in production).
    pub fn base(&self) -> &str {
        &self.served.base
    }

    pub fn authorize_url(&self) -> String {
        format!("{}/login/oauth/authorize", self.served.base)
    }

    pub fn token_url(&self) -> String {
        format!("{}/login/oauth/access_token", self.served.base)
    }

    /// The REST API base, with a path (`https://api.github.com` in production).
    pub fn api_base(&self) -> String {
        format!("{}/api/v3", self.served.base)
    }
}

type S = State<Arc<Core<GithubUser>>>;

async fn authorize(State(core): S, Query(q): Query<HashMap<String, String>>) -> Response {
    if q.get("client_id") != Some(&core.client_id) {
        return (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/html")],
            "<html><body>Not Found</body></html>",
        )
            .into_response();
    }
    let Some(redirect_uri) = q.get("redirect_uri") else {
        return (
            StatusCode::BAD_REQUEST,
            "redirect_uri is required by this stand-in",
        )
            .into_response();
    };
    let state: Vec<(&str, &str)> = q
        .get("state")
        .map(|s| ("state", s.as_str()))
        .into_iter()
        .collect();
    if core.is_denying() {
        let mut params = vec![
            ("error", "access_denied"),
            (
                "error_description",
                "The user has denied your application access.",
            ),
            (
                "error_uri",
                concat!(authorize_errors_doc!(), "#access-denied"),
            ),
        ];
        params.extend(state);
        return redirect(with_query(redirect_uri, &params));
    }
    match core.issue_code(&q) {
        None => login_page("GitHub"),
        Some(code) => {
            let mut params = vec![("code", code.as_str())];
            params.extend(state);
            redirect(with_query(redirect_uri, &params))
        }
    }
}

fn oauth_error(error: &str, description: &str, anchor: &str) -> Value {
    json!({
        "error": error,
        "error_description": description,
        "error_uri": format!("{}#{anchor}", TOKEN_ERRORS_DOC),
    })
}

/// Answers in the format the client asked for; GitHub's default is form-encoded.
fn token_answer(headers: &HeaderMap, body: Value) -> Response {
    let wants_json = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/json"));
    if wants_json {
        return (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
            body.to_string(),
        )
            .into_response();
    }
    let pairs: Vec<(String, String)> = body
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                v.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| v.to_string()),
            )
        })
        .collect();
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "application/x-www-form-urlencoded; charset=utf-8",
        )],
        encode_form(&pairs),
    )
        .into_response()
}

async fn access_token(
    State(core): S,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if core.enter_token().await {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::CONTENT_TYPE, "text/html")],
            "<html><body><h1>Unicorn!</h1>\
             No server is currently available to service your request.</body></html>",
        )
            .into_response();
    }
    // GitHub takes the parameters from the query string or the body.
    let mut p = query;
    p.extend(super::body_params(&headers, &body));
    let (client_id, client_secret) = match (p.get("client_id"), p.get("client_secret")) {
        (Some(id), Some(secret)) => (id.clone(), secret.clone()),
        _ => basic_auth(&headers).unwrap_or_default(),
    };
    if client_id != core.client_id || client_secret != core.client_secret {
        return token_answer(
            &headers,
            oauth_error(
                "incorrect_client_credentials",
                "The client_id and/or client_secret passed are incorrect.",
                "incorrect-client-credentials",
            ),
        );
    }
    let code = p.get("code").cloned().unwrap_or_default();
    match core.redeem(
        &code,
        &client_id,
        p.get("redirect_uri").map(String::as_str),
        false,
        p.get("code_verifier").map(String::as_str),
    ) {
        Err(TokenError::RedirectMismatch) => token_answer(
            &headers,
            json!({
                "error": "redirect_uri_mismatch",
                "error_description":
                    "The redirect_uri MUST match the registered callback URL for this application.",
                "error_uri": concat!(authorize_errors_doc!(), "#redirect-uri-mismatch2"),
            }),
        ),
        Err(_) => token_answer(
            &headers,
            oauth_error(
                "bad_verification_code",
                "The code passed is incorrect or expired.",
                "bad-verification-code",
            ),
        ),
        Ok(grant) => {
            let scope = grant
                .scope
                .split([' ', ','])
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(",");
            let token = core.mint_token(
                format!("gho_{}", random_token(36)),
                &grant.user,
                &client_id,
                &scope,
                10 * 365 * 86400,
            );
            token_answer(
                &headers,
                json!({"access_token": token, "token_type": "bearer", "scope": scope}),
            )
        }
    }
}

/// The REST API's gatekeeping: outage, User-Agent, credentials.
async fn api_auth(
    core: &Core<GithubUser>,
    headers: &HeaderMap,
    docs: &str,
) -> Result<(super::TokenInfo, GithubUser), Response> {
    if core.enter_api().await {
        return Err(json(503, json!({"message": "Service Unavailable"})));
    }
    if !headers.contains_key(header::USER_AGENT) {
        const FORBIDDEN: &str = concat!(
            "Request forbidden by administrative rules. ",
            "Please make sure your request has a User-Agent header ",
            "(https://docs.github.com/en/rest/overview/resources-in-the-rest-api",
            "#user-agent-required). ",
            "Check https://developer.github.com for other possible causes.\n",
        );
        let plain = [(header::CONTENT_TYPE, "text/plain; charset=utf-8")];
        return Err((StatusCode::FORBIDDEN, plain, FORBIDDEN).into_response());
    }
    let Some(token) = bearer(headers, &["bearer", "token"]) else {
        let body = json!({
            "message": "Requires authentication", "documentation_url": docs, "status": "401"
        });
        return Err(json(401, body));
    };
    core.lookup(&token).ok_or_else(|| {
        let docs = "https://docs.github.com/rest";
        json(
            401,
            json!({"message": "Bad credentials", "documentation_url": docs, "status": "401"}),
        )
    })
}

fn with_scopes(info: &super::TokenInfo, mut resp: Response) -> Response {
    if let Ok(v) = info.scope.replace(',', ", ").parse() {
        resp.headers_mut().insert("x-oauth-scopes", v);
    }
    resp
}

async fn user(State(core): S, headers: HeaderMap) -> Response {
    let (info, u) = match api_auth(
        &core,
        &headers,
        "https://docs.github.com/rest/users/users#get-the-authenticated-user",
    )
    .await
    {
        Ok(x) => x,
        Err(r) => return r,
    };
    with_scopes(
        &info,
        json(
            200,
            json!({
                "login": u.login, "id": u.id, "node_id": format!("U_kgDO{}", u.id),
                "avatar_url": format!("https://avatars.githubusercontent.com/u/{}?v=4", u.id),
                "gravatar_id": "",
                "url": format!("https://api.github.com/users/{}", u.login),
                "html_url": format!("https://github.com/{}", u.login),
                "type": "User", "site_admin": false, "name": u.name, "company": null, "blog": "",
                "location": null,
                "email": u.public_email, "hireable": null, "bio": null, "twitter_username": null,
                "public_repos": 0, "public_gists": 0, "followers": 0, "following": 0,
                "created_at": "2011-01-25T18:44:36Z", "updated_at": "2024-01-01T00:00:00Z",
            }),
        ),
    )
}

async fn emails(State(core): S, headers: HeaderMap) -> Response {
    let docs =
        "https://docs.github.com/rest/users/emails#list-email-addresses-for-the-authenticated-user";
    let (info, u) = match api_auth(&core, &headers, docs).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if !info
        .scope
        .split(',')
        .any(|s| s == "user:email" || s == "user")
    {
        return with_scopes(
            &info,
            json(
                404,
                json!({"message": "Not Found", "documentation_url": docs, "status": "404"}),
            ),
        );
    }
    let list: Vec<Value> = u
        .emails
        .iter()
        .map(|e| {
            json!({
                "email": e.email, "primary": e.primary, "verified": e.verified,
                "visibility": e.visibility
            })
        })
        .collect();
    with_scopes(&info, json(200, Value::Array(list)))
}
