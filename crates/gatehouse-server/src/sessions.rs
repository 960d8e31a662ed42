//! Sessions as clients see them: opening one at login, checking access and refresh tokens, the
//! refresh itself (compat and rotating modes) and logout.
//!
//! Rotation is opt-in per request (header `x-gatehouse-refresh-rotation: 1`): stock App Services
//! clients never read a new refresh token, so their sessions keep one token for life ("compat").
//! A rotating session keeps the hash of its current and of its immediately previous secret. A
//! valid envelope whose secret matches neither (or the previous one after the grace period) is a
//! replay of a stolen or stale token: the whole session is revoked (security.md S-40, S-41).
//! Once a session has rotated, it only refreshes with rotation: a refresh without the opt-in is
//! refused (its current secret alone) or a reuse (its previous one). The previous secret gets one
//! grace answer (a lost response, two refreshes racing), with rotation only; any later use of it
//! is a reuse.

use gatehouse_proto::auth::{
    is_object_id, AccessClaims, DeviceInfo, LoginResponse, SessionResponse, NO_DEVICE_ID,
};
use sqlx::Any;

use crate::crypto::{self, object_id, sha256_hex};
use crate::custom_data::Stored;
use crate::db::Script;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::{sessions as rows, users};
use crate::tokens::RefreshClaims;

/// Re-touch a session's `last_used_at` at most this often.
const TOUCH_EVERY_SECS: i64 = 3600;

/// Who is logging in, from where.
#[derive(Debug, Clone, Default)]
pub struct LoginContext {
    pub device: DeviceInfo,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
}

/// A session written in a transaction that is not committed yet: [`OpenedSession::respond`],
/// after the commit, signs its tokens (the access token may ask the app's custom-data webhook,
/// which must not happen while the transaction holds the database's writer).
/// Or, when the user must pass a second factor first, the challenge written instead
/// (`crate::mfa::gate`), which `respond` answers as its `MfaRequired` error.
#[must_use = "commit the transaction, then respond"]
pub struct OpenedSession(Opened);

enum Opened {
    Session {
        session: Box<rows::SessionRow>,
        secret: String,
        now: i64,
        /// Whether to alert the owner of a new device (`crate::activity::sign_in`).
        alert: bool,
    },
    Challenge(ApiError),
}

impl OpenedSession {
    pub async fn respond(self, state: &AppState) -> ApiResult<LoginResponse> {
        let (session, secret, now, alert) = match self.0 {
            Opened::Session {
                session,
                secret,
                now,
                alert,
            } => (session, secret, now, alert),
            Opened::Challenge(challenge) => return Err(challenge),
        };
        let session = &*session;
        let access = match access_token(state, session, now).await {
            Ok(access) => access,
            Err(e) => {
                // No tokens leave: the committed session would be a row nobody can use, listed
                // to the user as a live sign-in. End it (best effort: the refusal stands anyway).
                if let Err(db) =
                    rows::revoke(state.db.writer(), &session.id, "no_tokens", state.now()).await
                {
                    tracing::warn!(error = %db, "could not end a session that got no tokens");
                }
                return Err(e);
            }
        };
        // Its `sign_in` event was written with the session; a new device is alerted once the
        // session is committed and has tokens.
        if alert {
            crate::new_device::alert(state, session).await;
        }
        Ok(LoginResponse {
            access_token: access,
            refresh_token: Some(refresh_token(state, session, &secret, now)),
            user_id: session.user_id.clone(),
            device_id: session.device_id.clone(),
        })
    }
}

/// Opens a session inside the caller's transaction (so user creation and session are one unit).
/// Commit, then [`OpenedSession::respond`]. A user who must pass a second factor gets a
/// challenge instead (`crate::mfa::gate`: API-key and passkey logins are exempt).
pub async fn open(
    state: &AppState,
    tx: &mut sqlx::Transaction<'_, Any>,
    app_id: &str,
    user_id: &str,
    provider_type: &str,
    api_key_id: Option<&str>,
    ctx: &LoginContext,
) -> ApiResult<OpenedSession> {
    if let Some(challenge) =
        crate::mfa::gate(state, tx, (app_id, user_id), provider_type, ctx).await?
    {
        return Ok(OpenedSession(Opened::Challenge(challenge)));
    }
    let owner = (app_id, user_id);
    let source = (provider_type, api_key_id);
    let eviction = Eviction::Needed(Script::new());
    open_session(state, tx, owner, source, ctx, eviction).await
}

