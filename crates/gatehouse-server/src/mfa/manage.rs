//! A user's own factors (access token): status, TOTP enrolment and confirmation, removal,
//! recovery codes; the enrolment an `MfaEnrollmentRequired` challenge asks for; and the
//! operator's reset. Enrolling, removing and regenerating codes need a recent sign-in: a stolen
//! refresh token must not be enough to add an attacker's authenticator or strip the owner's.
//! Anonymous users have no factors (they could never sign in again to use one).

use gatehouse_proto::mfa::{kind, MfaStatus, RecoveryCodes, TotpConfirmed, TotpEnrollment};
use gatehouse_proto::{ErrorCode, ProviderType};
use serde_json::Value;
use sqlx::Any;

use super::{live_challenge, recovery, totp, Proof};
use crate::activity::Origin;
use crate::config::MfaPolicy;
use crate::error::{ApiError, ApiResult};
use crate::sessions::{AccessAuth, LoginContext};
use crate::state::AppState;
use crate::step_up::{require_recent_sign_in, LastingChange};
use crate::store::activity::Kind;
use crate::store::mfa::{self as rows, ChallengeRow, FactorRow, CHALLENGE_ENROLL};
use crate::store::users;

const MAX_NAME_CHARS: usize = 100;
const DEFAULT_TOTP_NAME: &str = "Authenticator app";

/// The TOTP secret of `factor`, unsealed; None (logged) when it does not open — the key changed
/// or the row was damaged: that factor cannot pass, the others and recovery codes still can.
pub fn open_secret(state: &AppState, factor: &FactorRow) -> Option<Vec<u8>> {
    let sealed = factor.secret_enc.as_deref()?;
    match state.mfa_box.open(&factor.id, sealed) {
        Ok(secret) => Some(secret),
        Err(e) => {
            tracing::error!(factor_id = %factor.id, error = %e, "a TOTP secret does not open");
            None
        }
    }
}

async fn refuse_anonymous(state: &AppState, user_id: &str) -> ApiResult<()> {
    let identities = users::identities(state.db.reader(), user_id).await?;
    let anonymous = identities
        .iter()
        .all(|i| i.provider_type == ProviderType::Anonymous.as_str());
    if anonymous {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "anonymous users cannot add a second factor: link a sign-in method first",
        ));
    }
    Ok(())
}

fn owner(auth: &AccessAuth) -> (&str, &str) {
    (auth.session.app_id.as_str(), auth.session.user_id.as_str())
}

fn factor_detail(factor: &FactorRow) -> serde_json::Map<String, Value> {
    crate::activity::detail([
        ("factor_id", Value::from(factor.id.as_str())),
        ("factor_kind", Value::from(factor.kind.as_str())),
        ("name", Value::from(factor.name.as_str())),
    ])
}

/// `GET /auth/mfa`.
pub async fn status(state: &AppState, auth: &AccessAuth) -> ApiResult<MfaStatus> {
    let (app_id, user_id) = owner(auth);
    let factors = rows::factors(state.db.reader(), user_id).await?;
    let left = rows::codes_left(state.db.reader(), user_id).await?;
    Ok(MfaStatus {
        factors: factors.iter().map(FactorRow::to_wire).collect(),
        recovery_codes_left: u32::try_from(left).unwrap_or(0),
        required: state.app(app_id)?.mfa == MfaPolicy::Required,
    })
}

fn valid_name(name: Option<&str>) -> ApiResult<String> {
    let name = name.map(str::trim).unwrap_or(DEFAULT_TOTP_NAME);
    if name.is_empty()
        || name.chars().count() > MAX_NAME_CHARS
        || name.chars().any(char::is_control)
    {
        return Err(ApiError::invalid_parameter(format!(
            "a factor's name must be 1 to {MAX_NAME_CHARS} characters without control characters"
        )));
    }
    Ok(name.to_string())
}

/// A new unconfirmed TOTP factor for `user_id` (replacing an unconfirmed one): its secret is
/// sealed into the row and shown once.
async fn new_totp(
    state: &AppState,
    (app_id, user_id): (&str, &str),
    name: String,
) -> ApiResult<TotpEnrollment> {
    let now = state.now();
    let secret = totp::new_secret();
    let id = crate::crypto::object_id(now);
    let row = FactorRow {
        secret_enc: Some(state.mfa_box.seal(&id, &secret)),
        id,
        user_id: user_id.to_string(),
        app_id: app_id.to_string(),
        kind: kind::TOTP.into(),
        name,
        credential: None,
        confirmed: false,
        created_at: now,
        last_used_at: None,
        last_step: None,
    };
    let mut tx = state.db.writer().begin().await?;
    rows::delete_unconfirmed(&mut *tx, user_id, kind::TOTP).await?;
    rows::insert_factor(&mut *tx, &row).await?;
    tx.commit().await?;
    let app = state.app(app_id)?;
    let issuer = if app.name.is_empty() {
        app_id
    } else {
        app.name.as_str()
    };
    let account = account_label(state, user_id).await?;
    let secret_b32 = totp::base32(&secret);
    Ok(TotpEnrollment {
        otpauth_uri: totp::otpauth_uri(issuer, &account, &secret_b32),
        factor_id: row.id,
        secret: secret_b32,
    })
}

