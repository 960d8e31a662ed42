//! The account store: the one owner of this app's accounts on this device — the account list
//! file, the keychain entries and the live users — and the one place that changes them. Every
//! account operation (record a login, switch, store refreshed tokens, end a session locally,
//! forget) is written here once, keeping the client invariants:
//!
//! - tokens live only in the keychain (and in memory), never in the list;
//! - the keychain goes first: a keychain that refuses leaves the user as it was (tokens in memory
//!   are dropped only after their keychain entry is gone);
//! - a session ends locally only when the caller says the server ended it (a 401) or asked to;
//!   nothing here reacts to network errors;
//! - the list is written atomically, one write at a time, each with the newest snapshot; a list
//!   that does not parse is reported by [`AccountStore::open`] and never overwritten.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use gatehouse_proto::auth::Profile;
use gatehouse_proto::ProviderType;
use tokio::sync::broadcast;

use crate::clock::unix_now;
use crate::error::{Error, Result};
use crate::events::{Event, LogoutReason};
use crate::lock::lock;
use crate::store::keychain::{self, Keychain, StoredTokens};
use crate::store::user_core::UserCore;
use crate::store::{Metadata, MetadataFile, StoredUser, UserStatus};

pub(crate) struct AccountStore {
    /// What accounts are filed under in the keychain and the list (default: the server URL).
    store_key: String,
    app_id: String,
    keychain: Arc<dyn Keychain>,
    file: MetadataFile,
    meta: Mutex<Metadata>,
    /// Serialises writes of the list; each write takes the newest snapshot.
    save_lock: tokio::sync::Mutex<()>,
    /// One `UserCore` per listed user id (removed users are dropped from here).
    live: Mutex<HashMap<String, Arc<UserCore>>>,
    events: broadcast::Sender<Event>,
}

/// How a session ends on this device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ending {
    /// `log_out()`: the user stays listed, logged out. Failures are returned.
    Requested,
    /// The server no longer accepts the session (a 401, or `revoke_all`): as `Requested`, but a
    /// keychain or disk failure is logged, not returned — the session is over either way.
    EndedByServer,
    /// `remove_user`/`delete_user`: the user leaves the list. Failures are returned.
    Forgotten,
}

/// A successful login, to be recorded.
pub(crate) struct NewLogin {
    pub user_id: String,
    pub device_id: String,
    pub provider: ProviderType,
    pub profile: Profile,
    pub tokens: StoredTokens,
}

impl AccountStore {
    /// Opens the list (a missing file is an empty list, a damaged one [`Error::StoreCorrupt`]) and
    /// reads each logged-in user's tokens from the keychain, off the async runtime. No network.
    pub async fn open(
        file: MetadataFile,
        store_key: String,
        app_id: String,
        keychain: Arc<dyn Keychain>,
    ) -> Result<Arc<AccountStore>> {
        let loader = file.clone();
        let (key, app) = (store_key.clone(), app_id.clone());
        let meta = tokio::task::spawn_blocking(move || loader.load(&key, &app))
            .await
            .map_err(|e| Error::StoreIo {
                path: file.path.clone(),
                detail: e.to_string(),
            })??;
        let (events, _) = broadcast::channel(256);
        let store = AccountStore {
            store_key,
            app_id,
            keychain,
            file,
            meta: Mutex::new(meta),
            save_lock: tokio::sync::Mutex::new(()),
            live: Mutex::new(HashMap::new()),
            events,
        };
        store.load_tokens().await?;
        Ok(Arc::new(store))
    }

    /// Rebuilds the live users from the list and their tokens from the keychain.
    async fn load_tokens(&self) -> Result<()> {
        let listed: Vec<StoredUser> = lock(&self.meta).users.clone();
        let mut lost = Vec::new();
        for stored in &listed {
            let tokens = if stored.status == UserStatus::LoggedIn {
                let account = self.account(&stored.id);
                keychain::call(&self.keychain, move |k| k.get(&account)).await?
            } else {
                None
            };
            if stored.status == UserStatus::LoggedIn && tokens.is_none() {
                lost.push(stored.id.clone());
            }
            lock(&self.live).insert(
                stored.id.clone(),
                Arc::new(UserCore::new(&stored.id, tokens)),
            );
        }
        if !lost.is_empty() {
            // Listed as logged in but the keychain has no tokens (e.g. a new keychain): logged out.
            let mut meta = lock(&self.meta);
            for u in meta.users.iter_mut().filter(|u| lost.contains(&u.id)) {
                u.status = UserStatus::LoggedOut;
            }
            if meta.active.as_ref().is_some_and(|a| lost.contains(a)) {
                meta.active = None;
            }
        }
        Ok(())
    }

