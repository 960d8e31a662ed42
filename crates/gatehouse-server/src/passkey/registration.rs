//! Adding a passkey to a signed-in account: the app starts it with the user's access token
//! (recent sign-in), the browser page runs `navigator.credentials.create` (a discoverable,
//! user-verified credential), the server verifies it and stores it unconfirmed, and the same
//! user's app redeems the one-time code with its PKCE verifier to confirm it.

use gatehouse_proto::mfa::{BrowserPage, CodeRedemption, MfaFactor, PasskeyRegistrationStart};
use gatehouse_proto::{routes, ErrorCode, ProviderType};
use webauthn_rs::prelude::RegisterPublicKeyCredential;
use webauthn_rs::prelude::{CredentialID, Passkey, PasskeyRegistration};

use super::pages::CeremonyPage;
use super::{from_json, invalid, to_json, CEREMONY_TTL_SECS};
use crate::crypto::{ct_eq, object_id, secret_256, sha256_hex};
use crate::error::{ApiError, ApiResult};
use crate::sessions::AccessAuth;
use crate::state::AppState;
use crate::store::passkeys::{self as rows, purpose, CeremonyRow};
use crate::store::users;

/// The registration page's path (query: `ceremony`, `key`).
pub fn page_path(app_id: &str) -> String {
    format!("{}/app/{app_id}/auth/mfa/passkeys/register", routes::BASE)
}

/// Where the page posts the new credential.
pub fn finish_path(app_id: &str) -> String {
    format!("{}/app/{app_id}/auth/mfa/passkeys/register", routes::BASE)
}

/// `POST PASSKEY_REGISTRATIONS`: a page bound to this user, for the app to open in a browser.
pub async fn start(
    state: &AppState,
    auth: &AccessAuth,
    req: PasskeyRegistrationStart,
) -> ApiResult<BrowserPage> {
    super::relying_party(state)?;
    let session = &auth.session;
    let app = state.app(&session.app_id)?;
    let user = users::get(state.db.reader(), &session.user_id)
        .await?
        .ok_or_else(|| ApiError::invalid_session("this session's user no longer exists"))?;
    if session.provider_type == ProviderType::Anonymous.as_str() || user.user_type == "anonymous" {
        return Err(ApiError::bad_request(
            "anonymous users cannot add a passkey; sign in with a lasting method first",
        ));
    }
    crate::step_up::require_recent_sign_in(
        state,
        session,
        crate::step_up::LastingChange::AddPasskey,
    )?;
    let name = req.name.trim();
    if name.is_empty() || name.chars().count() > 64 {
        return Err(ApiError::invalid_parameter(
            "name must be 1-64 characters (it tells this passkey apart from others)",
        ));
    }
    super::check_return(app, &req.redirect_uri, &req.state, &req.code_challenge)?;
    let now = state.now();
    let key = secret_256();
    let ceremony = CeremonyRow {
        id: object_id(now),
        app_id: session.app_id.clone(),
        purpose: purpose::REGISTER.into(),
        user_id: Some(session.user_id.clone()),
        challenge_id: None,
        name: Some(name.to_string()),
        redirect_uri: req.redirect_uri,
        client_state: req.state,
        code_challenge: req.code_challenge,
        key_hash: sha256_hex(key.as_bytes()),
        webauthn_state: None,
        expires_at: now + CEREMONY_TTL_SECS,
        finished_at: None,
        factor_id: None,
        app_code_hash: None,
        app_code_expires_at: None,
        redeemed_at: None,
    };
    rows::insert(state.db.writer(), &ceremony, now).await?;
    Ok(BrowserPage {
        url: format!(
            "{}{}?ceremony={}&key={key}",
            state.public_url,
            page_path(&session.app_id),
            ceremony.id
        ),
    })
}

/// `GET` of the registration page: a fresh WebAuthn challenge for the ceremony.
pub async fn page(
    state: &AppState,
    app_id: &str,
    ceremony_id: &str,
    key: &str,
) -> ApiResult<CeremonyPage> {
    let rp = super::relying_party(state)?;
    let now = state.now();
    let ceremony = rows::get(state.db.reader(), ceremony_id)
        .await?
        .filter(|c| c.app_id == app_id && c.purpose == purpose::REGISTER)
        .filter(|c| ct_eq(&c.key_hash, &sha256_hex(key.as_bytes())))
        .ok_or_else(|| invalid("this passkey page is unknown; start again from the app"))?;
    if ceremony.finished_at.is_some() || ceremony.expires_at <= now {
        return Err(invalid(
            "this passkey page was already used or has expired; start again from the app",
        ));
    }
    let user_id = ceremony.user_id.clone().unwrap_or_default();
    let user = users::get(state.db.reader(), &user_id)
        .await?
        .ok_or_else(|| invalid("this account no longer exists"))?;
    // Only confirmed passkeys are excluded: an authenticator whose earlier registration was never
    // redeemed may try again (its new credential replaces the old one on the device).
    let existing: Vec<CredentialID> = rows::of_user(state.db.reader(), &user_id, true)
        .await?
        .iter()
        .filter_map(|p| serde_json::from_str::<Passkey>(&p.credential).ok())
        .map(|p| p.cred_id().clone())
        .collect();
    let account = user
        .data
        .get("email")
        .and_then(|v| v.as_str())
        .unwrap_or(&user_id)
        .to_string();
    let (options, reg_state) = rp
        .start_passkey_registration(
            super::user_handle(app_id, &user_id),
            &account,
            &account,
            Some(existing).filter(|e| !e.is_empty()),
        )
        .map_err(|e| super::refusal(&e, &state.public_url))?;
    if !rows::set_state(state.db.writer(), &ceremony.id, &to_json(&reg_state)?).await? {
        return Err(super::replay());
    }
    let mut options = serde_json::to_value(&options).map_err(|_| ApiError::internal())?;
    // A passkey signs in without a user name: the credential must be discoverable.
    if let Some(selection) = options
        .pointer_mut("/publicKey/authenticatorSelection")
        .and_then(|v| v.as_object_mut())
    {
        selection.insert("residentKey".into(), "required".into());
        selection.insert("requireResidentKey".into(), true.into());
    }
    Ok(CeremonyPage {
        title: "Add a passkey",
        intro: "Your browser will ask you to create a passkey for this account, and to unlock \
                it (PIN, fingerprint or face). Then you return to the app.",
        mode: "create",
        ceremony_id: ceremony.id,
        key: key.to_string(),
        finish_path: finish_path(app_id),
        options,
    })
}

