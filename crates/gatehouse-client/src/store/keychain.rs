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

/// Keychain "service" name of every entry.
pub const SERVICE: &str = "gatehouse";
const TIMEOUT: Duration = Duration::from_secs(10);

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
pub async fn call<T: Send + 'static>(keychain: &Arc<dyn Keychain>, f: impl FnOnce(&dyn Keychain) -> Result<T> + Send + 'static) -> Result<T> {
    let keychain = keychain.clone();
    match tokio::time::timeout(TIMEOUT, tokio::task::spawn_blocking(move || f(keychain.as_ref()))).await {
        Ok(Ok(result)) => result,
        Ok(Err(join)) => Err(Error::Keychain { reason: format!("keychain call failed: {join}"), advice: ADVICE.into() }),
        Err(_) => Err(Error::Keychain {
            reason: format!("the keychain did not answer within {} s (is it waiting for an unlock prompt?)", TIMEOUT.as_secs()),
            advice: ADVICE.into(),
        }),
    }
}

const ADVICE: &str = "Unlock your keyring (GNOME Keyring, KWallet, macOS Keychain) and try again, \
    or choose memory-only sessions for this run (you will have to sign in again next time)";

/// The OS keychain through `keyring`.
#[derive(Debug, Default)]
pub struct OsKeychain;

impl OsKeychain {
    /// Writes, reads back and deletes a probe entry: proves the keychain really stores secrets
    /// (and is unlocked) before any token is trusted to it.
    pub fn self_test() -> Result<OsKeychain> {
        let probe = format!("self-test|{}", std::process::id());
        let entry = keyring::Entry::new(SERVICE, &probe).map_err(map_err)?;
        entry.set_password("probe").map_err(map_err)?;
        // A second Entry object: the keyring mock store would fail here, a real store succeeds.
        let read = keyring::Entry::new(SERVICE, &probe).map_err(map_err)?.get_password().map_err(map_err)?;
        let _ = entry.delete_credential();
        if read != "probe" {
            return Err(Error::Keychain { reason: "the keychain returned something else than was stored".into(), advice: ADVICE.into() });
        }
        Ok(OsKeychain)
    }
}

fn map_err(e: keyring::Error) -> Error {
    let reason = match &e {
        keyring::Error::PlatformFailure(inner) => format!("no usable Secret Service ({inner})"),
        keyring::Error::NoStorageAccess(inner) => format!("the keyring is locked or refused access ({inner})"),
        other => other.to_string(),
    };
    Error::Keychain { reason, advice: ADVICE.into() }
}

impl Keychain for OsKeychain {
    fn get(&self, account: &str) -> Result<Option<StoredTokens>> {
        let entry = keyring::Entry::new(SERVICE, account).map_err(map_err)?;
        match entry.get_password() {
            Ok(text) => serde_json::from_str(&text).map(Some)
                .map_err(|e| Error::Keychain { reason: format!("a keychain entry is unreadable ({e})"), advice: ADVICE.into() }),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(map_err(e)),
        }
    }

    fn set(&self, account: &str, tokens: &StoredTokens) -> Result<()> {
        let text = serde_json::to_string(tokens).expect("tokens serialise");
        keyring::Entry::new(SERVICE, account).map_err(map_err)?.set_password(&text).map_err(map_err)
    }

    fn delete(&self, account: &str) -> Result<()> {
        match keyring::Entry::new(SERVICE, account).map_err(map_err)?.delete_credential() {
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
        Ok(self.entries.lock().expect("memory keychain").get(account).cloned())
    }
    fn set(&self, account: &str, tokens: &StoredTokens) -> Result<()> {
        self.entries.lock().expect("memory keychain").insert(account.to_string(), tokens.clone());
        Ok(())
    }
    fn delete(&self, account: &str) -> Result<()> {
        self.entries.lock().expect("memory keychain").remove(account);
        Ok(())
    }
    fn describe(&self) -> &'static str {
        "memory only (lost when the app closes)"
    }
}
