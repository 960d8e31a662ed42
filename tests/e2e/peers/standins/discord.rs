//! Discord OAuth2: `/oauth2/authorize`, `/api/oauth2/token` (client auth by HTTP Basic or in the
//! body), `/api/users/@me` (also under `/api/v10`). `email` and `verified` are only present when
//! the token has the `email` scope, as at Discord; ids are snowflake strings.

use std::collections::HashMap;
use std::ops::Deref;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

use super::{basic_auth, bearer, json, login_page, redirect, Core, StandinUser, TokenError};
use crate::peers::{random_token, serve, with_query, Served};

pub const CLIENT_ID: &str = "1183927364512345678";
pub const CLIENT_SECRET: &str = "dC9xT3stR2F0ZWhvdXNlLURpc2NvcmQ";

#[derive(Debug, Clone)]
pub struct DiscordUser {
    /// Snowflake, as a string.
    pub id: String,
    pub username: String,
    pub global_name: Option<String>,
    pub avatar: Option<String>,
    pub email: Option<String>,
    pub verified: bool,
}

impl DiscordUser {
    pub fn new(id: &str, username: &str, email: &str) -> DiscordUser {
        DiscordUser {
            id: id.into(),
            username: username.into(),
            global_name: Some(format!("The {username}")),
            avatar: Some("a_1269e74af4df7417b13759eae50c83dc".into()),
            email: Some(email.into()),
            verified: true,
        }
    }

    pub fn unverified(mut self) -> DiscordUser {
        self.verified = false;
        self
    }
}

impl StandinUser for DiscordUser {
    fn key(&self) -> String {
        self.id.clone()
    }
}

pub struct DiscordStandin {
    core: Arc<Core<DiscordUser>>,
    served: Served,
}

impl Deref for DiscordStandin {
    type Target = Core<DiscordUser>;
    fn deref(&self) -> &Self::Target {
        &self.core
    }
}

impl DiscordStandin {
    /// Starts with `nelly` (80351110224678912, nelly@discord.example, verified) signed in.
    pub async fn start() -> DiscordStandin {
        let core = Arc::new(Core::new(
            CLIENT_ID,
            CLIENT_SECRET,
            DiscordUser::new("80351110224678912", "nelly", "nelly@discord.example"),
        ));
        let app = axum::Router::new()
            .route("/oauth2/authorize", get(authorize))
            .route("/api/oauth2/token", post(token))
            .route("/api/v10/oauth2/token", post(token))
            .route("/api/users/@me", get(me))
            .route("/api/v10/users/@me", get(me))
            .with_state(core.clone());
        DiscordStandin {
            core,
            served: serve(app).await,
        }
    }

    /// `https://discord.com` in production.
    pub fn base(&self) -> &str {
        &self.served.base
    }

    pub fn authorize_url(&self) -> String {
        format!("{}/oauth2/authorize", self.served.base)
    }

    pub fn token_url(&self) -> String {
        format!("{}/api/oauth2/token", self.served.base)
    }

    /// `https://discord.com/api` in production; the user is at `{api_base}/users/@me`.
    pub fn api_base(&self) -> String {
        format!("{}/api", self.served.base)
    }
}

type S = State<Arc<Core<DiscordUser>>>;

async fn authorize(State(core): S, Query(q): Query<HashMap<String, String>>) -> Response {
    if q.get("client_id") != Some(&core.client_id) {
        return (
            StatusCode::BAD_REQUEST,
            [(header::CONTENT_TYPE, "text/html")],
            "<html><body>Unknown Application</body></html>",
        )
            .into_response();
    }
    let Some(redirect_uri) = q.get("redirect_uri") else {
        return (StatusCode::BAD_REQUEST, "Invalid OAuth2 redirect_uri").into_response();
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
                "The resource owner or authorization server denied the request",
            ),
        ];
        params.extend(state);
        return redirect(with_query(redirect_uri, &params));
    }
    match core.issue_code(&q) {
        None => login_page("Discord"),
        Some(code) => {
            let mut params = vec![("code", code.as_str())];
            params.extend(state);
            redirect(with_query(redirect_uri, &params))
        }
    }
}

fn invalid_grant(what: &str) -> Response {
    json(
        400,
        json!({
            "error": "invalid_grant",
            "error_description": format!("Invalid \"{what}\" in request.")
        }),
    )
}

async fn token(State(core): S, headers: HeaderMap, body: Bytes) -> Response {
    if core.enter_token().await {
        return json(
            500,
            json!({"message": "500: Internal Server Error", "code": 0}),
        );
    }
    let p = super::body_params(&headers, &body);
    let (client_id, client_secret) = basic_auth(&headers).unwrap_or_else(|| {
        (
            p.get("client_id").cloned().unwrap_or_default(),
            p.get("client_secret").cloned().unwrap_or_default(),
        )
    });
    if client_id != core.client_id || client_secret != core.client_secret {
        return json(401, json!({"error": "invalid_client"}));
    }
    if p.get("grant_type").map(String::as_str) != Some("authorization_code") {
        return json(400, json!({"error": "unsupported_grant_type"}));
    }
    let code = p.get("code").cloned().unwrap_or_default();
    match core.redeem(
        &code,
        &client_id,
        p.get("redirect_uri").map(String::as_str),
        true,
        p.get("code_verifier").map(String::as_str),
    ) {
        Err(TokenError::RedirectMismatch) => invalid_grant("redirect_uri"),
        Err(TokenError::MissingVerifier | TokenError::BadVerifier) => {
            invalid_grant("code_verifier")
        }
        Err(_) => invalid_grant("code"),
        Ok(grant) => {
            let token = core.mint_token(
                random_token(30),
                &grant.user,
                &client_id,
                &grant.scope,
                604800,
            );
            json(
                200,
                json!({"access_token": token, "token_type": "Bearer", "expires_in": 604800,
                             "refresh_token": random_token(30), "scope": grant.scope}),
            )
        }
    }
}

async fn me(State(core): S, headers: HeaderMap) -> Response {
    if core.enter_api().await {
        return json(
            500,
            json!({"message": "500: Internal Server Error", "code": 0}),
        );
    }
    let Some((info, u)) = bearer(&headers, &["bearer"]).and_then(|t| core.lookup(&t)) else {
        return json(401, json!({"message": "401: Unauthorized", "code": 0}));
    };
    let mut body = json!({
        "id": u.id, "username": u.username, "discriminator": "0", "global_name": u.global_name,
        "avatar": u.avatar, "public_flags": 0, "flags": 0, "banner": null, "accent_color": null,
        "mfa_enabled": false, "locale": "en-US", "premium_type": 0,
    });
    if info.scope.split(' ').any(|s| s == "email") {
        body["email"] = json!(u.email);
        body["verified"] = json!(u.verified);
    }
    json(200, body)
}
