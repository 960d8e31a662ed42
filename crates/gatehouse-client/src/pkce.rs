//! PKCE (RFC 7636) and state values for sign-ins that come back through a redirect (magic links,
//! browser sign-in). The verifier never leaves this process.

use base64::Engine as _;
use ring::rand::SecureRandom as _;

/// `bytes` random bytes, base64url without padding (32 bytes → a 43-character verifier).
pub(crate) fn random_b64(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    // `fill` fails only when the OS has no random source at all (getrandom(2) unavailable); no
    // sign-in can be made safe then, and ring itself treats that as fatal.
    #[allow(clippy::expect_used)]
    ring::rand::SystemRandom::new()
        .fill(&mut buf)
        .expect("the OS random number generator is unavailable");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

/// The S256 challenge of a verifier.
pub(crate) fn challenge(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(ring::digest::digest(
        &ring::digest::SHA256,
        verifier.as_bytes(),
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn verifiers_are_43_chars_and_challenges_s256() {
        assert_eq!(super::random_b64(32).len(), 43);
        assert_eq!(
            super::challenge("dBjftJeZ4CVP-mJ0kkFtDVs3dGzSmFGPyCwrjkL1oy0"),
            "UAp9I0t3BiXfhHGC0vByQUMJEcasn_b0HFTgC1GkYnE"
        );
    }
}
