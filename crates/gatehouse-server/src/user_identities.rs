//! Unlinking a sign-in method from the signed-in user (Gatehouse extension; App Services has
//! linking only). A user keeps at least one identity it can sign in again with: the last one, or
//! the last permanent one while an anonymous identity remains, cannot go.

use gatehouse_proto::{ErrorCode, ProviderType};

use crate::error::{ApiError, ApiResult};
use crate::sessions::AccessAuth;
use crate::state::AppState;
use crate::step_up::{require_recent_sign_in, LastingChange};
use crate::store::{unlink, users};

pub async fn unlink(
    state: &AppState,
    auth: &AccessAuth,
    provider_type: &str,
    subject: &str,
    from: crate::activity::Origin<'_>,
) -> ApiResult<()> {
    require_recent_sign_in(state, &auth.session, LastingChange::UnlinkIdentity)?;
    let user_id = auth.session.user_id.as_str();
    let now = state.now();
    let mut tx = state.db.writer().begin().await?;
    let identities = users::identities(&mut *tx, user_id).await?;
    let anonymous = ProviderType::Anonymous.as_str();
    let Some(target) = identities
        .iter()
        .find(|i| i.provider_type == provider_type && i.id == subject)
    else {
        return Err(ApiError::new(
            ErrorCode::NotFound,
            "this user has no such identity",
        ));
    };
    let others = identities.iter().filter(|i| !std::ptr::eq(*i, target));
    let can_sign_in_after = others
        .clone()
        .any(|i| i.provider_type != anonymous || target.provider_type == anonymous);
    if !can_sign_in_after {
        return Err(ApiError::bad_request(
            "this is the user's last sign-in method: link another one before unlinking it",
        ));
    }
    unlink::detach(
        &mut tx,
        user_id,
        provider_type,
        subject,
        &auth.session.id,
        now,
    )
    .await?;
    tx.commit().await?;
    tracing::info!(user_id, provider_type, "identity unlinked by its user");
    let detail = crate::activity::detail([
        ("provider_type", provider_type.into()),
        ("identity_id", subject.into()),
    ]);
    let kind = crate::store::activity::Kind::IdentityUnlinked;
    let owner = (auth.session.app_id.as_str(), user_id);
    crate::activity::record(state, owner, kind, detail, Some(from)).await;
    Ok(())
}
