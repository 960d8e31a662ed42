//! The account list file: one per (server, app), written with [`crate::fs::atomic_write`] (temp
//! file + fsync + rename + fsync of the folder), so a crash leaves either the old or the new file,
//! never a mix. A file that does not parse is reported and left alone — never silently replaced by
//! an empty list.

use std::path::{Path, PathBuf};

use gatehouse_proto::auth::Profile;
use gatehouse_proto::ProviderType;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

const FORMAT: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserStatus {
    LoggedIn,
    LoggedOut,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredUser {
    pub id: String,
    pub status: UserStatus,
    /// Provider of the first login (App Services clients keep it the same way).
    pub provider_type: String,
    pub device_id: String,
    #[serde(default)]
    pub profile: Option<Profile>,
    pub added_at: i64,
    pub last_active_at: i64,
}

impl StoredUser {
    /// Anonymous-only: every identity is anonymous (or, before the first profile arrives, the
    /// first login was). A user that linked a permanent identity is not anonymous any more — it
    /// can sign in again, keep API keys and survive a logout.
    pub fn is_anonymous(&self) -> bool {
        let anonymous = ProviderType::Anonymous.as_str();
        match &self.profile {
            Some(p) if !p.identities.is_empty() => {
                p.identities.iter().all(|i| i.provider_type == anonymous)
            }
            _ => self.provider_type == anonymous,
        }
    }

    /// The provider to sign in again with: the first login's, unless that was anonymous and a
    /// permanent identity has been linked since (then the first such identity's).
    pub fn sign_in_provider(&self) -> String {
        let anonymous = ProviderType::Anonymous.as_str();
        if self.provider_type != anonymous {
            return self.provider_type.clone();
        }
        self.profile
            .as_ref()
            .and_then(|p| p.identities.iter().find(|i| i.provider_type != anonymous))
            .map_or_else(|| self.provider_type.clone(), |i| i.provider_type.clone())
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Metadata {
    pub format: u32,
    pub server: String,
    pub app_id: String,
    /// The device id the server handed out; sent back on every login.
    #[serde(default)]
    pub device_id: Option<String>,
    #[serde(default)]
    pub active: Option<String>,
    /// In the order the users were first added (stable; switching does not reorder).
    #[serde(default)]
    pub users: Vec<StoredUser>,
}

#[derive(Debug, Clone)]
pub struct MetadataFile {
    pub path: PathBuf,
}

impl MetadataFile {
    /// The file for (server, app) in `dir`.
    pub fn for_app(dir: &Path, server: &str, app_id: &str) -> MetadataFile {
        let digest = fnv1a(server.as_bytes());
        let safe_app: String = app_id
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        MetadataFile {
            path: dir.join(format!("users-{safe_app}-{digest:016x}.json")),
        }
    }

    /// Loads the list; a missing file is an empty list, a damaged one an error.
    pub fn load(&self, server: &str, app_id: &str) -> Result<Metadata> {
        let bytes = match std::fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Metadata {
                    format: FORMAT,
                    server: server.into(),
                    app_id: app_id.into(),
                    ..Default::default()
                });
            }
            Err(e) => {
                return Err(Error::StoreIo {
                    path: self.path.clone(),
                    detail: e.to_string(),
                })
            }
        };
        let meta: Metadata = serde_json::from_slice(&bytes).map_err(|e| Error::StoreCorrupt {
            path: self.path.clone(),
            detail: e.to_string(),
        })?;
        if meta.format != FORMAT {
            return Err(Error::StoreCorrupt {
                path: self.path.clone(),
                detail: format!(
                    "format {} is not understood by this version (expected {FORMAT})",
                    meta.format
                ),
            });
        }
        Ok(meta)
    }

    /// Replaces the file atomically ([`crate::fs::atomic_write`]). Blocking.
    pub fn save(&self, meta: &Metadata) -> Result<()> {
        let io = |detail: String| Error::StoreIo {
            path: self.path.clone(),
            detail,
        };
        let bytes = serde_json::to_vec_pretty(meta).map_err(|e| io(e.to_string()))?;
        crate::fs::atomic_write(&self.path, &bytes).map_err(|e| io(e.to_string()))
    }
}

/// A stable, dependency-free name for a server URL (not a security boundary).
fn fnv1a(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Metadata {
        Metadata {
            format: FORMAT,
            server: "http://s".into(),
            app_id: "a".into(),
            device_id: Some("d".into()),
            active: Some("u1".into()),
            users: vec![StoredUser {
                id: "u1".into(),
                status: UserStatus::LoggedIn,
                provider_type: "anon-user".into(),
                device_id: "d".into(),
                profile: None,
                added_at: 1,
                last_active_at: 2,
            }],
        }
    }

    #[test]
    fn round_trips_and_starts_empty() {
        let dir = tempfile::tempdir().unwrap();
        let file = MetadataFile::for_app(dir.path(), "http://s", "a");
        assert!(file.load("http://s", "a").unwrap().users.is_empty());
        file.save(&sample()).unwrap();
        assert_eq!(file.load("http://s", "a").unwrap(), sample());
        let other = MetadataFile::for_app(dir.path(), "http://other", "a");
        assert_ne!(file.path, other.path, "each server has its own list");
    }

    #[test]
    fn a_damaged_file_is_reported_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let file = MetadataFile::for_app(dir.path(), "http://s", "a");
        file.save(&sample()).unwrap();
        let full = std::fs::read(&file.path).unwrap();
        std::fs::write(&file.path, &full[..full.len() / 2]).unwrap();
        let err = file.load("http://s", "a").unwrap_err();
        assert!(matches!(err, Error::StoreCorrupt { .. }), "{err}");
        assert!(err.to_string().contains("left untouched"));
        assert_eq!(std::fs::read(&file.path).unwrap(), &full[..full.len() / 2]);
    }
}
