//! Random ids and secrets, hashing and constant-time comparison. Everything random comes from the
//! OS CSPRNG (ring's `SystemRandom`).

use base64::Engine as _;
use ring::rand::{SecureRandom, SystemRandom};
use subtle::ConstantTimeEq;

fn fill(buf: &mut [u8]) {
    // The OS CSPRNG failing is not recoverable (no secret, id or token can be made without it);
    // ring only errors when getrandom itself does.
    #[allow(clippy::expect_used)]
    SystemRandom::new()
        .fill(buf)
        .expect("the OS random number generator is unavailable");
}

/// A 24-hex ObjectId in MongoDB's layout: 4 bytes of seconds, 5 random bytes fixed per process,
/// a 3-byte counter. Ids made by one process in the same second sort in creation order, which
/// keeps "oldest first" listings stable without another column.
pub fn object_id(now_secs: i64) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::OnceLock;
    static PROCESS: OnceLock<[u8; 5]> = OnceLock::new();
    static COUNTER: OnceLock<AtomicU32> = OnceLock::new();
    let process = PROCESS.get_or_init(random_bytes::<5>);
    let counter = COUNTER
        .get_or_init(|| AtomicU32::new(u32::from_be_bytes(random_bytes::<4>()) & 0x00ff_ffff));
    let count = counter.fetch_add(1, Ordering::Relaxed);
    let mut bytes = [0u8; 12];
    bytes[..4].copy_from_slice(&(now_secs as u32).to_be_bytes());
    bytes[4..9].copy_from_slice(process);
    bytes[9..].copy_from_slice(&count.to_be_bytes()[1..]);
    hex::encode(bytes)
}

/// 256 random bits, base64url without padding (43 characters).
pub fn secret_256() -> String {
    let mut bytes = [0u8; 32];
    fill(&mut bytes);
    b64(&bytes)
}

pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    fill(&mut bytes);
    bytes
}

pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Hex SHA-256: how every bearer secret (refresh secret, API key, mailed token) is stored.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, data))
}

pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key);
    let tag = ring::hmac::sign(&key, data);
    // Invariant: an HMAC-SHA256 tag is always 32 bytes.
    #[allow(clippy::expect_used)]
    let tag: [u8; 32] = tag.as_ref().try_into().expect("HMAC-SHA256 is 32 bytes");
    tag
}

/// Constant-time equality for secrets and their hashes.
pub fn ct_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_ids_are_24_hex_and_unique() {
        let a = object_id(1_700_000_000);
        let b = object_id(1_700_000_000);
        assert!(gatehouse_proto::auth::is_object_id(&a));
        assert_ne!(a, b);
        assert!(
            a < b || b.ends_with("000000"),
            "ids of one second sort in creation order"
        );
        assert!(a.starts_with("6553f100"));
    }

    #[test]
    fn secrets_carry_256_bits() {
        let s = secret_256();
        assert_eq!(s.len(), 43);
        assert_ne!(s, secret_256());
    }

    #[test]
    fn ct_eq_compares_exactly() {
        assert!(ct_eq("abc", "abc"));
        assert!(!ct_eq("abc", "abd"));
        assert!(!ct_eq("abc", "abcd"));
    }
}
