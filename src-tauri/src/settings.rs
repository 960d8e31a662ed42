//! What the desktop app itself remembers (`settings.json` in its data dir): the remote
//! connections and which account is active. Tokens are never here (they live in the keychain),
//! and every write replaces the file atomically (the SDK's `atomic_write`), so a crash leaves
//! the old or the new file.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{DesktopError, Result};

const FORMAT: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteConnection {
    pub id: String,
    pub name: String,
    pub url: String,
    pub app_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActiveAccount {
    pub connection: String,
    pub user: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    pub format: u32,
    #[serde(default)]
    pub remotes: Vec<RemoteConnection>,
    #[serde(default)]
    pub active: Option<ActiveAccount>,
    /// When the person last looked at each account's security card (unix seconds), keyed by
    /// [`looked_key`]: events that need attention count as unusual only when newer.
    #[serde(default)]
    pub last_looked: std::collections::BTreeMap<String, i64>,
    /// git hosts (lower-cased, with `:port` when given) and the account the credential helper
    /// answers for each (`host_accounts.rs`). One account per host.
    #[serde(default)]
    pub host_mappings: Vec<HostMapping>,
    /// The window's behaviour: keep running in the tray, start at login.
    #[serde(default)]
    pub window: WindowPrefs,
}

/// One git host and the account used for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostMapping {
    pub host: String,
    pub connection: String,
    pub user: String,
}

/// How the window behaves (the app applies them through `Shell::apply_window_prefs`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct WindowPrefs {
    /// Closing the window hides it (the app stays in the tray and the agent keeps answering).
    pub keep_in_tray: bool,
    /// Start (in the background) when the person logs in.
    pub start_at_login: bool,
}

impl Default for WindowPrefs {
    fn default() -> WindowPrefs {
        WindowPrefs {
            keep_in_tray: true,
            start_at_login: false,
        }
    }
}

/// The `last_looked` key of one account of one connection.
pub fn looked_key(connection: &str, user: &str) -> String {
    format!("{connection}/{user}")
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            format: FORMAT,
            remotes: Vec::new(),
            active: None,
            last_looked: Default::default(),
            host_mappings: Vec::new(),
            window: WindowPrefs::default(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct SettingsFile {
    pub path: PathBuf,
}

impl SettingsFile {
    pub fn in_dir(dir: &Path) -> SettingsFile {
        SettingsFile {
            path: dir.join("settings.json"),
        }
    }

    pub(crate) fn error(&self, detail: impl std::fmt::Display) -> DesktopError {
        DesktopError::Settings {
            path: self.path.display().to_string(),
            detail: detail.to_string(),
        }
    }

    /// A missing file is a first start. A damaged one is moved aside (kept for the person to
    /// inspect) and the app starts with defaults, saying so: the settings hold no secrets and no
    /// accounts (those are in the SDK's own lists), so nothing is lost but remote addresses.
    pub fn load(&self) -> (Settings, Option<String>) {
        let path = self.path.display();
        let bytes = match std::fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return (Settings::default(), None)
            }
            Err(e) => {
                let notice = format!("Could not read {path}: {e}. Starting with default settings.");
                return (Settings::default(), Some(notice));
            }
        };
        match serde_json::from_slice::<Settings>(&bytes) {
            Ok(s) if s.format == FORMAT => (s, None),
            Ok(s) => {
                let notice = format!(
                    "{path} has format {} which this version does not read; it was left as it is.",
                    s.format
                );
                (Settings::default(), Some(notice))
            }
            Err(e) => {
                let aside = self.path.with_extension("json.damaged");
                let _ = std::fs::rename(&self.path, &aside);
                let notice = format!(
                    "The settings file was damaged ({e}); it was moved to {} and defaults are \
                     used.",
                    aside.display()
                );
                (Settings::default(), Some(notice))
            }
        }
    }

    /// Replaces the file with the SDK's `atomic_write` (temp file, fsync, rename, fsync of the
    /// folder). Blocking: async code calls it through `Desktop::save_settings`.
    pub fn save(&self, settings: &Settings) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(settings).map_err(|e| self.error(e))?;
        gatehouse_client::fs::atomic_write(&self.path, &bytes).map_err(|e| self.error(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_survives_damage() {
        let dir = tempfile::tempdir().unwrap();
        let file = SettingsFile::in_dir(dir.path());
        assert_eq!(file.load(), (Settings::default(), None));
        let s = Settings {
            remotes: vec![RemoteConnection {
                id: "r1".into(),
                name: "Work".into(),
                url: "https://a".into(),
                app_id: "x".into(),
            }],
            active: Some(ActiveAccount {
                connection: "r1".into(),
                user: "u".into(),
            }),
            ..Settings::default()
        };
        file.save(&s).unwrap();
        assert_eq!(file.load(), (s, None));
        std::fs::write(&file.path, b"{not json").unwrap();
        let (loaded, notice) = file.load();
        assert_eq!(loaded, Settings::default());
        assert!(notice.unwrap().contains("damaged"));
        assert_eq!(
            std::fs::read(dir.path().join("settings.json.damaged")).unwrap(),
            b"{not json",
            "kept for inspection"
        );
    }

    #[test]
    fn last_looked_times_round_trip_and_older_files_load_without_them() {
        let dir = tempfile::tempdir().unwrap();
        let file = SettingsFile::in_dir(dir.path());
        std::fs::write(&file.path, br#"{"format": 1, "remotes": []}"#).unwrap();
        let (loaded, notice) = file.load();
        assert_eq!(notice, None);
        assert!(loaded.last_looked.is_empty());
        assert!(loaded.host_mappings.is_empty());
        assert_eq!(loaded.window, WindowPrefs::default());
        assert!(loaded.window.keep_in_tray, "the tray is the default");
        let mut s = loaded;
        s.last_looked
            .insert(looked_key("local", "u1"), 1_800_000_000);
        file.save(&s).unwrap();
        assert_eq!(
            file.load().0.last_looked.get("local/u1"),
            Some(&1_800_000_000)
        );
    }

    #[test]
    fn a_failed_write_keeps_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = SettingsFile::in_dir(dir.path());
        file.save(&Settings::default()).unwrap();
        let blocked = SettingsFile {
            path: dir.path().join("settings.json").join("nested"),
        };
        let e = blocked.save(&Settings::default()).unwrap_err();
        assert_eq!(e.code(), "SettingsUnwritable");
        assert_eq!(file.load().0, Settings::default());
    }
}
