//! The window's commands. Each converts its arguments, calls one `Desktop` method and lets the
//! error cross as `{code, message}`. Tokens never appear in an argument or an answer.

use std::sync::Arc;

use tauri::State;

use crate::desktop::Desktop;
use crate::error::Result;
use crate::local_backend::OutboxMessage;
use crate::panels::{scope, ApiKeysPanel};
use crate::security_centre::SecurityCentre;
use crate::sign_in::SignIn;
use crate::views::{
    AccountDetails, AccountView, ApiKeyView, ConfirmedView, ConnectionView, ConsentPrompt,
    HostMappingView, MfaAnswerView, MfaView, NewApiKey, Overview, ProgramGrantView, ProviderView,
    SessionView, StartedSignIn, TotpEnrollmentView, WindowPrefs,
};

type Core<'a> = State<'a, Arc<Desktop>>;

#[tauri::command]
pub async fn overview(core: Core<'_>) -> Result<Overview> {
    Ok(core.overview().await)
}

#[tauri::command]
pub async fn providers(core: Core<'_>, connection: String) -> Result<Vec<ProviderView>> {
    core.providers(&connection).await
}

#[tauri::command]
pub async fn add_connection(
    core: Core<'_>,
    name: String,
    url: String,
    app_id: String,
) -> Result<ConnectionView> {
    core.add_connection(&name, &url, &app_id).await
}

#[tauri::command]
pub async fn edit_connection(
    core: Core<'_>,
    id: String,
    name: String,
    url: String,
    app_id: String,
) -> Result<ConnectionView> {
    core.edit_connection(&id, &name, &url, &app_id).await
}

#[tauri::command]
pub async fn remove_connection(core: Core<'_>, id: String) -> Result<()> {
    core.remove_connection(&id).await
}

#[tauri::command]
pub async fn sign_in(core: Core<'_>, connection: String, request: SignIn) -> Result<AccountView> {
    core.sign_in(&connection, request).await
}

#[tauri::command]
pub async fn register_email(
    core: Core<'_>,
    connection: String,
    email: String,
    password: String,
) -> Result<()> {
    core.register_email(&connection, &email, &password).await
}

#[tauri::command]
pub async fn confirm_email(core: Core<'_>, connection: String, link: String) -> Result<()> {
    core.confirm_email(&connection, &link).await
}

#[tauri::command]
pub async fn resend_confirmation(core: Core<'_>, connection: String, email: String) -> Result<()> {
    core.resend_confirmation(&connection, &email).await
}

#[tauri::command]
pub async fn send_password_reset(core: Core<'_>, connection: String, email: String) -> Result<()> {
    core.send_password_reset(&connection, &email).await
}

#[tauri::command]
pub async fn reset_password(
    core: Core<'_>,
    connection: String,
    link: String,
    password: String,
) -> Result<()> {
    core.reset_password(&connection, &link, &password).await
}

#[tauri::command]
pub async fn register_phone(
    core: Core<'_>,
    connection: String,
    phone: String,
    password: String,
    code: Option<String>,
) -> Result<()> {
    core.register_phone(&connection, &phone, &password, code)
        .await
}

#[tauri::command]
pub async fn send_sms_code(core: Core<'_>, connection: String, phone: String) -> Result<()> {
    core.send_sms_code(&connection, &phone).await
}

#[tauri::command]
pub async fn begin_browser_sign_in(
    core: Core<'_>,
    connection: String,
    provider: String,
    link_user: Option<String>,
) -> Result<StartedSignIn> {
    core.begin_browser_sign_in(&connection, &provider, link_user)
        .await
}

#[tauri::command]
pub async fn begin_magic_link(
    core: Core<'_>,
    connection: String,
    email: String,
    link_user: Option<String>,
) -> Result<StartedSignIn> {
    core.begin_magic_link(&connection, &email, link_user).await
}

#[tauri::command]
pub async fn complete_with_code(
    core: Core<'_>,
    state: String,
    code: String,
) -> Result<AccountView> {
    core.complete_with_code(&state, &code).await
}

#[tauri::command]
pub async fn complete_from_url(core: Core<'_>, url: String) -> Result<AccountView> {
    core.complete_from_url(&url).await
}

#[tauri::command]
pub async fn cancel_pending(core: Core<'_>, state: String) -> Result<()> {
    core.cancel_pending(&state).await
}

#[tauri::command]
pub async fn switch_account(core: Core<'_>, connection: String, user: String) -> Result<Overview> {
    core.switch_account(&connection, &user).await
}

#[tauri::command]
pub async fn account_details(
    core: Core<'_>,
    connection: String,
    user: String,
) -> Result<AccountDetails> {
    core.account_details(&connection, &user).await
}