/// [`open`] without the second-factor gate: for `crate::mfa::complete`, once the challenge is
/// answered (and for nothing else). No API key: API-key logins are never challenged.
pub async fn open_verified(
    state: &AppState,
    tx: &mut sqlx::Transaction<'_, Any>,
    app_id: &str,
    user_id: &str,
    provider_type: &str,
    ctx: &LoginContext,
) -> ApiResult<OpenedSession> {
    let owner = (app_id, user_id);
    let eviction = Eviction::Needed(Script::new());
    open_session(state, tx, owner, (provider_type, None), ctx, eviction).await
}

/// The first session of a user that `creation` creates (an anonymous login): its statements run
/// with the session's, in one round trip on SQLite. No second factor to ask for, and no older
/// sessions to evict.
pub async fn open_first(
    state: &AppState,
    tx: &mut sqlx::Transaction<'_, Any>,
    (app_id, user_id): (&str, &str),
    provider_type: &str,
    ctx: &LoginContext,
    creation: Script,
) -> ApiResult<OpenedSession> {
    let owner = (app_id, user_id);
    let eviction = Eviction::None(creation);
    open_session(state, tx, owner, (provider_type, None), ctx, eviction).await
}

/// Whether opening a session may take the user over `tokens.sessions_per_user`; with the
/// statements to run before the session's own.
enum Eviction {
    Needed(Script),
    /// The user is new (made by these statements): this is their only session.
    None(Script),
}

async fn open_session(
    state: &AppState,
    tx: &mut sqlx::Transaction<'_, Any>,
    (app_id, user_id): (&str, &str),
    (provider_type, api_key_id): (&str, Option<&str>),
    ctx: &LoginContext,
    eviction: Eviction,
) -> ApiResult<OpenedSession> {
    let now = state.now();
    let evicts = matches!(eviction, Eviction::Needed(_));
    let device_id = match ctx.device.device_id.as_deref() {
        Some(id) if is_object_id(id) && id != NO_DEVICE_ID => id.to_ascii_lowercase(),
        _ => object_id(now),
    };
    // Each login is its own session, as in App Services: two programs (or two realm-web `App`s)
    // on one device signed in as one user must not end each other's sessions. A client that
    // signs an account in again ends its own previous session (the SDK does).
    let secret = crypto::secret_256();
    let session = rows::SessionRow {
        id: object_id(now),
        app_id: app_id.to_string(),
        user_id: user_id.to_string(),
        device_id: device_id.clone(),
        provider_type: provider_type.to_string(),
        api_key_id: api_key_id.map(str::to_string),
        secret_hash: sha256_hex(secret.as_bytes()),
        prev_secret_hash: None,
        rotated_at: None,
        rotating: false,
        created_at: now,
        last_used_at: now,
        expires_at: now + state.config.tokens.refresh_absolute_secs,
        revoked_at: None,
        user_agent: ctx
            .user_agent
            .clone()
            .map(|s| s.chars().take(512).collect()),
        ip: ctx.ip.clone(),
        device: serde_json::to_string(&ctx.device).unwrap_or_else(|_| "{}".into()),
    };
    let (Eviction::Needed(mut script) | Eviction::None(mut script)) = eviction;
    let inserted = script.push(rows::insert_statement(&session));
    let alerts = state
        .app(app_id)
        .is_ok_and(|app| app.new_device_alerts.enabled);
    let new_device = crate::activity::sign_in(&session, (now, alerts), &mut script);
    let cap = state.config.tokens.sessions_per_user;
    let backend = state.db.backend;
    let evict = rows::evict_beyond_statement(user_id, cap, now, backend);
    let evict = evicts.then(|| script.push(evict));
    let counts = script.run(tx, state.db.backend).await?;
    if counts.get(inserted) != Some(&1) {
        // The user was disabled (or deleted) after the login checked them.
        return Err(ApiError::new(
            gatehouse_proto::ErrorCode::UserDisabled,
            "this user has been disabled by an administrator",
        ));
    }
    let evicted = evict.and_then(|i| counts.get(i).copied()).unwrap_or(0);
    let alert = alerts && new_device.is_some_and(|i| counts.get(i) == Some(&1));
    if evicted > 0 {
        tracing::info!(
            user_id,
            evicted,
            "evicted oldest sessions beyond the per-user cap"
        );
    }
    Ok(OpenedSession(Opened::Session {
        session: Box::new(session),
        secret,
        now,
        alert,
    }))
}

/// A new access token for `session`, carrying the user's custom data as it is now (so every
/// refresh brings it up to date).
pub async fn access_token(
    state: &AppState,
    session: &rows::SessionRow,
    now: i64,
) -> ApiResult<String> {
    access_token_with(state, session, now, Stored::Unread).await
}

