//! Multi-factor sign-in (issue 13; docs/protocol.md, "Multi-factor sign-in"): the gate every
//! login passes, the challenge it answers with, and the challenge's completion.
//!
//! The gate ([`gate`]) runs in `sessions::open`, inside the login's transaction: a user with a
//! confirmed factor (or any user of an app with `mfa = "required"`) gets an `mfa_challenges` row
//! instead of a session, and the login answers 401 `MfaRequired` / `MfaEnrollmentRequired`
//! carrying the challenge (after the commit, so the row is kept). API-key logins (user keys and
//! server keys) and passkey logins (a user-verified passkey is itself two factors) are never
//! challenged; anonymous users have no factors and are never asked to enrol.
//!
//! [`complete`] finishes a challenge with a proof and opens the session the first factor would
//! have opened, of the same provider, through `sessions::open_verified` (which skips the gate).
//! A challenge lives [`CHALLENGE_TTL_SECS`], is used once, belongs to the app, user, provider and
//! device id of the login that made it, and is void after `throttle::PER_CHALLENGE` wrong
//! answers.

pub mod manage;
pub mod notice;
pub mod recovery;
pub mod secret_box;
pub mod throttle;
pub mod totp;

use gatehouse_proto::auth::{is_object_id, NO_DEVICE_ID};
use gatehouse_proto::mfa::{kind, MfaChallengeInfo, MfaCompleteResponse};
use gatehouse_proto::{ErrorCode, ProviderType};
use serde_json::Value;
use sqlx::Any;

use crate::config::MfaPolicy;
use crate::error::{ApiError, ApiResult};
use crate::sessions::LoginContext;
use crate::state::AppState;
use crate::store::activity::Kind;
use crate::store::mfa::{self as rows, ChallengeRow, CHALLENGE_ENROLL, CHALLENGE_VERIFY};

/// How long a challenge can be answered.
pub const CHALLENGE_TTL_SECS: i64 = 300;

/// Providers whose logins are never challenged: API keys (user and server keys — programs
/// cannot type codes; a key is revocable and scoped to its user) and passkeys (already two
/// factors: something you have, verified by something you are or know).
pub const EXEMPT_PROVIDERS: &[&str] = &[
    ProviderType::ApiKey.as_str(),
    ProviderType::Passkey.as_str(),
];

/// What answers a challenge.
#[derive(Clone, PartialEq, Eq)]
pub enum Proof {
    Totp(String),
    Recovery(String),
    /// A passkey assertion the caller has already verified for this challenge (the passkey
    /// module checks the page's one-time code and PKCE verifier first).
    PasskeyVerified,
}

impl std::fmt::Debug for Proof {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Proof::Totp(_) => "Proof::Totp(<redacted>)",
            Proof::Recovery(_) => "Proof::Recovery(<redacted>)",
            Proof::PasskeyVerified => "Proof::PasskeyVerified",
        })
    }
}

impl Proof {
    fn method(&self) -> &'static str {
        match self {
            Proof::Totp(_) => kind::TOTP,
            Proof::Recovery(_) => kind::RECOVERY_CODE,
            Proof::PasskeyVerified => kind::PASSKEY,
        }
    }
}

/// The device id a login names (lower case), if it names a usable one.
pub fn device_id_of(ctx: &LoginContext) -> Option<String> {
    ctx.device
        .device_id
        .as_deref()
        .filter(|id| is_object_id(id) && *id != NO_DEVICE_ID)
        .map(str::to_ascii_lowercase)
}

