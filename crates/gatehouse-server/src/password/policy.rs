//! Password policy for new passwords (security.md S-4, S-6, S-7).
//!
//! * Length is counted in Unicode code points *after* NFKC normalisation: at least 15 by default
//!   (configurable, never below 8), at most 256. Longer input is rejected, never truncated.
//! * Every printable character is accepted: spaces, emoji, right-to-left marks, combining marks.
//!   Only control characters (C0, DEL and C1, including NUL, tab and newlines) are refused.
//! * No trimming and no case folding: what gets hashed is exactly the NFKC form of what was typed.
//! * The password must not be one of the most common passwords, nor contain a context word (the
//!   product name, the app name, the user's email local part).
//!
//! The blocklist (`blocklist.txt`, compiled into the binary because CI and many deployments have
//! no internet) holds every password of 8 or more characters from the frequency-ordered
//! "passwords" list that ships with zxcvbn (PyPI package `zxcvbn` 4.5.0,
//! `zxcvbn/frequency_lists.py`, itself built from leaked-password corpora), lowercased,
//! deduplicated and kept in order of frequency, one per line. 8 is the lowest minimum an operator
//! can configure, so every entry is a password the length rule alone would let through.

use std::collections::HashSet;
use std::fmt;
use std::sync::OnceLock;

use unicode_normalization::UnicodeNormalization as _;

/// Stored next to each hash so a later change of normalisation can be detected: hashes made
/// under another version would no longer verify for passwords whose normalised form changed.
pub const NORMALIZATION_VERSION: &str = "nfkc-1";

/// Default minimum length. NIST SP 800-63B-4 requires 15 for single-factor passwords, and every
/// password login here is single-factor.
pub const DEFAULT_MIN_CHARS: usize = 15;
/// Default maximum length.
pub const DEFAULT_MAX_CHARS: usize = 256;

/// The minimum may be configured between these bounds (ASVS 6.2.1 never allows fewer than 8).
const MIN_CHARS_FLOOR: usize = 8;
const MIN_CHARS_CEILING: usize = 64;
/// The maximum may never be below 64 (ASVS 6.2.9).
const MAX_CHARS_FLOOR: usize = 64;

/// Context words shorter than this are ignored: "abc" or "joe" inside a long passphrase says
/// nothing about its strength, and rejecting them would only annoy.
const MIN_CONTEXT_WORD_CHARS: usize = 4;
/// Always treated as a context word, whatever the caller passes.
const PRODUCT_NAME: &str = "gatehouse";

const BLOCKLIST: &str = include_str!("blocklist.txt");

/// The blocklist as a set, parsed on first use.
fn blocklist() -> &'static HashSet<&'static str> {
    static SET: OnceLock<HashSet<&'static str>> = OnceLock::new();
    SET.get_or_init(|| BLOCKLIST.lines().filter(|line| !line.is_empty()).collect())
}

/// NFKC normalisation used both when setting and when verifying a password, so that the same
/// password typed on keyboards or platforms that produce different code point sequences (NFC vs
/// NFD, fullwidth forms, ligatures) hashes the same.
pub fn normalize(password: &str) -> String {
    password.nfkc().collect()
}

/// Why a new password was refused. The `Display` text is meant for the end user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyViolation {
    TooShort { min: usize },
    TooLong { max: usize },
    Common,
    ContainsContext,
    ControlCharacter,
}

impl fmt::Display for PolicyViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PolicyViolation::TooShort { min } => {
                write!(f, "password must be at least {min} characters long")
            }
            PolicyViolation::TooLong { max } => write!(
                f,
                "password is too long: at most {max} characters are accepted (nothing is ever \
                 truncated)"
            ),
            PolicyViolation::Common => f.write_str(
                "this password is one of the most commonly used passwords; choose \
                 another",
            ),
            PolicyViolation::ContainsContext => {
                f.write_str("password must not contain the app name or your email address")
            }
            PolicyViolation::ControlCharacter => {
                f.write_str("password must not contain control characters")
            }
        }
    }
}

impl std::error::Error for PolicyViolation {}

/// Length limits for new passwords, in code points after NFKC normalisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordPolicy {
    pub min_chars: usize,
    pub max_chars: usize,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        PasswordPolicy {
            min_chars: DEFAULT_MIN_CHARS,
            max_chars: DEFAULT_MAX_CHARS,
        }
    }
}