/// [`access_token`] with the user's stored custom data when it was read with the session.
async fn access_token_with(
    state: &AppState,
    session: &rows::SessionRow,
    now: i64,
    stored: Stored,
) -> ApiResult<String> {
    let user_data = crate::custom_data::for_token(state, session, stored).await?;
    Ok(state.keys.sign_access(&AccessClaims {
        sub: session.user_id.clone(),
        aud: session.app_id.clone(),
        iss: state.keys.issuer().to_string(),
        exp: now + state.config.tokens.access_ttl_secs,
        iat: now,
        jti: object_id(now),
        typ: "access".into(),
        baas_device_id: session.device_id.clone(),
        baas_session_id: session.id.clone(),
        user_data,
    }))
}

fn refresh_token(state: &AppState, session: &rows::SessionRow, secret: &str, iat: i64) -> String {
    state.keys.sign_refresh(&RefreshClaims {
        typ: "refresh".into(),
        sub: session.user_id.clone(),
        aud: session.app_id.clone(),
        iss: state.keys.issuer().to_string(),
        baas_id: session.id.clone(),
        baas_device_id: session.device_id.clone(),
        sec: secret.to_string(),
        iat,
        exp: session.expires_at,
    })
}

/// A request authenticated by an access token whose session is still live (S-35).
#[derive(Debug, Clone)]
pub struct AccessAuth {
    pub claims: AccessClaims,
    pub session: rows::SessionRow,
}

/// Checks an access token (the bearer token of a request; `http::extract::AccessCaller`).
pub async fn authenticate_access(state: &AppState, token: &str) -> ApiResult<AccessAuth> {
    let claims = state
        .keys
        .verify_access(token, state.now())
        .ok_or_else(|| {
            ApiError::invalid_session("invalid session: access token expired or invalid")
        })?;
    let session = live_session(state, &claims.baas_session_id, &claims.aud).await?;
    if session.user_id != claims.sub {
        return Err(ApiError::invalid_session("invalid session"));
    }
    Ok(AccessAuth { claims, session })
}

async fn live_session(
    state: &AppState,
    session_id: &str,
    app_id: &str,
) -> ApiResult<rows::SessionRow> {
    let session = rows::read(&state.db, session_id).await?;
    check_live(state, session, app_id).await
}

/// [`live_session`] and the user's stored custom data, in one read (a refresh signs both).
async fn live_session_and_data(
    state: &AppState,
    session_id: &str,
    app_id: &str,
) -> ApiResult<(rows::SessionRow, Stored)> {
    let found = rows::read_with_custom_data(&state.db, session_id).await?;
    let (session, data) = found.unzip();
    let data = crate::store::custom_data::parse(data.flatten());
    Ok((
        check_live(state, session, app_id).await?,
        Stored::Read(data),
    ))
}

/// The session when it is `app_id`'s and live; one idle for too long is ended here.
async fn check_live(
    state: &AppState,
    session: Option<rows::SessionRow>,
    app_id: &str,
) -> ApiResult<rows::SessionRow> {
    let now = state.now();
    let session = session
        .filter(|s| s.app_id == app_id && s.revoked_at.is_none() && s.expires_at > now)
        .ok_or_else(|| {
            ApiError::invalid_session("invalid session: the session has ended; log in again")
        })?;
    if session.last_used_at + state.config.tokens.refresh_idle_secs <= now {
        rows::revoke(state.db.writer(), &session.id, "idle", now).await?;
        return Err(ApiError::invalid_session(
            "invalid session: the session expired after inactivity; log in again",
        ));
    }
    Ok(session)
}

/// A request authenticated by the session's current refresh token (API-key endpoints;
/// `http::extract::RefreshCaller`).
pub async fn authenticate_refresh(
    state: &AppState,
    token: &str,
) -> ApiResult<(RefreshClaims, rows::SessionRow)> {
    let claims = state.keys.verify_refresh(token).ok_or_else(|| {
        ApiError::invalid_session("invalid session: refresh token invalid or expired")
    })?;
    let session = live_session(state, &claims.baas_id, &claims.aud).await?;
    if !crypto::ct_eq(&session.secret_hash, &sha256_hex(claims.sec.as_bytes())) {
        return Err(ApiError::invalid_session(
            "invalid session: this refresh token has been replaced",
        ));
    }
    Ok((claims, session))
}

