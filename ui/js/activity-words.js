// Security events (the server's activity kinds, crates/gatehouse-server/src/store/activity.rs
// `Kind::as_str`) in words, and which of them ask for the person's attention.

const WORDS = Object.freeze({
  sign_in: "Signed in",
  sign_in_failed: "Failed sign-in attempt",
  sign_out: "Signed out",
  session_revoked: "Session signed out",
  password_changed: "Password changed",
  password_reset: "Password reset",
  email_changed: "Email address changed",
  phone_changed: "Phone number changed",
  profile_changed: "Profile changed",
  identity_linked: "Sign-in method linked",
  identity_unlinked: "Sign-in method unlinked",
  api_key_created: "API key created",
  api_key_enabled: "API key enabled",
  api_key_disabled: "API key disabled",
  api_key_deleted: "API key deleted",
  refresh_token_reuse: "Stolen session suspected (refresh token reused)",
  lockout: "Locked after too many wrong passwords",
  new_device: "Sign-in from a new device",
  lockdown: "Every session ended (\"this wasn't me\")",
  mfa_enrolled: "Second factor added",
  mfa_removed: "Second factor removed",
  mfa_recovery_codes_regenerated: "New recovery codes made",
  mfa_recovery_code_used: "Recovery code used to sign in",
  mfa_failed: "Wrong second-factor code",
  mfa_reset: "Second factors removed by the operator",
});

// Kinds shown as warnings (the summary's "unusual" ones, src-tauri/src/security_centre.rs).
export const UNUSUAL = new Set(["refresh_token_reuse", "lockout", "new_device", "sign_in_failed"]);

export function activityWords(kind) {
  return WORDS[kind] || kind.replaceAll("_", " ");
}