    /// The keychain entry name of a user.
    pub fn account(&self, user_id: &str) -> String {
        keychain::account(&self.store_key, &self.app_id, user_id)
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    pub fn emit(&self, event: Event) {
        // Nobody listening is fine.
        let _ = self.events.send(event);
    }

    /// Where tokens go, in words.
    pub fn describe_keychain(&self) -> &'static str {
        self.keychain.describe()
    }

    /// The device id the server handed out (sent back with every login).
    pub fn device_id(&self) -> Option<String> {
        lock(&self.meta).device_id.clone()
    }

    pub fn core(&self, user_id: &str) -> Option<Arc<UserCore>> {
        lock(&self.live).get(user_id).cloned()
    }

    /// Every listed user id, in the order first added.
    pub fn user_ids(&self) -> Vec<String> {
        lock(&self.meta)
            .users
            .iter()
            .map(|u| u.id.clone())
            .collect()
    }

    /// The active user, if it is logged in.
    pub fn active_user_id(&self) -> Option<String> {
        let meta = lock(&self.meta);
        let active = meta.active.as_deref()?;
        meta.users
            .iter()
            .find(|u| u.id == active && u.status == UserStatus::LoggedIn)
            .map(|u| u.id.clone())
    }

    /// Reads a listed user's entry.
    pub fn stored<T>(&self, user_id: &str, f: impl FnOnce(&StoredUser) -> T) -> Option<T> {
        lock(&self.meta)
            .users
            .iter()
            .find(|u| u.id == user_id)
            .map(f)
    }

    /// The first logged-in user (in list order) that `pick` accepts.
    pub fn find_logged_in(&self, pick: impl Fn(&StoredUser) -> bool) -> Option<String> {
        lock(&self.meta)
            .users
            .iter()
            .filter(|u| u.status == UserStatus::LoggedIn)
            .find(|u| pick(u))
            .map(|u| u.id.clone())
    }

    /// Makes a logged-in user the active one and stamps `last_active_at` (apps with several
    /// `App`s pick their overall active account by it). No network; persisted in the background.
    pub fn switch_to(self: &Arc<Self>, user_id: &str) -> Result<()> {
        let changed = {
            let mut meta = lock(&self.meta);
            let stored = meta
                .users
                .iter_mut()
                .find(|u| u.id == user_id)
                .ok_or_else(|| Error::UnknownUser(user_id.into()))?;
            if stored.status != UserStatus::LoggedIn {
                return Err(Error::LoggedOut(user_id.into()));
            }
            stored.last_active_at = unix_now();
            let changed = meta.active.as_deref() != Some(user_id);
            meta.active = Some(user_id.to_string());
            changed
        };
        if changed {
            self.emit(Event::ActiveUserChanged {
                user_id: Some(user_id.to_string()),
            });
        }
        self.save_soon();
        Ok(())
    }

    /// Writes a user's tokens to the keychain (and nowhere else).
    pub async fn persist_tokens(&self, user_id: &str, tokens: &StoredTokens) -> Result<()> {
        let account = self.account(user_id);
        let tokens = tokens.clone();
        keychain::call(&self.keychain, move |k| k.set(&account, &tokens)).await
    }

    /// New tokens for a live user (a refresh, a link): to the keychain first — stored before they
    /// are ever used —, then into memory. They are kept in memory even if the keychain refused
    /// (the old ones may no longer work); the keychain's answer is returned for the caller to act
    /// on.
    pub async fn store_tokens(&self, core: &UserCore, tokens: StoredTokens) -> Result<()> {
        let stored = self.persist_tokens(core.id(), &tokens).await;
        core.replace_tokens(Some(tokens));
        stored
    }