/// `POST /auth/session`.
/// `bearer` is the request's bearer token, or why it has none: a request without one still
/// counts as a refresh attempt.
/// `from` is the request, named in the activity event a reuse records.
pub async fn refresh(
    state: &AppState,
    bearer: ApiResult<&str>,
    rotate: bool,
    from: crate::activity::Origin<'_>,
) -> ApiResult<SessionResponse> {
    state
        .metrics
        .refreshes
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let token = bearer?;
    let claims = state.keys.verify_refresh(token).ok_or_else(|| {
        ApiError::invalid_session("invalid session: refresh token invalid or expired")
    })?;
    let (session, stored) = live_session_and_data(state, &claims.baas_id, &claims.aud).await?;
    let now = state.now();
    let presented = sha256_hex(claims.sec.as_bytes());
    let grace = state.config.tokens.rotation_grace_secs;

    if crypto::ct_eq(&session.secret_hash, &presented) {
        if !rotate && session.rotating {
            // A rotating client always opts in; a holder of the token that does not is refused
            // (it cannot fall back to compat mode to keep a copied token alive).
            return Err(ApiError::invalid_session(
                "invalid session: this session refreshes with rotation only",
            ));
        }
        if !rotate {
            if now - session.last_used_at >= TOUCH_EVERY_SECS {
                rows::touch(state.db.writer(), &session.id, now).await?;
            }
            return Ok(SessionResponse {
                access_token: access_token_with(state, &session, now, stored).await?,
                refresh_token: None,
            });
        }
        let next = state.keys.successor_secret(&session.id, &claims.sec);
        if rows::rotate(
            state.db.writer(),
            &session.id,
            &presented,
            &sha256_hex(next.as_bytes()),
            now,
        )
        .await?
        {
            return Ok(SessionResponse {
                access_token: access_token_with(state, &session, now, stored).await?,
                refresh_token: Some(refresh_token(state, &session, &next, now)),
            });
        }
        // Another refresh with the same token won the race: the stored row now names this token
        // as the previous one, which the grace rule below answers idempotently.
        let session = rows::get(state.db.writer(), &session.id)
            .await?
            .ok_or_else(|| {
                ApiError::invalid_session("invalid session: the session has ended; log in again")
            })?;
        let found = (&session, &claims, presented.as_str());
        return grace_or_reuse(state, found, now, grace, rotate, from).await;
    }
    grace_or_reuse(
        state,
        (&session, &claims, &presented),
        now,
        grace,
        rotate,
        from,
    )
    .await
}

async fn grace_or_reuse(
    state: &AppState,
    (session, claims, presented): (&rows::SessionRow, &RefreshClaims, &str),
    now: i64,
    grace: i64,
    rotate: bool,
    from: crate::activity::Origin<'_>,
) -> ApiResult<SessionResponse> {
    let previous = session
        .prev_secret_hash
        .as_deref()
        .is_some_and(|p| crypto::ct_eq(p, presented));
    let rotated_at = session.rotated_at.unwrap_or(i64::MIN);
    // One grace answer per rotation, to a rotating refresh only.
    if previous
        && rotate
        && now - rotated_at <= grace
        && rows::take_grace(state.db.writer(), &session.id, presented).await?
    {
        let next = state.keys.successor_secret(&session.id, &claims.sec);
        return Ok(SessionResponse {
            access_token: access_token(state, session, now).await?,
            refresh_token: Some(refresh_token(state, session, &next, rotated_at)),
        });
    }
    rows::revoke(state.db.writer(), &session.id, "refresh token reuse", now).await?;
    tracing::warn!(
        session_id = %session.id,
        user_id = %session.user_id,
        "refresh token reuse detected; session revoked"
    );
    crate::activity::refresh_token_reuse(state, session, from).await;
    Err(ApiError::invalid_session(
        "invalid session: this refresh token was already used; \
         the session has been ended for safety",
    ))
}

/// `DELETE /auth/session`: idempotent. Any refresh envelope we issued ends its session; one we
/// cannot read gets the "failed to find refresh token" 401 realm-web tolerates.
/// `from` is the request, named in the `sign_out` event (recorded only when this call ended a
/// live session, so a repeated logout adds nothing).
pub async fn logout(
    state: &AppState,
    token: &str,
    from: crate::activity::Origin<'_>,
) -> ApiResult<()> {
    let claims = state
        .keys
        .verify_refresh(token)
        .ok_or_else(|| ApiError::invalid_session("failed to find refresh token"))?;
    if rows::revoke(state.db.writer(), &claims.baas_id, "logout", state.now()).await? {
        if let Some(session) = rows::get(state.db.writer(), &claims.baas_id).await? {
            let kind = crate::store::activity::Kind::SignOut;
            let detail = crate::activity::session_detail(&session);
            let owner = (session.app_id.as_str(), session.user_id.as_str());
            crate::activity::record(state, owner, kind, detail, Some(from)).await;
        }
    }
    Ok(())
}

/// The user row behind an authenticated session.
pub async fn user_of(state: &AppState, session: &rows::SessionRow) -> ApiResult<users::UserRow> {
    users::get(state.db.reader(), &session.user_id)
        .await?
        .ok_or_else(|| ApiError::invalid_session("invalid session: the user no longer exists"))
}
