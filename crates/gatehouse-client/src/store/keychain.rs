//! Where tokens live: the OS keychain (Secret Service on Linux, Keychain on macOS, Credential
//! Manager on Windows) through the `keyring` crate — with a real backend enabled, since keyring 3
//! without one silently keeps secrets in memory. One entry per (server, app, user). Keychain calls
//! block, so they run on the blocking pool with a timeout.
//!
//! When no keychain is usable the caller gets [`Error::Keychain`] with the reason and what to do,
//! and may choose [`MemoryKeychain`] for that run; there is never a plain-text fallback.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::lock::lock;

/// Keychain "service" name of every entry.
pub const SERVICE: &str = "gatehouse";
const TIMEOUT: Duration = Duration::from_secs(10);

/// The largest entry written or read: Windows' Credential Manager holds at most 2,560 bytes per
/// credential, so an entry that fits everywhere is refused here, before the platform call, with
/// a clear error instead of a platform-specific one (security.md T-46). Our tokens are about
/// 1 KiB together.
pub const MAX_ENTRY_BYTES: usize = 2560;

/// What one entry holds, encoded; refused over [`MAX_ENTRY_BYTES`].
pub fn encode(tokens: &StoredTokens) -> Result<String> {
    let text = serde_json::to_string(tokens).map_err(|e| Error::Keychain {
        reason: format!("cannot encode the tokens ({e})"),
        advice: ADVICE.into(),
    })?;
    if text.len() > MAX_ENTRY_BYTES {
        return Err(Error::Keychain {
            reason: format!(
                "the server's tokens take {} bytes, more than the {MAX_ENTRY_BYTES} a keychain \
                 entry can hold on every system",
                text.len()
            ),
            advice: "Ask the server's operator: its tokens are unusually large.".into(),
        });
    }
    Ok(text)
}

/// An entry's tokens, or `None` when it is not ours to read: oversized, or not our format (it
/// was overwritten from outside). Such a user is shown as signed out and signs in again, which
/// replaces the entry; the other users are unaffected (security.md T-45).
pub fn decode(account: &str, text: &str) -> Option<StoredTokens> {
    if text.len() > MAX_ENTRY_BYTES {
        tracing::warn!(
            account,
            bytes = text.len(),
            "a keychain entry is oversized; ignored"
        );
        return None;
    }
    match serde_json::from_str(text) {
        Ok(tokens) => Some(tokens),
        Err(e) => {
            tracing::warn!(account, error = %e, "a keychain entry is not readable; ignored");
            None
        }
    }
}

/// The tokens of one user.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredTokens {
    pub refresh_token: String,
    #[serde(default)]
    pub access_token: Option<String>,
}

impl std::fmt::Debug for StoredTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoredTokens { .. redacted .. }")
    }
}

/// A place for secrets. Implementations must be durable before `set` returns.
pub trait Keychain: Send + Sync + 'static {
    fn get(&self, account: &str) -> Result<Option<StoredTokens>>;
    fn set(&self, account: &str, tokens: &StoredTokens) -> Result<()>;
    fn delete(&self, account: &str) -> Result<()>;
    /// Where secrets live, in words a person understands.
    fn describe(&self) -> &'static str;
}

/// Entry name for a user of an app on a server.
pub fn account(server: &str, app_id: &str, user_id: &str) -> String {
    format!("{server}|{app_id}|{user_id}")
}

/// Runs a keychain call on the blocking pool, bounded by a timeout (a keychain waiting on an
/// unlock prompt must not hang the caller forever).
pub async fn call<T: Send + 'static>(
    keychain: &Arc<dyn Keychain>,
    f: impl FnOnce(&dyn Keychain) -> Result<T> + Send + 'static,
) -> Result<T> {
    let keychain = keychain.clone();
    match tokio::time::timeout(
        TIMEOUT,
        tokio::task::spawn_blocking(move || f(keychain.as_ref())),
    )
    .await
    {
        Ok(Ok(result)) => result,
        Ok(Err(join)) => Err(Error::Keychain {
            reason: format!("keychain call failed: {join}"),
            advice: ADVICE.into(),
        }),
        Err(_) => Err(Error::Keychain {
            reason: format!(
                "the keychain did not answer within {} s (is it waiting for an unlock prompt?)",
                TIMEOUT.as_secs()
            ),
            advice: ADVICE.into(),
        }),
    }
}

pub(crate) const ADVICE: &str =
    "Unlock your keyring (GNOME Keyring, KWallet, macOS Keychain) and try again, \
    or choose memory-only sessions for this run (you will have to sign in again next time)";

const NO_SERVICE_ADVICE: &str = "Start a keyring service in your session \
    (on Linux: GNOME Keyring or KWallet; headless: gnome-keyring-daemon --unlock \
    --components=secrets under dbus-run-session) and try again, \
    or choose memory-only sessions for this run (you will have to sign in again next time)";

