//! TOTP (RFC 6238): HMAC-SHA-1, 6 digits, 30-second steps, 160-bit secrets shown as base32
//! without padding — the parameters every authenticator app supports (and the only ones many
//! support). A code is accepted for the current step ±1 (clock skew, a code typed as it turns
//! over), and each step at most once per factor: the caller stores the step accepted last and a
//! code of that step or an earlier one is a replay.

use ring::hmac;

pub const DIGITS: u32 = 6;
pub const PERIOD_SECS: i64 = 30;
/// Steps accepted on each side of the current one.
pub const SKEW_STEPS: i64 = 1;
/// 160 bits, as RFC 4226 recommends.
pub const SECRET_BYTES: usize = 20;

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// A new random secret.
pub fn new_secret() -> [u8; SECRET_BYTES] {
    crate::crypto::random_bytes::<SECRET_BYTES>()
}

/// RFC 4648 base32, upper case, no padding.
pub fn base32(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(BASE32[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(BASE32[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

/// The step `unix_secs` falls in.
pub fn step_at(unix_secs: i64) -> i64 {
    unix_secs.div_euclid(PERIOD_SECS)
}

/// The code of `step` (RFC 4226 dynamic truncation of HMAC-SHA-1 over the big-endian counter).
pub fn code_at(secret: &[u8], step: i64) -> u32 {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
    let tag = hmac::sign(&key, &step.to_be_bytes());
    let mac = tag.as_ref();
    let offset = usize::from(mac[mac.len() - 1] & 0x0f);
    let word = u32::from_be_bytes([
        mac[offset] & 0x7f,
        mac[offset + 1],
        mac[offset + 2],
        mac[offset + 3],
    ]);
    word % 10u32.pow(DIGITS)
}

/// Why a code was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Not the code of any step in the window (or not six digits).
    Wrong,
    /// The code of a step already used (or older than the one used last).
    Replayed,
}

/// The step `code` belongs to, within ±[`SKEW_STEPS`] of `now`, newer than `last_step`. Every
/// step of the window is computed and compared in constant time, whatever matches.
pub fn verify(secret: &[u8], code: &str, now: i64, last_step: Option<i64>) -> Result<i64, Refusal> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Refusal::Wrong);
    }
    let current = step_at(now);
    let mut matched = None;
    for step in current - SKEW_STEPS..=current + SKEW_STEPS {
        let expected = format!("{:0width$}", code_at(secret, step), width = DIGITS as usize);
        if crate::crypto::ct_eq(&expected, &code) && matched.is_none() {
            matched = Some(step);
        }
    }
    let step = matched.ok_or(Refusal::Wrong)?;
    if last_step.is_some_and(|last| step <= last) {
        return Err(Refusal::Replayed);
    }
    Ok(step)
}

/// `otpauth://totp/{issuer}:{account}?secret=…&issuer=…&algorithm=SHA1&digits=6&period=30`
/// (the Key Uri Format authenticator apps read from QR codes).
pub fn otpauth_uri(issuer: &str, account: &str, secret_b32: &str) -> String {
    let issuer_enc = percent_encode(issuer);
    format!(
        "otpauth://totp/{issuer_enc}:{}?secret={secret_b32}&issuer={issuer_enc}\
         &algorithm=SHA1&digits={DIGITS}&period={PERIOD_SECS}",
        percent_encode(account)
    )
}

/// Everything but RFC 3986 unreserved characters, percent-encoded.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B, SHA-1 rows (8-digit codes; ours are their last six digits).
    #[test]
    fn rfc_6238_sha1_test_vectors() {
        let secret = b"12345678901234567890";
        for (time, eight) in [
            (59, "94287082"),
            (1111111109, "07081804"),
            (1111111111, "14050471"),
            (1234567890, "89005924"),
            (2000000000, "69279037"),
            (20000000000, "65353130"),
        ] {
            assert_eq!(
                format!("{:06}", code_at(secret, step_at(time))),
                eight[2..],
                "T = {time}"
            );
            assert_eq!(verify(secret, &eight[2..], time, None), Ok(step_at(time)));
        }
    }

    #[test]
    fn the_window_is_one_step_each_side_and_each_step_counts_once() {
        let secret = b"12345678901234567890";
        let now = 1_700_000_000;
        let code = |offset: i64| format!("{:06}", code_at(secret, step_at(now) + offset));
        for offset in [-1, 0, 1] {
            assert_eq!(
                verify(secret, &code(offset), now, None),
                Ok(step_at(now) + offset)
            );
        }
        for offset in [-2, 2] {
            assert_eq!(
                verify(secret, &code(offset), now, None),
                Err(Refusal::Wrong)
            );
        }
        let used = Some(step_at(now));
        assert_eq!(verify(secret, &code(0), now, used), Err(Refusal::Replayed));
        assert_eq!(verify(secret, &code(-1), now, used), Err(Refusal::Replayed));
        assert_eq!(verify(secret, &code(1), now, used), Ok(step_at(now) + 1));
        for bad in ["", "12345", "1234567", "12a456"] {
            assert_eq!(verify(secret, bad, now, None), Err(Refusal::Wrong), "{bad}");
        }
        assert_eq!(
            verify(
                secret,
                &format!("{} {}", &code(0)[..3], &code(0)[3..]),
                now,
                None
            ),
            Ok(step_at(now))
        );
    }

    #[test]
    fn base32_and_the_otpauth_uri() {
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        assert_eq!(
            base32(b"12345678901234567890"),
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
        );
        assert_eq!(base32(&new_secret()).len(), 32);
        assert_eq!(
            otpauth_uri("My App", "ann@example.com", "ABC"),
            "otpauth://totp/My%20App:ann%40example.com?secret=ABC&issuer=My%20App\
             &algorithm=SHA1&digits=6&period=30"
        );
    }
}
