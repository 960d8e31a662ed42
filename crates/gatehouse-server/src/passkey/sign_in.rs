//! Using a passkey: as the first factor (`GET …/providers/passkey/login` serves a page that asks
//! for any of this site's discoverable passkeys; the app redeems the code at
//! `POST …/providers/passkey/login` and gets a session, never challenged again: a user-verified
//! passkey is itself multi-factor), or as the second factor of an `MfaRequired` challenge (the
//! page asks for one of that user's passkeys; the app sends the code to `mfa/complete`).

use gatehouse_proto::auth::LoginResponse;
use gatehouse_proto::mfa::PasskeyPageQuery;
use gatehouse_proto::{routes, ErrorCode, ProviderType};
use webauthn_rs::prelude::{
    AuthenticationResult, DiscoverableAuthentication, Passkey, PasskeyAuthentication,
    PublicKeyCredential,
};

use super::pages::CeremonyPage;
use super::{from_json, invalid, to_json, CEREMONY_TTL_SECS};
use crate::crypto::{ct_eq, object_id, secret_256, sha256_hex};
use crate::error::{ApiError, ApiResult};
use crate::sessions::{self, LoginContext};
use crate::state::AppState;
use crate::store::activity::Kind;
use crate::store::passkeys::{self as rows, purpose, CeremonyRow, StoredPasskey};

/// Where the sign-in and challenge pages post the assertion.
pub fn finish_path(app_id: &str) -> String {
    format!("{}/app/{app_id}/auth/passkey/assertion", routes::BASE)
}

/// The page query, plus `code_challenge_method` (only `S256`) that browser sign-ins send.
#[derive(Debug, serde::Deserialize)]
pub struct PageQuery {
    #[serde(flatten)]
    pub page: PasskeyPageQuery,
    #[serde(default)]
    pub code_challenge_method: Option<String>,
}

fn unknown() -> ApiError {
    ApiError::new(
        ErrorCode::PasskeyUnknown,
        "this passkey is not registered here (it may have been removed); sign in another way",
    )
}

async fn new_ceremony(
    state: &AppState,
    app_id: &str,
    q: PasskeyPageQuery,
    purpose: &str,
    user_id: Option<String>,
    webauthn_state: String,
) -> ApiResult<(CeremonyRow, String)> {
    let now = state.now();
    let key = secret_256();
    let ceremony = CeremonyRow {
        id: object_id(now),
        app_id: app_id.into(),
        purpose: purpose.into(),
        user_id,
        challenge_id: q.challenge_id,
        name: None,
        redirect_uri: q.redirect,
        client_state: q.state,
        code_challenge: q.code_challenge,
        key_hash: sha256_hex(key.as_bytes()),
        webauthn_state: Some(webauthn_state),
        expires_at: now + CEREMONY_TTL_SECS,
        finished_at: None,
        factor_id: None,
        app_code_hash: None,
        app_code_expires_at: None,
        redeemed_at: None,
    };
    rows::insert(state.db.writer(), &ceremony, now).await?;
    Ok((ceremony, key))
}

fn page(ceremony: CeremonyRow, key: String, options: serde_json::Value) -> CeremonyPage {
    let second = ceremony.purpose == purpose::CHALLENGE;
    CeremonyPage {
        title: if second {
            "Confirm it's you"
        } else {
            "Sign in with a passkey"
        },
        intro: if second {
            "Use a passkey of this account to finish signing in. Then you return to the app."
        } else {
            "Your browser will ask you to choose a passkey and unlock it (PIN, fingerprint or \
             face). Then you return to the app."
        },
        mode: "get",
        finish_path: finish_path(&ceremony.app_id),
        ceremony_id: ceremony.id,
        key,
        options,
    }
}

fn check_method(method: Option<&str>) -> ApiResult<()> {
    match method {
        None | Some("S256") => Ok(()),
        Some(_) => Err(ApiError::invalid_parameter(
            "code_challenge_method must be S256 (plain is not accepted)",
        )),
    }
}

/// `GET {app}/auth/providers/passkey/login`: the passwordless sign-in page.
pub async fn sign_in_page(state: &AppState, app_id: &str, q: PageQuery) -> ApiResult<CeremonyPage> {
    let app = state.provider(app_id, ProviderType::Passkey)?;
    check_method(q.code_challenge_method.as_deref())?;
    let q = q.page;
    super::check_return(app, &q.redirect, &q.state, &q.code_challenge)?;
    let rp = super::relying_party(state)?;
    let (options, auth_state) = rp
        .start_discoverable_authentication()
        .map_err(|e| super::refusal(&e, &state.public_url))?;
    let mut options = serde_json::to_value(&options).map_err(|_| ApiError::internal())?;
    // webauthn-rs asks for conditional UI (autofill); this page asks outright.
    if let Some(o) = options.as_object_mut() {
        o.remove("mediation");
    }
    let (ceremony, key) = new_ceremony(
        state,
        app_id,
        PasskeyPageQuery {
            challenge_id: None,
            ..q
        },
        purpose::SIGN_IN,
        None,
        to_json(&auth_state)?,
    )
    .await?;
    Ok(page(ceremony, key, options))
}

