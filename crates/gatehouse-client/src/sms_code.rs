//! SMS code sign-in (Gatehouse extension): ask for a code bound to this flow (PKCE S256), then
//! sign in with the texted code and the flow's verifier. A code asked for by anyone else (another
//! device, an attacker typing the same number) cannot be redeemed here, and theirs cannot void
//! or use up this one. The verifier never leaves this process.

use gatehouse_proto::userpass::SmsCodeRequest;
use gatehouse_proto::ProviderType;

use crate::app::App;
use crate::credentials::Credentials;
use crate::error::Result;
use crate::pkce::{challenge, random_b64};
use crate::user::User;

/// A sign-in code that was asked for and not yet used. Keep it in memory only.
/// [`App::resend_sms_code`] texts a new code for the same flow (the older one stops working);
/// a new [`App::send_sms_code`] starts a separate flow.
pub struct PendingSmsCode {
    pub phone: String,
    pub(crate) verifier: String,
}

impl std::fmt::Debug for PendingSmsCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingSmsCode")
            .field("phone", &self.phone)
            .finish_non_exhaustive()
    }
}

impl App {
    /// Texts a sign-in code to a confirmed number; finish with [`App::complete_sms_code`] (or
    /// `Credentials::sms_code`). The answer is the same whether or not the number has an account.
    pub async fn send_sms_code(&self, phone: &str) -> Result<PendingSmsCode> {
        let pending = PendingSmsCode {
            phone: phone.into(),
            verifier: random_b64(32),
        };
        self.resend_sms_code(&pending).await?;
        Ok(pending)
    }

    /// Texts a new code for the same flow; the code texted before for it stops working.
    pub async fn resend_sms_code(&self, pending: &PendingSmsCode) -> Result<()> {
        let body = SmsCodeRequest {
            phone: pending.phone.clone(),
            code_challenge: challenge(&pending.verifier),
            code_challenge_method: "S256".into(),
        };
        crate::phone::post(&self.shared, ProviderType::SmsCode, "send", &body).await
    }

    /// Signs in with the code texted for `pending`.
    pub async fn complete_sms_code(&self, pending: &PendingSmsCode, code: &str) -> Result<User> {
        self.log_in(Credentials::sms_code(pending, code)).await
    }
}