#[tauri::command]
pub async fn link_identity(
    core: Core<'_>,
    connection: String,
    user: String,
    request: SignIn,
) -> Result<AccountDetails> {
    core.link_identity(&connection, &user, request).await
}

#[tauri::command]
pub async fn refresh_custom_data(
    core: Core<'_>,
    connection: String,
    user: String,
) -> Result<AccountDetails> {
    core.refresh_custom_data(&connection, &user).await
}

#[tauri::command]
pub async fn unlink_identity(
    core: Core<'_>,
    connection: String,
    user: String,
    provider: String,
    id: String,
) -> Result<AccountDetails> {
    core.unlink_identity(&connection, &user, &provider, &id)
        .await
}

#[tauri::command]
pub async fn log_out(core: Core<'_>, connection: String, user: String) -> Result<Overview> {
    core.log_out(&connection, &user).await
}

#[tauri::command]
pub async fn remove_account(core: Core<'_>, connection: String, user: String) -> Result<Overview> {
    core.remove_account(&connection, &user).await
}

#[tauri::command]
pub async fn delete_account(core: Core<'_>, connection: String, user: String) -> Result<Overview> {
    core.delete_account(&connection, &user).await
}

#[tauri::command]
pub async fn api_keys(core: Core<'_>) -> Result<ApiKeysPanel> {
    core.api_keys().await
}

#[tauri::command]
pub async fn create_api_key(core: Core<'_>, name: String) -> Result<NewApiKey> {
    core.create_api_key(&name).await
}

#[tauri::command]
pub async fn set_api_key_enabled(
    core: Core<'_>,
    id: String,
    enabled: bool,
    connection: Option<String>,
    user: Option<String>,
) -> Result<Vec<ApiKeyView>> {
    core.set_api_key_enabled(scope(&connection, &user)?, &id, enabled)
        .await
}

#[tauri::command]
pub async fn delete_api_key(
    core: Core<'_>,
    id: String,
    connection: Option<String>,
    user: Option<String>,
) -> Result<Vec<ApiKeyView>> {
    core.delete_api_key(scope(&connection, &user)?, &id).await
}

#[tauri::command]
pub async fn sessions(
    core: Core<'_>,
    connection: Option<String>,
    user: Option<String>,
) -> Result<Vec<SessionView>> {
    core.sessions(scope(&connection, &user)?).await
}

#[tauri::command]
pub async fn revoke_session(
    core: Core<'_>,
    id: String,
    connection: Option<String>,
    user: Option<String>,
) -> Result<Vec<SessionView>> {
    core.revoke_session(scope(&connection, &user)?, &id).await
}

#[tauri::command]
pub async fn revoke_other_sessions(
    core: Core<'_>,
    connection: Option<String>,
    user: Option<String>,
) -> Result<Vec<SessionView>> {
    core.revoke_other_sessions(scope(&connection, &user)?).await
}

#[tauri::command]
pub async fn use_memory_only(core: Core<'_>) -> Result<Overview> {
    core.use_memory_only().await
}

#[tauri::command]
pub async fn outbox(core: Core<'_>) -> Result<Vec<OutboxMessage>> {
    core.outbox().await
}

#[tauri::command]
pub async fn security_centre(core: Core<'_>) -> Result<SecurityCentre> {
    core.security_centre().await
}

#[tauri::command]
pub async fn mark_security_seen(core: Core<'_>, connection: String, user: String) -> Result<()> {
    core.mark_security_seen(&connection, &user).await
}

#[tauri::command]
pub async fn revoke_all_sessions(
    core: Core<'_>,
    connection: String,
    user: String,
) -> Result<Overview> {
    core.revoke_all_sessions(&connection, &user).await
}

#[tauri::command]
pub async fn change_password(
    core: Core<'_>,
    connection: String,
    user: String,
    current_password: String,
    new_password: String,
) -> Result<()> {
    core.change_password(&connection, &user, &current_password, &new_password)
        .await
}

#[tauri::command]
pub async fn send_phone_reset_code(
    core: Core<'_>,
    connection: String,
    phone: String,
) -> Result<()> {
    core.send_phone_reset_code(&connection, &phone).await
}

#[tauri::command]
pub async fn reset_phone_password(
    core: Core<'_>,
    connection: String,
    phone: String,
    code: String,
    password: String,
) -> Result<()> {
    core.reset_phone_password(&connection, &phone, &code, &password)
        .await
}

#[tauri::command]
pub async fn resend_phone_confirmation(
    core: Core<'_>,
    connection: String,
    phone: String,
) -> Result<()> {
    core.resend_phone_confirmation(&connection, &phone).await
}

