//! X (Twitter) OAuth 2.0 with PKCE: `/i/oauth2/authorize` (x.com; PKCE is mandatory),
//! `/2/oauth2/token` and `/2/users/me` (api.x.com). A confidential client authenticates with
//! HTTP Basic only. `/2/users/me` has no email: X accounts are identified by their numeric id.

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
use crate::peers::{b64url, random_token, serve, with_query, Served};

pub const CLIENT_ID: &str = "R2F0ZWhvdXNlVGVzdDoxOmNp";
pub const CLIENT_SECRET: &str = "xS3cr3t-Gatehouse-Test-0123456789abcdefghijklmnopq";

#[derive(Debug, Clone)]
pub struct XUser {
    /// Numeric, as a string.
    pub id: String,
    pub name: String,
    pub username: String,
}

impl XUser {
    pub fn new(id: &str, username: &str) -> XUser {
        XUser {
            id: id.into(),
            name: format!("The {username}"),
            username: username.into(),
        }
    }
}

impl StandinUser for XUser {
    fn key(&self) -> String {
        self.id.clone()
    }
}

pub struct XStandin {
    core: Arc<Core<XUser>>,
    served: Served,
}

impl Deref for XStandin {
    type Target = Core<XUser>;
    fn deref(&self) -> &Self::Target {
        &self.core
    }
}

impl XStandin {
    /// Starts with `XDevelopers` (2244994945) signed in.
    pub async fn start() -> XStandin {
        let core = Arc::new(Core::new(
            CLIENT_ID,
            CLIENT_SECRET,
            XUser::new("2244994945", "XDevelopers"),
        ));
        let app = axum::Router::new()
            .route("/i/oauth2/authorize", get(authorize))
            .route("/2/oauth2/token", post(token))
            .route("/2/users/me", get(me))
            .with_state(core.clone());
        XStandin {
            core,
            served: serve(app).await,
        }
    }

    /// Both `https://x.com` and `https://api.x.com` in production.
    pub fn base(&self) -> &str {
        &self.served.base
    }

    pub fn authorize_url(&self) -> String {
        format!("{}/i/oauth2/authorize", self.served.base)
    }

    pub fn token_url(&self) -> String {
        format!("{}/2/oauth2/token", self.served.base)
    }

    /// `https://api.x.com/2` in production; the user is at `{api_base}/users/me`.
    pub fn api_base(&self) -> String {
        format!("{}/2", self.served.base)
    }
}

type S = State<Arc<Core<XUser>>>;

async fn authorize(State(core): S, Query(q): Query<HashMap<String, String>>) -> Response {
    let (Some(redirect_uri), true) = (
        q.get("redirect_uri"),
        q.get("client_id") == Some(&core.client_id),
    ) else {
        let html = [(header::CONTENT_TYPE, "text/html")];
        let page = "<html><body>Something went wrong. \
                    You weren't able to give access to the App.</body></html>";
        return (StatusCode::BAD_REQUEST, html, page).into_response();
    };
    let state: Vec<(&str, &str)> = q
        .get("state")
        .map(|s| ("state", s.as_str()))
        .into_iter()
        .collect();
    let error = if !q.contains_key("code_challenge") {
        Some("invalid_request")
    } else if core.is_denying() {
        Some("access_denied")
    } else {
        None
    };
    if let Some(error) = error {
        let mut params = vec![("error", error)];
        params.extend(state);
        return redirect(with_query(redirect_uri, &params));
    }
    match core.issue_code(&q) {
        None => login_page("X"),
        Some(code) => {
            let mut params = vec![("code", code.as_str())];
            params.extend(state);
            redirect(with_query(redirect_uri, &params))
        }
    }
}

async fn token(State(core): S, headers: HeaderMap, body: Bytes) -> Response {
    if core.enter_token().await {
        return json(503, unavailable());
    }
    let p = super::body_params(&headers, &body);
    let Some((client_id, client_secret)) = basic_auth(&headers) else {
        return json(
            401,
            oauth_error("unauthorized_client", "Missing valid authorization header"),
        );
    };
    if client_id != core.client_id || client_secret != core.client_secret {
        return json(
            401,
            oauth_error("unauthorized_client", "Missing valid authorization header"),
        );
    }
    if p.get("grant_type").map(String::as_str) != Some("authorization_code") {
        return json(
            400,
            oauth_error(
                "invalid_request",
                "Missing required parameter [grant_type].",
            ),
        );
    }
    let code = p.get("code").cloned().unwrap_or_default();
    match core.redeem(
        &code,
        &client_id,
        p.get("redirect_uri").map(String::as_str),
        true,
        p.get("code_verifier").map(String::as_str),
    ) {
        Err(TokenError::RedirectMismatch) => json(
            400,
            oauth_error(
                "invalid_request",
                "Value passed for the redirect uri did not match the uri of the \
                 authorization code.",
            ),
        ),
        Err(_) => json(
            400,
            oauth_error(
                "invalid_request",
                "Value passed for the authorization code was invalid.",
            ),
        ),
        Ok(grant) => {
            let token = core.mint_token(
                b64url(random_token(60)),
                &grant.user,
                &client_id,
                &grant.scope,
                7200,
            );
            json(
                200,
                json!({
                    "token_type": "bearer", "expires_in": 7200, "access_token": token,
                    "scope": grant.scope
                }),
            )
        }
    }
}

async fn me(State(core): S, headers: HeaderMap) -> Response {
    if core.enter_api().await {
        return json(503, unavailable());
    }
    let Some((_, u)) = bearer(&headers, &["bearer"]).and_then(|t| core.lookup(&t)) else {
        return json(
            401,
            json!({
                "title": "Unauthorized", "type": "about:blank", "status": 401,
                "detail": "Unauthorized"
            }),
        );
    };
    json(
        200,
        json!({"data": {"id": u.id, "name": u.name, "username": u.username}}),
    )
}

/// X's problem-details answer while it is down.
fn unavailable() -> Value {
    json!({
        "title": "Service Unavailable", "detail": "Service Unavailable", "type": "about:blank",
        "status": 503
    })
}

/// An RFC 6749 error body as X's token endpoint writes it.
fn oauth_error(error: &str, description: &str) -> Value {
    json!({"error": error, "error_description": description})
}
