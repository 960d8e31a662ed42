//! The user's view of their sessions (Gatehouse extension, in the manner of Altogic's sessions
//! API): list them with their devices, end one, all others, or all — and change the password,
//! which ends every other session.

use gatehouse_proto::auth::{DeviceInfo, SessionInfo};
use gatehouse_proto::{ErrorCode, ProviderType};

use crate::activity::{self, Origin};
use crate::error::{ApiError, ApiResult};
use crate::sessions::AccessAuth;
use crate::state::AppState;
use crate::store::activity::Kind;
use crate::store::{sessions as rows, userpass as accounts};

pub async fn list(state: &AppState, auth: &AccessAuth) -> ApiResult<Vec<SessionInfo>> {
    let rows = rows::list_active(state.db.reader(), &auth.session.user_id, state.now()).await?;
    Ok(rows
        .into_iter()
        .map(|s| SessionInfo {
            current: s.id == auth.session.id,
            device: serde_json::from_str::<DeviceInfo>(&s.device).unwrap_or_default(),
            id: s.id,
            device_id: s.device_id,
            provider_type: s.provider_type,
            user_agent: s.user_agent,
            ip: s.ip,
            created_at: s.created_at,
            last_used_at: s.last_used_at,
            expires_at: s.expires_at,
            rotating: s.rotating,
        })
        .collect())
}

/// Ends one of the user's own sessions (another user's id is "not found").
pub async fn revoke(
    state: &AppState,
    auth: &AccessAuth,
    session_id: &str,
    from: Origin<'_>,
) -> ApiResult<()> {
    let session = rows::get(state.db.reader(), session_id)
        .await?
        .filter(|s| s.user_id == auth.session.user_id && s.revoked_at.is_none())
        .ok_or_else(|| ApiError::new(ErrorCode::SessionNotFound, "no such session of this user"))?;
    rows::revoke(
        state.db.writer(),
        &session.id,
        "revoked by user",
        state.now(),
    )
    .await?;
    tracing::info!(user_id = %auth.session.user_id, session_id, "session revoked by its user");
    let mut detail = activity::session_detail(&session);
    detail.insert("scope".into(), "one".into());
    detail.insert("by_session_id".into(), auth.session.id.as_str().into());
    let owner = (auth.session.app_id.as_str(), auth.session.user_id.as_str());
    activity::record(state, owner, Kind::SessionRevoked, detail, Some(from)).await;
    Ok(())
}

/// Ends every session of the user; `keep_current` spares the one asking.
/// One `session_revoked` event names the scope and how many ended.
pub async fn revoke_all(
    state: &AppState,
    auth: &AccessAuth,
    keep_current: bool,
    from: Origin<'_>,
) -> ApiResult<u64> {
    let keep = keep_current.then_some(auth.session.id.as_str());
    let n = rows::revoke_user(
        state.db.writer(),
        &auth.session.user_id,
        keep,
        "revoked by user",
        state.now(),
    )
    .await?;
    tracing::info!(
        user_id = %auth.session.user_id,
        n,
        keep_current,
        "sessions revoked by their user"
    );
    let scope = if keep_current { "others" } else { "all" };
    let detail = activity::detail([
        ("scope", scope.into()),
        ("sessions_ended", n.into()),
        ("by_session_id", auth.session.id.as_str().into()),
    ]);
    let owner = (auth.session.app_id.as_str(), auth.session.user_id.as_str());
    activity::record(state, owner, Kind::SessionRevoked, detail, Some(from)).await;
    Ok(n)
}

/// Changes the password of the user's email/password account after checking the current one;
/// every other session ends, the owner is told by mail.
pub async fn change_password(
    state: &AppState,
    auth: &AccessAuth,
    current: &str,
    new: &str,
    from: Origin<'_>,
) -> ApiResult<()> {
    let account = accounts::by_user(state.db.reader(), &auth.session.user_id)
        .await?
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::BadRequest,
                "this user has no email/password identity to change",
            )
        })?;
    let app = state.provider(&auth.session.app_id, ProviderType::Userpass)?;
    // Checking the current password is a password guess like a login: the same per-IP budget,
    // and the same per-account counter, delay and soft lock (a stolen session cannot guess).
    crate::providers::throttle::check_password(
        state,
        &auth.session.app_id,
        &account.email,
        Some(account.password_hash.clone()),
        current,
        from,
        Some((&auth.session.user_id, ProviderType::Userpass.as_str())),
    )
    .await?;
    let local = account.email.split('@').next().unwrap_or("");
    let normalized = state
        .policy
        .check(new, &[app.name.as_str(), local, "gatehouse"])
        .map_err(|v| ApiError::new(ErrorCode::WeakPassword, v.to_string()))?;
    let hash = state.hasher.hash(normalized).await?;
    let now = state.now();
    let mut tx = state.db.writer().begin().await?;
    accounts::set_password(&mut *tx, &account.id, &hash).await?;
    let ended = rows::revoke_user(
        &mut *tx,
        &auth.session.user_id,
        Some(&auth.session.id),
        "password changed",
        now,
    )
    .await?;
    tx.commit().await?;
    tracing::info!(
        user_id = %auth.session.user_id,
        ended,
        "password changed; other sessions ended"
    );
    let detail = activity::detail([
        ("provider_type", ProviderType::Userpass.as_str().into()),
        ("sessions_ended", ended.into()),
    ]);
    let owner = (auth.session.app_id.as_str(), auth.session.user_id.as_str());
    activity::record(state, owner, Kind::PasswordChanged, detail, Some(from)).await;
    state.mailer.send(crate::mail::Mail {
        to: account.email,
        subject: "Your password was changed".into(),
        text: "The password of your account was just changed and every other signed-in device \
               was signed out. If this was not you, reset your password at once."
            .into(),
        links: vec![],
        channel: "email",
    });
    Ok(())
}
