//! Handlers of the self-service routes (Gatehouse extension, issue 17): change email, change
//! phone, edit profile. Each needs a recent sign-in, like the other lasting changes.

use axum::extract::State;
use axum::response::Response;
use gatehouse_proto::self_service::{
    ChangeEmailRequest, ChangePhoneRequest, ConfirmPhoneChangeRequest, ProfileUpdate,
};

use super::client_api::no_content;
use super::extract::{AccessCaller, Caller, Typed};
use crate::error::ApiResult;
use crate::state::AppState;
use crate::step_up::{require_recent_sign_in, LastingChange};

/// `POST /auth/email/change`: 204 once the confirmation link is mailed to the new address.
pub async fn change_email(
    State(state): State<AppState>,
    AccessCaller(auth): AccessCaller,
    caller: Caller,
    Typed(req): Typed<ChangeEmailRequest>,
) -> ApiResult<Response> {
    require_recent_sign_in(&state, &auth.session, LastingChange::ChangeEmail)?;
    crate::email_change::request(&state, &auth, &req.new_email, caller.origin()).await?;
    Ok(no_content())
}

/// `POST /auth/phone/change`: 204 once the code is texted to the new number.
pub async fn change_phone(
    State(state): State<AppState>,
    AccessCaller(auth): AccessCaller,
    caller: Caller,
    Typed(req): Typed<ChangePhoneRequest>,
) -> ApiResult<Response> {
    require_recent_sign_in(&state, &auth.session, LastingChange::ChangePhone)?;
    let wanted = (req.new_phone.as_str(), req.code_challenge.as_str());
    crate::phone_change::request(&state, &auth, wanted, caller.origin()).await?;
    Ok(no_content())
}

/// `POST /auth/phone/change/confirm`: 204 once the account has the new number.
pub async fn confirm_phone_change(
    State(state): State<AppState>,
    AccessCaller(auth): AccessCaller,
    caller: Caller,
    Typed(req): Typed<ConfirmPhoneChangeRequest>,
) -> ApiResult<Response> {
    require_recent_sign_in(&state, &auth.session, LastingChange::ChangePhone)?;
    let proof = (
        req.new_phone.as_str(),
        req.code.as_str(),
        req.code_verifier.as_str(),
    );
    crate::phone_change::confirm(&state, &auth, proof, caller.origin()).await?;
    Ok(no_content())
}

/// `PATCH /auth/profile`: answers the new profile, as `GET /auth/profile` would.
pub async fn update_profile(
    State(state): State<AppState>,
    AccessCaller(auth): AccessCaller,
    caller: Caller,
    Typed(req): Typed<ProfileUpdate>,
) -> ApiResult<Response> {
    require_recent_sign_in(&state, &auth.session, LastingChange::EditProfile)?;
    crate::profile_edit::update(&state, &auth, req, caller.origin()).await?;
    super::client_api::profile(State(state), AccessCaller(auth)).await
}
