//! The mail a used recovery code sends its owner: a recovery code means the authenticator was
//! not at hand, or someone else has the codes — either way the owner should know at once.

use serde_json::Value;

use crate::mail::Mail;
use crate::sessions::LoginContext;
use crate::state::AppState;
use crate::store::activity::Kind;

/// Records `mfa_recovery_code_used` and mails the owner (when the account has an address).
pub async fn recovery_code_used(
    state: &AppState,
    (app_id, user_id): (&str, &str),
    left: i64,
    ctx: &LoginContext,
) {
    let detail = crate::activity::detail([("codes_left", Value::from(left))]);
    let kind = Kind::MfaRecoveryCodeUsed;
    crate::activity::record_for_login(state, (app_id, user_id), kind, detail, ctx).await;
    let to = match address(state, user_id).await {
        Ok(Some(to)) => to,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(error = %e, "no address for the recovery-code notice");
            return;
        }
    };
    let app_name = state
        .app(app_id)
        .ok()
        .map(|a| a.name.as_str())
        .filter(|n| !n.is_empty())
        .unwrap_or(app_id);
    let from = ctx.ip.as_deref().unwrap_or("an unknown address");
    let when = crate::new_device::utc(state.now());
    state.mailer.send(Mail {
        to,
        subject: format!("A recovery code was used to sign in to {app_name}"),
        text: format!(
            "One of your {app_name} recovery codes was just used to finish a sign-in.\n\n\
             Address: {from}\nTime: {when}\nRecovery codes left: {left}\n\n\
             If this was you, consider making new recovery codes. If it wasn't, someone has \
             your password and your recovery codes: change your password, make new recovery \
             codes and sign out every other session.\n"
        ),
        links: vec![],
        channel: "email",
    });
}

/// The account's confirmed email/password address, else the email its profile carries (set
/// only from verified provider data).
async fn address(state: &AppState, user_id: &str) -> Result<Option<String>, sqlx::Error> {
    if let Some(a) = crate::store::userpass::by_user(state.db.reader(), user_id).await? {
        if a.confirmed {
            return Ok(Some(a.email));
        }
    }
    Ok(crate::store::users::get(state.db.reader(), user_id)
        .await?
        .and_then(|u| {
            u.data
                .get("email")
                .and_then(Value::as_str)
                .map(str::to_string)
        }))
}
