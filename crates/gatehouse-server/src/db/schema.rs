//! Versioned, transactional migrations. Portable SQL: TEXT ids, BIGINT times and flags.

use super::Db;

/// Each entry is one migration, applied in one transaction together with its version row.
const MIGRATIONS: &[&str] = &[
    // 1: users, identities, email/password accounts, mailed tokens, API keys, sessions,
    //    per-account failure counters.
    r#"
    CREATE TABLE users (
        id TEXT PRIMARY KEY,
        app_id TEXT NOT NULL,
        user_type TEXT NOT NULL,
        disabled BIGINT NOT NULL DEFAULT 0,
        data TEXT NOT NULL,
        created_at BIGINT NOT NULL
    );
    CREATE INDEX users_app ON users (app_id, created_at);
    CREATE TABLE identities (
        id TEXT PRIMARY KEY,
        app_id TEXT NOT NULL,
        user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        provider_type TEXT NOT NULL,
        provider_id TEXT NOT NULL,
        subject TEXT NOT NULL,
        data TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        UNIQUE (app_id, provider_type, subject)
    );
    CREATE INDEX identities_user ON identities (user_id);
    CREATE TABLE userpass (
        id TEXT PRIMARY KEY,
        app_id TEXT NOT NULL,
        email TEXT NOT NULL,
        password_hash TEXT NOT NULL,
        norm_version TEXT NOT NULL,
        confirmed_at BIGINT,
        user_id TEXT REFERENCES users (id) ON DELETE CASCADE,
        created_at BIGINT NOT NULL,
        UNIQUE (app_id, email)
    );
    CREATE TABLE email_tokens (
        id TEXT PRIMARY KEY,
        app_id TEXT NOT NULL,
        userpass_id TEXT NOT NULL REFERENCES userpass (id) ON DELETE CASCADE,
        purpose TEXT NOT NULL,
        token_hash TEXT NOT NULL,
        email TEXT NOT NULL,
        expires_at BIGINT NOT NULL,
        used_at BIGINT,
        created_at BIGINT NOT NULL
    );
    CREATE INDEX email_tokens_owner ON email_tokens (userpass_id, purpose);
    CREATE TABLE api_keys (
        id TEXT PRIMARY KEY,
        app_id TEXT NOT NULL,
        user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        kind TEXT NOT NULL,
        name TEXT NOT NULL,
        key_hash TEXT NOT NULL UNIQUE,
        disabled BIGINT NOT NULL DEFAULT 0,
        created_at BIGINT NOT NULL,
        UNIQUE (user_id, name)
    );
    CREATE TABLE sessions (
        id TEXT PRIMARY KEY,
        app_id TEXT NOT NULL,
        user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        device_id TEXT NOT NULL,
        provider_type TEXT NOT NULL,
        api_key_id TEXT,
        secret_hash TEXT NOT NULL,
        prev_secret_hash TEXT,
        rotated_at BIGINT,
        rotating BIGINT NOT NULL DEFAULT 0,
        created_at BIGINT NOT NULL,
        last_used_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL,
        revoked_at BIGINT,
        revoke_reason TEXT,
        user_agent TEXT,
        ip TEXT,
        device TEXT NOT NULL
    );
    CREATE INDEX sessions_user ON sessions (user_id, created_at);
    CREATE INDEX sessions_api_key ON sessions (api_key_id);
    CREATE TABLE login_failures (
        app_id TEXT NOT NULL,
        account TEXT NOT NULL,
        failures BIGINT NOT NULL,
        last_failure_at BIGINT NOT NULL,
        window_start BIGINT NOT NULL,
        PRIMARY KEY (app_id, account)
    );
    "#,
    // 2: queries on a user's *live* sessions stay fast however many ended sessions it has
    //    (docs/benchmarks.md: logins slowed down with thousands of revoked rows), and the
    //    pruning of expired rows has its index.
    r#"
    CREATE INDEX sessions_live_device ON sessions (user_id, device_id) WHERE revoked_at IS NULL;
    CREATE INDEX sessions_live_created ON sessions (user_id, created_at) WHERE revoked_at IS NULL;
    CREATE INDEX sessions_expiry ON sessions (expires_at);
    CREATE INDEX email_tokens_expiry ON email_tokens (expires_at)
    "#,
    // 3: phone/password accounts and texted one-time codes (stored as keyed hashes).
    r#"
    CREATE TABLE phone_accounts (
        id TEXT PRIMARY KEY,
        app_id TEXT NOT NULL,
        phone TEXT NOT NULL,
        password_hash TEXT NOT NULL,
        norm_version TEXT NOT NULL,
        confirmed_at BIGINT,
        user_id TEXT REFERENCES users (id) ON DELETE CASCADE,
        created_at BIGINT NOT NULL,
        UNIQUE (app_id, phone)
    );
    CREATE TABLE sms_codes (
        id TEXT PRIMARY KEY,
        app_id TEXT NOT NULL,
        phone TEXT NOT NULL,
        purpose TEXT NOT NULL,
        code_hash TEXT NOT NULL,
        attempts BIGINT NOT NULL DEFAULT 0,
        expires_at BIGINT NOT NULL,
        used_at BIGINT,
        created_at BIGINT NOT NULL
    );
    CREATE INDEX sms_codes_phone ON sms_codes (app_id, phone, purpose, created_at)
    "#,
    // 4: magic links, bound to the device that asked for them by a PKCE challenge.
    r#"
    CREATE TABLE magic_links (
        id TEXT PRIMARY KEY,
        app_id TEXT NOT NULL,
        userpass_id TEXT NOT NULL REFERENCES userpass (id) ON DELETE CASCADE,
        email TEXT NOT NULL,
        link_hash TEXT NOT NULL,
        otp_hash TEXT NOT NULL,
        otp_attempts BIGINT NOT NULL DEFAULT 0,
        code_challenge TEXT NOT NULL,
        redirect_uri TEXT NOT NULL,
        state TEXT NOT NULL,
        expires_at BIGINT NOT NULL,
        opened_at BIGINT,
        app_code_hash TEXT,
        app_code_expires_at BIGINT,
        redeemed_at BIGINT,
        created_at BIGINT NOT NULL
    );
    CREATE INDEX magic_links_email ON magic_links (app_id, email, created_at)
    "#,
    // 5: redirect logins through upstream OAuth providers, and custom-token ids already used.
    r#"
    CREATE TABLE oauth_flows (
        id TEXT PRIMARY KEY,
        app_id TEXT NOT NULL,
        provider TEXT NOT NULL,
        state_hash TEXT NOT NULL UNIQUE,
        binding_hash TEXT,
        start_hash TEXT,
        nonce TEXT NOT NULL,
        upstream_verifier TEXT NOT NULL,
        code_challenge TEXT,
        redirect_uri TEXT NOT NULL,
        client_state TEXT NOT NULL,
        device TEXT NOT NULL,
        link_user_id TEXT,
        expires_at BIGINT NOT NULL,
        callback_at BIGINT,
        identity TEXT,
        app_code_hash TEXT,
        app_code_expires_at BIGINT,
        redeemed_at BIGINT,
        session_user_id TEXT,
        session_device_id TEXT,
        created_at BIGINT NOT NULL
    );
    CREATE INDEX oauth_flows_expiry ON oauth_flows (expires_at);
    CREATE TABLE used_jtis (
        app_id TEXT NOT NULL,
        jti TEXT NOT NULL,
        expires_at BIGINT NOT NULL,
        PRIMARY KEY (app_id, jti)
    )
    "#,
    // 6: a confirmation token is bound to the password hash it was issued for (a fingerprint of
    //    it), so a link from before a re-registration confirms nothing (issue 12, item 1).
    r#"
    ALTER TABLE email_tokens ADD COLUMN password_fp TEXT
    "#,
    // 7 (issue 12, SMS flows + activity log): a texted sign-in code belongs to the flow that
    //    asked for it (its PKCE challenge; empty for confirm/reset codes), and security events
    //    per user (refresh-token reuse first; issue 17 adds the rest), pruned after 90 days.
    r#"
    ALTER TABLE sms_codes ADD COLUMN flow TEXT NOT NULL DEFAULT '';
    CREATE INDEX sms_codes_flow ON sms_codes (app_id, phone, purpose, flow, created_at);
    CREATE TABLE activity (
        id TEXT PRIMARY KEY,
        app_id TEXT NOT NULL,
        user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        kind TEXT NOT NULL,
        detail TEXT NOT NULL,
        ip TEXT,
        user_agent TEXT,
        created_at BIGINT NOT NULL
    );
    CREATE INDEX activity_user ON activity (user_id, created_at);
    CREATE INDEX activity_created ON activity (created_at)
    "#,
    // 8 (issue 15, custom user data): one JSON document per user, carried in access tokens
    //    (`user_data`); NULL when the operator never set one.
    r#"
    ALTER TABLE users ADD COLUMN custom_data TEXT
    "#,
    // 9 (issue 17, self-service email change): a pending change of an account's address (its
    //    confirmation link, mailed to the new address) and, once confirmed, the undo link mailed
    //    to the old one; single use, stored as hashes.
    r#"
    CREATE TABLE email_changes (
        id TEXT PRIMARY KEY,
        app_id TEXT NOT NULL,
        userpass_id TEXT NOT NULL REFERENCES userpass (id) ON DELETE CASCADE,
        user_id TEXT NOT NULL,
        purpose TEXT NOT NULL,
        old_email TEXT NOT NULL,
        new_email TEXT NOT NULL,
        token_hash TEXT NOT NULL,
        expires_at BIGINT NOT NULL,
        used_at BIGINT,
        created_at BIGINT NOT NULL
    );
    CREATE INDEX email_changes_account ON email_changes (userpass_id, purpose);
    CREATE INDEX email_changes_expiry ON email_changes (expires_at)
    "#,
    // 10 (issue 17, activity log / new-device alerts): the devices each user has signed in from
    //    (kept apart from the activity log, which is pruned: an old device must not turn "new"
    //    after the retention period), and the single-use, hashed "this wasn't me" links of alerts.
    r#"
    CREATE TABLE known_devices (
        user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        device_id TEXT NOT NULL,
        first_seen_at BIGINT NOT NULL,
        PRIMARY KEY (user_id, device_id)
    );
    CREATE TABLE device_alerts (
        id TEXT PRIMARY KEY,
        app_id TEXT NOT NULL,
        user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        token_hash TEXT NOT NULL,
        expires_at BIGINT NOT NULL,
        used_at BIGINT
    );
    CREATE INDEX device_alerts_expires ON device_alerts (expires_at)
    "#,
    // 11 (issue 13, multi-factor sign-in): second factors (a TOTP secret sealed with the
    //    server's MFA key, or a passkey's credential), single-use recovery codes (SHA-256), and
    //    the challenges a first-factor login answers with instead of a session (single use,
    //    bound to app, user, provider and device).
    r#"
    CREATE TABLE mfa_factors (
        id TEXT PRIMARY KEY,
        user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        app_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        name TEXT NOT NULL,
        secret_enc TEXT,
        credential TEXT,
        confirmed BIGINT NOT NULL DEFAULT 0,
        created_at BIGINT NOT NULL,
        last_used_at BIGINT,
        last_step BIGINT
    );
    CREATE INDEX mfa_factors_user ON mfa_factors (user_id, created_at);
    CREATE TABLE mfa_recovery_codes (
        user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        code_hash TEXT NOT NULL,
        used_at BIGINT,
        PRIMARY KEY (user_id, code_hash)
    );
    CREATE TABLE mfa_challenges (
        id TEXT PRIMARY KEY,
        app_id TEXT NOT NULL,
        user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        provider_type TEXT NOT NULL,
        device_id TEXT,
        kind TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL,
        used_at BIGINT,
        attempts BIGINT NOT NULL DEFAULT 0,
        passkey_code_hash TEXT,
        code_challenge TEXT
    );
    CREATE INDEX mfa_challenges_expiry ON mfa_challenges (expires_at)
    "#,
    // 12 (issue 13, passkeys): a passkey factor is found by its WebAuthn credential id (unique
    //    in an app; NULL for TOTP factors), and the browser ceremonies that register or use one
    //    (webauthn-rs state, single use, 5 minutes; the app's PKCE challenge and the hash of the
    //    one-time code the page hands back to the app).
    r#"
    ALTER TABLE mfa_factors ADD COLUMN credential_id TEXT;
    CREATE UNIQUE INDEX mfa_factors_credential ON mfa_factors (app_id, credential_id);
    CREATE TABLE passkey_ceremonies (
        id TEXT PRIMARY KEY,
        app_id TEXT NOT NULL,
        purpose TEXT NOT NULL,
        user_id TEXT REFERENCES users (id) ON DELETE CASCADE,
        challenge_id TEXT,
        name TEXT,
        redirect_uri TEXT NOT NULL,
        client_state TEXT NOT NULL,
        code_challenge TEXT NOT NULL,
        key_hash TEXT NOT NULL,
        webauthn_state TEXT,
        expires_at BIGINT NOT NULL,
        finished_at BIGINT,
        factor_id TEXT,
        app_code_hash TEXT,
        app_code_expires_at BIGINT,
        redeemed_at BIGINT,
        created_at BIGINT NOT NULL
    );
    CREATE INDEX passkey_ceremonies_expiry ON passkey_ceremonies (expires_at)
    "#,
    // 13: the signing keys every instance shares when a key-encryption key is configured
    //     (issue 14): one row, the key set sealed under the KEK (`tokens::key_store`).
    r#"
    CREATE TABLE signing_keys (
        id INTEGER PRIMARY KEY,
        sealed TEXT NOT NULL,
        updated_at BIGINT NOT NULL
    )
    "#,
    // 14: per-client rate-limit buckets shared by every instance (`[rate_limits] shared`,
    //     `ratelimit::shared`): tokens left at `at` (Unix seconds), and the last batch's take.
    r#"
    CREATE TABLE rate_buckets (
        bucket TEXT PRIMARY KEY,
        tokens DOUBLE PRECISION NOT NULL,
        at DOUBLE PRECISION NOT NULL,
        wanted DOUBLE PRECISION NOT NULL,
        capacity DOUBLE PRECISION NOT NULL,
        rate DOUBLE PRECISION NOT NULL,
        granted DOUBLE PRECISION NOT NULL
    )
    "#,
    // 15: mail and SMS sends counted by every instance (`[rate_limits] shared`,
    //     `ratelimit::shared_sends`): one row per send and key, pruned after a day.
    r#"
    CREATE TABLE send_log (
        key TEXT NOT NULL,
        sent_at BIGINT NOT NULL
    );
    CREATE INDEX send_log_key ON send_log (key, sent_at);
    CREATE INDEX send_log_sent ON send_log (sent_at);
    "#,
];