/// The OS keychain through `keyring`.
#[derive(Debug, Default)]
pub struct OsKeychain;

impl OsKeychain {
    /// Writes, reads back and deletes a probe entry: proves the keychain really stores secrets
    /// (and is unlocked) before any token is trusted to it. Bounded by the same timeout as
    /// [`call`]: a keychain waiting on an unlock prompt nobody answers must not hang the caller.
    pub fn self_test() -> Result<OsKeychain> {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("gatehouse-keychain-self-test".into())
            .spawn(move || {
                let _ = tx.send(Self::probe());
            })
            .map_err(|e| Error::Keychain {
                reason: format!("cannot start the keychain self-test ({e})"),
                advice: ADVICE.into(),
            })?;
        match rx.recv_timeout(TIMEOUT) {
            Ok(result) => result,
            // The thread stays blocked on the keychain; it ends when the keychain answers.
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => Err(Error::Keychain {
                reason: format!(
                    "the keychain did not answer within {} s (is it waiting for an unlock prompt?)",
                    TIMEOUT.as_secs()
                ),
                advice: ADVICE.into(),
            }),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => Err(Error::Keychain {
                reason: "the keychain self-test failed unexpectedly".into(),
                advice: ADVICE.into(),
            }),
        }
    }

    fn probe() -> Result<OsKeychain> {
        // A name of its own per self-test: Apps built at the same time in one process must not
        // read or delete each other's probe (seen: "No such interface
        // org.freedesktop.Secret.Item").
        static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let probe = format!(
            "self-test|{}|{}",
            std::process::id(),
            SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        let _turn = one_at_a_time();
        let entry = keyring::Entry::new(SERVICE, &probe).map_err(map_err)?;
        entry.set_password("probe").map_err(map_err)?;
        // A second Entry object: the keyring mock store would fail here, a real store succeeds.
        let read = keyring::Entry::new(SERVICE, &probe)
            .map_err(map_err)?
            .get_password();
        let _ = entry.delete_credential();
        let read = match read {
            Ok(read) => read,
            Err(keyring::Error::NoEntry) => {
                return Err(Error::Keychain {
                    reason: "the keychain accepted a test secret but could not give it back \
                        (it does not really store secrets)"
                        .into(),
                    advice: ADVICE.into(),
                })
            }
            Err(e) => return Err(map_err(e)),
        };
        if read != "probe" {
            return Err(Error::Keychain {
                reason: "the keychain returned something else than was stored".into(),
                advice: ADVICE.into(),
            });
        }
        Ok(OsKeychain)
    }
}

/// Turns a `keyring` error into reason + advice a person can act on. The Secret Service backend
/// reports a locked collection in two ways: `NoStorageAccess` (locked, unlock prompt dismissed —
/// e.g. no display to show it on —, or no default keyring) and, when creating an item,
/// `PlatformFailure` carrying the D-Bus error "Cannot create an item in a locked collection"
/// (`org.freedesktop.Secret.Error.IsLocked`); the latter is recognised by its text.
fn map_err(e: keyring::Error) -> Error {
    const LOCKED: &str =
        "the keyring is locked (or not set up yet) and could not be unlocked here — \
        no unlock prompt could be shown, or it was dismissed";
    let (reason, advice) = match &e {
        keyring::Error::NoStorageAccess(inner) => (format!("{LOCKED} ({inner})"), ADVICE),
        keyring::Error::PlatformFailure(inner) => {
            let text = inner.to_string();
            let lower = text.to_lowercase();
            if lower.contains("locked") {
                (format!("{LOCKED} ({text})"), ADVICE)
            } else if [
                "failed to connect",
                "not provided by any .service files",
                "serviceunknown",
                "service unknown",
                "autolaunch",
                "no such file or directory",
                "connection refused",
            ]
            .iter()
            .any(|m| lower.contains(m))
            {
                let reason = format!(
                    "no keychain service is running — on Linux a Secret Service \
                     (GNOME Keyring or KWallet) on the D-Bus session bus is needed ({text})"
                );
                (reason, NO_SERVICE_ADVICE)
            } else {
                (format!("the keychain service failed ({text})"), ADVICE)
            }
        }
        keyring::Error::NoEntry => (
            "the keychain lost an entry it had just been given".to_string(),
            ADVICE,
        ),
        other => (
            format!("the keychain refused the request ({other})"),
            ADVICE,
        ),
    };
    Error::Keychain {
        reason,
        advice: advice.into(),
    }
}

/// One Secret Service conversation at a time per process. gnome-keyring 42 (Debian 12) aborts
/// when a client connection goes away while another of the same process is opening a session
/// (seen in CI: `gkd_secret_service_get_pkcs11_session: assertion 'client' failed`, then
/// SIGTRAP), which would take every other app's secrets offline with it. Keychain calls are
/// rare and short, so queueing them costs nothing a person could notice.
static SECRET_SERVICE: Mutex<()> = Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    lock(&SECRET_SERVICE)
}