/// The page's answer: verify the new credential, store it unconfirmed, and send the browser
/// back to the app with a one-time code.
pub async fn finish(
    state: &AppState,
    app_id: &str,
    ceremony_id: &str,
    key: &str,
    credential: serde_json::Value,
) -> ApiResult<String> {
    let rp = super::relying_party(state)?;
    let ceremony = super::ceremony_for_answer(state, app_id, ceremony_id, key).await?;
    if ceremony.purpose != purpose::REGISTER {
        return Err(invalid("this page does not add a passkey"));
    }
    let reg_state: PasskeyRegistration = from_json(
        ceremony
            .webauthn_state
            .as_deref()
            .ok_or_else(|| invalid("this passkey page was never opened"))?,
    )?;
    let credential: RegisterPublicKeyCredential = serde_json::from_value(credential)
        .map_err(|e| invalid(format!("the passkey answer is malformed: {e}")))?;
    let passkey = rp
        .finish_passkey_registration(&credential, &reg_state)
        .map_err(|e| super::refusal(&e, &state.public_url))?;
    let user_id = ceremony.user_id.clone().unwrap_or_default();
    let credential_id = super::credential_id_text(passkey.cred_id().as_ref());
    if rows::by_credential_id(state.db.reader(), app_id, &credential_id)
        .await?
        .is_some()
    {
        return Err(ApiError::new(
            ErrorCode::PasskeyInvalid,
            "this passkey is already registered",
        ));
    }
    let now = state.now();
    let factor_id = object_id(now);
    rows::insert_passkey(
        state.db.writer(),
        &factor_id,
        app_id,
        &user_id,
        ceremony.name.as_deref().unwrap_or("Passkey"),
        &credential_id,
        &to_json(&passkey)?,
        now,
    )
    .await
    .map_err(crate::error::on_conflict(
        ErrorCode::PasskeyInvalid,
        "this passkey is already registered",
    ))?;
    let secret = secret_256();
    rows::set_result(
        state.db.writer(),
        &ceremony.id,
        &user_id,
        &factor_id,
        &sha256_hex(secret.as_bytes()),
        now + super::APP_CODE_TTL_SECS,
    )
    .await?;
    Ok(super::back_to_app(
        &ceremony.redirect_uri,
        &format!("{}.{secret}", ceremony.id),
        &ceremony.client_state,
    ))
}

/// `POST PASSKEY_REGISTRATIONS_COMPLETE`: the app that started the registration, signed in as
/// the same user, redeems the code; the passkey becomes a confirmed factor.
pub async fn complete(
    state: &AppState,
    auth: &AccessAuth,
    body: CodeRedemption,
) -> ApiResult<MfaFactor> {
    let session = &auth.session;
    let ceremony = super::redeem_code(
        state,
        &session.app_id,
        purpose::REGISTER,
        &body.code,
        &body.code_verifier,
    )
    .await?;
    if ceremony.user_id.as_deref() != Some(session.user_id.as_str()) {
        return Err(ApiError::invalid_session(
            "this passkey was added for another user's session",
        ));
    }
    let factor_id = ceremony.factor_id.unwrap_or_default();
    if !rows::confirm(state.db.writer(), &factor_id, &session.user_id).await? {
        return Err(ApiError::new(
            ErrorCode::InvalidCode,
            "this passkey is no longer waiting to be confirmed",
        ));
    }
    let factor = rows::factor(state.db.reader(), &factor_id)
        .await?
        .ok_or_else(ApiError::internal)?;
    crate::activity::record_for_session(
        state,
        session,
        crate::store::activity::Kind::MfaEnrolled,
        crate::activity::detail([
            ("factor_id", factor.id.clone().into()),
            ("kind", gatehouse_proto::mfa::kind::PASSKEY.into()),
        ]),
    )
    .await;
    Ok(factor)
}
