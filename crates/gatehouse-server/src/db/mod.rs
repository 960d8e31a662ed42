//! Database access through sqlx's `Any` driver, so one set of portable SQL serves SQLite and
//! PostgreSQL. Queries use `$1, $2, …` placeholders (both backends accept them), TEXT ids, BIGINT
//! Unix-second timestamps and 0/1 flags.
//!
//! SQLite: WAL, `synchronous=FULL`, `foreign_keys=ON`, `busy_timeout=5000`; one writer connection
//! (so write transactions never race each other into `SQLITE_BUSY`) next to a reader pool.
//! PostgreSQL: one pool for both roles.

mod group_commit;
mod inline_read;
mod schema;
mod script;

pub use group_commit::{BoxFuture, Tx};

pub use schema::Migrated;
pub use script::{Arg, Script, Statement};

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone)]
pub struct Db {
    pub backend: Backend,
    writer: AnyPool,
    reader: AnyPool,
    /// SQLite's batcher of write transactions ([`Db::write`]).
    group_commit: Option<group_commit::GroupCommit>,
    /// SQLite's reads on the calling thread ([`Db::read_inline`]); none in memory.
    inline: Option<std::sync::Arc<inline_read::InlineReader>>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

impl Db {
    /// Connects, applies pending migrations and checks the schema is not newer than this binary.
    pub async fn connect(url: &str) -> anyhow::Result<Db> {
        Ok(Self::connect_migrated(url).await?.0)
    }

    /// [`Db::connect`], also saying which schema version the database had before and has after
    /// (`gatehoused admin migrate` prints them).
    pub async fn connect_migrated(url: &str) -> anyhow::Result<(Db, Migrated)> {
        let db = Self::open(url).await?;
        let migrated = schema::migrate(&db).await?;
        let db = db
            .with_group_commit()
            .map_err(|e| anyhow::anyhow!("cannot start the write batcher's thread: {e}"))?;
        Ok((db, migrated))
    }

    /// Connects without touching the schema.
    async fn open(url: &str) -> anyhow::Result<Db> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            anyhow::bail!(
                "database URL must start with sqlite:// or postgres:// (got {:?})",
                redact_url(url)
            );
        };
        let db = match backend {
            Backend::Sqlite => {
                let url = if url.contains('?') {
                    url.to_string()
                } else {
                    format!("{url}?mode=rwc")
                };
                let files = sqlite_files(&url);
                if let Some(db_file) = files.first() {
                    // Created 0600 here so SQLite never makes it world-readable; its -wal and
                    // -shm take the database file's mode.
                    if let Err(e) = crate::files::create_private_file(db_file) {
                        tracing::debug!(error = %e, "database file not pre-created");
                    }
                }
                for file in &files {
                    crate::files::tighten(file, crate::files::PRIVATE_FILE)?;
                }
                let options = AnyConnectOptions::from_str(&url)?;
                let writer = sqlite_pool(1)
                    .connect_with(options.clone())
                    .await
                    .map_err(|e| {
                        anyhow::anyhow!("cannot open SQLite database {}: {e}", redact_url(&url))
                    })?;
                let reader = sqlite_pool(4).connect_with(options).await?;
                for file in &files {
                    crate::files::tighten(file, crate::files::PRIVATE_FILE)?;
                }
                let inline = files
                    .first()
                    .map(|db_file| std::sync::Arc::new(inline_read::InlineReader::new(db_file)));
                Db {
                    backend,
                    writer,
                    reader,
                    group_commit: None,
                    inline,
                }
            }
            Backend::Postgres => {
                let pool = AnyPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(5))
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            conn.execute("SET statement_timeout = '10s'").await?;
                            Ok(())
                        })
                    })
                    .connect(url)
                    .await
                    .map_err(|e| {
                        anyhow::anyhow!(
                            "cannot connect to PostgreSQL at {}: {e}{}",
                            redact_url(url),
                            tls_hint(&e)
                        )
                    })?;
                Db {
                    backend,
                    writer: pool.clone(),
                    reader: pool,
                    group_commit: None,
                    inline: None,
                }
            }
        };
        Ok(db)
    }

    /// Pool for writes and for reads that must see the latest committed write in a transaction.
    pub fn writer(&self) -> &AnyPool {
        &self.writer
    }

    /// Pool for plain reads.
    pub fn reader(&self) -> &AnyPool {
        &self.reader
    }

    /// A read on the calling thread, for the hot path (`inline_read`): `None` on PostgreSQL, on
    /// an in-memory SQLite, or when it could not be made; the caller then reads through
    /// [`Db::reader`].
    pub fn read_inline<T>(
        &self,
        read: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<T>,
    ) -> Option<T> {
        self.inline.as_ref()?.read(read)
    }

    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT 1")
            .execute(&self.reader)
            .await
            .map(|_| ())
    }

    /// Checkpoints the SQLite WAL and closes the pools (clean shutdown).
    pub async fn close(&self) {
        if self.backend == Backend::Sqlite {
            let _ = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(&self.writer)
                .await;
        }
        self.reader.close().await;
        self.writer.close().await;
    }

    /// `PRAGMA integrity_check` on SQLite; a trivial query on PostgreSQL.
    pub async fn integrity_check(&self) -> anyhow::Result<String> {
        match self.backend {
            Backend::Sqlite => {
                let row: (String,) = sqlx::query_as("PRAGMA integrity_check")
                    .fetch_one(&self.reader)
                    .await?;
                let fk = sqlx::query("PRAGMA foreign_key_check")
                    .fetch_all(&self.reader)
                    .await?;
                anyhow::ensure!(
                    fk.is_empty(),
                    "foreign key check found {} broken rows",
                    fk.len()
                );
                Ok(row.0)
            }
            Backend::Postgres => {
                self.ping().await?;
                Ok("ok".into())
            }
        }
    }
}

