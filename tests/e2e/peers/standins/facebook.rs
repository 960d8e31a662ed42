//! Facebook Login on the Graph API under a versioned path (`/v19.0`): the dialog, the token
//! exchange (a GET with the secret in the query), `debug_token` (how a server learns which app a
//! user token belongs to: a token minted for another app must be refused) and `/me` with the
//! optional `appsecret_proof`. Errors use Graph's `{"error":{message,type,code,fbtrace_id}}`.
//! `issue_token` mints user tokens directly for the token-mode login (the client SDK got the token
//! from the Facebook app and hands it to us).

use std::collections::HashMap;
use std::ops::Deref;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{json, Value};

use super::{bearer, json, login_page, redirect, unix_now, Core, StandinUser, TokenError};
use crate::peers::{random_token, serve, with_query, Served};

pub const VERSION: &str = "v19.0";
pub const APP_ID: &str = "1234567890123456";
pub const APP_SECRET: &str = "0f9e8d7c6b5a49382716f5e4d3c2b1a0";
pub const APP_NAME: &str = "Gatehouse Test";
/// Facebook's long-lived user token lifetime (~60 days) as its token endpoint reports it.
pub const TOKEN_TTL: i64 = 5183944;

#[derive(Debug, Clone)]
pub struct FacebookUser {
    /// App-scoped user id (numeric string).
    pub id: String,
    pub name: String,
    /// Facebook accounts may have no (confirmed) email: then `/me` omits the field.
    pub email: Option<String>,
}

impl FacebookUser {
    pub fn new(id: &str, name: &str, email: Option<&str>) -> FacebookUser {
        FacebookUser {
            id: id.into(),
            name: name.into(),
            email: email.map(str::to_string),
        }
    }
}

impl StandinUser for FacebookUser {
    fn key(&self) -> String {
        self.id.clone()
    }
}

pub struct Fb {
    core: Core<FacebookUser>,
    require_proof: AtomicBool,
}

pub struct FacebookStandin {
    fb: Arc<Fb>,
    served: Served,
}

impl Deref for FacebookStandin {
    type Target = Core<FacebookUser>;
    fn deref(&self) -> &Self::Target {
        &self.fb.core
    }
}

impl FacebookStandin {
    /// Starts with "Open Graph Test User" (10158000000000001, fbuser@facebook.example) signed in.
    pub async fn start() -> FacebookStandin {
        let user = FacebookUser::new(
            "10158000000000001",
            "Open Graph Test User",
            Some("fbuser@facebook.example"),
        );
        let fb = Arc::new(Fb {
            core: Core::new(APP_ID, APP_SECRET, user),
            require_proof: AtomicBool::new(false),
        });
        let app = axum::Router::new()
            .route(&format!("/{VERSION}/dialog/oauth"), get(dialog))
            .route(
                &format!("/{VERSION}/oauth/access_token"),
                get(access_token).post(access_token),
            )
            .route(&format!("/{VERSION}/debug_token"), get(debug_token))
            .route(&format!("/{VERSION}/me"), get(me))
            .with_state(fb.clone());
        FacebookStandin {
            fb,
            served: serve(app).await,
        }
    }

    /// `https://www.facebook.com` / `https://graph.facebook.com` in production (same host here).
    pub fn base(&self) -> &str {
        &self.served.base
    }

    /// `https://graph.facebook.com/v19.0`.
    pub fn graph_base(&self) -> String {
        format!("{}/{VERSION}", self.served.base)
    }

    pub fn authorize_url(&self) -> String {
        format!("{}/{VERSION}/dialog/oauth", self.served.base)
    }

    pub fn token_url(&self) -> String {
        format!("{}/{VERSION}/oauth/access_token", self.served.base)
    }

    /// The app setting "Require App Secret": `/me` without `appsecret_proof` is refused.
    pub fn set_require_appsecret_proof(&self, on: bool) {
        self.fb.require_proof.store(on, Ordering::SeqCst);
    }

    /// A user access token for `user` (added to the user table) issued to app `app_id`: what the
    /// Facebook SDK on a device hands over. Use another app id for the stolen-token case.
    pub fn issue_token(&self, user: &FacebookUser, app_id: &str) -> String {
        self.fb.core.add_user(user.clone());
        self.fb.core.mint_token(
            format!("EAA{}", random_token(120)),
            &user.id,
            app_id,
            "email,public_profile",
            TOKEN_TTL,
        )
    }