#[tauri::command]
pub async fn change_email(
    core: Core<'_>,
    connection: String,
    user: String,
    new_email: String,
) -> Result<()> {
    core.change_email(&connection, &user, &new_email).await
}

#[tauri::command]
pub async fn change_phone(
    core: Core<'_>,
    connection: String,
    user: String,
    new_phone: String,
) -> Result<()> {
    core.change_phone(&connection, &user, &new_phone).await
}

#[tauri::command]
pub async fn confirm_phone_change(
    core: Core<'_>,
    connection: String,
    user: String,
    code: String,
) -> Result<AccountDetails> {
    core.confirm_phone_change(&connection, &user, &code).await
}

#[tauri::command]
pub async fn update_profile(
    core: Core<'_>,
    connection: String,
    user: String,
    name: String,
    picture_url: String,
) -> Result<AccountDetails> {
    core.update_profile(&connection, &user, &name, &picture_url)
        .await
}

#[tauri::command]
pub async fn pending_consents(core: Core<'_>) -> Result<Vec<ConsentPrompt>> {
    Ok(core.pending_consents())
}

#[tauri::command]
pub async fn answer_consent(core: Core<'_>, id: String, answer: String) -> Result<()> {
    core.answer_consent(&id, &answer).await
}

#[tauri::command]
pub async fn connected_programs(core: Core<'_>) -> Result<Vec<ProgramGrantView>> {
    Ok(core.connected_programs().await)
}

#[tauri::command]
pub async fn revoke_program(core: Core<'_>, id: String) -> Result<Vec<ProgramGrantView>> {
    core.revoke_program(&id).await
}

#[tauri::command]
pub async fn account_hosts(core: Core<'_>) -> Result<Vec<HostMappingView>> {
    Ok(core.account_hosts().await)
}

#[tauri::command]
pub async fn set_account_hosts(
    core: Core<'_>,
    connection: String,
    user: String,
    hosts: Vec<String>,
) -> Result<Vec<HostMappingView>> {
    core.set_account_hosts(&connection, &user, &hosts).await
}

#[tauri::command]
pub async fn window_prefs(core: Core<'_>) -> Result<WindowPrefs> {
    Ok(core.window_prefs())
}

#[tauri::command]
pub async fn set_window_prefs(core: Core<'_>, prefs: WindowPrefs) -> Result<WindowPrefs> {
    core.set_window_prefs(prefs).await
}

#[tauri::command]
pub async fn mfa_status(core: Core<'_>, connection: String, user: String) -> Result<MfaView> {
    core.mfa_status(&connection, &user).await
}

#[tauri::command]
pub async fn enroll_totp(
    core: Core<'_>,
    connection: String,
    user: String,
    name: Option<String>,
) -> Result<TotpEnrollmentView> {
    core.enroll_totp(&connection, &user, name).await
}

#[tauri::command]
pub async fn confirm_totp(
    core: Core<'_>,
    connection: String,
    user: String,
    factor_id: String,
    code: String,
) -> Result<ConfirmedView> {
    core.confirm_totp(&connection, &user, &factor_id, &code)
        .await
}

#[tauri::command]
pub async fn remove_mfa_factor(
    core: Core<'_>,
    connection: String,
    user: String,
    factor_id: String,
) -> Result<MfaView> {
    core.remove_mfa_factor(&connection, &user, &factor_id).await
}

#[tauri::command]
pub async fn regenerate_recovery_codes(
    core: Core<'_>,
    connection: String,
    user: String,
) -> Result<Vec<String>> {
    core.regenerate_recovery_codes(&connection, &user).await
}

#[tauri::command]
pub async fn add_passkey(
    core: Core<'_>,
    connection: String,
    user: String,
    name: String,
) -> Result<StartedSignIn> {
    core.add_passkey(&connection, &user, &name).await
}

#[tauri::command]
pub async fn answer_mfa(
    core: Core<'_>,
    challenge: String,
    kind: String,
    code: String,
) -> Result<MfaAnswerView> {
    core.answer_mfa(&challenge, &kind, &code).await
}

#[tauri::command]
pub async fn enroll_for_challenge(core: Core<'_>, challenge: String) -> Result<TotpEnrollmentView> {
    core.enroll_for_challenge(&challenge).await
}

#[tauri::command]
pub async fn mfa_with_passkey(core: Core<'_>, challenge: String) -> Result<StartedSignIn> {
    core.mfa_with_passkey(&challenge).await
}

#[tauri::command]
pub async fn cancel_mfa(core: Core<'_>, challenge: String) -> Result<()> {
    core.cancel_mfa(&challenge).await
}