    /// Records a login whose tokens are already in the keychain ([`persist_tokens`]): lists the
    /// user (or marks it logged in again), makes it active, and gives its live core the tokens.
    /// Returns the core and the tokens it replaced, if those were of another session.
    ///
    /// [`persist_tokens`]: AccountStore::persist_tokens
    pub async fn record_login(
        self: &Arc<Self>,
        login: NewLogin,
    ) -> Result<(Arc<UserCore>, Option<StoredTokens>)> {
        let now = unix_now();
        let id = login.user_id;
        // A new user, or one coming back from logged-out, must be on disk before we answer; a
        // re-login of a user already listed as logged in changes only cached fields.
        let critical = {
            let mut meta = lock(&self.meta);
            meta.device_id = Some(login.device_id.clone());
            let critical = meta
                .users
                .iter()
                .find(|u| u.id == id)
                .is_none_or(|u| u.status != UserStatus::LoggedIn);
            match meta.users.iter_mut().find(|u| u.id == id) {
                Some(u) => {
                    u.status = UserStatus::LoggedIn;
                    u.profile = Some(login.profile);
                    u.device_id = login.device_id;
                    u.last_active_at = now;
                }
                None => meta.users.push(StoredUser {
                    id: id.clone(),
                    status: UserStatus::LoggedIn,
                    provider_type: login.provider.as_str().to_string(),
                    device_id: login.device_id,
                    profile: Some(login.profile),
                    added_at: now,
                    last_active_at: now,
                }),
            }
            meta.active = Some(id.clone());
            critical
        };
        if critical {
            self.save().await?;
        } else {
            self.save_soon();
        }
        let core = lock(&self.live)
            .entry(id.clone())
            .or_insert_with(|| Arc::new(UserCore::new(&id, None)))
            .clone();
        let refresh = login.tokens.refresh_token.clone();
        let replaced = core
            .replace_tokens(Some(login.tokens))
            .filter(|old| old.refresh_token != refresh);
        self.emit(Event::LoggedIn {
            user_id: id.clone(),
        });
        self.emit(Event::ActiveUserChanged { user_id: Some(id) });
        Ok((core, replaced))
    }

    /// Caches a fresh profile and writes the list.
    /// Stores a freshly fetched profile, then says so (and whether the identities changed).
    pub async fn set_profile(&self, user_id: &str, profile: Profile) -> Result<()> {
        let mut identities_changed = false;
        if let Some(u) = lock(&self.meta).users.iter_mut().find(|u| u.id == user_id) {
            identities_changed = u
                .profile
                .as_ref()
                .is_some_and(|old| old.identities != profile.identities);
            u.profile = Some(profile);
        }
        self.save().await?;
        let user_id = user_id.to_string();
        if identities_changed {
            self.emit(Event::IdentitiesChanged {
                user_id: user_id.clone(),
            });
        }
        self.emit(Event::ProfileRefreshed { user_id });
        Ok(())
    }

    /// Ends a user's session on this device (the one place that does): keychain entry first,
    /// then the tokens in memory, then the list (logged out, or gone for [`Ending::Forgotten`]),
    /// with "active" moved to the most recently active other logged-in user; then the events.
    pub async fn end_session(&self, user_id: &str, ending: Ending) -> Result<()> {
        let tolerant = ending == Ending::EndedByServer;
        let account = self.account(user_id);
        if let Err(e) = keychain::call(&self.keychain, move |k| k.delete(&account)).await {
            if !tolerant {
                // Nothing here has changed: the call can be retried.
                return Err(e);
            }
            let what = "could not delete the tokens of an ended session from the keychain";
            tracing::warn!(error = %e, "{what}");
        }
        {
            let mut meta = lock(&self.meta);
            if ending == Ending::Forgotten {
                if !meta.users.iter().any(|u| u.id == user_id) {
                    return Err(Error::UnknownUser(user_id.into()));
                }
                meta.users.retain(|u| u.id != user_id);
            } else if let Some(u) = meta.users.iter_mut().find(|u| u.id == user_id) {
                u.status = UserStatus::LoggedOut;
            }
            self.reassign_active(&mut meta, user_id);
        }
        let core = if ending == Ending::Forgotten {
            lock(&self.live).remove(user_id)
        } else {
            self.core(user_id)
        };
        if let Some(core) = core {
            core.replace_tokens(None);
        }
        match self.save().await {
            Err(e) if tolerant => tracing::warn!(error = %e, "could not save the account list"),
            Err(e) => return Err(e),
            Ok(()) => {}
        }
        let user_id = user_id.to_string();
        match ending {
            Ending::Requested => self.emit(Event::LoggedOut {
                user_id,
                reason: LogoutReason::Requested,
            }),
            Ending::EndedByServer => {
                self.emit(Event::LoggedOut {
                    user_id: user_id.clone(),
                    reason: LogoutReason::SessionEnded,
                });
                self.emit(Event::ReauthenticationNeeded { user_id });
            }
            Ending::Forgotten => self.emit(Event::Removed { user_id }),
        }
        Ok(())
    }