/// The gate: `Some(error)` when this login must answer a challenge instead of opening a session
/// (the challenge row is written in `tx`; the error carries it), `None` to open the session.
pub async fn gate(
    state: &AppState,
    tx: &mut sqlx::Transaction<'_, Any>,
    (app_id, user_id): (&str, &str),
    provider_type: &str,
    ctx: &LoginContext,
) -> ApiResult<Option<ApiError>> {
    if EXEMPT_PROVIDERS.contains(&provider_type)
        || provider_type == ProviderType::Anonymous.as_str()
    {
        return Ok(None);
    }
    let factors = rows::factors(&mut **tx, user_id).await?;
    let mut methods: Vec<String> = Vec::new();
    for f in factors.iter().filter(|f| f.confirmed) {
        if !methods.contains(&f.kind) {
            methods.push(f.kind.clone());
        }
    }
    let enroll = methods.is_empty();
    if enroll {
        // Anonymous logins never get here (exempt above), and an anonymous user has no other.
        if state
            .app(app_id)
            .map_or(true, |a| a.mfa != MfaPolicy::Required)
        {
            return Ok(None);
        }
        methods.push(kind::TOTP.into());
    } else if rows::codes_left(&mut **tx, user_id).await? > 0 {
        methods.push(kind::RECOVERY_CODE.into());
    }
    let now = state.now();
    let row = ChallengeRow {
        id: crate::crypto::object_id(now),
        app_id: app_id.to_string(),
        user_id: user_id.to_string(),
        provider_type: provider_type.to_string(),
        device_id: device_id_of(ctx),
        kind: if enroll {
            CHALLENGE_ENROLL
        } else {
            CHALLENGE_VERIFY
        }
        .to_string(),
        created_at: now,
        expires_at: now + CHALLENGE_TTL_SECS,
        used_at: None,
        attempts: 0,
        passkey_code_hash: None,
        code_challenge: None,
    };
    rows::insert_challenge(&mut **tx, &row).await?;
    tracing::info!(
        app_id,
        user_id,
        provider = provider_type,
        enroll,
        "second factor asked"
    );
    let info = MfaChallengeInfo {
        challenge_id: row.id,
        methods,
        expires_at: row.expires_at,
        provider: provider_type.to_string(),
    };
    Ok(Some(ApiError::mfa_required(info, enroll)))
}

pub(crate) fn challenge_invalid(why: &str) -> ApiError {
    ApiError::new(
        ErrorCode::MfaChallengeInvalid,
        format!("this two-step sign-in cannot be finished: {why}; sign in again"),
    )
}

fn code_invalid(message: &str) -> ApiError {
    ApiError::new(ErrorCode::MfaCodeInvalid, message)
}

/// A live challenge of `app_id` that `ctx`'s device may answer (the same device id as the login
/// that made it, when that login sent one). `None`: no device to check (the enrolment step of
/// an enrolment challenge, whose completion is checked).
pub async fn live_challenge(
    state: &AppState,
    app_id: &str,
    challenge_id: &str,
    ctx: Option<&LoginContext>,
) -> ApiResult<ChallengeRow> {
    let row = rows::challenge_of(state.db.writer(), app_id, challenge_id)
        .await?
        .ok_or_else(|| challenge_invalid("the challenge is unknown"))?;
    if row.used_at.is_some() {
        return Err(challenge_invalid("the challenge was used already"));
    }
    if row.expires_at <= state.now() {
        return Err(challenge_invalid("the challenge expired"));
    }
    if row.attempts >= throttle::PER_CHALLENGE {
        return Err(challenge_invalid("too many wrong codes were entered"));
    }
    if row.device_id.is_some() && ctx.is_some_and(|ctx| row.device_id != device_id_of(ctx)) {
        return Err(challenge_invalid("it was started on another device"));
    }
    Ok(row)
}

