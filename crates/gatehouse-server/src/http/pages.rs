//! The small pages mailed links open. Opening a link never consumes its token (mail scanners
//! fetch every link first): the page shows a button, and only its POST acts (security.md S-21).
//! Pages carry a strict CSP, no referrer, no caching and no framing (S-20, S-77).

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Form, Router};
use gatehouse_proto::userpass::{ResetRequest, TokenRequest};
use serde::Deserialize;

use super::extract::Caller;
use crate::providers::userpass;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/app/{app}/confirm", get(confirm_page).post(confirm_submit))
        .route("/app/{app}/reset", get(reset_page).post(reset_submit))
        .route("/app/{app}/magic", get(magic_page).post(magic_submit))
        .route("/app/{app}/not-me", get(not_me_page).post(not_me_submit))
        .route(
            "/app/{app}/lockdown",
            get(lockdown_page).post(lockdown_submit),
        )
}

#[derive(Deserialize)]
pub struct TokenQuery {
    #[serde(default)]
    pub(super) token: String,
    #[serde(default, rename = "tokenId")]
    pub(super) token_id: String,
}

#[derive(Deserialize)]
pub struct ResetForm {
    #[serde(default)]
    token: String,
    #[serde(default, rename = "tokenId")]
    token_id: String,
    #[serde(default)]
    password: String,
}

pub(crate) fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

pub(crate) fn page(title: &str, body: &str) -> Response {
    let html =
        format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" \
         content=\"width=device-width\">\
         <title>{t}</title><style>body{{font:16px \
         system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem}}\
         input,button{{font:inherit;padding:.5rem;margin:.25rem \
         0}}input{{width:100%;box-sizing:border-box}}\
         @media (prefers-color-scheme:dark){{body{{background:#111;color:#eee}}}}</style></head>\
         <body><h1>{t}</h1>{body}</body></html>", t = escape(title));
    let mut r = Html(html).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors \
             'none'; base-uri 'none'",
        ),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    r
}

/// A mailed link's page answer when acting on it failed: the reason, which says what to do.
pub(super) fn link_failed(message: &str) -> Response {
    page(
        "This link did not work",
        &format!("<p>{}</p>", escape(message)),
    )
}

/// The one button of a mailed link's page: POSTs the link's token pair back.
pub(super) fn button_form(q: &TokenQuery, label: &str) -> String {
    format!(
        "<form method=\"post\">{}<button type=\"submit\">{}</button></form>",
        hidden(q),
        escape(label)
    )
}

pub(super) fn hidden(q: &TokenQuery) -> String {
    format!(
        "<input type=\"hidden\" name=\"token\" value=\"{}\"><input type=\"hidden\" \
         name=\"tokenId\" value=\"{}\">",
        escape(&q.token),
        escape(&q.token_id)
    )
}

async fn confirm_page(Path(app): Path<String>, Query(q): Query<TokenQuery>) -> Response {
    page(
        "Confirm your email address",
        &format!(
            "<p>Press the button to confirm the email address of your account for <b>{}</b>.</p>\
         <form method=\"post\">{}<button type=\"submit\">Confirm my email address</button></form>",
            escape(&app),
            hidden(&q)
        ),
    )
}

async fn confirm_submit(
    State(state): State<AppState>,
    Path(app): Path<String>,
    caller: Caller,
    Form(q): Form<TokenQuery>,
) -> Response {
    match userpass::confirm(
        &state,
        &app,
        TokenRequest {
            token: q.token,
            token_id: q.token_id,
        },
        caller.ip,
    )
    .await
    {
        Ok(()) => page(
            "Email address confirmed",
            "<p>Your email address is confirmed. You can now return to the app and log in.</p>",
        ),
        Err(e) => link_failed(&e.message),
    }
}

fn reset_form(q: &TokenQuery, error: Option<&str>) -> String {
    let error = error
        .map(|e| format!("<p role=\"alert\"><b>{}</b></p>", escape(e)))
        .unwrap_or_default();
    format!(
        "{error}<form method=\"post\">{}<label for=\"password\">New password</label>\
         <input id=\"password\" name=\"password\" type=\"password\" \
         autocomplete=\"new-password\" required minlength=\"8\">\
         <button type=\"submit\">Set new password</button></form>",
        hidden(q)
    )
}