/// `GET passkey_challenge_page`: a passkey of the challenged user answers the challenge.
pub async fn challenge_page(
    state: &AppState,
    app_id: &str,
    q: PageQuery,
) -> ApiResult<CeremonyPage> {
    let app = state.app(app_id)?;
    check_method(q.code_challenge_method.as_deref())?;
    let q = q.page;
    super::check_return(app, &q.redirect, &q.state, &q.code_challenge)?;
    let rp = super::relying_party(state)?;
    let challenge_invalid = || {
        ApiError::new(
            ErrorCode::MfaChallengeInvalid,
            "this sign-in challenge is unknown, used or expired; sign in again",
        )
    };
    let challenge_id = q.challenge_id.clone().ok_or_else(challenge_invalid)?;
    let challenge = rows::challenge(state.db.reader(), &challenge_id)
        .await?
        .filter(|c| c.app_id == app_id && c.kind == "verify" && c.used_at.is_none())
        .filter(|c| c.expires_at > state.now())
        .ok_or_else(challenge_invalid)?;
    let passkeys: Vec<Passkey> = rows::of_user(state.db.reader(), &challenge.user_id, true)
        .await?
        .iter()
        .filter_map(|p| serde_json::from_str(&p.credential).ok())
        .collect();
    if passkeys.is_empty() {
        return Err(invalid(
            "this account has no passkey; answer with a code from its authenticator app",
        ));
    }
    let (options, auth_state) = rp
        .start_passkey_authentication(&passkeys)
        .map_err(|e| super::refusal(&e, &state.public_url))?;
    let options = serde_json::to_value(&options).map_err(|_| ApiError::internal())?;
    let (ceremony, key) = new_ceremony(
        state,
        app_id,
        q,
        purpose::CHALLENGE,
        Some(challenge.user_id),
        to_json(&auth_state)?,
    )
    .await?;
    Ok(page(ceremony, key, options))
}

/// The page's assertion. Returns where the browser goes next (the app, with its code).
pub async fn finish(
    state: &AppState,
    app_id: &str,
    ceremony_id: &str,
    key: &str,
    credential: serde_json::Value,
) -> ApiResult<String> {
    let rp = super::relying_party(state)?;
    let ceremony = super::ceremony_for_answer(state, app_id, ceremony_id, key).await?;
    let credential: PublicKeyCredential = serde_json::from_value(credential)
        .map_err(|e| invalid(format!("the passkey answer is malformed: {e}")))?;
    let credential_id = super::credential_id_text(credential.get_credential_id());
    let stored = rows::by_credential_id(state.db.reader(), app_id, &credential_id)
        .await?
        .filter(|p| p.confirmed)
        .ok_or_else(unknown)?;
    let mut passkey: Passkey = from_json(&stored.credential)?;
    let webauthn_state = ceremony.webauthn_state.as_deref().unwrap_or_default();
    let verified = match ceremony.purpose.as_str() {
        purpose::SIGN_IN => {
            let (handle, _) = rp
                .identify_discoverable_authentication(&credential)
                .map_err(|e| super::refusal(&e, &state.public_url))?;
            if handle != super::user_handle(app_id, &stored.user_id) {
                return Err(invalid(
                    "this passkey's user handle does not match its account",
                ));
            }
            let st: DiscoverableAuthentication = from_json(webauthn_state)?;
            rp.finish_discoverable_authentication(&credential, st, &[(&passkey).into()])
        }
        purpose::CHALLENGE => {
            if ceremony.user_id.as_deref() != Some(stored.user_id.as_str()) {
                return Err(unknown());
            }
            let st: PasskeyAuthentication = from_json(webauthn_state)?;
            rp.finish_passkey_authentication(&credential, &st)
        }
        _ => return Err(invalid("this page does not sign in")),
    };
    let result = match verified {
        Ok(result) => result,
        Err(e) => {
            let refused = super::refusal(&e, &state.public_url);
            failed(state, &stored, &ceremony.purpose, &refused).await;
            return Err(refused);
        }
    };
    used(state, &stored, &mut passkey, &result).await?;
    let secret = secret_256();
    let hash = sha256_hex(secret.as_bytes());
    if ceremony.purpose == purpose::CHALLENGE {
        let challenge_id = ceremony.challenge_id.clone().unwrap_or_default();
        let code = Some((hash.as_str(), ceremony.code_challenge.as_str()));
        if !rows::set_challenge_code(state.db.writer(), &challenge_id, code).await? {
            return Err(ApiError::new(
                ErrorCode::MfaChallengeInvalid,
                "this sign-in challenge was already answered; sign in again",
            ));
        }
        return Ok(super::back_to_app(
            &ceremony.redirect_uri,
            &secret,
            &ceremony.client_state,
        ));
    }
    rows::set_result(
        state.db.writer(),
        &ceremony.id,
        &stored.user_id,
        &stored.factor_id,
        &hash,
        state.now() + super::APP_CODE_TTL_SECS,
    )
    .await?;
    Ok(super::back_to_app(
        &ceremony.redirect_uri,
        &format!("{}.{secret}", ceremony.id),
        &ceremony.client_state,
    ))
}

