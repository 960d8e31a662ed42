//! The pages the links of an email change open (`crate::email_change`): the confirmation mailed
//! to the new address and the undo mailed to the old one. Opening a page changes nothing; only
//! its button's POST acts (mail scanners fetch links).

use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::get;
use axum::{Form, Router};

use super::extract::Caller;
use super::pages::{button_form, escape, link_failed, page, TokenQuery};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/app/{app}/email-change",
            get(confirm_page).post(confirm_submit),
        )
        .route(
            "/app/{app}/email-change/undo",
            get(undo_page).post(undo_submit),
        )
}

async fn confirm_page(Query(q): Query<TokenQuery>) -> Response {
    page(
        "Confirm your new email address",
        &format!(
            "<p>Press the button to make this address the email address of your account. \
             Until you do, nothing changes.</p>{}",
            button_form(&q, "Use this email address")
        ),
    )
}

async fn confirm_submit(
    State(state): State<AppState>,
    Path(app): Path<String>,
    caller: Caller,
    Form(q): Form<TokenQuery>,
) -> Response {
    let from = caller.origin();
    match crate::email_change::confirm(&state, &app, (&q.token, &q.token_id), from).await {
        Ok(done) => page(
            "Email address changed",
            &format!(
                "<p>Your account now signs in with <b>{}</b>; the password is unchanged.</p>",
                escape(&done.new_email)
            ),
        ),
        Err(e) => link_failed(&e.message),
    }
}

async fn undo_page(Query(q): Query<TokenQuery>) -> Response {
    page(
        "Undo the email change",
        &format!(
            "<p>Press the button to give your account back its previous email address. Every \
             device signed in to the account will be signed out.</p>{}",
            button_form(&q, "Restore my email address")
        ),
    )
}

async fn undo_submit(
    State(state): State<AppState>,
    Path(app): Path<String>,
    caller: Caller,
    Form(q): Form<TokenQuery>,
) -> Response {
    let from = caller.origin();
    match crate::email_change::undo(&state, &app, (&q.token, &q.token_id), from).await {
        Ok(done) => page(
            "Email address restored",
            &format!(
                "<p>Your account signs in with <b>{}</b> again, and every session was ended \
                 ({} signed out). If you did not ask for the change, reset your password \
                 now.</p>",
                escape(&done.email),
                done.sessions
            ),
        ),
        Err(e) => link_failed(&e.message),
    }
}
