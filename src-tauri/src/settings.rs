//! What the desktop app itself remembers (`settings.json` in its data dir): the remote
//! connections and which account is active. Tokens are never here (they live in the keychain),
//! and every write replaces the file atomically, so a crash leaves the old or the new file.

use std::io::Write as _;
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
}

impl Default for Settings {
    fn default() -> Settings {
        Settings { format: FORMAT, remotes: Vec::new(), active: None }
    }
}

pub struct SettingsFile {
    pub path: PathBuf,
}

impl SettingsFile {
    pub fn in_dir(dir: &Path) -> SettingsFile {
        SettingsFile { path: dir.join("settings.json") }
    }

    fn error(&self, detail: impl std::fmt::Display) -> DesktopError {
        DesktopError::Settings { path: self.path.display().to_string(), detail: detail.to_string() }
    }

    /// A missing file is a first start. A damaged one is moved aside (kept for the person to
    /// inspect) and the app starts with defaults, saying so: the settings hold no secrets and no
    /// accounts (those are in the SDK's own lists), so nothing is lost but remote addresses.
    pub fn load(&self) -> (Settings, Option<String>) {
        let bytes = match std::fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return (Settings::default(), None),
            Err(e) => return (Settings::default(), Some(format!("Could not read {}: {e}. Starting with default settings.", self.path.display()))),
        };
        match serde_json::from_slice::<Settings>(&bytes) {
            Ok(s) if s.format == FORMAT => (s, None),
            Ok(s) => (Settings::default(), Some(format!("{} has format {} which this version does not read; it was left as it is.", self.path.display(), s.format))),
            Err(e) => {
                let aside = self.path.with_extension("json.damaged");
                let _ = std::fs::rename(&self.path, &aside);
                (Settings::default(), Some(format!("The settings file was damaged ({e}); it was moved to {} and defaults are used.", aside.display())))
            }
        }
    }

    pub fn save(&self, settings: &Settings) -> Result<()> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|e| self.error(e))?;
        let tmp = self.path.with_extension(format!("json.tmp-{}", std::process::id()));
        let bytes = serde_json::to_vec_pretty(settings).map_err(|e| self.error(e))?;
        let written = (|| {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &self.path)
        })();
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(self.error(e));
        }
        Ok(())
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
        let s = Settings { remotes: vec![RemoteConnection { id: "r1".into(), name: "Work".into(), url: "https://a".into(), app_id: "x".into() }],
            active: Some(ActiveAccount { connection: "r1".into(), user: "u".into() }), ..Settings::default() };
        file.save(&s).unwrap();
        assert_eq!(file.load(), (s, None));
        std::fs::write(&file.path, b"{not json").unwrap();
        let (loaded, notice) = file.load();
        assert_eq!(loaded, Settings::default());
        assert!(notice.unwrap().contains("damaged"));
        assert_eq!(std::fs::read(dir.path().join("settings.json.damaged")).unwrap(), b"{not json", "kept for inspection");
    }

    #[test]
    fn a_failed_write_keeps_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = SettingsFile::in_dir(dir.path());
        file.save(&Settings::default()).unwrap();
        let blocked = SettingsFile { path: dir.path().join("settings.json").join("nested") };
        let e = blocked.save(&Settings::default()).unwrap_err();
        assert_eq!(e.code(), "SettingsUnwritable");
        assert_eq!(file.load().0, Settings::default());
    }
}
