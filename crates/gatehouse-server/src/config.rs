//! Configuration: built-in defaults, then an optional TOML file, then `GATEHOUSE_*` environment
//! variables and command-line flags (clap merges those two). See `gatehoused.example.toml`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::Secret;

mod external;
mod functions;
mod limits;
pub use external::{
    webhook_key, ClaimMapping, CustomTokenConfig, OAuthClientConfig, OutboundConfig, WebhookConfig,
    WEBHOOK_SECRET_PREFIX,
};
pub use functions::{FunctionConfig, DEFAULT_FUNCTION_TIMEOUT_MS, MAX_FUNCTION_TIMEOUT_MS};
pub use limits::LimitsConfig;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Public origin clients reach this server at (used in the location answer and in mailed
    /// links, never taken from the `Host` header). Defaults to `http://{listen}`. Port `0`
    /// (`http://localhost:0`) stands for the port the server bound: for a listen port the OS
    /// picks, e.g. the desktop's Local backend, whose passkeys need a domain name, not an IP.
    pub public_url: Option<String>,
    /// `sqlite://…` or `postgres://…`. Defaults to `sqlite://{data_dir}/gatehouse.db`.
    pub database_url: Option<String>,
    /// Where the SQLite database, signing keys and the dev outbox live.
    pub data_dir: PathBuf,
    /// Listening on a non-loopback address without TLS in front needs this explicit opt-in.
    pub allow_insecure_http: bool,
    pub tokens: TokenConfig,
    pub passwords: PasswordConfig,
    pub rate_limits: RateLimitConfig,
    pub smtp: Option<SmtpConfig>,
    /// Text messages through a Twilio-compatible API. Without it, SMS go to the dev outbox.
    pub sms: Option<SmsConfig>,
    /// Calls to JWKS endpoints, webhooks and OAuth providers.
    pub outbound: OutboundConfig,
    /// Browser origins allowed to call this server (CORS).
    pub cors: CorsConfig,
    /// How long a client may take to send its request headers and body.
    pub limits: LimitsConfig,
    /// Operator access over HTTP (custom user data).
    pub admin: AdminConfig,
    /// The per-user activity log (security events).
    pub activity: ActivityConfig,
    /// Second factors: where the key that seals TOTP secrets lives.
    pub mfa: MfaConfig,
    /// Apps served by this server, keyed by app id.
    pub apps: BTreeMap<String, AppConfig>,
}

/// `[admin]`: keys for the operator's HTTP API (`/api/admin/v1`), stored as the hex SHA-256 of
/// each key (`gatehoused admin new-admin-key` makes one). Empty: the admin API answers 401.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    pub key_sha256: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 9090)),
            public_url: None,
            database_url: None,
            data_dir: PathBuf::from("gatehouse-data"),
            allow_insecure_http: false,
            tokens: TokenConfig::default(),
            passwords: PasswordConfig::default(),
            rate_limits: RateLimitConfig::default(),
            smtp: None,
            sms: None,
            outbound: OutboundConfig::default(),
            cors: CorsConfig::default(),
            limits: LimitsConfig::default(),
            admin: AdminConfig::default(),
            activity: ActivityConfig::default(),
            mfa: MfaConfig::default(),
            apps: BTreeMap::new(),
        }
    }
}

/// `[activity]`: how long security events are kept before the maintenance round deletes them.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ActivityConfig {
    /// 1 ..= 3650 days (default 90).
    pub keep_days: i64,
}

impl Default for ActivityConfig {
    fn default() -> Self {
        ActivityConfig { keep_days: 90 }
    }
}

/// `[mfa]`: the AES-256 key that seals TOTP secrets at rest (a database dump alone reveals
/// none). `key_file` defaults to `<data_dir>/mfa.key` (32 random bytes, mode 0600, created at
/// first start); the environment variable `GATEHOUSE_MFA_KEY` (32 bytes, base64) wins over both.
/// Losing the key makes every TOTP factor unusable (recovery codes still work).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MfaConfig {
    pub key_file: Option<PathBuf>,
}

/// `[apps.<id>] mfa`: whether every user must have a second factor.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MfaPolicy {
    /// Each user decides (a user with a confirmed factor is always asked for it).
    #[default]
    Optional,
    /// A sign-in of a user without a factor answers `MfaEnrollmentRequired` (anonymous users
    /// and API-key logins excepted).
    Required,
}

