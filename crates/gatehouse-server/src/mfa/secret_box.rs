//! TOTP secrets sealed at rest: AES-256-GCM (ring) under the server's MFA key, a random 96-bit
//! nonce per write, and the factor id as associated data (a sealed secret copied onto another
//! factor's row does not open). A database dump alone reveals no secret; the key lives apart
//! from the database: `GATEHOUSE_MFA_KEY` (32 bytes, base64), else `[mfa] key_file`, else
//! `<data_dir>/mfa.key` (32 random bytes, 0600, created at first start).

use std::path::{Path, PathBuf};

use base64::Engine as _;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};

use crate::crypto;

/// The environment variable that carries the key (base64 of 32 bytes) instead of a file.
pub const KEY_ENV: &str = "GATEHOUSE_MFA_KEY";
/// Sealed values start with this (the format's version).
const PREFIX: &str = "v1.";

pub struct SecretBox {
    key: LessSafeKey,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(<redacted>)")
    }
}

/// A sealed value that does not open: another key, another factor id, or a damaged row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the sealed secret does not open with this server's MFA key")]
pub struct Unsealable;

impl SecretBox {
    pub fn new(key: &[u8; 32]) -> SecretBox {
        // Invariant: AES-256-GCM takes any 32-byte key; only a wrong length is refused.
        #[allow(clippy::expect_used)]
        let unbound = UnboundKey::new(&AES_256_GCM, key).expect("a 32-byte AES-256 key");
        SecretBox {
            key: LessSafeKey::new(unbound),
        }
    }

    /// The key from the environment, the configured file or `<data_dir>/mfa.key` (created).
    pub fn load(config: &crate::config::Config) -> anyhow::Result<SecretBox> {
        if let Ok(text) = std::env::var(KEY_ENV) {
            return Ok(SecretBox::new(&decode_key(text.trim()).ok_or_else(
                || {
                    anyhow::anyhow!(
                        "{KEY_ENV} must be 32 bytes in base64 (`openssl rand -base64 32`)"
                    )
                },
            )?));
        }
        let path = key_path(config);
        Ok(SecretBox::new(&load_or_create(&path)?))
    }

    /// `v1.` + base64url(nonce ‖ ciphertext ‖ tag).
    pub fn seal(&self, aad: &str, plaintext: &[u8]) -> String {
        let nonce_bytes = crypto::random_bytes::<NONCE_LEN>();
        let mut in_out = plaintext.to_vec();
        // Invariant: sealing fails only for inputs beyond GCM's 64 GiB limit.
        #[allow(clippy::expect_used)]
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce_bytes),
                Aad::from(aad.as_bytes()),
                &mut in_out,
            )
            .expect("AES-GCM seals any input below 64 GiB");
        let mut out = nonce_bytes.to_vec();
        out.extend_from_slice(&in_out);
        format!("{PREFIX}{}", crypto::b64(&out))
    }

    pub fn open(&self, aad: &str, sealed: &str) -> Result<Vec<u8>, Unsealable> {
        let bytes = sealed
            .strip_prefix(PREFIX)
            .and_then(|b| {
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(b)
                    .ok()
            })
            .filter(|b| b.len() > NONCE_LEN)
            .ok_or(Unsealable)?;
        let (nonce, rest) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| Unsealable)?;
        let mut in_out = rest.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(aad.as_bytes()), &mut in_out)
            .map_err(|_| Unsealable)?;
        Ok(plain.to_vec())
    }
}

/// `[mfa] key_file`, else `<data_dir>/mfa.key`.
pub fn key_path(config: &crate::config::Config) -> PathBuf {
    config
        .mfa
        .key_file
        .clone()
        .unwrap_or_else(|| config.data_dir.join("mfa.key"))
}

/// 32 bytes from standard or URL-safe base64 (how keys are given in files and variables).
pub(crate) fn decode_key(text: &str) -> Option<[u8; 32]> {
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    let bytes = STANDARD
        .decode(text)
        .or_else(|_| URL_SAFE_NO_PAD.decode(text))
        .ok()?;
    bytes.try_into().ok()
}

/// The key file's key; a missing file is created (0600) with a random key. A file others can
/// read, or one that is not a key, is an error naming the fix.
fn load_or_create(path: &Path) -> anyhow::Result<[u8; 32]> {
    if let Some(mode) = crate::files::open_to_others(path)
        .map_err(|e| anyhow::anyhow!("cannot read MFA key file {}: {e}", path.display()))?
    {
        anyhow::bail!(
            "MFA key file {} has mode {mode:o}: group or others can read it, and whoever reads \
             it (with a database copy) reads every TOTP secret. Run `chmod 600 {}`",
            path.display(),
            path.display()
        );
    }
    match std::fs::read_to_string(path) {
        Ok(text) => decode_key(text.trim()).ok_or_else(|| {
            anyhow::anyhow!(
                "MFA key file {} is not 32 bytes of base64; restore it from backup (without \
                 it no TOTP factor can be checked)",
                path.display()
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            use std::io::Write as _;
            let key = crypto::random_bytes::<32>();
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, crate::files::PRIVATE_FILE);
            match options.open(path) {
                Ok(mut out) => {
                    let text = base64::engine::general_purpose::STANDARD.encode(key);
                    out.write_all(format!("{text}\n").as_bytes())?;
                    out.sync_all()?;
                    tracing::info!(path = %path.display(), "created the MFA key file");
                    Ok(key)
                }
                // Another process created it first: use theirs.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => load_or_create(path),
                Err(e) => anyhow::bail!("cannot create MFA key file {}: {e}", path.display()),
            }
        }
        Err(e) => anyhow::bail!("cannot read MFA key file {}: {e}", path.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_secret_opens_only_with_its_key_and_factor_id() {
        let sealed_box = SecretBox::new(&[7; 32]);
        let a = sealed_box.seal("factor-1", b"JBSWY3DPEHPK3PXP");
        let b = sealed_box.seal("factor-1", b"JBSWY3DPEHPK3PXP");
        assert_ne!(a, b, "a fresh nonce per write");
        assert!(!a.contains("JBSWY3DP"));
        assert_eq!(
            sealed_box.open("factor-1", &a).unwrap(),
            b"JBSWY3DPEHPK3PXP"
        );
        assert_eq!(sealed_box.open("factor-2", &a), Err(Unsealable));
        assert_eq!(
            SecretBox::new(&[8; 32]).open("factor-1", &a),
            Err(Unsealable)
        );
        assert_eq!(sealed_box.open("factor-1", "v1.AAAA"), Err(Unsealable));
        assert_eq!(sealed_box.open("factor-1", "garbage"), Err(Unsealable));
        assert_eq!(format!("{sealed_box:?}"), "SecretBox(<redacted>)");
    }

    #[cfg(unix)]
    #[test]
    fn the_key_file_is_created_private_and_reused_and_refused_when_open_to_others() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mfa.key");
        let first = load_or_create(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(load_or_create(&path).unwrap(), first);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(load_or_create(&path)
            .unwrap_err()
            .to_string()
            .contains("chmod 600"));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::write(&path, "short").unwrap();
        assert!(load_or_create(&path)
            .unwrap_err()
            .to_string()
            .contains("32 bytes"));
    }
}
