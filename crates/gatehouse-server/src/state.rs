//! Shared server state handed to every request.

use std::collections::BTreeMap;
use std::ops::Deref;
use std::sync::Arc;

use gatehouse_proto::{ErrorCode, ProviderType};

use crate::clock::Clock;
use crate::config::{AppConfig, Config};
use crate::db::Db;
use crate::error::ApiError;
use crate::mail::Mailer;
use crate::password::{Hasher, PasswordPolicy};
use crate::ratelimit::RateLimiter;
use crate::tokens::Keys;

#[derive(Clone, Debug)]
pub struct AppState(Arc<Inner>);

#[derive(Debug)]
pub struct Inner {
    pub config: Config,
    pub public_url: String,
    pub db: Db,
    pub keys: Keys,
    pub hasher: Hasher,
    pub policy: PasswordPolicy,
    pub mailer: Mailer,
    pub sms: crate::sms::SmsSender,
    pub limiter: RateLimiter,
    pub clock: Clock,
    pub metrics: Metrics,
    /// Guarded client for JWKS, webhooks and OAuth providers.
    pub outbound: crate::outbound::Outbound,
    pub jwks: crate::idp::jwks::JwksCache,
    /// Address-dependent work done after answering (enumeration-safe timing).
    pub background: crate::background::Background,
    /// Seals TOTP secrets at rest (`[mfa] key_file` / `GATEHOUSE_MFA_KEY`).
    pub mfa_box: crate::mfa::secret_box::SecretBox,
}

/// Counters for tests and operators.
#[derive(Debug, Default)]
pub struct Metrics {
    /// `POST /auth/session` requests that reached the refresh logic.
    pub refreshes: std::sync::atomic::AtomicU64,
}

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    /// Builds the state: data dir, database (migrated), signing keys, hasher, mailer.
    pub async fn build(config: Config) -> anyhow::Result<AppState> {
        config.validate()?;
        crate::files::create_private_dir(&config.data_dir).map_err(|e| {
            anyhow::anyhow!(
                "cannot create data directory {}: {e}",
                config.data_dir.display()
            )
        })?;
        let public_url = config.public_url();
        let db = Db::connect(&config.database_url()).await?;
        let key_file = crate::tokens::key_file::path(&config);
        let (issuer, ttl) = (&config.tokens.issuer, config.tokens.access_ttl_secs);
        let keys = match crate::tokens::key_store::kek(&config)? {
            Some(kek) => Keys::load_or_create_in_db(&db, kek, &key_file, issuer, ttl).await?,
            None => Keys::load_or_create(&key_file, issuer, ttl)?,
        };
        let hasher = Hasher::new(&config.passwords)?;
        let policy = PasswordPolicy::new(config.passwords.min_chars, config.passwords.max_chars);
        let mailer = Mailer::new(config.smtp.as_ref(), &config.data_dir)?;
        let sms = crate::sms::SmsSender::new(config.sms.as_ref(), &mailer, &config.data_dir)?;
        let shared = (config.rate_limits.enabled && config.rate_limits.shared)
            .then(|| crate::ratelimit::shared::SharedBuckets::start(db.clone()));
        let limiter = RateLimiter::with_shared(config.rate_limits.clone(), shared);
        let outbound = crate::outbound::Outbound::new(&config.outbound)?;
        let mfa_box = crate::mfa::secret_box::SecretBox::load(&config)?;
        Ok(AppState(Arc::new(Inner {
            config,
            public_url,
            db,
            keys,
            hasher,
            policy,
            mailer,
            sms,
            limiter,
            clock: Clock::default(),
            metrics: Metrics::default(),
            outbound,
            jwks: Default::default(),
            background: crate::background::Background::start(),
            mfa_box,
        })))
    }

    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    pub fn apps(&self) -> &BTreeMap<String, AppConfig> {
        &self.config.apps
    }

    /// The app named in the URL, or a clear error naming it.
    pub fn app(&self, app_id: &str) -> Result<&AppConfig, ApiError> {
        self.config.apps.get(app_id).ok_or_else(|| {
            ApiError::new(
                ErrorCode::AppNotFound,
                format!(
                    "no app with id {app_id:?} on this server; check the app id in your \
                     client configuration"
                ),
            )
        })
    }

    /// The app, provided it has `provider` enabled.
    pub fn provider(&self, app_id: &str, provider: ProviderType) -> Result<&AppConfig, ApiError> {
        self.provider_named(app_id, provider.as_str())
            .map(|(app, _)| app)
    }

    /// The app and the provider a URL names, provided the app has it enabled (a name this build
    /// does not know cannot be enabled: configuration refuses it).
    pub fn provider_named(
        &self,
        app_id: &str,
        provider: &str,
    ) -> Result<(&AppConfig, ProviderType), ApiError> {
        let app = self.app(app_id)?;
        if !app.providers.iter().any(|p| p == provider) {
            return Err(ApiError::new(
                ErrorCode::AuthProviderNotFound,
                format!("authentication provider {provider:?} is not enabled for app {app_id:?}"),
            ));
        }
        let known = ProviderType::parse(provider)
            .ok_or_else(|| crate::providers::not_implemented(provider))?;
        Ok((app, known))
    }
}
