//! Phone numbers: parsed and validated with libphonenumber's data (the `phonenumber` crate), kept
//! in E.164 form for uniqueness, lookup and delivery.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phone {
    /// `+14155550100`
    pub e164: String,
    /// ISO country code of the number, e.g. `US`.
    pub country: String,
}

/// Parses an international number (leading `+`; spaces, dashes and brackets allowed).
pub fn canonicalize(input: &str) -> Result<Phone, String> {
    let input = input.trim();
    if !input.starts_with('+') {
        return Err(
            "phone numbers must be in international format, starting with + and the country code"
                .into(),
        );
    }
    if input.len() > 32
        || input
            .chars()
            .any(|c| !(c.is_ascii_digit() || " +-().".contains(c)))
    {
        return Err(
            "a phone number may contain only digits, spaces, dashes, brackets and a leading +"
                .into(),
        );
    }
    let number = phonenumber::parse(None, input).map_err(|e| format!("not a phone number: {e}"))?;
    if !number.is_valid() {
        return Err("this is not a valid phone number for its country".into());
    }
    let e164 = number.format().to_string();
    // A few inputs (a national prefix written after the country code, e.g. `+7 8 886…`) format
    // to an E.164 form that does not read back as the same valid number: refused, so the stored
    // form is always its own canonical form.
    let reread = phonenumber::parse(None, &e164).ok();
    if !reread.is_some_and(|n| n.is_valid() && n.format().to_string() == e164) {
        return Err("this is not a valid phone number for its country".into());
    }
    let country = number
        .country()
        .id()
        .map(|id| id.as_ref().to_string())
        .unwrap_or_else(|| "ZZ".into());
    Ok(Phone { e164, country })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_collapse_to_one_e164_form() {
        for input in [
            "+1 415 555 2671",
            "+1-415-555-2671",
            "+1 (415) 555-2671",
            " +14155552671 ",
        ] {
            assert_eq!(
                canonicalize(input).unwrap(),
                Phone {
                    e164: "+14155552671".into(),
                    country: "US".into()
                },
                "{input}"
            );
        }
        assert_eq!(canonicalize("+49 30 901820").unwrap().country, "DE");
    }

    #[test]
    fn junk_is_refused_with_a_reason() {
        for bad in [
            "4155552671",
            "+1 415 555",
            "+999 1234567",
            "+1 415 555 2671\\n",
            "+1 415 555 2671; DROP",
            "+7888600000000",
            "",
            "+",
        ] {
            assert!(canonicalize(bad).is_err(), "{bad:?}");
        }
        assert!(canonicalize("0301234567")
            .unwrap_err()
            .contains("international"));
    }
}
