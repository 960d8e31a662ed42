//! Canonical email addresses (security.md S-24, S-25).
//!
//! One canonical form is used for uniqueness, lookup and delivery, so the address mail is sent to
//! is always the address stored on the account and never a look-alike of it (the 2016 GitHub
//! reset bug delivered to `mıke@` because lookup and delivery used different forms).
//!
//! * Surrounding whitespace is trimmed; any other whitespace, CR/LF or control character is
//!   rejected (it could inject mail headers).
//! * The local part must be ASCII from the RFC 5322 dot-atom set and is ASCII-lowercased. Non-ASCII
//!   local parts are rejected, which rules out the Unicode case-mapping collisions (`ı`, `ß`, `ſ`,
//!   the Kelvin sign, fullwidth letters) that would otherwise map onto an existing ASCII address.
//! * The domain is NFC-normalised, converted to IDNA A-labels (punycode) per UTS 46 and
//!   lowercased, then checked against the DNS hostname rules.
//! * The whole address is at most 254 bytes.

use std::fmt;

use idna::uts46::{AsciiDenyList, DnsLength, Hyphens, Uts46};
use unicode_normalization::UnicodeNormalization as _;

/// Longest accepted address in bytes (RFC 5321 path limit of 256 minus the angle brackets).
pub const MAX_ADDRESS_BYTES: usize = 254;
/// Longest local part in bytes (RFC 5321 §4.5.3.1.1).
pub const MAX_LOCAL_PART_BYTES: usize = 64;
/// Longest domain in bytes (RFC 1035, without the trailing root dot).
pub const MAX_DOMAIN_BYTES: usize = 253;
/// Longest DNS label in bytes.
const MAX_LABEL_BYTES: usize = 63;
/// Input longer than this (after trimming) is refused before any Unicode processing. Nothing this
/// long can be a real address, and it keeps IDNA/punycode work on hostile input bounded.
const MAX_INPUT_BYTES: usize = 1024;

/// Why an address was refused. The `Display` text is meant for the end user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmailError {
    Empty,
    TooLong,
    NoAt,
    MultipleAt,
    ControlOrWhitespace,
    NonAsciiLocalPart,
    InvalidLocalPart,
    InvalidDomain,
}

impl fmt::Display for EmailError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let message = match self {
            EmailError::Empty => "email address must not be empty",
            EmailError::TooLong => "email address is too long: at most 254 characters are accepted",
            EmailError::NoAt | EmailError::MultipleAt => {
                "email address must contain exactly one '@'"
            }
            EmailError::ControlOrWhitespace => {
                "email address must not contain spaces, line breaks or control characters"
            }
            EmailError::NonAsciiLocalPart => {
                "the part of the email address before '@' must use only ASCII letters, digits and \
                 punctuation"
            }
            EmailError::InvalidLocalPart => {
                "the part of the email address before '@' must be 1 to 64 characters of letters, \
                 digits and !#$%&'*+-/=?^_`{|}~ with single dots between them"
            }
            EmailError::InvalidDomain => {
                "the part of the email address after '@' must be a valid domain name such as \
                 example.org"
            }
        };
        f.write_str(message)
    }
}

impl std::error::Error for EmailError {}

/// Canonical form used for uniqueness, lookup and delivery.
pub fn canonicalize(input: &str) -> Result<String, EmailError> {
    let trimmed = input.trim();
    if trimmed.is_empty() {
        return Err(EmailError::Empty);
    }
    if trimmed.len() > MAX_INPUT_BYTES {
        return Err(EmailError::TooLong);
    }
    if trimmed.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(EmailError::ControlOrWhitespace);
    }
    let (local, domain) = match trimmed.split_once('@') {
        None => return Err(EmailError::NoAt),
        Some((_, domain)) if domain.contains('@') => return Err(EmailError::MultipleAt),
        Some(parts) => parts,
    };

    let local = canonical_local_part(local)?;
    let domain = canonical_domain(domain)?;
    let address = format!("{local}@{domain}");
    if address.len() > MAX_ADDRESS_BYTES {
        return Err(EmailError::TooLong);
    }
    Ok(address)
}