    /// hex(HMAC-SHA256(key = app secret, message = access token)).
    pub fn appsecret_proof(token: &str) -> String {
        appsecret_proof(APP_SECRET, token)
    }
}

fn appsecret_proof(secret: &str, token: &str) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    hex::encode(ring::hmac::sign(&key, token.as_bytes()))
}

/// Graph's error envelope.
fn graph_error(
    status: u16,
    message: &str,
    kind: &str,
    code: u32,
    subcode: Option<u32>,
) -> Response {
    let mut error =
        json!({"message": message, "type": kind, "code": code, "fbtrace_id": random_token(11)});
    if let Some(s) = subcode {
        error["error_subcode"] = json!(s);
    }
    let mut resp = json(status, json!({"error": error}));
    // Graph also sets this header with the error, as a challenge for bad tokens.
    if code == 190 {
        if let Ok(v) =
            format!("OAuth \"Facebook Platform\" \"invalid_token\" \"{message}\"").parse()
        {
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
    }
    resp
}

fn outage() -> Response {
    graph_error(
        500,
        "An unexpected error has occurred. Please retry your request later.",
        "OAuthException",
        2,
        None,
    )
}

type S = State<Arc<Fb>>;
type Q = Query<HashMap<String, String>>;

async fn dialog(State(fb): S, Query(q): Q) -> Response {
    let core = &fb.core;
    if q.get("client_id") != Some(&core.client_id) {
        return (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/html")],
            "<html><body>Invalid App ID: The provided app ID does not look like a valid app ID.\
             </body></html>",
        )
            .into_response();
    }
    let Some(redirect_uri) = q.get("redirect_uri") else {
        return (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/html")],
            "<html><body>URL Blocked</body></html>",
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
            ("error_code", "200"),
            ("error_description", "Permissions error"),
            ("error_reason", "user_denied"),
        ];
        params.extend(state);
        return redirect(format!("{}#_=_", with_query(redirect_uri, &params)));
    }
    match core.issue_code(&q) {
        None => login_page("Facebook"),
        Some(code) => {
            let mut params = vec![("code", code.as_str())];
            params.extend(state);
            // Facebook really appends this fragment to the redirect.
            redirect(format!("{}#_=_", with_query(redirect_uri, &params)))
        }
    }
}

/// Graph takes the parameters from the query string (its documented GET) or a form POST.
async fn access_token(State(fb): S, Query(query): Q, headers: HeaderMap, body: Bytes) -> Response {
    let mut p = query;
    p.extend(super::body_params(&headers, &body));
    let core = &fb.core;
    if core.enter_token().await {
        return outage();
    }
    if p.get("client_id") != Some(&core.client_id)
        || p.get("client_secret") != Some(&core.client_secret)
    {
        return graph_error(
            400,
            "Error validating client secret.",
            "OAuthException",
            1,
            None,
        );
    }
    let code = p.get("code").cloned().unwrap_or_default();
    let redeemed = core.redeem(
        &code,
        &core.client_id,
        p.get("redirect_uri").map(String::as_str),
        true,
        p.get("code_verifier").map(String::as_str),
    );
    match redeemed {
        Err(TokenError::RedirectMismatch) => graph_error(
            400,
            "Error validating verification code. Please make sure your redirect_uri is identical \
             to the one you used in the OAuth dialog request",
            "OAuthException",
            100,
            Some(36008),
        ),
        Err(TokenError::UsedCode) => graph_error(
            400,
            "This authorization code has been used.",
            "OAuthException",
            100,
            Some(36009),
        ),
        Err(TokenError::ExpiredCode) => graph_error(
            400,
            "This authorization code has expired.",
            "OAuthException",
            100,
            Some(36007),
        ),
        Err(TokenError::MissingVerifier | TokenError::BadVerifier) => {
            graph_error(400, "Invalid code verifier.", "OAuthException", 100, None)
        }
        Err(_) => graph_error(
            400,
            "Invalid verification code format.",
            "OAuthException",
            100,
            Some(36007),
        ),
        Ok(grant) => {
            let token = core.mint_token(
                format!("EAA{}", random_token(120)),
                &grant.user,
                &core.client_id,
                &grant.scope,
                TOKEN_TTL,
            );
            json(
                200,
                json!({"access_token": token, "token_type": "bearer", "expires_in": TOKEN_TTL}),
            )
        }
    }
}

async fn debug_token(State(fb): S, Query(p): Q) -> Response {
    let core = &fb.core;
    if core.enter_api().await {
        return outage();
    }
    let app_token = p.get("access_token").cloned().unwrap_or_default();
    if app_token != format!("{}|{}", core.client_id, core.client_secret) {
        return graph_error(
            400,
            "Invalid OAuth access token signature.",
            "OAuthException",
            190,
            None,
        );
    }
    let Some(input) = p.get("input_token") else {
        return graph_error(
            400,
            "(#100) The parameter input_token is required",
            "OAuthException",
            100,
            None,
        );
    };
    let Some(info) = core.token_info(input) else {
        return json(
            200,
            json!({"data": {
                "error": {"code": 190, "message": "Invalid OAuth access token."},
                "is_valid": false,
                "scopes": []
            }}),
        );
    };
    let live = info.valid && info.expires_at > unix_now();
    let application = if info.app_id == core.client_id {
        APP_NAME
    } else {
        "Some Other App"
    };
    let scopes: Vec<&str> = if info.scope.is_empty() {
        vec!["public_profile"]
    } else {
        info.scope
            .split([',', ' '])
            .filter(|s| !s.is_empty())
            .collect()
    };
    let mut data = json!({
        "app_id": info.app_id, "type": "USER", "application": application,
        "data_access_expires_at": info.expires_at + 30 * 86400, "expires_at": info.expires_at,
        "is_valid": live, "issued_at": info.expires_at - TOKEN_TTL, "scopes": scopes,
        "user_id": info.user,
    });
    if !live {
        data["error"] = json!({
            "code": 190,
            "message": "Error validating access token: The session has been invalidated because \
                        the user changed their password or Facebook has changed the session for \
                        security reasons.",
            "subcode": 460
        });
    }
    json(200, json!({"data": data}))
}

async fn me(State(fb): S, headers: HeaderMap, Query(p): Q) -> Response {
    let core = &fb.core;
    if core.enter_api().await {
        return outage();
    }
    let Some(token) = p
        .get("access_token")
        .cloned()
        .or_else(|| bearer(&headers, &["bearer", "oauth"]))
    else {
        return graph_error(
            400,
            "An active access token must be used to query information about the current user.",
            "OAuthException",
            2500,
            None,
        );
    };
    let Some((info, user)) = core.lookup(&token) else {
        return graph_error(
            400,
            "Invalid OAuth access token - Cannot parse access token",
            "OAuthException",
            190,
            None,
        );
    };
    match p.get("appsecret_proof") {
        // Only the token's own app knows the secret that makes a valid proof.
        Some(proof)
            if info.app_id != core.client_id
                || *proof != appsecret_proof(&core.client_secret, &token) =>
        {
            return graph_error(
                400,
                "Invalid appsecret_proof provided in the API argument",
                "GraphMethodException",
                100,
                None,
            );
        }
        None if fb.require_proof.load(Ordering::SeqCst) && info.app_id == core.client_id => {
            return graph_error(
                400,
                "API calls from the server require an appsecret_proof argument",
                "GraphMethodException",
                100,
                None,
            );
        }
        _ => {}
    }
    let fields = p.get("fields").cloned().unwrap_or_else(|| "id,name".into());
    let mut body = serde_json::Map::new();
    for field in fields.split(',').map(str::trim) {
        let value = match field {
            "id" => json!(user.id),
            "name" => json!(user.name),
            "email" => match &user.email {
                Some(e) => json!(e),
                None => continue,
            },
            "first_name" => json!(user.name.split(' ').next().unwrap_or("")),
            "last_name" => json!(user.name.rsplit(' ').next().unwrap_or("")),
            _ => continue,
        };
        body.insert(field.to_string(), value);
    }
    if !body.contains_key("id") {
        body.insert("id".into(), json!(user.id));
    }
    json(200, Value::Object(body))
}