impl Keychain for OsKeychain {
    fn get(&self, account: &str) -> Result<Option<StoredTokens>> {
        let _turn = one_at_a_time();
        let entry = keyring::Entry::new(SERVICE, account).map_err(map_err)?;
        match entry.get_password() {
            Ok(text) => Ok(decode(account, &text)),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(map_err(e)),
        }
    }

    fn set(&self, account: &str, tokens: &StoredTokens) -> Result<()> {
        let text = encode(tokens)?;
        let _turn = one_at_a_time();
        keyring::Entry::new(SERVICE, account)
            .map_err(map_err)?
            .set_password(&text)
            .map_err(map_err)
    }

    fn delete(&self, account: &str) -> Result<()> {
        let _turn = one_at_a_time();
        match keyring::Entry::new(SERVICE, account)
            .map_err(map_err)?
            .delete_credential()
        {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(e) => Err(map_err(e)),
        }
    }

    fn describe(&self) -> &'static str {
        "the OS keychain"
    }
}

/// Secrets in memory only: gone when the process ends. For tests, and for people who choose
/// memory-only sessions when no keychain is usable.
#[derive(Debug, Default, Clone)]
pub struct MemoryKeychain {
    entries: Arc<Mutex<HashMap<String, StoredTokens>>>,
}

impl Keychain for MemoryKeychain {
    fn get(&self, account: &str) -> Result<Option<StoredTokens>> {
        Ok(lock(&self.entries).get(account).cloned())
    }
    fn set(&self, account: &str, tokens: &StoredTokens) -> Result<()> {
        encode(tokens)?; // the same size guard as the OS keychain
        lock(&self.entries).insert(account.to_string(), tokens.clone());
        Ok(())
    }
    fn delete(&self, account: &str) -> Result<()> {
        lock(&self.entries).remove(account);
        Ok(())
    }
    fn describe(&self) -> &'static str {
        "memory only (lost when the app closes)"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(len: usize) -> StoredTokens {
        StoredTokens {
            refresh_token: "r".repeat(len),
            access_token: Some("a".into()),
        }
    }

    #[test]
    fn an_entry_over_the_size_guard_is_refused_with_a_clear_error() {
        let err = MemoryKeychain::default()
            .set("acct", &tokens(MAX_ENTRY_BYTES))
            .unwrap_err();
        assert!(
            matches!(&err, Error::Keychain { reason, .. } if reason.contains("2560")),
            "{err}"
        );
        assert!(MemoryKeychain::default().set("acct", &tokens(1000)).is_ok());
    }

    #[test]
    fn garbage_or_oversized_entries_read_as_absent() {
        assert_eq!(decode("a", "not json"), None);
        assert_eq!(decode("a", "{\"unexpected\": 1}"), None);
        assert_eq!(decode("a", &" ".repeat(MAX_ENTRY_BYTES + 1)), None);
        let good = encode(&tokens(10)).unwrap();
        assert_eq!(decode("a", &good), Some(tokens(10)));
    }

    fn message(e: keyring::Error) -> String {
        let e = map_err(e);
        assert_eq!(e.code(), crate::codes::KEYCHAIN);
        e.to_string()
    }

    /// The texts keyring 3.6 / dbus-secret-service give in each situation (measured against
    /// gnome-keyring; see tests/e2e/keychain.rs for the real thing).
    #[test]
    fn errors_say_why_and_what_to_do() {
        let no_bus = message(keyring::Error::PlatformFailure(
            "DBus error: Failed to connect to socket /nonexistent: No such file or directory"
                .into(),
        ));
        let no_provider = message(keyring::Error::PlatformFailure(
            "DBus error: The name org.freedesktop.secrets was not provided by any .service files"
                .into(),
        ));
        for m in [&no_bus, &no_provider] {
            assert!(
                m.contains("no keychain service is running") && m.contains("Secret Service"),
                "{m}"
            );
            assert!(
                m.contains("Start a keyring service") && m.contains("memory-only"),
                "{m}"
            );
        }
        let locked_create = message(keyring::Error::PlatformFailure(
            "DBus error: Cannot create an item in a locked collection".into(),
        ));
        let dismissed = message(keyring::Error::NoStorageAccess(
            "Secret Service: unlock prompt was dismissed".into(),
        ));
        let no_default = message(keyring::Error::NoStorageAccess(
            "Secret Service: no result found".into(),
        ));
        for m in [&locked_create, &dismissed, &no_default] {
            assert!(m.contains("the keyring is locked"), "{m}");
            assert!(
                m.contains("Unlock your keyring") && m.contains("memory-only"),
                "{m}"
            );
        }
        let other = message(keyring::Error::PlatformFailure(
            "DBus error: No such interface".into(),
        ));
        assert!(
            other.contains("the keychain service failed (DBus error: No such interface)")
                && other.contains("memory-only"),
            "{other}"
        );
    }
}