    /// Moves "active" away from `user_id` to the most recently active other logged-in user.
    fn reassign_active(&self, meta: &mut Metadata, user_id: &str) {
        if meta.active.as_deref() != Some(user_id) {
            return;
        }
        meta.active = meta
            .users
            .iter()
            .filter(|u| u.id != user_id && u.status == UserStatus::LoggedIn)
            .max_by_key(|u| u.last_active_at)
            .map(|u| u.id.clone());
        self.emit(Event::ActiveUserChanged {
            user_id: meta.active.clone(),
        });
    }

    /// Writes the current list durably and waits for it (off the async runtime).
    async fn save(&self) -> Result<()> {
        let _turn = self.save_lock.lock().await;
        let snapshot = lock(&self.meta).clone();
        let file = self.file.clone();
        let path = file.path.clone();
        tokio::task::spawn_blocking(move || file.save(&snapshot))
            .await
            .map_err(|e| Error::StoreIo {
                path,
                detail: e.to_string(),
            })?
    }

    /// Writes the list in the background (for preferences such as the active user, where a lost
    /// write after a crash is harmless and waiting on fsync would not be).
    fn save_soon(self: &Arc<Self>) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            // Called outside a runtime (`switch_user` is a plain function): save right here.
            let snapshot = lock(&self.meta).clone();
            if let Err(e) = self.file.save(&snapshot) {
                tracing::warn!(error = %e, "could not save the account list");
            }
            return;
        };
        let store = self.clone();
        runtime.spawn(async move {
            if let Err(e) = store.save().await {
                tracing::warn!(error = %e, "could not save the account list");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::keychain::MemoryKeychain;

    /// A keychain whose `delete` can be made to fail.
    #[derive(Default)]
    struct Flaky {
        inner: MemoryKeychain,
        refuse_delete: std::sync::atomic::AtomicBool,
    }

    impl Keychain for Flaky {
        fn get(&self, account: &str) -> Result<Option<StoredTokens>> {
            self.inner.get(account)
        }
        fn set(&self, account: &str, tokens: &StoredTokens) -> Result<()> {
            self.inner.set(account, tokens)
        }
        fn delete(&self, account: &str) -> Result<()> {
            if self.refuse_delete.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(Error::Keychain {
                    reason: "locked".into(),
                    advice: String::new(),
                });
            }
            self.inner.delete(account)
        }
        fn describe(&self) -> &'static str {
            "flaky"
        }
    }

    fn tokens(n: u8) -> StoredTokens {
        StoredTokens {
            refresh_token: format!("r{n}"),
            access_token: Some(format!("a{n}")),
        }
    }

    async fn login(store: &Arc<AccountStore>, id: &str, n: u8) -> Arc<UserCore> {
        store.persist_tokens(id, &tokens(n)).await.unwrap();
        let profile = Profile {
            user_id: id.into(),
            domain_id: "d".into(),
            user_type: "normal".into(),
            identities: vec![],
            data: Default::default(),
        };
        let login = NewLogin {
            user_id: id.into(),
            device_id: "dev".into(),
            provider: ProviderType::Anonymous,
            profile,
            tokens: tokens(n),
        };
        store.record_login(login).await.unwrap().0
    }

    async fn open(dir: &std::path::Path, keychain: Arc<Flaky>) -> Arc<AccountStore> {
        let file = MetadataFile::for_app(dir, "http://s", "app");
        AccountStore::open(file, "http://s".into(), "app".into(), keychain)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_refusing_keychain_leaves_a_requested_logout_undone_but_not_an_ended_session() {
        let dir = tempfile::tempdir().unwrap();
        let keychain = Arc::new(Flaky::default());
        let store = open(dir.path(), keychain.clone()).await;
        let one = login(&store, "u1", 1).await;
        let two = login(&store, "u2", 2).await;
        store.switch_to("u1").unwrap();
        keychain
            .refuse_delete
            .store(true, std::sync::atomic::Ordering::SeqCst);

        // Asked to log out: nothing changes, the call can be retried.
        assert!(store.end_session("u1", Ending::Requested).await.is_err());
        assert_eq!(store.stored("u1", |u| u.status), Some(UserStatus::LoggedIn));
        assert_eq!(one.tokens(), Some(tokens(1)));
        assert_eq!(store.active_user_id().as_deref(), Some("u1"));
        assert!(store.end_session("u1", Ending::Forgotten).await.is_err());
        assert_eq!(store.user_ids(), ["u1", "u2"]);

        // The server ended it: ended here too, whatever the keychain says.
        let mut events = store.subscribe();
        store
            .end_session("u1", Ending::EndedByServer)
            .await
            .unwrap();
        assert_eq!(
            store.stored("u1", |u| u.status),
            Some(UserStatus::LoggedOut)
        );
        assert_eq!(one.tokens(), None);
        assert_eq!(
            store.active_user_id().as_deref(),
            Some("u2"),
            "active moves to the other logged-in user"
        );
        assert_eq!(
            events.recv().await.unwrap(),
            Event::ActiveUserChanged {
                user_id: Some("u2".into())
            }
        );
        assert_eq!(
            events.recv().await.unwrap(),
            Event::LoggedOut {
                user_id: "u1".into(),
                reason: LogoutReason::SessionEnded
            }
        );
        assert_eq!(
            events.recv().await.unwrap(),
            Event::ReauthenticationNeeded {
                user_id: "u1".into()
            }
        );

        keychain
            .refuse_delete
            .store(false, std::sync::atomic::Ordering::SeqCst);
        store.end_session("u2", Ending::Forgotten).await.unwrap();
        assert_eq!(two.tokens(), None);
        assert_eq!(store.user_ids(), ["u1"]);
        assert!(store.core("u2").is_none());
        assert_eq!(keychain.get(&store.account("u2")).unwrap(), None);
        assert!(matches!(
            store.end_session("u2", Ending::Forgotten).await,
            Err(Error::UnknownUser(_))
        ));
    }

    #[tokio::test]
    async fn the_list_survives_a_restart_and_tokens_come_back_from_the_keychain() {
        let dir = tempfile::tempdir().unwrap();
        let keychain = Arc::new(Flaky::default());
        let store = open(dir.path(), keychain.clone()).await;
        login(&store, "u1", 1).await;
        login(&store, "u2", 2).await;
        store.end_session("u2", Ending::Requested).await.unwrap();
        drop(store);

        let again = open(dir.path(), keychain).await;
        assert_eq!(again.user_ids(), ["u1", "u2"]);
        assert_eq!(again.core("u1").and_then(|c| c.tokens()), Some(tokens(1)));
        assert_eq!(again.core("u2").and_then(|c| c.tokens()), None);
        assert_eq!(again.active_user_id().as_deref(), Some("u1"));
        assert_eq!(again.device_id().as_deref(), Some("dev"));
    }

    #[tokio::test]
    async fn a_damaged_list_is_reported_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let file = MetadataFile::for_app(dir.path(), "http://s", "app");
        std::fs::write(&file.path, b"{not json").unwrap();
        let opened = AccountStore::open(
            file.clone(),
            "http://s".into(),
            "app".into(),
            Arc::new(Flaky::default()),
        )
        .await;
        assert!(matches!(opened, Err(Error::StoreCorrupt { .. })));
        assert_eq!(std::fs::read(&file.path).unwrap(), b"{not json");
    }
}