/// What an authenticator app lists the account as: its email, else its phone, else its id.
async fn account_label(state: &AppState, user_id: &str) -> ApiResult<String> {
    let user = users::get(state.db.reader(), user_id).await?;
    let data = user.as_ref().map(|u| &u.data);
    Ok(["email", "phone"]
        .iter()
        .find_map(|k| data.and_then(|d| d.get(*k)).and_then(Value::as_str))
        .unwrap_or(user_id)
        .to_string())
}

/// `POST /auth/mfa/totp` (recent sign-in).
pub async fn enroll_totp(
    state: &AppState,
    auth: &AccessAuth,
    name: Option<&str>,
) -> ApiResult<TotpEnrollment> {
    require_recent_sign_in(state, &auth.session, LastingChange::AddSecondFactor)?;
    refuse_anonymous(state, &auth.session.user_id).await?;
    let name = valid_name(name)?;
    new_totp(state, owner(auth), name).await
}

/// `POST /auth/mfa/totp/{id}/confirm`: the factor counts from now on; the user's first factor
/// comes with ten recovery codes.
pub async fn confirm_totp(
    state: &AppState,
    auth: &AccessAuth,
    factor_id: &str,
    code: &str,
    from: Origin<'_>,
) -> ApiResult<TotpConfirmed> {
    let (app_id, user_id) = owner(auth);
    let factor = rows::factor_of(state.db.reader(), user_id, factor_id)
        .await?
        .filter(|f| f.kind == kind::TOTP)
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, "no such second factor"))?;
    if factor.confirmed {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            "this factor is confirmed already",
        ));
    }
    let secret = open_secret(state, &factor).ok_or_else(ApiError::internal)?;
    let now = state.now();
    let step = totp::verify(&secret, code, now, None).map_err(|_| {
        ApiError::new(
            ErrorCode::MfaCodeInvalid,
            "wrong code: enter the code the authenticator app shows now",
        )
    })?;
    let mut tx = state.db.writer().begin().await?;
    let first = !rows::factors(&mut *tx, user_id)
        .await?
        .iter()
        .any(|f| f.confirmed);
    if !rows::confirm(&mut *tx, &factor.id, step, now).await? {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            "this factor is confirmed already",
        ));
    }
    let codes = if first {
        Some(issue_codes(&mut tx, user_id).await?)
    } else {
        None
    };
    tx.commit().await?;
    let mut confirmed = factor.clone();
    (
        confirmed.confirmed,
        confirmed.last_step,
        confirmed.last_used_at,
    ) = (true, Some(step), Some(now));
    let detail = factor_detail(&confirmed);
    crate::activity::record(
        state,
        (app_id, user_id),
        Kind::MfaEnrolled,
        detail,
        Some(from),
    )
    .await;
    Ok(TotpConfirmed {
        factor: confirmed.to_wire(),
        recovery_codes: codes,
    })
}

/// Ten new codes for the user, replacing the old ones in `tx`; the codes, to show once.
async fn issue_codes(tx: &mut sqlx::Transaction<'_, Any>, user_id: &str) -> ApiResult<Vec<String>> {
    let codes = recovery::generate();
    let hashes: Vec<String> = codes.iter().filter_map(|c| recovery::hash(c)).collect();
    rows::replace_codes(tx, user_id, &hashes).await?;
    Ok(codes)
}

/// `DELETE /auth/mfa/factors/{id}` (recent sign-in). The last factor takes the recovery codes
/// with it (they would let nobody in: sign-in asks for no second factor any more).
pub async fn remove_factor(
    state: &AppState,
    auth: &AccessAuth,
    factor_id: &str,
    from: Origin<'_>,
) -> ApiResult<()> {
    require_recent_sign_in(state, &auth.session, LastingChange::RemoveSecondFactor)?;
    let (app_id, user_id) = owner(auth);
    let mut tx = state.db.writer().begin().await?;
    let factor = rows::factor_of(&mut *tx, user_id, factor_id)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, "no such second factor"))?;
    rows::delete_factor(&mut *tx, user_id, factor_id).await?;
    let left = rows::factors(&mut *tx, user_id).await?;
    if !left.iter().any(|f| f.confirmed) {
        rows::delete_codes(&mut *tx, user_id).await?;
    }
    tx.commit().await?;
    if factor.confirmed {
        let detail = factor_detail(&factor);
        crate::activity::record(
            state,
            (app_id, user_id),
            Kind::MfaRemoved,
            detail,
            Some(from),
        )
        .await;
    }
    Ok(())
}