/// Finishes challenge `challenge_id` with `proof` and opens the session of the first factor's
/// provider. Every answer but a verified passkey counts against the challenge and the account
/// (`throttle`); a wrong one is recorded as `mfa_failed`.
pub async fn complete(
    state: &AppState,
    app_id: &str,
    challenge_id: &str,
    proof: Proof,
    ctx: &LoginContext,
) -> ApiResult<MfaCompleteResponse> {
    state.app(app_id)?;
    let challenge = live_challenge(state, app_id, challenge_id, Some(ctx)).await?;
    let user_id = challenge.user_id.as_str();
    if proof != Proof::PasskeyVerified {
        throttle::count(state, app_id, user_id).await?;
    }
    let now = state.now();
    let answers = rows::count_answer(
        state.db.writer(),
        &challenge.id,
        now,
        throttle::PER_CHALLENGE,
    )
    .await?
    .ok_or_else(|| challenge_invalid("it was used, expired or had too many wrong codes"))?;

    let mut tx = state.db.writer().begin().await?;
    let checked = if challenge.kind == CHALLENGE_ENROLL {
        manage::confirm_for_challenge(state, &mut tx, &challenge, &proof, now).await?
    } else {
        verify(state, &mut tx, &challenge, &proof, now).await?
    };
    let recovery_codes = match checked {
        Ok(codes) => codes,
        Err(message) => {
            drop(tx);
            let voided = answers >= throttle::PER_CHALLENGE;
            let detail = crate::activity::detail([
                ("method", Value::from(proof.method())),
                (
                    "provider_type",
                    Value::from(challenge.provider_type.as_str()),
                ),
                ("challenge_voided", Value::from(voided)),
            ]);
            let owner = (app_id, user_id);
            crate::activity::record_for_login(state, owner, Kind::MfaFailed, detail, ctx).await;
            let message = if voided {
                format!("{message}; too many wrong codes: sign in again")
            } else {
                message.to_string()
            };
            return Err(code_invalid(&message));
        }
    };
    if !rows::take_challenge(&mut *tx, &challenge.id, now).await? {
        return Err(challenge_invalid("the challenge was used already"));
    }
    let opened = crate::sessions::open_verified(
        state,
        &mut tx,
        app_id,
        user_id,
        &challenge.provider_type,
        ctx,
    )
    .await?;
    tx.commit().await?;
    if challenge.kind == CHALLENGE_ENROLL {
        let detail = crate::activity::detail([("factor_kind", Value::from(kind::TOTP))]);
        let owner = (app_id, user_id);
        crate::activity::record_for_login(state, owner, Kind::MfaEnrolled, detail, ctx).await;
    }
    if proof != Proof::PasskeyVerified {
        throttle::clear(state, app_id, user_id).await?;
    }
    if let Proof::Recovery(_) = proof {
        let left = rows::codes_left(state.db.reader(), user_id).await?;
        notice::recovery_code_used(state, (app_id, user_id), left, ctx).await;
    }
    let login = opened.respond(state).await?;
    tracing::info!(
        app_id,
        user_id,
        method = proof.method(),
        "second factor passed"
    );
    Ok(MfaCompleteResponse {
        login,
        recovery_codes,
    })
}

/// Checks `proof` for a `verify` challenge, writing its single use (TOTP step, recovery code)
/// in `tx`. `Err(message)` for a refused proof.
async fn verify(
    state: &AppState,
    tx: &mut sqlx::Transaction<'_, Any>,
    challenge: &ChallengeRow,
    proof: &Proof,
    now: i64,
) -> ApiResult<Result<Option<Vec<String>>, &'static str>> {
    let user_id = challenge.user_id.as_str();
    match proof {
        Proof::PasskeyVerified => Ok(Ok(None)),
        Proof::Recovery(code) => {
            let Some(hash) = recovery::hash(code) else {
                return Ok(Err("this is not a recovery code (ten letters and digits)"));
            };
            if rows::use_code(&mut **tx, user_id, &hash, now).await? {
                Ok(Ok(None))
            } else {
                Ok(Err("wrong or already used recovery code"))
            }
        }
        Proof::Totp(code) => {
            let factors = rows::factors(&mut **tx, user_id).await?;
            let mut replayed = false;
            for factor in factors
                .iter()
                .filter(|f| f.confirmed && f.kind == kind::TOTP)
            {
                let Some(secret) = manage::open_secret(state, factor) else {
                    continue;
                };
                match totp::verify(&secret, code, now, factor.last_step) {
                    Ok(step) => {
                        if rows::use_step(&mut **tx, &factor.id, step, now).await? {
                            return Ok(Ok(None));
                        }
                        replayed = true;
                    }
                    Err(totp::Refusal::Replayed) => replayed = true,
                    Err(totp::Refusal::Wrong) => {}
                }
            }
            Ok(Err(if replayed {
                "this code was already used; wait for the next one"
            } else {
                "wrong code"
            }))
        }
    }
}
