//! Generates the app's permissions: one `allow-<command>` per command below, and nothing else
//! (the capability file grants exactly these plus event listening).

const COMMANDS: &[&str] = &[
    "overview", "providers", "add_connection", "edit_connection", "remove_connection", "sign_in",
    "register_email", "confirm_email", "resend_confirmation", "send_password_reset", "reset_password",
    "register_phone", "send_sms_code", "begin_browser_sign_in", "begin_magic_link", "complete_with_code",
    "cancel_pending", "complete_from_url", "switch_account", "account_details", "link_identity", "log_out",
    "remove_account", "delete_account", "api_keys", "create_api_key", "set_api_key_enabled", "delete_api_key",
    "sessions", "revoke_session", "revoke_other_sessions", "use_memory_only", "outbox",
];

fn main() {
    tauri_build::try_build(tauri_build::Attributes::new().app_manifest(tauri_build::AppManifest::new().commands(COMMANDS)))
        .expect("tauri build step");
}
