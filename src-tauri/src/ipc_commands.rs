// The window's commands, written once. This file is `include!`d twice: by `build.rs`, which
// generates one `allow-<command>` permission per name, and by `lib.rs`, which builds the
// command table (`generate_handler!`) and `COMMANDS` from it. Each name is a
// `#[tauri::command]` in `commands.rs`. `tests/ipc_surface.rs` checks the capability file, the
// generated permissions, `commands.rs` and every `call("…")` in ui/js against this list.
//
// (Plain `//` comments: an included file cannot carry inner doc comments.)

/// Calls the macro `$then!` with every command name, as identifiers.
macro_rules! ipc_commands {
    ($then:ident) => {
        $then! {
            overview, providers,
            add_connection, edit_connection, remove_connection,
            sign_in, register_email, confirm_email, resend_confirmation, send_password_reset,
            reset_password, register_phone, send_sms_code,
            begin_browser_sign_in, begin_magic_link, complete_with_code, complete_from_url,
            cancel_pending,
            switch_account, account_details, refresh_custom_data, link_identity, unlink_identity,
            log_out, remove_account,
            delete_account,
            api_keys, create_api_key, set_api_key_enabled, delete_api_key,
            sessions, revoke_session, revoke_other_sessions,
            use_memory_only, outbox,
            security_centre, mark_security_seen, revoke_all_sessions,
            change_password, send_phone_reset_code, reset_phone_password,
            resend_phone_confirmation, change_email, change_phone, confirm_phone_change,
            update_profile,
            pending_consents, answer_consent, connected_programs, revoke_program,
            account_hosts, set_account_hosts, window_prefs, set_window_prefs,
            mfa_status, enroll_totp, confirm_totp, remove_mfa_factor, regenerate_recovery_codes,
            add_passkey, answer_mfa, enroll_for_challenge, mfa_with_passkey, cancel_mfa,
        }
    };
}

/// The names as strings: `ipc_commands!(command_names)`.
macro_rules! command_names {
    ($($name:ident),* $(,)?) => {
        &[$(stringify!($name)),*]
    };
}
