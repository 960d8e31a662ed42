//! Recovery codes: ten single-use codes `xxxxx-xxxxx` (50 random bits each, from the base32
//! alphabet: no 0/1/8/9 to confuse with O/I/B/g), shown once and stored as SHA-256 hashes of
//! their normal form, so a typed code matches whatever its case, dashes or spaces.

pub const COUNT: usize = 10;
const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
const GROUP: usize = 5;

/// Ten new codes, as shown to the owner.
pub fn generate() -> Vec<String> {
    (0..COUNT)
        .map(|_| {
            let bytes = crate::crypto::random_bytes::<{ 2 * GROUP }>();
            // 32 symbols: the low five bits of a random byte are uniform.
            let chars: String = bytes
                .iter()
                .map(|b| char::from(ALPHABET[usize::from(b & 31)]))
                .collect();
            format!("{}-{}", &chars[..GROUP], &chars[GROUP..])
        })
        .collect()
}

/// The stored form: SHA-256 of the code without dashes or spaces, in upper case; `None` for
/// text that cannot be a code (checked against nothing).
pub fn hash(typed: &str) -> Option<String> {
    let normal: String = typed
        .chars()
        .filter(|c| *c != '-' && !c.is_whitespace())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let valid = normal.len() == 2 * GROUP
        && normal
            .bytes()
            .all(|b| ALPHABET.contains(&b.to_ascii_lowercase()));
    valid.then(|| crate::crypto::sha256_hex(normal.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_distinct_codes_that_match_whatever_their_case_and_dashes() {
        let codes = generate();
        assert_eq!(codes.len(), COUNT);
        let unique: std::collections::BTreeSet<_> = codes.iter().collect();
        assert_eq!(unique.len(), COUNT);
        for code in &codes {
            assert_eq!(code.len(), 11);
            assert_eq!(&code[5..6], "-");
            let h = hash(code).unwrap();
            assert_eq!(hash(&code.to_uppercase()), Some(h.clone()));
            assert_eq!(hash(&code.replace('-', "")), Some(h.clone()));
            assert_eq!(hash(&format!(" {} ", code.replace('-', " - "))), Some(h));
        }
        assert_eq!(hash("abcde-fghi"), None);
        assert_eq!(hash("abcde-fghi1"), None);
        assert_ne!(hash("abcde-fghij"), hash("abcde-fghik"));
    }
}
