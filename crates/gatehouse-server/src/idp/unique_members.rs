//! Refuses JSON with a duplicate member name at any depth (issue 12, item 17). serde_json keeps
//! the last of two `"sub"` members while another parser may keep the first, so a JWT header or
//! payload that says two things must be refused before any claim is trusted, not resolved.

use std::collections::HashSet;
use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// Why a document was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Problem {
    /// Not JSON at all (or nested deeper than serde_json's recursion limit).
    Invalid,
    /// Some object names this member twice.
    Duplicate(String),
}

/// Ok when `bytes` is one JSON value whose objects all have unique member names (compared after
/// unescaping, so `"sub"` and `"\u0073ub"` are the same name).
pub fn check(bytes: &[u8]) -> Result<(), Problem> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let checked = Unique::deserialize(&mut de).and_then(|u| de.end().map(|()| u));
    match checked {
        Ok(_) => Ok(()),
        Err(e) => {
            let text = e.to_string();
            match text.strip_prefix(DUPLICATE) {
                Some(rest) => Err(Problem::Duplicate(
                    rest.split(" at line ").next().unwrap_or(rest).to_string(),
                )),
                None => Err(Problem::Invalid),
            }
        }
    }
}

const DUPLICATE: &str = "duplicate member ";

/// A JSON value that is walked, never kept.
struct Unique;

impl<'de> Deserialize<'de> for Unique {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Unique, D::Error> {
        d.deserialize_any(UniqueVisitor)
    }
}

struct UniqueVisitor;

impl<'de> Visitor<'de> for UniqueVisitor {
    type Value = Unique;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Unique, E> {
        Ok(Unique)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Unique, E> {
        Ok(Unique)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Unique, E> {
        Ok(Unique)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Unique, E> {
        Ok(Unique)
    }
    fn visit_str<E>(self, _: &str) -> Result<Unique, E> {
        Ok(Unique)
    }
    fn visit_unit<E>(self) -> Result<Unique, E> {
        Ok(Unique)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Unique, A::Error> {
        while seq.next_element::<Unique>()?.is_some() {}
        Ok(Unique)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Unique, A::Error> {
        let mut seen = HashSet::new();
        while let Some(name) = map.next_key::<String>()? {
            if !seen.insert(name.clone()) {
                return Err(serde::de::Error::custom(format!("{DUPLICATE}{name:?}")));
            }
            map.next_value::<Unique>()?;
        }
        Ok(Unique)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_documents_pass() {
        for ok in [
            r#"{"alg":"RS256","kid":"a"}"#,
            r#"{"sub":"u","aud":["a","a"],"x":{"sub":1},"y":[{"a":1},{"a":2}]}"#,
            r#"{}"#,
            r#"[1, "two", null, true, 2.5, -3]"#,
        ] {
            assert_eq!(check(ok.as_bytes()), Ok(()), "{ok}");
        }
    }

    #[test]
    fn duplicates_are_found_at_any_depth_and_after_unescaping() {
        let dup = |s: &str| Err(Problem::Duplicate(s.to_string()));
        assert_eq!(
            check(br#"{"sub":"victim","sub":"attacker"}"#),
            dup("\"sub\"")
        );
        assert_eq!(
            check(br#"{"alg":"RS256","kid":"k","alg":"none"}"#),
            dup("\"alg\"")
        );
        assert_eq!(check(br#"{"sub":"a","\u0073ub":"b"}"#), dup("\"sub\""));
        assert_eq!(
            check(br#"{"user_data":{"team":"blue","team":"red"}}"#),
            dup("\"team\"")
        );
        assert_eq!(check(br#"[{"a":1,"a":1}]"#), dup("\"a\""));
    }

    #[test]
    fn what_is_not_one_json_value_is_invalid() {
        for bad in [
            &b"{"[..],
            b"{\"a\":1} {\"a\":2}",
            b"not json",
            b"",
            b"{\"a\":1,}",
        ] {
            assert_eq!(check(bad), Err(Problem::Invalid), "{bad:?}");
        }
        let deep = format!("{}{}", "[".repeat(1000), "]".repeat(1000));
        assert_eq!(check(deep.as_bytes()), Err(Problem::Invalid));
    }

    #[test]
    fn serde_json_alone_would_keep_the_last_member() {
        // Why this module exists: the plain parse silently picks one.
        let v: serde_json::Value = serde_json::from_str(r#"{"sub":"a","sub":"b"}"#).unwrap();
        assert_eq!(v["sub"], "b");
    }
}
