//! Outbound HTTP for JWKS, webhooks and OAuth providers, behind an SSRF guard (security.md S-54):
//! `https` only (plain `http` to loopback only when configured for development), an optional host
//! allowlist, a resolver that refuses private, loopback, link-local, CGNAT and other special
//! addresses at connect time (so DNS rebinding cannot slip past a check made earlier), no
//! redirects, 5 s to connect, 10 s in all, 64 KiB per answer.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::Url;

use crate::config::OutboundConfig;

/// Answers larger than this are refused.
pub const MAX_BODY: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    #[error("refused to call {0}: {1}")]
    Refused(String, String),
    #[error("calling {0} failed: {1}")]
    Failed(String, String),
    #[error("calling {0} timed out")]
    Timeout(String),
    #[error("the answer from {0} is larger than 64 KiB")]
    TooLarge(String),
}

#[derive(Debug)]
struct Policy {
    allow_loopback: bool,
    allowed_hosts: Vec<String>,
}

/// A reply: status, headers and the (capped) body.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

#[derive(Debug, Clone)]
pub struct Outbound {
    client: reqwest::Client,
    policy: Arc<Policy>,
}

/// Is this address one a server must never be tricked into calling?
pub fn is_special(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => special_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return special_v4(v4);
            }
            let s = v6.segments();
            v6.is_unspecified() || v6.is_loopback() || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00          // unique local fc00::/7
                || (s[0] & 0xffc0) == 0xfe80          // link-local fe80::/10
                || (s[0] & 0xffc0) == 0xfec0          // site-local fec0::/10 (deprecated)
                || (s[0] == 0x64 && s[1] == 0xff9b)   // NAT64 64:ff9b::/96, 64:ff9b:1::/48
                || s[0] == 0x2002                     // 6to4 2002::/16 (embeds any IPv4)
                || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
                || (s[0] == 0x2001 && s[1] < 0x200)   // 2001::/23 IETF protocol assignments
                || s[..6] == [0, 0, 0, 0, 0, 0] // IPv4-compatible ::a.b.c.d
        }
    }
}

fn special_v4(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    ip.is_unspecified() || ip.is_loopback() || ip.is_private() || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast() || ip.is_documentation()
        || o[0] == 0
        || (o[0] == 100 && (o[1] & 0xc0) == 64)    // CGNAT 100.64/10
        || (o[0] == 192 && o[1] == 0 && o[2] == 0) // 192.0.0/24
        || (o[0] == 198 && (o[1] & 0xfe) == 18)    // benchmarking 198.18/15
        || o[0] >= 240 // reserved
}

fn allowed_ip(policy: &Policy, ip: IpAddr) -> bool {
    !is_special(ip) || (policy.allow_loopback && ip.is_loopback())
}

/// Keeps only addresses the policy allows; refuses the name outright if any is special (a name
/// that resolves to both a public and a private address is an attack, not a misconfiguration).
fn filter_addrs(
    policy: &Policy,
    name: &str,
    addrs: Vec<SocketAddr>,
) -> Result<Vec<SocketAddr>, String> {
    if addrs.is_empty() {
        return Err(format!("{name} does not resolve"));
    }
    if let Some(bad) = addrs.iter().find(|a| !allowed_ip(policy, a.ip())) {
        return Err(format!(
            "{name} resolves to {}, a private or special address",
            bad.ip()
        ));
    }
    Ok(addrs)
}

