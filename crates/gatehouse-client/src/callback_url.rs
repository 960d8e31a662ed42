//! Reading the address a browser was sent back to (a `gatehouse://` deep link or a loopback
//! URL) and checking the addresses a server asks us to open.
//!
//! Both come from outside the app: a deep link can be launched by any web page or program, and a
//! server's `x-baas-location` is whatever that server says. So a callback is refused when it is
//! oversized or names a parameter twice (which of two `state`s would we believe?), and a browser
//! address must be `https` (or `http` to loopback) on the origin of the server it came from.

use std::collections::HashMap;

use crate::error::{Error, Result};

/// The longest callback address accepted. Ours carry a code and a state (well under 300 bytes);
/// the limit leaves room for provider error descriptions.
pub const MAX_CALLBACK_URL_BYTES: usize = 2048;

/// The query parameters of a callback address, each present at most once.
#[derive(Debug)]
pub struct CallbackUrl {
    params: HashMap<String, String>,
}

impl CallbackUrl {
    pub fn parse(raw: &str) -> Result<CallbackUrl> {
        if raw.len() > MAX_CALLBACK_URL_BYTES {
            return Err(Error::InvalidArgument(format!(
                "the sign-in address is {} bytes long; at most {MAX_CALLBACK_URL_BYTES} are \
                 accepted",
                raw.len()
            )));
        }
        let url = reqwest::Url::parse(raw)
            .map_err(|e| Error::InvalidArgument(format!("not a URL: {e}")))?;
        let mut params = HashMap::new();
        for (name, value) in url.query_pairs() {
            if params
                .insert(name.to_string(), value.into_owned())
                .is_some()
            {
                return Err(Error::InvalidArgument(format!(
                    "the sign-in address names {name:?} more than once"
                )));
            }
        }
        Ok(CallbackUrl { params })
    }

    pub fn get(&self, name: &str) -> Option<String> {
        self.params.get(name).cloned()
    }
}

/// `location` when a browser may be sent there for the server at `base`: the same origin
/// (scheme, host, port), and `https` unless that host is a loopback address.
pub(crate) fn browser_url_of_server(location: &str, base: &str) -> Result<String> {
    let refuse = |why: &str| {
        Err(Error::Decode(format!(
            "the server asked to open {location:?}, which {why}; it was not opened"
        )))
    };
    let Ok(url) = reqwest::Url::parse(location) else {
        return refuse("is not an absolute URL");
    };
    let Ok(server) = reqwest::Url::parse(base) else {
        return refuse("cannot be compared with the server's address");
    };
    if url.origin() != server.origin() {
        return refuse(
            "is not on the server's own origin (the server's public URL must be the address \
             this connection uses)",
        );
    }
    let host = url.host_str().unwrap_or_default();
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match url.scheme() {
        "https" => Ok(url.into()),
        "http" if loopback => Ok(url.into()),
        _ => refuse("is neither https nor http to this machine"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_callback_with_a_parameter_twice_is_refused() {
        let ok = CallbackUrl::parse("gatehouse://auth/callback?code=c&state=s").unwrap();
        assert_eq!(ok.get("state").as_deref(), Some("s"));
        assert_eq!(ok.get("code").as_deref(), Some("c"));
        let twice = CallbackUrl::parse("gatehouse://auth/callback?state=a&code=c&state=b");
        assert!(matches!(twice, Err(Error::InvalidArgument(m)) if m.contains("\"state\"")));
        // Percent-encoding does not make a second one different.
        assert!(CallbackUrl::parse("gatehouse://auth/callback?state=a&%73tate=b").is_err());
    }

    #[test]
    fn an_oversized_callback_is_refused() {
        let padding = "x".repeat(MAX_CALLBACK_URL_BYTES);
        let long = format!("gatehouse://auth/callback?state=s&code={padding}");
        assert!(matches!(
            CallbackUrl::parse(&long),
            Err(Error::InvalidArgument(_))
        ));
        let fits = format!(
            "gatehouse://auth/callback?state=s&code={}",
            &padding[..1900]
        );
        assert!(CallbackUrl::parse(&fits).is_ok());
    }

    #[test]
    fn the_server_may_send_the_browser_only_to_its_own_origin() {
        let base = "https://auth.example.com";
        let own = browser_url_of_server("https://auth.example.com/start?x=1", base).unwrap();
        assert_eq!(own, "https://auth.example.com/start?x=1");
        for bad in [
            "https://evil.example/start",
            "https://auth.example.com.evil.example/",
            "http://auth.example.com/start",
            "https://auth.example.com:8443/start",
            "javascript:alert(1)",
            "file:///etc/passwd",
            "/relative",
        ] {
            assert!(
                browser_url_of_server(bad, base).is_err(),
                "{bad} was accepted"
            );
        }
        let local = "http://127.0.0.1:9090";
        assert!(browser_url_of_server("http://127.0.0.1:9090/s", local).is_ok());
        assert!(browser_url_of_server("http://127.0.0.1:9091/s", local).is_err());
        let plain = "http://auth.example.com";
        assert!(browser_url_of_server("http://auth.example.com/s", plain).is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(10_000))]

        /// The deep-link parser never panics, and what it accepts has each name once and is
        /// within the size limit (security.md T-42).
        #[test]
        fn the_callback_parser_accepts_only_single_valued_bounded_addresses(
            raw in prop_oneof![
                any::<String>(),
                concat!(
                    "gatehouse://auth/callback\\?",
                    "((state|code|error|x|%73tate)=[a-z0-9%&=]{0,12}&?){0,6}"
                ),
                "[a-z]{1,10}://[a-z.]{0,12}/[ -~]{0,40}",
            ]
        ) {
            if let Ok(parsed) = CallbackUrl::parse(&raw) {
                prop_assert!(raw.len() <= MAX_CALLBACK_URL_BYTES);
                let url = reqwest::Url::parse(&raw).unwrap();
                let mut names: Vec<String> =
                    url.query_pairs().map(|(k, _)| k.into_owned()).collect();
                let all = names.len();
                names.sort();
                names.dedup();
                prop_assert_eq!(all, names.len());
                for name in names {
                    prop_assert!(parsed.get(&name).is_some());
                }
            }
        }
    }
}
