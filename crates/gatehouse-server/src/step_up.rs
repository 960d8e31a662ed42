//! The recent-sign-in rule (security.md S-67, issue 12 item 4): a stolen refresh token must not be
//! enough to make an attacker's access last. Creating an API key, linking or unlinking an identity,
//! deleting the account, changing the password, email or phone, editing the profile and adding or
//! removing a second factor (or its recovery codes) need a
//! session that signed in at most `[tokens] recent_sign_in_secs` ago; otherwise the answer is
//! 403 `RecentSignInRequired` and the client signs in again (a new session; the SDK ends the one
//! it replaces) and retries.

use gatehouse_proto::{ErrorCode, ProviderType};

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::sessions::SessionRow;

/// A change that outlives the session making it.
#[derive(Debug, Clone, Copy)]
pub enum LastingChange {
    CreateApiKey,
    LinkIdentity,
    UnlinkIdentity,
    DeleteAccount,
    ChangePassword,
    ChangeEmail,
    ChangePhone,
    EditProfile,
    AddSecondFactor,
    RemoveSecondFactor,
    NewRecoveryCodes,
    AddPasskey,
}

impl LastingChange {
    fn describe(self) -> &'static str {
        match self {
            LastingChange::CreateApiKey => "creating an API key",
            LastingChange::LinkIdentity => "linking another sign-in method",
            LastingChange::UnlinkIdentity => "unlinking a sign-in method",
            LastingChange::DeleteAccount => "deleting the account",
            LastingChange::ChangePassword => "changing the password",
            LastingChange::ChangeEmail => "changing the email address",
            LastingChange::ChangePhone => "changing the phone number",
            LastingChange::EditProfile => "editing the profile",
            LastingChange::AddSecondFactor => "adding a second factor",
            LastingChange::RemoveSecondFactor => "removing a second factor",
            LastingChange::NewRecoveryCodes => "making new recovery codes",
            LastingChange::AddPasskey => "adding a passkey",
        }
    }
}

/// Refuses `change` unless `session` signed in recently. Anonymous sessions are exempt: they
/// cannot sign in again (that makes a new user), and linking is how they become permanent.
pub fn require_recent_sign_in(
    state: &AppState,
    session: &SessionRow,
    change: LastingChange,
) -> ApiResult<()> {
    if session.provider_type == ProviderType::Anonymous.as_str() {
        return Ok(());
    }
    let window = state.config.tokens.recent_sign_in_secs;
    if state.now() - session.created_at <= window {
        return Ok(());
    }
    Err(ApiError::new(
        ErrorCode::RecentSignInRequired,
        format!(
            "{} needs a sign-in within the last {} minutes: sign in again, then retry",
            change.describe(),
            (window + 59) / 60
        ),
    ))
}
