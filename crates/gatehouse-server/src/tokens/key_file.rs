//! The signing-key file (`<data-dir>/keys.json`, or `[tokens] key_file`): the current Ed25519
//! access-token key with its `kid`, the refresh-token HMAC key, and the public halves of keys
//! retired by `gatehoused admin rotate-keys` (issue 12, item 17), kept so that access tokens they
//! signed verify until they expire. Written atomically (temp file, fsync, rename) with mode 0600;
//! a file others may read is refused, since whoever reads it can mint any user's tokens.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::crypto;

#[derive(Clone, Serialize, Deserialize)]
pub struct KeyFile {
    pub kid: String,
    pub ed25519_pkcs8: String,
    pub refresh_hmac: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retired: Vec<RetiredKey>,
}

/// A former access-token key: public half only (nothing can be signed with it any more).
#[derive(Clone, Serialize, Deserialize)]
pub struct RetiredKey {
    pub kid: String,
    pub ed25519_public: String,
    /// When it stopped signing (Unix seconds).
    pub retired_at: i64,
}

/// What a rotation did.
#[derive(Debug)]
pub struct Rotation {
    pub old_kid: String,
    pub new_kid: String,
    /// Former keys still published (the one just retired included).
    pub retired: Vec<String>,
}

/// Where the server keeps its keys: `[tokens] key_file`, else `<data-dir>/keys.json`.
pub fn path(config: &crate::config::Config) -> PathBuf {
    config
        .tokens
        .key_file
        .clone()
        .unwrap_or_else(|| config.data_dir.join("keys.json"))
}

/// The file's bytes, or None when it does not exist. A file readable by group or others is an
/// error naming the fix.
pub fn read(path: &Path) -> anyhow::Result<Option<Vec<u8>>> {
    if let Some(mode) = crate::files::open_to_others(path)
        .map_err(|e| anyhow::anyhow!("cannot read signing key file {}: {e}", path.display()))?
    {
        anyhow::bail!(
            "signing key file {} has mode {mode:o}: group or others can read it, and whoever \
             reads it can sign tokens for any user. Run `chmod 600 {}` (and consider \
             `gatehoused admin rotate-keys`, as the key may have been copied)",
            path.display(),
            path.display()
        );
    }
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => anyhow::bail!("cannot read signing key file {}: {e}", path.display()),
    }
}

pub fn parse(path: &Path, bytes: &[u8]) -> anyhow::Result<KeyFile> {
    serde_json::from_slice(bytes).map_err(|e| {
        anyhow::anyhow!(
            "signing key file {} is unreadable ({e}); restore it from backup \
            (deleting it invalidates every issued token)",
            path.display()
        )
    })
}

/// A new access-token key pair and `kid` (and a new refresh key, used only for a new file).
pub fn generate() -> anyhow::Result<KeyFile> {
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = ring::signature::Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| {
        anyhow::anyhow!("cannot generate a signing key: the OS random number generator failed")
    })?;
    Ok(KeyFile {
        kid: crypto::b64(&crypto::random_bytes::<9>()),
        ed25519_pkcs8: crypto::b64(pkcs8.as_ref()),
        refresh_hmac: crypto::b64(&crypto::random_bytes::<32>()),
        retired: vec![],
    })
}

/// Replaces the access-token key: the current one joins the retired keys (public half, stamped
/// `now`), retired keys older than `keep_secs` are dropped. The refresh-token key stays: changing
/// it would end every session. The new file replaces the old one atomically.
pub fn rotate(path: &Path, now: i64, keep_secs: i64) -> anyhow::Result<Rotation> {
    let bytes = read(path)?.ok_or_else(|| {
        anyhow::anyhow!(
            "there is no signing key file at {} to rotate (it is created at first start)",
            path.display()
        )
    })?;
    let old = parse(path, &bytes)?;
    let (next, rotation) =
        rotated(old, now, keep_secs).map_err(|e| anyhow::anyhow!("{e} (in {})", path.display()))?;
    write_atomic(path, &serde_json::to_vec_pretty(&next)?)?;
    Ok(rotation)
}