/// The schema version a database had before [`migrate`] and has after it (0: an empty database).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Migrated {
    pub before: i64,
    pub after: i64,
}

/// The PostgreSQL advisory lock that makes instances starting together migrate one at a time
/// (an arbitrary constant: "gateho" in ASCII).
const MIGRATION_LOCK: i64 = 0x6761_7465_686f;

/// Applies pending migrations, one transaction each. On PostgreSQL each transaction first takes
/// [`MIGRATION_LOCK`] and reads the version again under it, so instances starting at once (a
/// cluster) apply each migration exactly once; a transaction-scoped lock also works through
/// pgbouncer's transaction pooling. SQLite has one writer connection: nothing can race.
pub(super) async fn migrate(db: &Db) -> anyhow::Result<Migrated> {
    let mut before = None;
    loop {
        let mut tx = db.writer().begin().await?;
        if db.backend == super::Backend::Postgres {
            sqlx::query("SELECT count(*) FROM (SELECT pg_advisory_xact_lock($1)) AS locked")
                .bind(MIGRATION_LOCK)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS schema_migrations \
             (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
        )
        .execute(&mut *tx)
        .await?;
        let current: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM schema_migrations")
            .fetch_one(&mut *tx)
            .await?;
        let current = current.unwrap_or(0);
        before.get_or_insert(current);
        anyhow::ensure!(
            current as usize <= MIGRATIONS.len(),
            "the database schema (version {current}) is newer than this gatehoused understands \
             ({}); run a newer gatehoused",
            MIGRATIONS.len()
        );
        let Some(sql) = MIGRATIONS.get(current as usize) else {
            tx.commit().await?;
            break;
        };
        let version = current + 1;
        for statement in sql.split(';').map(str::trim).filter(|s| !s.is_empty()) {
            sqlx::query(statement).execute(&mut *tx).await?;
        }
        sqlx::query("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)")
            .bind(version)
            .bind(crate::clock::Clock::default().now())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        tracing::info!(version, "applied database migration");
    }
    Ok(Migrated {
        before: before.unwrap_or(0),
        after: MIGRATIONS.len() as i64,
    })
}