struct GuardedResolver(Arc<Policy>);

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.0.clone();
        Box::pin(async move {
            let host = name.as_str().to_string();
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let addrs = filter_addrs(&policy, &host, addrs)
                .map_err(|e| -> Box<dyn std::error::Error + Send + Sync> { e.into() })?;
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

impl Outbound {
    pub fn new(config: &OutboundConfig) -> anyhow::Result<Outbound> {
        let policy = Arc::new(Policy {
            allow_loopback: config.allow_loopback_http,
            allowed_hosts: config
                .allowed_hosts
                .iter()
                .map(|h| h.to_ascii_lowercase())
                .collect(),
        });
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_millis(config.connect_timeout_ms))
            .timeout(Duration::from_millis(config.timeout_ms))
            .redirect(reqwest::redirect::Policy::none())
            // A proxy from HTTP(S)_PROXY / ALL_PROXY would resolve names itself, around the
            // guarded resolver below: never use one.
            .no_proxy()
            .dns_resolver(Arc::new(GuardedResolver(policy.clone())))
            .user_agent(concat!("gatehoused/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Outbound { client, policy })
    }

    /// Checks a URL before anything is sent: scheme, allowlist, and literal addresses (which
    /// bypass the resolver). The WHATWG parser has already turned `0x7f000001`, `2130706433`
    /// and `0177.0.0.1` into `127.0.0.1`.
    pub fn check(&self, url: &str) -> Result<Url, OutboundError> {
        let refused = |why: &str| OutboundError::Refused(redact(url), why.to_string());
        let parsed = Url::parse(url).map_err(|e| refused(&format!("not a URL ({e})")))?;
        let host = parsed.host().ok_or_else(|| refused("no host"))?;
        let ip = match host {
            url::Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
            url::Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
            url::Host::Domain(_) => None,
        };
        let host_name = parsed
            .host_str()
            .unwrap_or_default()
            .trim_matches(['[', ']'])
            .to_ascii_lowercase();
        let loopback = ip.is_some_and(|ip| ip.is_loopback()) || host_name == "localhost";
        match parsed.scheme() {
            "https" => {}
            "http" if loopback && self.policy.allow_loopback => {}
            "http" => {
                return Err(refused(
                    "only https is allowed (plain http only to loopback, when \
                     outbound.allow_loopback_http is set)",
                ))
            }
            other => return Err(refused(&format!("scheme {other:?} is not allowed"))),
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(refused("credentials in the URL are not allowed"));
        }
        if let Some(ip) = ip {
            if !allowed_ip(&self.policy, ip) {
                return Err(refused(&format!("{ip} is a private or special address")));
            }
        }
        if !self.policy.allowed_hosts.is_empty() && !self.policy.allowed_hosts.contains(&host_name)
        {
            return Err(refused("the host is not in outbound.allowed_hosts"));
        }
        Ok(parsed)
    }

    /// Sends a request built from this client (after [`Outbound::check`]) and reads at most
    /// 64 KiB of the answer.
    pub async fn send(
        &self,
        request: reqwest::RequestBuilder,
        url: &Url,
    ) -> Result<Reply, OutboundError> {
        let shown = redact(url.as_str());
        let mut response = request.send().await.map_err(|e| {
            if e.is_timeout() {
                OutboundError::Timeout(shown.clone())
            } else {
                OutboundError::Failed(shown.clone(), root_cause(&e))
            }
        })?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let mut body = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if body.len() + chunk.len() > MAX_BODY {
                        return Err(OutboundError::TooLarge(shown));
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) if e.is_timeout() => return Err(OutboundError::Timeout(shown)),
                Err(e) => return Err(OutboundError::Failed(shown, root_cause(&e))),
            }
        }
        Ok(Reply {
            status,
            headers,
            body,
        })
    }

    pub async fn get(&self, url: &str, bearer: Option<&str>) -> Result<Reply, OutboundError> {
        let parsed = self.check(url)?;
        let mut request = self
            .client
            .get(parsed.clone())
            .header("accept", "application/json");
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        self.send(request, &parsed).await
    }

    /// Sends a request the `oauth2` crate prepared (token endpoints) through the same guard, and
    /// hands its answer back in the crate's terms.
    pub async fn execute(
        &self,
        request: oauth2::HttpRequest,
    ) -> Result<oauth2::HttpResponse, OutboundError> {
        let (parts, body) = request.into_parts();
        let parsed = self.check(&parts.uri.to_string())?;
        let builder = self
            .client
            .request(parts.method, parsed.clone())
            .headers(parts.headers)
            .body(body);
        let reply = self.send(builder, &parsed).await?;
        let mut response = oauth2::HttpResponse::new(reply.body);
        *response.status_mut() =
            oauth2::http::StatusCode::from_u16(reply.status).map_err(|_| {
                OutboundError::Failed(
                    redact(parsed.as_str()),
                    format!("invalid HTTP status {}", reply.status),
                )
            })?;
        *response.headers_mut() = reply.headers;
        Ok(response)
    }

    pub async fn post_json(
        &self,
        url: &str,
        headers: &[(&str, String)],
        body: Vec<u8>,
    ) -> Result<Reply, OutboundError> {
        self.post_json_within(url, headers, body, None).await
    }

    /// `post_json` with its own limit for the whole call instead of `outbound.timeout_ms` (app
    /// functions have theirs); connecting is still bounded by `connect_timeout_ms`.
    pub async fn post_json_within(
        &self,
        url: &str,
        headers: &[(&str, String)],
        body: Vec<u8>,
        timeout: Option<Duration>,
    ) -> Result<Reply, OutboundError> {
        let parsed = self.check(url)?;
        let mut request = self
            .client
            .post(parsed.clone())
            .header("content-type", "application/json")
            .body(body);
        if let Some(timeout) = timeout {
            request = request.timeout(timeout);
        }
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        self.send(request, &parsed).await
    }

    /// POSTs `form` as `application/x-www-form-urlencoded` (token introspection), with HTTP
    /// Basic client authentication when `basic` (client id, secret) is given. The body, not
    /// the URL, carries the fields, so tokens in it never reach logs through [`redact`].
    pub async fn post_form(
        &self,
        url: &str,
        form: &[(&str, &str)],
        basic: Option<(&str, &str)>,
    ) -> Result<Reply, OutboundError> {
        let parsed = self.check(url)?;
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let mut request = self
            .client
            .post(parsed.clone())
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json")
            .body(body);
        if let Some((id, secret)) = basic {
            // RFC 6749 §2.3.1: both are form-urlencoded before Basic encoding.
            let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect();
            let (id, secret): (String, String) = (enc(id), enc(secret));
            request = request.basic_auth(id, Some(secret));
        }
        self.send(request, &parsed).await
    }
}

/// A URL fit for logs and error messages: no query (it may carry tokens), no credentials.
fn redact(url: &str) -> String {
    match Url::parse(url) {
        Ok(u) => {
            format!(
                "{}://{}{}",
                u.scheme(),
                u.host_str().unwrap_or_default(),
                u.port().map(|p| format!(":{p}")).unwrap_or_default()
            ) + u.path()
        }
        Err(_) => "<invalid URL>".into(),
    }
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outbound(loopback: bool) -> Outbound {
        Outbound::new(&OutboundConfig {
            allow_loopback_http: loopback,
            ..OutboundConfig::default()
        })
        .unwrap()
    }

    #[test]
    fn site_local_6to4_and_local_nat64_ranges_are_special() {
        for ip in [
            "fec0::1",
            "feff:ffff::1",
            "2002::1",
            "2002:7f00:1::1",
            "2002:a9fe:a9fe::1",
            "64:ff9b:1::a00:1",
            "64:ff9b:1:ffff::1",
            "64:ff9b::7f00:1",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert!(is_special(ip), "{ip} must be special");
            let o = outbound(false);
            assert!(
                matches!(
                    o.check(&format!("https://[{ip}]/")),
                    Err(OutboundError::Refused(..))
                ),
                "{ip} must be refused"
            );
        }
        for ip in ["2001:4860:4860::8888", "2003::1", "fe00::1", "2a00:1450::1"] {
            assert!(!is_special(ip.parse().unwrap()), "{ip} is public");
        }
    }

    #[test]
    fn special_addresses_are_refused_in_every_spelling() {
        let o = outbound(false);
        for url in [
            "https://169.254.169.254/latest",
            "https://10.0.0.1/",
            "https://[::1]/",
            "https://0x7f000001/",
            "https://2130706433/",
            "https://0177.0.0.1/",
            "https://100.64.0.1/",
            "https://[fd00::1]/",
            "https://[::ffff:10.0.0.1]/",
            "https://192.168.1.1/",
            "https://172.16.0.1/",
            "https://0.0.0.0/",
            "https://[fe80::1]/",
        ] {
            assert!(
                matches!(o.check(url), Err(OutboundError::Refused(..))),
                "{url} must be refused"
            );
        }
        assert!(o.check("https://example.com/jwks").is_ok());
        assert!(o.check("https://[2001:4860:4860::8888]/").is_ok());
        assert!(o.check("https://93.184.216.34/").is_ok());
    }

    #[test]
    fn plain_http_only_to_loopback_and_only_when_allowed() {
        assert!(outbound(false).check("http://127.0.0.1:8080/hook").is_err());
        assert!(outbound(true).check("http://127.0.0.1:8080/hook").is_ok());
        assert!(outbound(true).check("http://localhost:8080/hook").is_ok());
        assert!(
            outbound(true).check("http://example.com/hook").is_err(),
            "http to a public host stays refused"
        );
        assert!(
            outbound(true).check("https://10.1.2.3/").is_err(),
            "loopback allowance does not open private ranges"
        );
        assert!(outbound(true).check("file:///etc/passwd").is_err());
        assert!(outbound(true)
            .check("https://user:pw@example.com/")
            .is_err());
    }

    #[test]
    fn the_resolver_refuses_names_that_resolve_to_private_addresses() {
        let policy = Policy {
            allow_loopback: false,
            allowed_hosts: vec![],
        };
        let private: Vec<SocketAddr> = vec!["10.0.0.7:0".parse().unwrap()];
        assert!(filter_addrs(&policy, "rebind.example", private)
            .unwrap_err()
            .contains("10.0.0.7"));
        let mixed: Vec<SocketAddr> = vec![
            "93.184.216.34:0".parse().unwrap(),
            "127.0.0.1:0".parse().unwrap(),
        ];
        assert!(filter_addrs(&policy, "mixed.example", mixed).is_err());
        let public: Vec<SocketAddr> = vec!["93.184.216.34:0".parse().unwrap()];
        assert_eq!(
            filter_addrs(&policy, "ok.example", public).unwrap().len(),
            1
        );
        let loopback_ok = Policy {
            allow_loopback: true,
            allowed_hosts: vec![],
        };
        assert!(filter_addrs(
            &loopback_ok,
            "localhost",
            vec!["127.0.0.1:0".parse().unwrap()]
        )
        .is_ok());
        assert!(filter_addrs(
            &loopback_ok,
            "x",
            vec!["169.254.169.254:0".parse().unwrap()]
        )
        .is_err());
    }

    #[test]
    fn the_allowlist_limits_hosts() {
        let o = Outbound::new(&OutboundConfig {
            allowed_hosts: vec!["www.googleapis.com".into()],
            ..OutboundConfig::default()
        })
        .unwrap();
        assert!(o
            .check("https://www.googleapis.com/oauth2/v3/certs")
            .is_ok());
        assert!(o.check("https://evil.example/").is_err());
    }

    #[tokio::test]
    async fn a_name_resolving_to_loopback_is_refused_at_connect_time() {
        let o = outbound(false);
        // `localhost` passes the literal check (it is a name) only to be stopped by the resolver.
        let err = o.get("https://localhost:9/", None).await.unwrap_err();
        assert!(err.to_string().contains("private or special"), "{err}");
    }
}