impl PasswordPolicy {
    /// A policy with the given limits, clamped to what the security requirements allow: the
    /// minimum to 8..=64, the maximum to at least 64 and at least the minimum.
    pub fn new(min_chars: usize, max_chars: usize) -> PasswordPolicy {
        let (min_chars, max_chars) = clamp(min_chars, max_chars);
        PasswordPolicy {
            min_chars,
            max_chars,
        }
    }

    /// Validates a new password and returns its NFKC-normalised form (the form that gets hashed).
    ///
    /// `context_words` are the app name, the user's email address or its local part, and similar
    /// words an attacker would try first; the product name is always included. An entry that
    /// contains '@' counts both as a whole and by its local part.
    pub fn check(&self, password: &str, context_words: &[&str]) -> Result<String, PolicyViolation> {
        // The fields are public, so a policy built without `new` gets the same clamping here.
        let (min, max) = clamp(self.min_chars, self.max_chars);

        let normalized = normalize(password);
        // Checked on the normalised form, which is what gets hashed. Control characters have no
        // decompositions, so normalisation neither removes nor introduces them.
        if normalized.chars().any(char::is_control) {
            return Err(PolicyViolation::ControlCharacter);
        }
        let chars = normalized.chars().count();
        if chars < min {
            return Err(PolicyViolation::TooShort { min });
        }
        if chars > max {
            return Err(PolicyViolation::TooLong { max });
        }

        let lowered = normalized.to_lowercase();
        if blocklist().contains(lowered.as_str()) {
            return Err(PolicyViolation::Common);
        }
        if contains_context_word(&lowered, context_words) {
            return Err(PolicyViolation::ContainsContext);
        }
        Ok(normalized)
    }
}

fn clamp(min_chars: usize, max_chars: usize) -> (usize, usize) {
    let min = min_chars.clamp(MIN_CHARS_FLOOR, MIN_CHARS_CEILING);
    let max = max_chars.max(MAX_CHARS_FLOOR).max(min);
    (min, max)
}

