//! Point reads on SQLite without leaving the async worker (the refresh's session lookup).
//!
//! sqlx runs every SQLite connection on a thread of its own: each query is a hand-off to that
//! thread and back (a pool acquire, two wake-ups, two context switches). For a refresh, whose one
//! read is a primary-key lookup answered from the page cache in microseconds, those hand-offs cost
//! more than everything else it does (docs/benchmarks.md: 35–41 % of the server's CPU in futex
//! and scheduler work). Here the few reads on that path run on the calling thread, on connections
//! of their own (rusqlite, on the same SQLite library sqlx links).
//!
//! They are only an accelerator: a read that finds no idle connection, or fails for any reason
//! (a busy lock held longer than [`BUSY_TIMEOUT_MS`], a schema not yet migrated), answers `None`
//! and the caller makes the same read through sqlx, which reports real errors. Blocking the worker
//! is bounded by that timeout. The connections are `query_only`: nothing writes through them.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{Connection, OpenFlags};

/// A lock held longer than this makes the read fall back to sqlx (whose wait is longer).
const BUSY_TIMEOUT_MS: u64 = 50;

/// At most this many connections: one per worker thread, plus slack.
const MAX_CONNECTIONS: usize = 8;

pub struct InlineReader {
    path: PathBuf,
    idle: Mutex<Idle>,
}

struct Idle {
    connections: Vec<Connection>,
    /// Connections opened so far (idle or in use).
    opened: usize,
}

impl InlineReader {
    pub fn new(path: &Path) -> InlineReader {
        InlineReader {
            path: path.to_path_buf(),
            idle: Mutex::new(Idle {
                connections: Vec::new(),
                opened: 0,
            }),
        }
    }

    /// Runs `read` on an idle connection (opening one if there are fewer than
    /// [`MAX_CONNECTIONS`]); `None` when none is free or the read failed.
    pub fn read<T>(&self, read: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Option<T> {
        let connection = self.take()?;
        let answer = read(&connection);
        match answer {
            Ok(value) => {
                self.give_back(connection);
                Some(value)
            }
            Err(e) => {
                // Dropped rather than given back: a fresh one is opened next time.
                tracing::debug!(error = %e, "inline read failed; reading through the pool");
                self.lock().opened -= 1;
                None
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Idle> {
        crate::sync::lock(&self.idle)
    }

    fn take(&self) -> Option<Connection> {
        {
            let mut idle = self.lock();
            if let Some(connection) = idle.connections.pop() {
                return Some(connection);
            }
            if idle.opened >= MAX_CONNECTIONS {
                return None;
            }
            idle.opened += 1;
        }
        match self.open() {
            Ok(connection) => Some(connection),
            Err(e) => {
                tracing::debug!(error = %e, "cannot open an inline reader");
                self.lock().opened -= 1;
                None
            }
        }
    }

    fn give_back(&self, connection: Connection) {
        self.lock().connections.push(connection);
    }

    fn open(&self) -> rusqlite::Result<Connection> {
        // Never creates the file: the pools made it (and set its mode) at start.
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let connection = Connection::open_with_flags(&self.path, flags)?;
        connection.busy_timeout(std::time::Duration::from_millis(BUSY_TIMEOUT_MS))?;
        connection.pragma_update(None, "query_only", true)?;
        Ok(connection)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn database() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.db");
        let c = Connection::open(&path).unwrap();
        c.execute_batch(
            "PRAGMA journal_mode=WAL; CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (7);",
        )
        .unwrap();
        (dir, path)
    }

    fn count(c: &Connection) -> rusqlite::Result<i64> {
        c.query_row("SELECT x FROM t", [], |r| r.get(0))
    }

    #[test]
    fn reads_and_reuses_its_connection() {
        let (_dir, path) = database();
        let reader = InlineReader::new(&path);
        assert_eq!(reader.read(count), Some(7));
        assert_eq!(reader.read(count), Some(7));
        assert_eq!(reader.lock().opened, 1);
    }

    #[test]
    fn a_failed_read_answers_none_and_drops_its_connection() {
        let (_dir, path) = database();
        let reader = InlineReader::new(&path);
        let missing = |c: &Connection| c.query_row("SELECT y FROM t", [], |r| r.get::<_, i64>(0));
        assert_eq!(reader.read(missing), None);
        assert_eq!(reader.lock().opened, 0);
        assert_eq!(reader.read(count), Some(7));
    }

    #[test]
    fn nothing_writes_through_it() {
        let (_dir, path) = database();
        let reader = InlineReader::new(&path);
        let write = |c: &Connection| c.execute("INSERT INTO t VALUES (8)", []);
        assert_eq!(reader.read(write), None);
        assert_eq!(reader.read(count), Some(7));
    }

    #[test]
    fn a_missing_file_is_not_created() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("absent.db");
        assert_eq!(InlineReader::new(&path).read(count), None);
        assert!(!path.exists());
    }

    #[test]
    fn a_lock_held_too_long_makes_it_give_up_rather_than_wait() {
        let (_dir, path) = database();
        // Another process's exclusive lock (not WAL's writer lock, which readers never wait
        // for): the inline read gives up after its short timeout instead of blocking.
        let blocker = Connection::open(&path).unwrap();
        blocker
            .execute_batch("PRAGMA locking_mode=EXCLUSIVE; BEGIN EXCLUSIVE; COMMIT;")
            .unwrap();
        let reader = InlineReader::new(&path);
        assert_eq!(reader.read(count), None);
        drop(blocker);
        assert_eq!(reader.read(count), Some(7));
    }
}