/// `POST /auth/mfa/recovery_codes` (recent sign-in): ten new codes, the old ones void.
pub async fn regenerate_codes(
    state: &AppState,
    auth: &AccessAuth,
    from: Origin<'_>,
) -> ApiResult<RecoveryCodes> {
    require_recent_sign_in(state, &auth.session, LastingChange::NewRecoveryCodes)?;
    let (app_id, user_id) = owner(auth);
    let mut tx = state.db.writer().begin().await?;
    if !rows::factors(&mut *tx, user_id)
        .await?
        .iter()
        .any(|f| f.confirmed)
    {
        return Err(ApiError::bad_request(
            "recovery codes stand in for a second factor: add one first",
        ));
    }
    let codes = issue_codes(&mut tx, user_id).await?;
    tx.commit().await?;
    let kind = Kind::MfaRecoveryCodesRegenerated;
    crate::activity::record(
        state,
        (app_id, user_id),
        kind,
        Default::default(),
        Some(from),
    )
    .await;
    Ok(RecoveryCodes {
        recovery_codes: codes,
    })
}

/// `POST {app}/auth/mfa/enroll`: a TOTP secret for an `MfaEnrollmentRequired` challenge (the
/// challenge is the authority: its first factor was right moments ago). The device is checked
/// when the body names one (`options.device`); the completion checks it in any case.
pub async fn enroll_for_challenge(
    state: &AppState,
    app_id: &str,
    challenge_id: &str,
    ctx: &LoginContext,
) -> ApiResult<TotpEnrollment> {
    let device = super::device_id_of(ctx).map(|_| ctx);
    let challenge = live_challenge(state, app_id, challenge_id, device).await?;
    if challenge.kind != CHALLENGE_ENROLL {
        return Err(super::challenge_invalid(
            "this challenge asks for an existing factor, not a new one",
        ));
    }
    new_totp(
        state,
        (app_id, &challenge.user_id),
        DEFAULT_TOTP_NAME.into(),
    )
    .await
}

/// Completes an enrolment challenge: `proof` must be a code of the factor it enrolled, which is
/// confirmed in `tx` together with ten recovery codes (returned, to show once).
pub(super) async fn confirm_for_challenge(
    state: &AppState,
    tx: &mut sqlx::Transaction<'_, Any>,
    challenge: &ChallengeRow,
    proof: &Proof,
    now: i64,
) -> ApiResult<Result<Option<Vec<String>>, &'static str>> {
    let Proof::Totp(code) = proof else {
        return Ok(Err(
            "this sign-in needs a code from the authenticator app just set up",
        ));
    };
    let user_id = challenge.user_id.as_str();
    let factors = rows::factors(&mut **tx, user_id).await?;
    let Some(factor) = factors
        .iter()
        .rev()
        .find(|f| !f.confirmed && f.kind == kind::TOTP)
    else {
        return Ok(Err("set up the authenticator app first (mfa/enroll)"));
    };
    let Some(secret) = open_secret(state, factor) else {
        return Err(ApiError::internal());
    };
    let Ok(step) = totp::verify(&secret, code, now, None) else {
        return Ok(Err("wrong code"));
    };
    if !rows::confirm(&mut **tx, &factor.id, step, now).await? {
        return Ok(Err("wrong code"));
    }
    let codes = issue_codes(tx, user_id).await?;
    Ok(Ok(Some(codes)))
}

/// `admin user reset-mfa`: every factor and recovery code of the user removed, recorded as
/// `mfa_reset`. The number of factors removed.
pub async fn reset(state: &AppState, user_id: &str) -> ApiResult<u64> {
    let user = users::get(state.db.reader(), user_id)
        .await?
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::UserNotFound,
                format!("no user with id {user_id}"),
            )
        })?;
    let mut tx = state.db.writer().begin().await?;
    let removed = rows::reset_user(&mut tx, user_id).await?;
    tx.commit().await?;
    let detail = crate::activity::detail([
        ("factors_removed", Value::from(removed)),
        ("by", Value::from("operator")),
    ]);
    crate::activity::record(state, (&user.app_id, user_id), Kind::MfaReset, detail, None).await;
    Ok(removed)
}
