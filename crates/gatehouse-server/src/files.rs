//! File modes of what the server keeps on disk (issue 12, item 12): the data directory is 0700;
//! the SQLite database (with its `-wal` and `-shm`) and the dev outbox, which holds live links
//! and codes, are 0600. Set at creation, and tightened at start when an older run left them
//! wider. Modes are only ever narrowed, never widened.

use std::path::Path;

/// The data directory.
pub const PRIVATE_DIR: u32 = 0o700;
/// The database files and the dev outbox.
pub const PRIVATE_FILE: u32 = 0o600;

/// Creates `dir` (and missing parents) with mode 0700 and narrows an existing one to it.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, PRIVATE_DIR);
    builder.create(dir)?;
    tighten(dir, PRIVATE_DIR)
}

/// Drops the permission bits of `path` that `mode` does not grant; nothing when it is missing.
pub fn tighten(path: &Path, mode: u32) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let current = match std::fs::metadata(path) {
            Ok(meta) => meta.permissions().mode() & 0o7777,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        if current & !mode != 0 {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(current & mode))?;
            tracing::info!(path = %path.display(), "file mode narrowed to {:o}", current & mode);
        }
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
    Ok(())
}

/// The permission bits of `path` when group or others have any access to it; None when they
/// have none or the file does not exist (issue 12, item 17: the signing-key file).
pub fn open_to_others(path: &Path) -> std::io::Result<Option<u32>> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        match std::fs::metadata(path) {
            Ok(meta) => {
                let mode = meta.permissions().mode() & 0o7777;
                Ok((mode & 0o077 != 0).then_some(mode))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        Ok(None)
    }
}

/// Creates an empty file with mode 0600 when `path` does not exist yet (SQLite accepts an empty
/// file as a new database and gives its `-wal` and `-shm` the database file's mode).
pub fn create_private_file(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, PRIVATE_FILE);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
#[cfg(unix)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn directories_and_files_are_created_private_and_narrowed_never_widened() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/data");
        create_private_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        create_private_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700, "an existing directory is narrowed");

        let file = dir.join("f");
        create_private_file(&file).unwrap();
        assert_eq!(mode(&file), 0o600);
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        tighten(&file, PRIVATE_FILE).unwrap();
        assert_eq!(mode(&file), 0o600);
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o400)).unwrap();
        tighten(&file, PRIVATE_FILE).unwrap();
        assert_eq!(mode(&file), 0o400, "never widened");
        tighten(&dir.join("missing"), PRIVATE_FILE).unwrap();
    }
}
