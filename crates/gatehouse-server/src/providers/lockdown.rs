//! After a password reset (issue 12, item 4): the owner's notice lists every other way into the
//! account — API keys and linked sign-in methods an attacker may have added while holding it —
//! with one link that removes them all and signs out everywhere. Opening the link shows a button;
//! only its POST acts (mail scanners fetch links).

use gatehouse_proto::auth::Identity;
use gatehouse_proto::routes::provider;

use crate::crypto::{secret_256, sha256_hex};
use crate::error::{ApiError, ApiResult};
use crate::mail::Mail;
use crate::ratelimit::Group;
use crate::state::AppState;
use crate::store::userpass::{self as accounts, Account, Purpose};
use crate::store::{api_keys, lockdown, sessions as session_rows, users};

/// How long the link in a reset notice works: the owner may read the mail days later.
pub const LOCKDOWN_TTL_SECS: i64 = 7 * 24 * 3600;

/// The notice for `account` after its password was reset, written inside the reset's
/// transaction (the one-time link's token is stored with it).
pub(crate) async fn reset_notice(
    state: &AppState,
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    app_display: &str,
    account: &Account,
    now: i64,
) -> ApiResult<Mail> {
    let mut text = format!(
        "Your password for {app_display} was just reset and every signed-in device was signed \
         out. If this was not you, reset your password again at once.\n"
    );
    let mut links = vec![];
    let (keys, identities) = match &account.user_id {
        Some(user_id) => (
            api_keys::list_for_user(&mut **tx, user_id).await?,
            users::identities(&mut **tx, user_id).await?,
        ),
        None => (vec![], vec![]),
    };
    let others: Vec<&Identity> = identities
        .iter()
        .filter(|i| !(i.provider_type == provider::USERPASS && i.id == account.id))
        .collect();
    if keys.is_empty() && others.is_empty() {
        text.push_str("\nThe account has no API keys and no other sign-in methods.\n");
    } else {
        text.push_str("\nThese can also reach the account:\n");
        for key in &keys {
            let state_word = if key.disabled { "disabled" } else { "enabled" };
            text.push_str(&format!("  - API key \"{}\" ({state_word})\n", key.name));
        }
        for identity in others {
            text.push_str(&format!("  - sign-in: {}\n", describe(identity)));
        }
        let token = secret_256();
        let token_id = accounts::issue_token(
            tx,
            account,
            Purpose::Lockdown,
            &sha256_hex(token.as_bytes()),
            now,
            LOCKDOWN_TTL_SECS,
        )
        .await?;
        let link = format!(
            "{}/app/{}/lockdown?token={token}&tokenId={token_id}",
            state.public_url, account.app_id
        );
        text.push_str(&format!(
            "\nIf you do not recognise all of them, this link deletes every API key, removes \
             every other sign-in method and signs out everywhere (it works for 7 days):\n{link}\n"
        ));
        links.push(link);
    }
    Ok(Mail {
        to: account.email.clone(),
        subject: format!("Your password for {app_display} was changed"),
        text,
        links,
        channel: "email",
    })
}

/// A provider name and, when the identity has one, the address or name it carries.
fn describe(identity: &Identity) -> String {
    let detail = ["email", "phone", "name"]
        .iter()
        .find_map(|k| identity.provider_data.get(*k).and_then(|v| v.as_str()));
    match detail {
        Some(d) => format!("{} ({d})", identity.provider_type),
        None => identity.provider_type.clone(),
    }
}

/// What a followed lockdown link removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockedDown {
    pub api_keys: u64,
    pub identities: u64,
    pub sessions: u64,
}

/// The link's POST: consumes the token, then in one transaction deletes the user's API keys,
/// every identity but the reset email's, the other local accounts on the user, and every session.
pub async fn lock_down(
    state: &AppState,
    app_id: &str,
    token: &str,
    token_id: &str,
    ip: std::net::IpAddr,
) -> ApiResult<LockedDown> {
    state.app(app_id)?;
    state.limiter.check(Group::Redeem, ip).await?;
    let now = state.now();
    let mut tx = state.db.writer().begin().await?;
    let account = accounts::consume_token(
        &mut tx,
        app_id,
        token_id,
        &sha256_hex(token.as_bytes()),
        Purpose::Lockdown,
        now,
    )
    .await?
    .ok_or_else(|| {
        ApiError::new(
            gatehouse_proto::ErrorCode::UserpassTokenInvalid,
            "this link is not valid: it was already used, has expired, or is not complete",
        )
    })?;
    let Some(user_id) = account.user_id.as_deref() else {
        tx.commit().await?;
        return Ok(LockedDown {
            api_keys: 0,
            identities: 0,
            sessions: 0,
        });
    };
    let (keys, identities) = lockdown::strip_user(&mut tx, user_id, &account.id).await?;
    let sessions = session_rows::revoke_user(&mut *tx, user_id, None, "lockdown", now).await?;
    tx.commit().await?;
    tracing::info!(
        app_id,
        user_id,
        keys,
        identities,
        sessions,
        "account locked down from a reset notice"
    );
    let detail = crate::activity::detail([
        ("via", "reset_notice".into()),
        ("api_keys_deleted", keys.into()),
        ("identities_removed", identities.into()),
        ("sessions_ended", sessions.into()),
    ]);
    let from = crate::activity::Origin::ip_only(ip);
    let (owner, kind) = ((app_id, user_id), crate::store::activity::Kind::Lockdown);
    crate::activity::record(state, owner, kind, detail, Some(from)).await;
    Ok(LockedDown {
        api_keys: keys,
        identities,
        sessions,
    })
}