/// Whether the lowercased, normalised password contains the product name or any context word of
/// at least [`MIN_CONTEXT_WORD_CHARS`] characters (compared in the same normalised lowercase form).
fn contains_context_word(lowered_password: &str, context_words: &[&str]) -> bool {
    std::iter::once(PRODUCT_NAME)
        .chain(context_words.iter().copied())
        .flat_map(|word| {
            let word = normalize(word.trim()).to_lowercase();
            // An email address also counts by its local part: "mike.smith@example.org" makes
            // "mike.smith" a context word.
            let local = word.rsplit_once('@').map(|(local, _)| local.to_string());
            std::iter::once(word).chain(local)
        })
        .any(|word| {
            word.chars().count() >= MIN_CONTEXT_WORD_CHARS && lowered_password.contains(&word)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(min: usize) -> PasswordPolicy {
        PasswordPolicy::new(min, 256)
    }

    /// A string of exactly `n` code points that is neither common nor contains a context word.
    fn varied(n: usize) -> String {
        "Tr0ub4dor & 3 purple elephants; "
            .chars()
            .cycle()
            .take(n)
            .collect()
    }

    #[test]
    fn defaults_are_15_to_256() {
        assert_eq!(
            PasswordPolicy::default(),
            PasswordPolicy {
                min_chars: 15,
                max_chars: 256
            }
        );
        let p = PasswordPolicy::default();
        assert_eq!(
            p.check(&varied(14), &[]),
            Err(PolicyViolation::TooShort { min: 15 })
        );
        assert_eq!(p.check(&varied(15), &[]), Ok(varied(15)));
    }

    #[test]
    fn seven_characters_are_rejected_even_with_the_lowest_minimum() {
        let p = policy(8);
        assert_eq!(
            p.check("Zq7#xLp", &[]),
            Err(PolicyViolation::TooShort { min: 8 })
        );
        assert_eq!(p.check("Zq7#xLpw", &[]), Ok("Zq7#xLpw".to_string()));
    }

    #[test]
    fn the_minimum_is_clamped_to_8_and_the_limits_to_sane_ranges() {
        assert_eq!(
            PasswordPolicy::new(4, 256),
            PasswordPolicy {
                min_chars: 8,
                max_chars: 256
            }
        );
        assert_eq!(
            PasswordPolicy::new(0, 0),
            PasswordPolicy {
                min_chars: 8,
                max_chars: 64
            }
        );
        assert_eq!(
            PasswordPolicy::new(100, 70),
            PasswordPolicy {
                min_chars: 64,
                max_chars: 70
            }
        );
        assert_eq!(
            PasswordPolicy::new(20, 300),
            PasswordPolicy {
                min_chars: 20,
                max_chars: 300
            }
        );
        assert_eq!(
            PasswordPolicy::new(4, 256).check("Zq7#xLp", &[]),
            Err(PolicyViolation::TooShort { min: 8 })
        );
        // A policy built field by field bypasses `new`, and is clamped all the same.
        let literal = PasswordPolicy {
            min_chars: 3,
            max_chars: 10,
        };
        assert_eq!(
            literal.check("Zq7#xLp", &[]),
            Err(PolicyViolation::TooShort { min: 8 })
        );
        assert_eq!(literal.check(&varied(64), &[]), Ok(varied(64)));
    }

    #[test]
    fn exactly_256_is_accepted_whole_and_257_is_rejected() {
        let p = PasswordPolicy::default();
        let at_limit = varied(256);
        assert_eq!(
            p.check(&at_limit, &[]),
            Ok(at_limit.clone()),
            "nothing may be truncated"
        );
        let over = varied(257);
        assert_eq!(
            p.check(&over, &[]),
            Err(PolicyViolation::TooLong { max: 256 })
        );
        // Code points, not bytes: 256 four-byte characters are still 256 characters.
        let emoji: String = "🔑🐴".chars().cycle().take(256).collect();
        assert_eq!(p.check(&emoji, &[]), Ok(emoji.clone()));
    }

    #[test]
    fn length_is_counted_after_normalisation() {
        let p = PasswordPolicy::default();
        // U+FB01 (ﬁ) becomes "fi" under NFKC: 256 typed code points, 257 after normalisation.
        let typed = format!("\u{fb01}{}", varied(255));
        assert_eq!(typed.chars().count(), 256);
        assert_eq!(
            p.check(&typed, &[]),
            Err(PolicyViolation::TooLong { max: 256 })
        );
        // Ten Hangul syllables typed as 20 decomposed jamo are 10 characters after normalisation.
        let nfd: String = "가나다라마바사아자차".nfd().collect();
        assert_eq!(nfd.chars().count(), 20);
        assert_eq!(
            p.check(&nfd, &[]),
            Err(PolicyViolation::TooShort { min: 15 })
        );
    }

    #[test]
    fn nfc_and_nfd_forms_normalise_to_the_same_password() {
        let nfc: String = "Ünïcödé passwörd long".nfc().collect();
        let nfd: String = "Ünïcödé passwörd long".nfd().collect();
        assert_ne!(nfc, nfd, "the test needs two different encodings");
        assert_eq!(normalize(&nfc), normalize(&nfd));
        let p = PasswordPolicy::default();
        let from_nfc = p.check(&nfc, &[]).expect("NFC form accepted");
        let from_nfd = p.check(&nfd, &[]).expect("NFD form accepted");
        assert_eq!(from_nfc, from_nfd);
        assert_eq!(from_nfc, nfc);
    }

    #[test]
    fn printable_unicode_and_spaces_are_accepted_unchanged() {
        let p = PasswordPolicy::default();
        for password in [
            "correct horse 🐴 battery staple",
            "שלום עולם \u{200f}סיסמה ארוכה",
            "mixed \u{200f}rtl mark and \u{200e}ltr mark",
            // q + combining dot above has no precomposed form, so it stays two code points.
            "q\u{307}uite a combining mark here",
            "   spaces at both ends   ",
            "No Case Folding Happens Here",
        ] {
            assert_eq!(
                p.check(password, &[]).as_deref(),
                Ok(password),
                "{password:?}"
            );
        }
    }

    #[test]
    fn control_characters_are_rejected() {
        let p = PasswordPolicy::default();
        for c in [
            '\0', '\t', '\n', '\r', '\u{1b}', '\u{7f}', '\u{85}', '\u{9b}',
        ] {
            let password = format!("a long enough pass{c}phrase");
            assert_eq!(
                p.check(&password, &[]),
                Err(PolicyViolation::ControlCharacter),
                "{c:?}"
            );
        }
    }

    #[test]
    fn blocklisted_passwords_are_rejected_in_any_case() {
        let p = policy(8);
        assert_eq!(p.check("password1234", &[]), Err(PolicyViolation::Common));
        assert_eq!(p.check("PASSWORD1234", &[]), Err(PolicyViolation::Common));
        assert_eq!(p.check("QwertyUIOP", &[]), Err(PolicyViolation::Common));
        // Fullwidth forms normalise to the same common password.
        assert_eq!(
            p.check("ｐａｓｓｗｏｒｄ１２３４", &[]),
            Err(PolicyViolation::Common)
        );
        // Whole passwords only: a common password inside a longer one is fine.
        assert!(p.check("password1234 is not my password", &[]).is_ok());

        // Under the default minimum, an entry that is long enough to pass the length rule.
        let long = blocklist_lines()
            .find(|l| l.chars().count() >= 15)
            .expect("a long entry");
        let default = PasswordPolicy::default();
        assert_eq!(
            default.check(long, &[]),
            Err(PolicyViolation::Common),
            "{long}"
        );
        assert_eq!(
            default.check(&long.to_uppercase(), &[]),
            Err(PolicyViolation::Common),
            "{long}"
        );
    }

    #[test]
    fn context_words_are_rejected_case_insensitively() {
        let p = PasswordPolicy::default();
        let context = ["Acme Notes", "Mike.Smith@Example.org"];
        assert_eq!(
            p.check("I LOVE acme notes forever", &context),
            Err(PolicyViolation::ContainsContext)
        );
        assert_eq!(
            p.check("mike.smith is the best", &context),
            Err(PolicyViolation::ContainsContext)
        );
        assert_eq!(
            p.check("my mike.smith@example.org!", &context),
            Err(PolicyViolation::ContainsContext)
        );
        // The product name is always a context word.
        assert_eq!(
            p.check("my GateHouse password", &[]),
            Err(PolicyViolation::ContainsContext)
        );
        // Without the context the same passwords are fine.
        assert!(p.check("I LOVE acme notes forever", &[]).is_ok());
        // Words shorter than 4 characters are ignored.
        assert!(p.check("joe joe joe joe joe", &["joe", "", "   "]).is_ok());
    }

    #[test]
    fn violations_explain_themselves() {
        assert_eq!(
            PolicyViolation::TooShort { min: 15 }.to_string(),
            "password must be at least 15 characters long"
        );
        assert_eq!(
            PolicyViolation::TooLong { max: 256 }.to_string(),
            "password is too long: at most 256 characters are accepted (nothing is ever truncated)"
        );
        assert!(PolicyViolation::Common
            .to_string()
            .contains("commonly used"));
        assert!(PolicyViolation::ContainsContext
            .to_string()
            .contains("email address"));
        assert!(PolicyViolation::ControlCharacter
            .to_string()
            .contains("control characters"));
    }

    fn blocklist_lines() -> impl Iterator<Item = &'static str> {
        BLOCKLIST.lines()
    }

    #[test]
    fn the_blocklist_is_large_clean_and_loaded_whole() {
        let lines: Vec<&str> = blocklist_lines().collect();
        assert!(lines.len() >= 3000, "only {} entries", lines.len());
        for line in &lines {
            assert!(
                line.chars().count() >= 8,
                "{line:?} is shorter than the lowest minimum"
            );
            assert_eq!(*line, line.to_lowercase(), "{line:?} is not lowercase");
            assert_eq!(*line, line.trim(), "{line:?} has surrounding whitespace");
            assert_eq!(*line, normalize(line), "{line:?} is not NFKC");
            assert!(
                !line.chars().any(char::is_control),
                "{line:?} has a control character"
            );
        }
        assert_eq!(
            blocklist().len(),
            lines.len(),
            "entries are duplicated or blank"
        );
        for known in [
            "password",
            "12345678",
            "qwertyuiop",
            "password1",
            "password1234",
        ] {
            assert!(blocklist().contains(known), "{known} missing");
        }
        assert_eq!(lines[0], "password", "most common first");
    }

    #[test]
    fn the_normalization_version_names_nfkc() {
        assert_eq!(NORMALIZATION_VERSION, "nfkc-1");
        assert_eq!(normalize("\u{fb01}ne ＡＢＣ e\u{301}"), "fine ABC \u{e9}");
    }
}