/// `[apps.<id>.new_device_alerts]`: tell the owner when the account signs in from a device it
/// has not used before. Off by default (and in the desktop's Local backend).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NewDeviceAlertsConfig {
    pub enabled: bool,
}

/// CORS: the browser origins (`scheme://host[:port]`, exactly as browsers send them) that get
/// `Access-Control-Allow-Origin` with credentials. None by default: clients that are not web
/// pages (the SDKs, Node's realm-web, the desktop app) send no `Origin` and need none.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CorsConfig {
    pub allowed_origins: Vec<String>,
}

impl CorsConfig {
    fn validate(&self) -> anyhow::Result<()> {
        for origin in &self.allowed_origins {
            let serialized = url::Url::parse(origin)
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https"))
                .map(|u| u.origin().ascii_serialization());
            anyhow::ensure!(
                serialized.as_deref() == Some(origin.as_str()),
                "cors.allowed_origins: {origin:?} is not an origin; write it as a browser sends \
                 it, e.g. \"https://app.example.com\" (scheme, lower-case host, port only when \
                 not the default, no path or trailing slash; \"*\" is not allowed)"
            );
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TokenConfig {
    /// `iss` of every token. Stable on purpose: it must not change with the listening port
    /// (the desktop app's embedded server gets a new port on every start).
    pub issuer: String,
    /// Signing-key file to use instead of `<data_dir>/keys.json` (e.g. one shared by several
    /// servers on one PostgreSQL database, or kept on a secrets volume). Created (0600) if missing.
    pub key_file: Option<PathBuf>,
    /// A file holding the key-encryption key (32 bytes, base64; the environment variable
    /// `GATEHOUSE_KEY_ENCRYPTION_KEY` wins). When either is set the signing keys live in the
    /// database, sealed under it, shared by every instance (`tokens::key_store`); an existing
    /// key file is imported at the first start.
    pub key_encryption_key_file: Option<PathBuf>,
    /// Access-token lifetime; at most 30 minutes.
    pub access_ttl_secs: i64,
    /// Absolute session (refresh-token) lifetime.
    pub refresh_absolute_secs: i64,
    /// A session unused for this long ends.
    pub refresh_idle_secs: i64,
    /// How long the immediately previous refresh token of a rotating session stays acceptable.
    pub rotation_grace_secs: i64,
    /// Oldest sessions are evicted beyond this many per user.
    pub sessions_per_user: i64,
    /// Emailed confirmation and reset token lifetimes.
    pub confirm_ttl_secs: i64,
    pub reset_ttl_secs: i64,
    /// Texted one-time codes (phone confirmation, reset, sign-in); at most 10 minutes.
    pub sms_code_ttl_secs: i64,
    /// Magic links; at most 10 minutes.
    pub magic_link_ttl_secs: i64,
    /// Creating an API key, linking an identity, deleting the account and changing the password
    /// need a session signed in at most this long ago (security.md S-67).
    pub recent_sign_in_secs: i64,
}

impl Default for TokenConfig {
    fn default() -> Self {
        TokenConfig {
            issuer: "gatehouse".into(),
            key_file: None,
            key_encryption_key_file: None,
            access_ttl_secs: 15 * 60,
            refresh_absolute_secs: 30 * 24 * 3600,
            refresh_idle_secs: 14 * 24 * 3600,
            rotation_grace_secs: 10,
            sessions_per_user: 50,
            confirm_ttl_secs: 30 * 60,
            reset_ttl_secs: 15 * 60,
            sms_code_ttl_secs: 5 * 60,
            magic_link_ttl_secs: 10 * 60,
            recent_sign_in_secs: 5 * 60,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PasswordConfig {
    pub min_chars: usize,
    pub max_chars: usize,
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
    pub argon2_parallelism: u32,
    /// Hashes running at once; 0 means twice the number of CPU cores.
    pub max_concurrent_hashes: usize,
    /// A request waiting longer than this for a hashing slot gets 503.
    pub hash_queue_timeout_ms: u64,
    /// Keep each slot's Argon2 work area (19 MiB at the default cost) between hashes: no page
    /// faults per login on a busy server. Off returns it to the OS after every hash, for a
    /// process that hashes rarely (the desktop app's embedded server).
    pub reuse_hash_memory: bool,
    /// Allows Argon2 parameters below the OWASP floor. For test suites only.
    pub insecure_fast_hashing: bool,
}

impl Default for PasswordConfig {
    fn default() -> Self {
        PasswordConfig {
            min_chars: 15,
            max_chars: 256,
            argon2_memory_kib: 19 * 1024,
            argon2_iterations: 2,
            argon2_parallelism: 1,
            max_concurrent_hashes: 0,
            hash_queue_timeout_ms: 2000,
            reuse_hash_memory: true,
            insecure_fast_hashing: false,
        }
    }
}

/// Per-IP token buckets: `capacity` requests at once, refilled at `capacity` per `period_secs`.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bucket {
    pub capacity: u32,
    pub period_secs: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    pub enabled: bool,
    /// Per-client buckets and mail/SMS send limits kept in the database (PostgreSQL only), so
    /// several instances share them: a client spreading requests over the cluster gets one
    /// instance's budget (`ratelimit::shared`, `ratelimit::shared_sends`). Off: each instance
    /// counts alone, in memory.
    pub shared: bool,
    /// Peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    pub login: Bucket,
    pub register: Bucket,
    pub email_send: Bucket,
    pub refresh: Bucket,
    pub anonymous: Bucket,
    /// Confirm, reset, phone confirm and phone reset (tokens and codes redeemed).
    pub redeem: Bucket,
    /// Consecutive failed logins after which an account is soft-locked for `lockout_window_secs`.
    pub lockout_after: i64,
    pub lockout_window_secs: i64,
    /// Budgets against SMS pumping, registration texts included.
    pub sms: SmsBudget,
}

/// How many texts may go out (security.md S-29), on top of the fixed one per number per minute
/// and five per number per hour. A request over a budget gets 429 with `Retry-After` before the
/// number is looked up (a registration's text is just not sent).
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmsBudget {
    /// Texts requested from one client address (IPv6: its /64) per rolling hour.
    pub per_ip_hourly: u32,
    /// Texts to one number per rolling 24 hours.
    pub per_number_daily: u32,
    /// Texts from the whole server per rolling 24 hours.
    pub global_daily: u32,
}

impl Default for SmsBudget {
    fn default() -> Self {
        SmsBudget {
            per_ip_hourly: 5,
            per_number_daily: 10,
            global_daily: 1000,
        }
    }
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            enabled: true,
            shared: false,
            trusted_proxies: Vec::new(),
            login: Bucket {
                capacity: 30,
                period_secs: 300,
            },
            register: Bucket {
                capacity: 30,
                period_secs: 300,
            },
            email_send: Bucket {
                capacity: 30,
                period_secs: 300,
            },
            refresh: Bucket {
                capacity: 150,
                period_secs: 300,
            },
            anonymous: Bucket {
                capacity: 30,
                period_secs: 3600,
            },
            redeem: Bucket {
                capacity: 30,
                period_secs: 300,
            },
            lockout_after: 100,
            lockout_window_secs: 24 * 3600,
            sms: SmsBudget::default(),
        }
    }
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    pub host: String,
    #[serde(default = "default_smtp_port")]
    pub port: u16,
    /// `none` (plain, for a relay on this machine), `starttls` or `tls` (certificates checked
    /// against the Web PKI roots).
    #[serde(default = "default_smtp_security")]
    pub security: String,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub from: String,
}

fn default_smtp_port() -> u16 {
    25
}
fn default_smtp_security() -> String {
    "none".into()
}

impl std::fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("username", &self.username)
            .field("password", &self.password)
            .field("from", &self.from)
            .finish()
    }
}

/// A Twilio-compatible Messages API (`POST {base_url}/2010-04-01/Accounts/{sid}/Messages.json`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmsConfig {
    #[serde(default = "default_twilio_url")]
    pub base_url: String,
    pub account_sid: String,
    pub auth_token: Secret,
    /// Sender number (E.164) or messaging service id.
    pub from: String,
}