/// The key set after a rotation of `old` at `now` (the rule of [`rotate`], wherever the keys
/// are kept: this file or the database, `super::key_store`).
pub fn rotated(old: KeyFile, now: i64, keep_secs: i64) -> anyhow::Result<(KeyFile, Rotation)> {
    use ring::signature::KeyPair as _;
    let pkcs8 = base64::Engine::decode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        &old.ed25519_pkcs8,
    )?;
    let pair = ring::signature::Ed25519KeyPair::from_pkcs8_maybe_unchecked(&pkcs8)
        .map_err(|_| anyhow::anyhow!("the Ed25519 signing key is malformed"))?;
    let fresh = generate()?;
    let mut retired: Vec<RetiredKey> = old
        .retired
        .into_iter()
        .filter(|k| k.retired_at + keep_secs >= now)
        .collect();
    retired.push(RetiredKey {
        kid: old.kid.clone(),
        ed25519_public: crypto::b64(pair.public_key().as_ref()),
        retired_at: now,
    });
    let next = KeyFile {
        kid: fresh.kid,
        ed25519_pkcs8: fresh.ed25519_pkcs8,
        refresh_hmac: old.refresh_hmac,
        retired,
    };
    let rotation = Rotation {
        old_kid: old.kid,
        new_kid: next.kid.clone(),
        retired: next.retired.iter().map(|k| k.kid.clone()).collect(),
    };
    Ok((next, rotation))
}

/// Creates the file (0600) when it does not exist; an existing one is never replaced.
pub fn create_new(path: &Path, file: &KeyFile) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, crate::files::PRIVATE_FILE);
    let mut out = options
        .open(path)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", path.display()))?;
    out.write_all(&serde_json::to_vec_pretty(file)?)?;
    out.sync_all()?;
    Ok(())
}

/// Temp file beside `path` (0600), fsync, rename over `path`, fsync the directory: a crash
/// leaves the old file or the new one, never a torn one, and a running server never reads half.
fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write as _;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let temp: PathBuf = dir.join(format!(
        ".{name}.{}.tmp",
        hex::encode(crypto::random_bytes::<6>())
    ));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, crate::files::PRIVATE_FILE);
    let written = options.open(&temp).and_then(|mut out| {
        out.write_all(bytes)?;
        out.sync_all()
    });
    if let Err(e) = written.and_then(|()| std::fs::rename(&temp, path)) {
        let _ = std::fs::remove_file(&temp);
        anyhow::bail!("cannot write {}: {e}", path.display());
    }
    #[cfg(unix)]
    if let Ok(d) = std::fs::File::open(dir) {
        // The rename is durable once the directory entry is; failing here loses nothing the
        // next fsync would not write.
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_keeps_the_refresh_key_and_drops_old_retired_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.json");
        let first = generate().unwrap();
        create_new(&path, &first).unwrap();
        let r1 = rotate(&path, 1_000, 900).unwrap();
        assert_eq!(r1.old_kid, first.kid);
        assert_ne!(r1.new_kid, first.kid);
        let r2 = rotate(&path, 1_500, 900).unwrap();
        assert_eq!(r2.retired, vec![first.kid.clone(), r1.new_kid.clone()]);
        let r3 = rotate(&path, 2_000, 900).unwrap();
        assert_eq!(
            r3.retired,
            vec![r1.new_kid.clone(), r2.new_kid.clone()],
            "the key retired at 1000 is past 1000 + 900"
        );
        let now = parse(&path, &std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(now.kid, r3.new_kid);
        assert_eq!(now.refresh_hmac, first.refresh_hmac);
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec!["keys.json"], "no temp file is left behind");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_key_file_others_can_read_is_refused_with_the_fix() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.json");
        create_new(&path, &generate().unwrap()).unwrap();
        assert!(read(&path).unwrap().is_some());
        for mode in [0o644, 0o640, 0o604, 0o660] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            let err = read(&path).unwrap_err().to_string();
            assert!(err.contains("chmod 600"), "{err}");
            assert!(err.contains(&path.display().to_string()), "{err}");
        }
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400)).unwrap();
        assert!(
            read(&path).unwrap().is_some(),
            "read-only for the owner is fine"
        );
        assert!(read(&dir.path().join("missing")).unwrap().is_none());
    }
}