async fn reset_page(Query(q): Query<TokenQuery>) -> Response {
    page("Choose a new password", &reset_form(&q, None))
}

async fn reset_submit(
    State(state): State<AppState>,
    Path(app): Path<String>,
    caller: Caller,
    Form(f): Form<ResetForm>,
) -> Response {
    let q = TokenQuery {
        token: f.token.clone(),
        token_id: f.token_id.clone(),
    };
    match userpass::reset(
        &state,
        &app,
        ResetRequest {
            token: f.token,
            token_id: f.token_id,
            password: f.password,
        },
        caller.ip,
    )
    .await
    {
        Ok(()) => page(
            "Password changed",
            "<p>Your password was changed and every device was \
             signed out. \
             Return to the app and log in with the new \
             password.</p>",
        ),
        Err(e) if e.code == gatehouse_proto::ErrorCode::WeakPassword => {
            page("Choose a new password", &reset_form(&q, Some(&e.message)))
        }
        Err(e) => link_failed(&e.message),
    }
}

async fn magic_page(Query(q): Query<TokenQuery>) -> Response {
    page(
        "Sign in",
        &format!(
        "<p>Press the button on the device where you asked to sign in. The app opens and finishes \
         signing you in. Opened somewhere else, this link signs nothing in.</p>\
         <form method=\"post\">{}<button type=\"submit\">Continue in the \
         app</button></form>", hidden(&q)),
    )
}

async fn magic_submit(
    State(state): State<AppState>,
    Path(app): Path<String>,
    Form(q): Form<TokenQuery>,
) -> Response {
    match crate::providers::magic_link::open(&state, &app, &q.token, &q.token_id).await {
        Ok(target) => {
            // 303 so the browser follows with a GET — into the app, through its deep link.
            let mut r = page(
                "Opening the app",
                "<p>If nothing happens, type the code from the email into the app instead.</p>",
            );
            *r.status_mut() = axum::http::StatusCode::SEE_OTHER;
            if let Ok(v) = HeaderValue::from_str(&target) {
                r.headers_mut().insert(header::LOCATION, v);
            }
            r
        }
        Err(e) => link_failed(&e.message),
    }
}

async fn lockdown_page(Query(q): Query<TokenQuery>) -> Response {
    page(
        "Remove every other way in",
        &format!(
            "<p>This deletes every API key of the account, removes every sign-in method except \
             your email and password, and signs out every device.</p>\
             <form method=\"post\">{}<button type=\"submit\">Remove them all</button></form>",
            hidden(&q)
        ),
    )
}

async fn lockdown_submit(
    State(state): State<AppState>,
    Path(app): Path<String>,
    caller: Caller,
    Form(q): Form<TokenQuery>,
) -> Response {
    match crate::providers::lockdown::lock_down(&state, &app, &q.token, &q.token_id, caller.ip)
        .await
    {
        Ok(done) => page(
            "Done",
            &format!(
                "<p>Deleted {} API keys and {} other sign-in methods, and signed out {} \
                 sessions. Sign in again with your email and new password.</p>",
                done.api_keys, done.identities, done.sessions
            ),
        ),
        Err(e) => link_failed(&e.message),
    }
}

/// The "this wasn't me" link of a new-device alert: a button, since only the POST acts.
async fn not_me_page(Query(q): Query<TokenQuery>) -> Response {
    page(
        "This wasn't me",
        &format!(
            "<p>This signs out every device signed in to your account, including the new one, \
             and sends you a password reset.</p>\
             <form method=\"post\">{}<button type=\"submit\">Sign out everywhere and reset my \
             password</button></form>",
            hidden(&q)
        ),
    )
}

async fn not_me_submit(
    State(state): State<AppState>,
    Path(app): Path<String>,
    caller: Caller,
    Form(q): Form<TokenQuery>,
) -> Response {
    let from = caller.origin();
    match crate::new_device::not_me(&state, &app, (&q.token, &q.token_id), from).await {
        Ok(done) => {
            let reset = match done.reset_by {
                "email" => "We sent a password reset link to your email address.",
                "sms" => "We texted a password reset code to your phone.",
                _ => "Reset your password from the app.",
            };
            page(
                "Signed out everywhere",
                &format!("<p>Signed out {} sessions. {reset}</p>", done.sessions),
            )
        }
        Err(e) => link_failed(&e.message),
    }
}