fn default_twilio_url() -> String {
    "https://api.twilio.com".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PhoneConfig {
    /// ISO country codes (`"US"`, `"DE"`) that may receive texts, or `"*"` for all. Empty: none —
    /// an explicit list is the defence against SMS pumping to premium-rate ranges.
    pub allowed_countries: Vec<String>,
    /// New phone/password accounts must confirm their number with a texted code.
    pub require_confirmation: bool,
}

impl Default for PhoneConfig {
    fn default() -> Self {
        PhoneConfig {
            allowed_countries: Vec::new(),
            require_confirmation: true,
        }
    }
}

impl PhoneConfig {
    pub fn allows(&self, country: &str) -> bool {
        self.allowed_countries
            .iter()
            .any(|c| c == "*" || c.eq_ignore_ascii_case(country))
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AppConfig {
    /// Shown in mail ("Confirm your account for {name}").
    pub name: String,
    /// Enabled provider names (`anon-user`, `local-userpass`, `api-key`, `phone-password`,
    /// `sms-code`).
    pub providers: Vec<String>,
    /// Answer with the original App Services codes (`AccountNameInUse`, `UserAlreadyConfirmed`,
    /// `UserNotFound`) instead of enumeration-safe uniform answers.
    pub strict_app_services_errors: bool,
    pub userpass: UserpassConfig,
    pub phone: PhoneConfig,
    /// Where magic-link pages and browser sign-ins may hand their code to: exact URIs (e.g.
    /// `gatehouse://auth/callback` for the desktop app). A loopback entry (`http://127.0.0.1/cb`,
    /// `http://[::1]/cb`) allows that path on any port (RFC 8252 §7.3); loopback redirects are
    /// refused unless one is registered.
    pub redirect_uris: Vec<String>,
    /// Answer realm-web's OAuth popup (`_baas_ua` in the fragment, tokens in the URL) for
    /// exact-match `https` redirect URIs. Off by default: the code + PKCE flow is the safe one.
    pub realm_web_redirects: bool,
    pub custom_token: Option<CustomTokenConfig>,
    /// `custom-function`: the webhook that turns a login payload into an external user id.
    pub custom_function: Option<WebhookConfig>,
    /// `local-userpass` custom confirmation (`runConfirmationFunction`) and reset functions.
    pub confirm_function: Option<WebhookConfig>,
    pub reset_function: Option<WebhookConfig>,
    pub google: Option<OAuthClientConfig>,
    pub apple: Option<OAuthClientConfig>,
    pub facebook: Option<OAuthClientConfig>,
    pub github: Option<OAuthClientConfig>,
    pub discord: Option<OAuthClientConfig>,
    pub twitter: Option<OAuthClientConfig>,
    /// `[apps.<id>.functions.<name>]`: functions clients call by name, each a signed webhook.
    pub functions: std::collections::BTreeMap<String, FunctionConfig>,
    /// `[apps.<id>.custom_data_webhook]`: asked for a user's custom data whenever an access
    /// token is issued (login, refresh, link) instead of the stored document.
    pub custom_data_webhook: Option<CustomDataWebhookConfig>,
    /// Mail (or text) the owner on a sign-in from a new device.
    pub new_device_alerts: NewDeviceAlertsConfig,
    /// `"optional"` (default) or `"required"`: a second factor for every user.
    pub mfa: MfaPolicy,
}

/// A signed webhook that answers `{"custom_data": {…} | null}` for a user.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomDataWebhookConfig {
    pub url: String,
    pub secret: Secret,
    /// When the hook fails: false (default) refuses the login or refresh with 503 (clients keep
    /// their tokens and retry); true issues the token with the stored document instead.
    #[serde(default)]
    pub fail_open: bool,
}

impl CustomDataWebhookConfig {
    /// The same call shape as every other webhook.
    pub fn as_webhook(&self) -> WebhookConfig {
        WebhookConfig {
            url: self.url.clone(),
            secret: self.secret.clone(),
        }
    }
}

impl AppConfig {
    /// The upstream client settings of an OAuth provider (by wire name), if configured.
    pub fn oauth_client(&self, provider: &str) -> Option<&OAuthClientConfig> {
        use gatehouse_proto::routes::provider as p;
        match provider {
            p::GOOGLE => self.google.as_ref(),
            p::APPLE => self.apple.as_ref(),
            p::FACEBOOK => self.facebook.as_ref(),
            p::GITHUB => self.github.as_ref(),
            p::DISCORD => self.discord.as_ref(),
            p::TWITTER => self.twitter.as_ref(),
            _ => None,
        }
    }
}

impl Default for AppConfig {
    fn default() -> Self {
        AppConfig {
            name: String::new(),
            providers: vec![
                "anon-user".into(),
                "local-userpass".into(),
                "api-key".into(),
            ],
            strict_app_services_errors: false,
            userpass: UserpassConfig::default(),
            phone: PhoneConfig::default(),
            redirect_uris: vec!["gatehouse://auth/callback".into()],
            realm_web_redirects: false,
            custom_token: None,
            custom_function: None,
            confirm_function: None,
            reset_function: None,
            google: None,
            apple: None,
            facebook: None,
            github: None,
            discord: None,
            twitter: None,
            functions: Default::default(),
            custom_data_webhook: None,
            new_device_alerts: NewDeviceAlertsConfig::default(),
            mfa: MfaPolicy::default(),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UserpassConfig {
    /// Confirm new accounts without a mail round trip.
    pub auto_confirm: bool,
    /// Page the confirmation link points at (gets `?token=…&tokenId=…`). Defaults to the page
    /// gatehoused serves itself.
    pub confirm_url: Option<String>,
    /// Page the reset link points at. Defaults to the page gatehoused serves itself.
    pub reset_url: Option<String>,
}

/// The app `gatehoused --dev` creates.
pub const DEV_APP_ID: &str = "gatehouse-dev";

impl Config {
    pub fn load_file(path: &Path) -> anyhow::Result<Config> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read config file {}: {e}", path.display()))?;
        toml::from_str(&text)
            .map_err(|e| anyhow::anyhow!("config file {} is not valid: {e}", path.display()))
    }

    /// A ready local setup: one app with anonymous, email/password and API-key providers, mail to
    /// the dev outbox.
    pub fn apply_dev_defaults(&mut self) {
        self.apps.entry(DEV_APP_ID.to_string()).or_insert_with(|| {
            let mut app = AppConfig {
                name: "Gatehouse (dev)".into(),
                ..AppConfig::default()
            };
            // Texts go to the dev outbox, so every country is fine here.
            app.providers.extend([
                "phone-password".to_string(),
                "sms-code".to_string(),
                "magic-link".to_string(),
                "passkey".to_string(),
            ]);
            app.phone.allowed_countries = vec!["*".into()];
            app
        });
    }

    pub fn public_url(&self) -> String {
        self.public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.listen))
            .trim_end_matches('/')
            .to_string()
    }

    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("gatehouse.db").display()))
    }

    /// Refuses settings that would be unsafe or meaningless, with a sentence saying which.
    pub fn validate(&self) -> anyhow::Result<()> {
        self.cors.validate()?;
        self.limits.validate()?;
        anyhow::ensure!(
            !self.rate_limits.shared || !self.database_url().starts_with("sqlite:"),
            "rate_limits.shared needs PostgreSQL: a SQLite database serves one instance, whose \
             in-memory limits are already all there is"
        );
        let sms = &self.rate_limits.sms;
        anyhow::ensure!(
            sms.per_ip_hourly >= 1 && sms.per_number_daily >= 1 && sms.global_daily >= 1,
            "rate_limits.sms budgets must be at least 1 (turn rate_limits.enabled off instead)"
        );
        let t = &self.tokens;
        anyhow::ensure!(
            (1..=1800).contains(&t.access_ttl_secs),
            "tokens.access_ttl_secs must be between 1 and 1800 (30 minutes)"
        );
        anyhow::ensure!(
            (1800..=180 * 24 * 3600).contains(&t.refresh_absolute_secs),
            "tokens.refresh_absolute_secs must be between 1800 (30 minutes) and 15552000 \
             (180 days)"
        );
        anyhow::ensure!(
            t.refresh_idle_secs > 0 && t.refresh_idle_secs <= t.refresh_absolute_secs,
            "tokens.refresh_idle_secs must be positive and not above refresh_absolute_secs"
        );
        anyhow::ensure!(
            (0..=60).contains(&t.rotation_grace_secs),
            "tokens.rotation_grace_secs must be between 0 and 60"
        );
        anyhow::ensure!(
            t.sessions_per_user >= 1,
            "tokens.sessions_per_user must be at least 1"
        );
        anyhow::ensure!(
            t.reset_ttl_secs > 0 && t.reset_ttl_secs <= 1800,
            "tokens.reset_ttl_secs must be between 1 and 1800"
        );
        anyhow::ensure!(
            (1..=600).contains(&t.sms_code_ttl_secs),
            "tokens.sms_code_ttl_secs must be between 1 and 600"
        );
        anyhow::ensure!(
            (1..=600).contains(&t.magic_link_ttl_secs),
            "tokens.magic_link_ttl_secs must be between 1 and 600"
        );
        anyhow::ensure!(
            (10..=3600).contains(&t.recent_sign_in_secs),
            "tokens.recent_sign_in_secs must be between 10 and 3600"
        );
        anyhow::ensure!(
            (1..=3650).contains(&self.activity.keep_days),
            "activity.keep_days must be between 1 and 3650"
        );
        let p = &self.passwords;
        anyhow::ensure!(
            (8..=64).contains(&p.min_chars),
            "passwords.min_chars must be between 8 and 64"
        );
        anyhow::ensure!(
            p.max_chars >= 64 && p.max_chars >= p.min_chars,
            "passwords.max_chars must be at least 64"
        );
        if !p.insecure_fast_hashing {
            anyhow::ensure!(
                p.argon2_memory_kib >= 19456
                    && p.argon2_iterations >= 2
                    && p.argon2_parallelism >= 1,
                "Argon2id parameters are below the OWASP floor (m=19456 KiB, t=2, p=1); raise them \
                 (passwords.insecure_fast_hashing exists for test suites only)"
            );
        }
        for (id, app) in &self.apps {
            anyhow::ensure!(
                valid_app_id(id),
                "app id {id:?} must be 1-64 characters of a-z, A-Z, 0-9, '-' and '_'"
            );
            for p in &app.providers {
                anyhow::ensure!(
                    gatehouse_proto::ProviderType::parse(p)
                        .is_some_and(|p| crate::providers::SUPPORTED.contains(&p)),
                    "app {id}: unknown provider {p:?} (supported: {})",
                    crate::providers::SUPPORTED
                        .iter()
                        .map(|p| p.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
            external::validate_app(id, app)?;
            functions::validate(id, app)?;
        }
        let loopback = self.listen.ip().is_loopback();
        anyhow::ensure!(
            loopback || self.allow_insecure_http,
            "refusing to listen on {} without TLS: put a TLS-terminating proxy in front and set \
             allow_insecure_http = true (GATEHOUSE_ALLOW_INSECURE_HTTP=1), or listen on 127.0.0.1",
            self.listen
        );
        Ok(())
    }
}

pub fn valid_app_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn production_defaults_meet_the_owasp_argon2_floor_and_token_limits() {
        let c = Config::default();
        assert_eq!(
            (
                c.passwords.argon2_memory_kib,
                c.passwords.argon2_iterations,
                c.passwords.argon2_parallelism
            ),
            (19456, 2, 1)
        );
        assert!(!c.passwords.insecure_fast_hashing);
        assert_eq!(c.passwords.min_chars, 15);
        assert!(c.tokens.access_ttl_secs <= 1800);
        c.validate().expect("defaults are valid");
    }

    #[test]
    fn weak_hash_parameters_are_refused_unless_explicitly_for_tests() {
        let mut c = Config::default();
        c.passwords.argon2_memory_kib = 1024;
        assert!(c.validate().unwrap_err().to_string().contains("OWASP"));
        c.passwords.insecure_fast_hashing = true;
        c.validate().unwrap();
    }

    #[test]
    fn non_loopback_listen_needs_explicit_opt_in() {
        let mut c = Config {
            listen: "0.0.0.0:9090".parse().unwrap(),
            ..Config::default()
        };
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("without TLS"));
        c.allow_insecure_http = true;
        c.validate().unwrap();
    }

    #[test]
    fn dev_mode_enables_every_provider_that_needs_no_outside_service() {
        let mut c = Config::default();
        c.apply_dev_defaults();
        let app = &c.apps[DEV_APP_ID];
        let local = [
            "anon-user",
            "local-userpass",
            "api-key",
            "phone-password",
            "sms-code",
            "magic-link",
            "passkey",
        ];
        assert_eq!(app.providers, local);
        assert!(app.phone.allows("BR"));
        c.validate().unwrap();
        assert!(
            !AppConfig::default().phone.allows("US"),
            "no country receives texts unless configured"
        );
    }

    #[test]
    fn external_providers_refuse_weak_or_missing_configuration() {
        let mut c = Config::default();
        let mut app = AppConfig {
            providers: vec!["custom-token".into()],
            ..AppConfig::default()
        };
        c.apps.insert("a".into(), app.clone());
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("custom_token"));
        app.custom_token = Some(CustomTokenConfig {
            issuer: Some("https://idp".into()),
            audience: vec!["a".into()],
            algorithm: "HS256".into(),
            jwks_url: None,
            public_key_pem: None,
            secret: Some(Secret::new("password1")),
            max_age_secs: Some(3600),
            metadata: vec![],
        });
        c.apps.insert("a".into(), app.clone());
        assert!(
            c.validate().unwrap_err().to_string().contains("32 bytes"),
            "a password is not an HMAC key"
        );
        app.custom_token.as_mut().unwrap().algorithm = "none".into();
        c.apps.insert("a".into(), app.clone());
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("not allowed"));
        app.custom_token.as_mut().unwrap().algorithm = "HS256".into();
        app.custom_token.as_mut().unwrap().secret = Some(Secret::new("k".repeat(32)));
        app.custom_token.as_mut().unwrap().audience = vec![];
        c.apps.insert("a".into(), app.clone());
        assert!(c.validate().unwrap_err().to_string().contains("audience"));
        let app = AppConfig {
            providers: vec!["oauth2-github".into()],
            ..AppConfig::default()
        };
        c.apps.insert("a".into(), app);
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("[apps.a.github]"));
        let app = AppConfig {
            redirect_uris: vec!["myapp://cb".into()],
            ..AppConfig::default()
        };
        c.apps.insert("a".into(), app);
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("reverse-DNS"));
    }

    #[test]
    fn webhook_secrets_are_checked_at_start() {
        let check = |secret: &str| {
            let mut c = Config::default();
            let app = AppConfig {
                providers: vec!["custom-function".into()],
                custom_function: Some(WebhookConfig {
                    url: "https://hooks.example.com/login".into(),
                    secret: Secret::new(secret),
                }),
                ..AppConfig::default()
            };
            c.apps.insert("a".into(), app);
            c.validate().map_err(|e| e.to_string())
        };
        check("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        check("a plain secret of at least 32 bytes!").unwrap();
        let bad = check("whsec_this is not base64 at all, not even close").unwrap_err();
        assert!(
            bad.contains("custom_function.secret is not valid base64"),
            "{bad}"
        );
        assert!(
            !bad.contains("not even close"),
            "the secret is not shown: {bad}"
        );
        assert!(check("whsec_c2hvcnQ=")
            .unwrap_err()
            .contains("24 to 64 bytes"));
        assert!(check("too short")
            .unwrap_err()
            .contains("at least 32 bytes"));
    }

    #[test]
    fn custom_token_issuer_and_max_age_are_optional() {
        let mut c = Config::default();
        let mut token = CustomTokenConfig {
            issuer: None,
            audience: vec!["a".into()],
            algorithm: "HS256".into(),
            jwks_url: None,
            public_key_pem: None,
            secret: Some(Secret::new("k".repeat(32))),
            max_age_secs: None,
            metadata: vec![],
        };
        let app = |t: &CustomTokenConfig| AppConfig {
            providers: vec!["custom-token".into()],
            custom_token: Some(t.clone()),
            ..AppConfig::default()
        };
        c.apps.insert("a".into(), app(&token));
        c.validate().unwrap();
        token.issuer = Some(String::new());
        c.apps.insert("a".into(), app(&token));
        assert!(c.validate().unwrap_err().to_string().contains("issuer"));
        token.issuer = None;
        token.max_age_secs = Some(10);
        c.apps.insert("a".into(), app(&token));
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("max_age_secs"));
    }

    #[test]
    fn cors_origins_must_be_exact_origins() {
        let mut c = Config::default();
        for good in ["https://app.example.com", "http://localhost:5173"] {
            c.cors.allowed_origins = vec![good.into()];
            c.validate().unwrap();
        }
        for bad in [
            "*",
            "null",
            "https://app.example.com/",
            "https://App.example.com",
            "https://app.example.com:443",
            "app.example.com",
            "file:///x",
        ] {
            c.cors.allowed_origins = vec![bad.into()];
            assert!(c.validate().is_err(), "{bad}");
        }
    }

    #[test]
    fn example_config_parses_and_validates() {
        let text = include_str!("../gatehoused.example.toml");
        let c: Config = toml::from_str(text).expect("example parses");
        c.validate().expect("example validates");
        assert!(c.apps.contains_key("myapp-abcde"));
    }
}