/// The files of an on-disk SQLite database URL: the database, its `-wal` and its `-shm`
/// (nothing for an in-memory database).
fn sqlite_files(url: &str) -> Vec<std::path::PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or("");
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if path.is_empty() || path.starts_with(":memory:") || query.contains("mode=memory") {
        return Vec::new();
    }
    ["", "-wal", "-shm"]
        .iter()
        .map(|suffix| std::path::PathBuf::from(format!("{path}{suffix}")))
        .collect()
}

fn sqlite_pool(max: u32) -> AnyPoolOptions {
    AnyPoolOptions::new()
        .max_connections(max)
        .min_connections(1)
        .acquire_timeout(Duration::from_secs(5))
        .after_connect(|conn, _| {
            Box::pin(async move {
                // Durability first: a power loss must not resurrect a revoked session
                // (security.md C.1).
                conn.execute("PRAGMA journal_mode = WAL").await?;
                conn.execute("PRAGMA synchronous = FULL").await?;
                conn.execute("PRAGMA foreign_keys = ON").await?;
                conn.execute("PRAGMA busy_timeout = 5000").await?;
                Ok(())
            })
        })
}

/// The URL without its password, for error messages and logs.
/// What to check when a TLS connection fails (`sslmode=verify-full`).
fn tls_hint(e: &sqlx::Error) -> &'static str {
    let text = e.to_string().to_ascii_lowercase();
    if text.contains("certificate") || text.contains("tls") || text.contains("ssl") {
        " (TLS: sslrootcert must be the CA that signed the server's certificate, and the URL's \
         host must be a name the certificate lists)"
    } else {
        ""
    }
}

pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}://{}:***@{}", &url[..scheme_end], user, &url[at + 1..])
        }
        _ => url.to_string(),
    }
}

/// Flags are stored as 0/1 BIGINT on both backends.
pub fn flag(b: bool) -> i64 {
    b as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[tokio::test]
    async fn the_database_and_its_wal_and_shm_are_private() {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.db");
        let url = format!("sqlite://{}", path.display());
        let db = Db::connect(&url).await.unwrap();
        sqlx::query("CREATE TABLE t (x INTEGER)")
            .execute(db.writer())
            .await
            .unwrap();
        let files = sqlite_files(&url);
        assert_eq!(files.len(), 3);
        for file in &files {
            assert!(file.exists(), "{}", file.display());
            assert_eq!(mode(file), 0o600, "{}", file.display());
        }
        db.close().await;
        // An older run's world-readable files are narrowed at start.
        for file in &files {
            if file.exists() {
                std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o644)).unwrap();
            }
        }
        let db = Db::connect(&url).await.unwrap();
        for file in &files {
            assert_eq!(mode(file), 0o600, "{}", file.display());
        }
        db.close().await;
        assert!(sqlite_files("sqlite::memory:").is_empty());
    }

    #[test]
    fn redacts_passwords_in_urls() {
        assert_eq!(
            redact_url("postgres://u:pw@h:5/db"),
            "postgres://u:***@h:5/db"
        );
        assert_eq!(redact_url("sqlite:///tmp/x.db"), "sqlite:///tmp/x.db");
    }
}
