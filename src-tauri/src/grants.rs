//! "Always allow this program": the programs the person let act as an account without asking
//! again, in `programs.json` in the data dir. A grant is for one executable path and one
//! account (connection + user); it records when it was made, when it was last used and how
//! often. No secret is here. Writes replace the file atomically (the SDK's `atomic_write`);
//! a damaged file is moved aside and the app starts with no grants (it asks again).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::desktop::{now_ms, Desktop};
use crate::error::{DesktopError, Result};
use crate::views::ProgramGrantView;

const FORMAT: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub id: String,
    pub exe: String,
    pub connection: String,
    pub user: String,
    /// Unix seconds.
    pub created_at: i64,
    #[serde(default)]
    pub last_used_at: Option<i64>,
    #[serde(default)]
    pub uses: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct ProgramsFile {
    format: u32,
    #[serde(default)]
    grants: Vec<Grant>,
}

/// The grants and the file they live in.
pub(crate) struct Grants {
    path: PathBuf,
    list: tokio::sync::Mutex<Vec<Grant>>,
    /// Held across taking a snapshot of `list` and writing it, so writes land in order and each
    /// writes the newest state; `list` itself is never held across the disk.
    writing: tokio::sync::Mutex<()>,
    /// A use-count save is already queued: later uses ride on it (its snapshot is taken when it
    /// runs), so a burst of requests costs one write, and no request waits for the disk.
    count_save_queued: std::sync::atomic::AtomicBool,
}

fn now_secs() -> i64 {
    (now_ms() / 1000) as i64
}

impl Grants {
    /// Reads `programs.json`; returns a notice for the person when it could not be used.
    pub fn load(dir: &Path) -> (Grants, Option<String>) {
        let path = dir.join("programs.json");
        let (list, notice) = match std::fs::read(&path) {
            Ok(bytes) => match serde_json::from_slice::<ProgramsFile>(&bytes) {
                Ok(f) if f.format == FORMAT => (f.grants, None),
                Ok(f) => (
                    Vec::new(),
                    Some(format!(
                        "{} has format {} which this version does not read; programs will be \
                         asked again.",
                        path.display(),
                        f.format
                    )),
                ),
                Err(e) => {
                    let aside = path.with_extension("json.damaged");
                    let _ = std::fs::rename(&path, &aside);
                    (
                        Vec::new(),
                        Some(format!(
                            "The list of allowed programs was damaged ({e}); it was moved to {} \
                             and programs will be asked again.",
                            aside.display()
                        )),
                    )
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (Vec::new(), None),
            Err(e) => (
                Vec::new(),
                Some(format!("Could not read {}: {e}.", path.display())),
            ),
        };
        (
            Grants {
                path,
                list: tokio::sync::Mutex::new(list),
                writing: tokio::sync::Mutex::new(()),
                count_save_queued: std::sync::atomic::AtomicBool::new(false),
            },
            notice,
        )
    }

    /// Writes the grants as they are now, off the async runtime (fsync and rename block).
    async fn save(&self) -> Result<()> {
        let _turn = self.writing.lock().await;
        let file = ProgramsFile {
            format: FORMAT,
            grants: self.list.lock().await.clone(),
        };
        let path = self.path.clone();
        let error = |detail: String| DesktopError::Settings {
            path: self.path.display().to_string(),
            detail,
        };
        let bytes = serde_json::to_vec_pretty(&file).map_err(|e| error(e.to_string()))?;
        tokio::task::spawn_blocking(move || gatehouse_client::fs::atomic_write(&path, &bytes))
            .await
            .map_err(|e| error(format!("the write did not finish: {e}")))?
            .map_err(|e| error(e.to_string()))
    }
}

impl Desktop {
    /// Whether `exe` may act as the account without asking; counts the use when it may.
    pub(crate) async fn use_grant(
        self: &Arc<Self>,
        exe: &str,
        connection: &str,
        user: &str,
    ) -> bool {
        let mut list = self.grants.list.lock().await;
        let Some(g) = list
            .iter_mut()
            .find(|g| g.exe == exe && g.connection == connection && g.user == user)
        else {
            return false;
        };
        g.last_used_at = Some(now_secs());
        g.uses += 1;
        drop(list);
        // The answer does not wait for the disk: the count is bookkeeping.
        use std::sync::atomic::Ordering;
        if !self.grants.count_save_queued.swap(true, Ordering::AcqRel) {
            let me = self.clone();
            tokio::spawn(async move {
                me.grants.count_save_queued.store(false, Ordering::Release);
                if let Err(e) = me.grants.save().await {
                    tracing::warn!("could not save the allowed programs: {e}");
                }
            });
        }
        true
    }

    /// Remembers "always allow" for `exe` and the account (once; an existing grant stays).
    pub(crate) async fn add_grant(&self, exe: &str, connection: &str, user: &str) {
        let mut list = self.grants.list.lock().await;
        if list
            .iter()
            .any(|g| g.exe == exe && g.connection == connection && g.user == user)
        {
            return;
        }
        let created_at = now_secs();
        let n = list.len() + 1;
        list.push(Grant {
            id: format!("grant-{}-{n}", now_ms()),
            exe: exe.into(),
            connection: connection.into(),
            user: user.into(),
            created_at,
            last_used_at: Some(created_at),
            uses: 1,
        });
        drop(list);
        if let Err(e) = self.grants.save().await {
            self.push_notice(e.to_string());
            tracing::warn!("could not save the allowed programs: {e}");
        }
    }

    /// The Connected programs panel.
    pub async fn connected_programs(self: &Arc<Self>) -> Vec<ProgramGrantView> {
        self.ready().await;
        let list = self.grants.list.lock().await.clone();
        let conns = self.connections.read().await;
        list.into_iter()
            .map(|g| {
                let c = conns.iter().find(|c| c.id == g.connection);
                let account_name = c
                    .and_then(|c| crate::desktop::find_user(c, &g.user))
                    .map(|u| crate::views::display_name(&u))
                    .unwrap_or_else(|| g.user.clone());
                ProgramGrantView {
                    connection_name: c.map(|c| c.name.clone()).unwrap_or(g.connection.clone()),
                    account_name,
                    id: g.id,
                    exe: g.exe,
                    connection: g.connection,
                    user: g.user,
                    created_at: g.created_at,
                    last_used_at: g.last_used_at,
                    uses: g.uses,
                }
            })
            .collect()
    }

    /// Forgets a grant: that program is asked again next time.
    pub async fn revoke_program(self: &Arc<Self>, id: &str) -> Result<Vec<ProgramGrantView>> {
        {
            let mut list = self.grants.list.lock().await;
            let before = list.len();
            list.retain(|g| g.id != id);
            if list.len() == before {
                return Err(DesktopError::UnknownGrant);
            }
        }
        self.grants.save().await?;
        Ok(self.connected_programs().await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn damaged_files_are_moved_aside() {
        let dir = tempfile::tempdir().unwrap();
        let (g, notice) = Grants::load(dir.path());
        assert!(notice.is_none());
        assert!(g.list.try_lock().unwrap().is_empty());
        std::fs::write(dir.path().join("programs.json"), b"{nope").unwrap();
        let (g, notice) = Grants::load(dir.path());
        assert!(notice.unwrap().contains("damaged"));
        assert!(g.list.try_lock().unwrap().is_empty());
        assert_eq!(
            std::fs::read(dir.path().join("programs.json.damaged")).unwrap(),
            b"{nope"
        );
    }
}