/// Checks the local part as typed and lowercases it.
///
/// ASCII-ness is judged *before* any normalisation on purpose: NFC maps the Kelvin sign (U+212A)
/// to an ASCII `K`, so normalising first would let `\u{212A}ate@` collide with `kate@`. An ASCII
/// string is its own NFC form, so an accepted local part is NFC as S-25 requires.
fn canonical_local_part(local: &str) -> Result<String, EmailError> {
    if !local.is_ascii() {
        return Err(EmailError::NonAsciiLocalPart);
    }
    if local.is_empty() || local.len() > MAX_LOCAL_PART_BYTES {
        return Err(EmailError::InvalidLocalPart);
    }
    // Dot-atom: atoms separated by single dots. This also rejects the RFC 5322 specials
    // (quotes, <>, (), comma, semicolon, colon, backslash, []) since they are not atext.
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return Err(EmailError::InvalidLocalPart);
    }
    if !local.bytes().all(|b| b == b'.' || is_atext(b)) {
        return Err(EmailError::InvalidLocalPart);
    }
    Ok(local.to_ascii_lowercase())
}

/// RFC 5322 `atext`: letters, digits and ``!#$%&'*+-/=?^_`{|}~``.
fn is_atext(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~".contains(&b)
}

/// NFC, UTS 46 to A-labels, lowercase, then the DNS hostname rules on the result.
fn canonical_domain(domain: &str) -> Result<String, EmailError> {
    let nfc: String = domain.nfc().collect();
    // STD3 rules refuse everything but letters, digits and hyphens in the ASCII range, so specials
    // such as <>[]:, and IP literals fail here. UTS 46 also maps (case-folds) Unicode labels and
    // validates any `xn--` label given in punycode.
    let ascii = Uts46::new()
        .to_ascii(
            nfc.as_bytes(),
            AsciiDenyList::STD3,
            Hyphens::CheckFirstLast,
            DnsLength::Verify,
        )
        .map_err(|_| EmailError::InvalidDomain)?
        .to_ascii_lowercase();

    // UTS 46 already enforces most of this; checking again keeps the canonical form's guarantees
    // independent of the idna crate's flags and version.
    if ascii.len() > MAX_DOMAIN_BYTES || !ascii.contains('.') {
        return Err(EmailError::InvalidDomain);
    }
    let labels_ok = ascii.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= MAX_LABEL_BYTES
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    });
    // No top-level domain is all digits; refusing them keeps bare IPv4 addresses such as
    // `a@127.0.0.1` from routing mail to internal hosts.
    let tld_ok = ascii
        .rsplit('.')
        .next()
        .is_some_and(|tld| !tld.bytes().all(|b| b.is_ascii_digit()));
    if !labels_ok || !tld_ok {
        return Err(EmailError::InvalidDomain);
    }
    Ok(ascii)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MIKE: &str = "mike@example.org";

    #[test]
    fn a_plain_address_is_its_own_canonical_form() {
        assert_eq!(canonicalize(MIKE).as_deref(), Ok(MIKE));
        assert_eq!(canonicalize("  mike@example.org\t ").as_deref(), Ok(MIKE));
        assert_eq!(
            canonicalize("first.last+tag!#$%&'*/=?^_`{|}~-@sub.example.co.uk").as_deref(),
            Ok("first.last+tag!#$%&'*/=?^_`{|}~-@sub.example.co.uk")
        );
    }

    #[test]
    fn ascii_case_variants_collide_with_the_stored_address() {
        for variant in ["MIKE@EXAMPLE.ORG", "mike@exampLe.org", "Mike@Example.Org"] {
            assert_eq!(canonicalize(variant).as_deref(), Ok(MIKE), "{variant}");
        }
    }

    #[test]
    fn unicode_look_alikes_of_the_local_part_are_rejected() {
        for variant in [
            "m\u{131}ke@example.org",   // dotless i, uppercases to I
            "\u{ff4d}ike@example.org",  // fullwidth m
            "stra\u{df}e@example.org",  // ß, case-folds to ss
            "\u{212a}ate@example.org",  // Kelvin sign, NFC and lowercase to k
            "mi\u{17f}e@example.org",   // long s
            "mike\u{200b}@example.org", // zero-width space
        ] {
            assert_eq!(
                canonicalize(variant),
                Err(EmailError::NonAsciiLocalPart),
                "{variant}"
            );
        }
        // The ASCII spellings stay distinct accounts.
        assert_eq!(
            canonicalize("strasse@example.org").as_deref(),
            Ok("strasse@example.org")
        );
        assert_eq!(
            canonicalize("kate@example.org").as_deref(),
            Ok("kate@example.org")
        );
    }

    #[test]
    fn unicode_domains_become_a_labels() {
        assert_eq!(
            canonicalize("mike@ex\u{e4}mple.org").as_deref(),
            Ok("mike@xn--exmple-cua.org")
        );
        // The same domain typed decomposed (a + combining diaeresis) or in capitals is the same.
        assert_eq!(
            canonicalize("mike@exa\u{308}mple.org").as_deref(),
            Ok("mike@xn--exmple-cua.org")
        );
        assert_eq!(
            canonicalize("mike@EX\u{c4}MPLE.ORG").as_deref(),
            Ok("mike@xn--exmple-cua.org")
        );
        assert_eq!(
            canonicalize("mike@xn--exmple-cua.org").as_deref(),
            Ok("mike@xn--exmple-cua.org")
        );
        // A homoglyph domain (Cyrillic а) is a different domain, not example.org.
        let homoglyph = canonicalize("mike@ex\u{430}mple.org").expect("a valid IDN");
        assert_ne!(homoglyph, MIKE);
        assert!(homoglyph.starts_with("mike@xn--"), "{homoglyph}");
        // Non-transitional processing keeps ß distinct from ss in domains.
        assert_ne!(
            canonicalize("a@stra\u{df}e.de"),
            canonicalize("a@strasse.de")
        );
    }

    #[test]
    fn header_injection_and_specials_are_rejected() {
        let cases: &[(&str, EmailError)] = &[
            ("a@b.c\r\nBcc: x@y.z", EmailError::ControlOrWhitespace),
            ("a@b.c\nBcc:x@y.z", EmailError::ControlOrWhitespace),
            ("a b@c.d", EmailError::ControlOrWhitespace),
            ("a@b\u{a0}c.d", EmailError::ControlOrWhitespace),
            ("a\0@b.cd", EmailError::ControlOrWhitespace),
            ("a@b.c\u{7f}", EmailError::ControlOrWhitespace),
            ("a@b\u{85}.cd", EmailError::ControlOrWhitespace),
            ("a\u{2028}b@c.d", EmailError::ControlOrWhitespace),
            ("<a@b.c>", EmailError::InvalidLocalPart),
            ("a@b.c>", EmailError::InvalidDomain),
            ("a@@b.c", EmailError::MultipleAt),
            ("a@b@c.d", EmailError::MultipleAt),
            ("\"a@b\"@c.d", EmailError::MultipleAt),
            ("\"a\"@b.cd", EmailError::InvalidLocalPart),
            ("a(b)@c.d", EmailError::InvalidLocalPart),
            ("a,b@c.d", EmailError::InvalidLocalPart),
            ("a;b@c.d", EmailError::InvalidLocalPart),
            ("a:b@c.d", EmailError::InvalidLocalPart),
            ("a\\b@c.d", EmailError::InvalidLocalPart),
            ("a[b]@c.d", EmailError::InvalidLocalPart),
            ("a@[127.0.0.1]", EmailError::InvalidDomain),
            ("a@b,c.d", EmailError::InvalidDomain),
            ("a@b_c.d", EmailError::InvalidDomain),
        ];
        for (input, expected) in cases {
            assert_eq!(canonicalize(input).as_ref(), Err(expected), "{input:?}");
        }
    }

    #[test]
    fn structural_errors_are_named() {
        let cases: &[(&str, EmailError)] = &[
            ("", EmailError::Empty),
            (" \t ", EmailError::Empty),
            ("mike.example.org", EmailError::NoAt),
            ("@example.org", EmailError::InvalidLocalPart),
            (".mike@example.org", EmailError::InvalidLocalPart),
            ("mike.@example.org", EmailError::InvalidLocalPart),
            ("mi..ke@example.org", EmailError::InvalidLocalPart),
            ("mike@", EmailError::InvalidDomain),
            ("mike@localhost", EmailError::InvalidDomain),
            ("mike@example.org.", EmailError::InvalidDomain),
            ("mike@.example.org", EmailError::InvalidDomain),
            ("mike@example..org", EmailError::InvalidDomain),
            ("mike@-example.org", EmailError::InvalidDomain),
            ("mike@example-.org", EmailError::InvalidDomain),
            ("mike@127.0.0.1", EmailError::InvalidDomain),
            ("mike@xn--zz.org", EmailError::InvalidDomain),
        ];
        for (input, expected) in cases {
            assert_eq!(canonicalize(input).as_ref(), Err(expected), "{input:?}");
        }
    }

    #[test]
    fn length_limits_are_enforced_in_bytes() {
        let local64 = "l".repeat(64);
        // 63 + 1 + 63 + 1 + c + 4 bytes of domain.
        let domain = |c: usize| {
            format!(
                "{}.{}.{}.org",
                "a".repeat(63),
                "b".repeat(63),
                "c".repeat(c)
            )
        };
        let at_limit = format!("{local64}@{}", domain(57));
        assert_eq!(at_limit.len(), 254);
        assert_eq!(canonicalize(&at_limit).as_deref(), Ok(at_limit.as_str()));
        let over = format!("{local64}@{}", domain(58));
        assert_eq!(over.len(), 255);
        assert_eq!(canonicalize(&over), Err(EmailError::TooLong));

        assert_eq!(
            canonicalize(&format!("{}@example.org", "l".repeat(65))),
            Err(EmailError::InvalidLocalPart)
        );
        let long_label = format!("mike@{}.org", "a".repeat(64));
        assert_eq!(canonicalize(&long_label), Err(EmailError::InvalidDomain));
        assert_eq!(canonicalize(&"a".repeat(10_000)), Err(EmailError::TooLong));
    }

    #[test]
    fn errors_explain_themselves() {
        assert_eq!(
            EmailError::MultipleAt.to_string(),
            "email address must contain exactly one '@'"
        );
        assert_eq!(
            EmailError::NoAt.to_string(),
            EmailError::MultipleAt.to_string()
        );
        assert!(EmailError::TooLong.to_string().contains("254"));
        assert!(EmailError::ControlOrWhitespace
            .to_string()
            .contains("line breaks"));
    }

    /// The guarantees every canonical address gives its users (T-12).
    fn assert_canonical(address: &str) {
        assert_eq!(address.matches('@').count(), 1, "{address:?}");
        assert!(
            !address.chars().any(|c| c.is_control() || c.is_whitespace()),
            "{address:?}"
        );
        assert!(address.len() <= MAX_ADDRESS_BYTES, "{address:?}");
        assert_eq!(
            canonicalize(address).as_deref(),
            Ok(address),
            "not a fixed point"
        );
        let (local, domain) = address.split_once('@').expect("one '@'");
        assert!(
            local.is_ascii() && !local.bytes().any(|b| b.is_ascii_uppercase()),
            "{address:?}"
        );
        assert!(domain.is_ascii(), "{address:?}");
        // IDNA-valid: the domain survives the idna crate's own entry points unchanged.
        assert_eq!(
            idna::domain_to_ascii(domain).ok().as_deref(),
            Some(domain),
            "{address:?}"
        );
        assert!(idna::domain_to_unicode(domain).1.is_ok(), "{address:?}");
    }

    /// Address-shaped input mixing valid pieces with hostile ones, so that a good share of cases
    /// is accepted and the invariants are actually exercised.
    fn address_like() -> impl Strategy<Value = String> {
        let local = prop_oneof![
            4 => "[a-zA-Z0-9]{1,20}",
            3 => "[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]{0,70}",
            1 => "[a-zA-Z0-9\"<>(),;:\\\\\\[\\] @\r\n\t.ıß\u{212a}ｍ]{0,12}",
        ];
        let label = prop_oneof![
            8 => "[a-zA-Z0-9]{1,15}",
            2 => "[a-zA-Z0-9-]{0,70}",
            3 => "[a-zäöüßıЁёаеоξΣ0-9]{1,12}",
            1 => "xn--[a-z0-9-]{1,10}",
            1 => "[a-zA-Z0-9\u{ad}\u{200b}\u{ff21}-\u{ff3a}\u{3002}_<>:\\[\\] ]{0,8}",
        ];
        let domain = prop::collection::vec(label, 1..5).prop_map(|labels| labels.join("."));
        let at = prop_oneof![8 => Just("@"), 1 => Just("@@"), 1 => Just(""), 1 => Just("@x@")];
        (local, at, domain, "[ \t\r\n]{0,2}")
            .prop_map(|(local, at, domain, pad)| format!("{pad}{local}{at}{domain}{pad}"))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn arbitrary_strings_are_rejected_or_canonical(input in any::<String>()) {
            if let Ok(address) = canonicalize(&input) {
                assert_canonical(&address);
            }
        }

        #[test]
        fn address_like_strings_are_rejected_or_canonical(input in address_like()) {
            if let Ok(address) = canonicalize(&input) {
                assert_canonical(&address);
            }
        }

        #[test]
        fn valid_ascii_addresses_are_accepted_and_only_lowercased(
            local in "[a-zA-Z0-9!#$%&'*+/=?^_`{|}~-]{1,20}(\\.[a-zA-Z0-9_+-]{1,10}){0,2}",
            labels in prop::collection::vec("[a-zA-Z0-9]([a-zA-Z0-9-]{0,20}[a-zA-Z0-9])?", 1..4),
            tld in "[a-zA-Z]{2,10}",
        ) {
            // A label starting with "xn--" would claim to be punycode; that case is covered above.
            prop_assume!(!labels.iter().any(|l| l.to_ascii_lowercase().starts_with("xn--")));
            let input = format!("{local}@{}.{tld}", labels.join("."));
            let expected = input.to_ascii_lowercase();
            prop_assert_eq!(canonicalize(&input), Ok(expected));
        }
    }
}