/// A verified use: the counter and backup flags move on (never on a refusal), and the factor
/// records when it was last used.
async fn used(
    state: &AppState,
    stored: &StoredPasskey,
    passkey: &mut Passkey,
    result: &AuthenticationResult,
) -> ApiResult<()> {
    let changed = passkey.update_credential(result) == Some(true);
    let json = if changed {
        Some(to_json(&*passkey)?)
    } else {
        None
    };
    rows::used(
        state.db.writer(),
        &stored.factor_id,
        json.as_deref(),
        state.now(),
    )
    .await?;
    Ok(())
}

async fn failed(state: &AppState, stored: &StoredPasskey, purpose: &str, e: &ApiError) {
    let kind = if purpose == purpose::CHALLENGE {
        Kind::MfaFailed
    } else {
        Kind::SignInFailed
    };
    crate::activity::record(
        state,
        (&stored.app_id, &stored.user_id),
        kind,
        crate::activity::detail([
            ("provider_type", ProviderType::Passkey.as_str().into()),
            ("method", gatehouse_proto::mfa::kind::PASSKEY.into()),
            ("factor_id", stored.factor_id.clone().into()),
            ("reason", e.code.as_str().into()),
        ]),
        None,
    )
    .await;
}

/// `POST {app}/auth/providers/passkey/login {code, code_verifier}`: the app redeems the
/// sign-in page's code and gets the usual login response.
pub async fn redeem(
    state: &AppState,
    app_id: &str,
    code: &str,
    verifier: &str,
    ctx: &LoginContext,
) -> ApiResult<LoginResponse> {
    state.provider(app_id, ProviderType::Passkey)?;
    let ceremony = super::redeem_code(state, app_id, purpose::SIGN_IN, code, verifier).await?;
    let user_id = ceremony.user_id.unwrap_or_default();
    let mut tx = state.db.writer().begin().await?;
    let user = crate::store::users::get(&mut *tx, &user_id)
        .await?
        .ok_or_else(unknown)?;
    if user.disabled {
        return Err(ApiError::new(
            ErrorCode::UserDisabled,
            "this user has been disabled by an administrator",
        ));
    }
    let opened = sessions::open(
        state,
        &mut tx,
        app_id,
        &user_id,
        ProviderType::Passkey.as_str(),
        None,
        ctx,
    )
    .await?;
    tx.commit().await?;
    opened.respond(state).await
}

/// For `POST mfa/complete` with a `passkey_code`: the code the challenge page sent the app
/// back with, and the app's PKCE verifier. A wrong verifier burns the code. The caller then
/// completes the challenge (`mfa::complete` with a passkey proof).
pub async fn check_challenge_code(
    state: &AppState,
    app_id: &str,
    challenge_id: &str,
    code: &str,
    verifier: &str,
) -> ApiResult<()> {
    use crate::providers::magic_link::{is_pkce, s256};
    let wrong = || {
        ApiError::new(
            ErrorCode::MfaCodeInvalid,
            "the passkey code is not valid for this challenge; use the passkey again",
        )
    };
    let challenge = rows::challenge(state.db.reader(), challenge_id)
        .await?
        .filter(|c| c.app_id == app_id && c.used_at.is_none())
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::MfaChallengeInvalid,
                "this sign-in challenge is unknown, used or expired; sign in again",
            )
        })?;
    let (Some(hash), Some(pkce)) = (&challenge.passkey_code_hash, &challenge.code_challenge) else {
        return Err(wrong());
    };
    if !ct_eq(hash, &sha256_hex(code.as_bytes())) {
        return Err(wrong());
    }
    if !is_pkce(verifier) || !ct_eq(&s256(verifier), pkce) {
        rows::set_challenge_code(state.db.writer(), challenge_id, None).await?;
        return Err(wrong());
    }
    Ok(())
}
