//! Which client a Google access token was issued to (confused deputy, RFC 9700 §4.x): userinfo
//! says whose token it is, not which app obtained it, so before it is believed the token's
//! audience is checked at RFC 7662 token introspection (`introspection_url`, as the client) or,
//! without one, at Google's tokeninfo. A token another app obtained for the user is refused, and
//! so is every answer short of a clear yes (fail closed, 401 `AuthError`).

use serde_json::{Map, Value};

use super::Upstream;
use crate::error::{ApiError, ApiResult};
use crate::idp::refused;
use crate::outbound::Reply;
use crate::state::AppState;

/// Why a token check does not vouch for an access token; the text is what the client reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Introspection: `active` is not `true` (expired, revoked, unknown).
    Inactive,
    /// The token names a client that is not ours.
    OtherClient,
    /// The answer names no client at all.
    NoClient,
    /// Tokeninfo: `expires_in` is not a positive number.
    Expired,
}

impl Refusal {
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::Inactive => "the access token is not active (expired, revoked or unknown)",
            Refusal::OtherClient => "the access token was issued to another client",
            Refusal::NoClient => "the token check did not say which client the token is for",
            Refusal::Expired => "the access token has expired",
        }
    }
}

/// `v` (a string, or an array of strings as `aud` may be) names one of `ours`.
fn names_ours(v: Option<&Value>, ours: &[String]) -> bool {
    let is_ours = |s: &Value| s.as_str().is_some_and(|s| ours.iter().any(|o| o == s));
    match v {
        Some(Value::Array(items)) => items.iter().any(is_ours),
        Some(one) => is_ours(one),
        None => false,
    }
}

/// The subject an answer names, when it names a usable one.
fn subject(answer: &Map<String, Value>) -> Option<String> {
    match answer.get("sub").and_then(Value::as_str) {
        Some(sub) if !sub.is_empty() && sub.len() <= 255 => Some(sub.to_string()),
        _ => None,
    }
}

/// An RFC 7662 answer vouches for a token of ours when `active` is `true` and its `client_id` is
/// one of `ours` (only when it has no `client_id`, `aud` equal to or containing one of them).
/// Gives the token's `sub`, if the answer has one.
pub fn introspection_verdict(
    answer: &Map<String, Value>,
    ours: &[String],
) -> Result<Option<String>, Refusal> {
    if answer.get("active") != Some(&Value::Bool(true)) {
        return Err(Refusal::Inactive);
    }
    let ok = match answer.get("client_id") {
        Some(client) => names_ours(Some(client), ours),
        None if answer.contains_key("aud") => names_ours(answer.get("aud"), ours),
        None => return Err(Refusal::NoClient),
    };
    if !ok {
        return Err(Refusal::OtherClient);
    }
    Ok(subject(answer))
}

/// A Google tokeninfo answer vouches for a token of ours when `aud` or `azp` is one of `ours`
/// and `expires_in` (a number or, as Google sends it, a numeric string), when present, is
/// positive. Gives the token's `sub`, if the answer has one.
pub fn tokeninfo_verdict(
    answer: &Map<String, Value>,
    ours: &[String],
) -> Result<Option<String>, Refusal> {
    let (aud, azp) = (answer.get("aud"), answer.get("azp"));
    if aud.is_none() && azp.is_none() {
        return Err(Refusal::NoClient);
    }
    if !names_ours(aud, ours) && !names_ours(azp, ours) {
        return Err(Refusal::OtherClient);
    }
    if let Some(left) = answer.get("expires_in") {
        let secs = match left {
            Value::String(s) => s.trim().parse::<i64>().ok(),
            n => n.as_i64(),
        };
        if secs.is_none_or(|s| s <= 0) {
            return Err(Refusal::Expired);
        }
    }
    Ok(subject(answer))
}

/// `text` without `access` in any spelling a URL or form may have given it: an error from the
/// HTTP stack is logged, and the token must never be.
fn scrub(text: &str, access: &str) -> String {
    let encoded: String = url::form_urlencoded::byte_serialize(access.as_bytes()).collect();
    let mut out = text.to_string();
    for spelling in [access, encoded.as_str()] {
        if !spelling.is_empty() {
            out = out.replace(spelling, "<access token>");
        }
    }
    out
}

impl Upstream {
    /// The client ids a token may be issued to: ours and the operator's other clients.
    fn own_client_ids(&self) -> Vec<String> {
        let mut ours = vec![self.client_id.clone()];
        ours.extend(self.extra_audiences.iter().cloned());
        ours
    }

    /// Proves `access` was issued to this client (see the module comment); gives the subject
    /// the check names, which userinfo's `sub` must then equal.
    pub async fn check_token_audience(
        &self,
        state: &AppState,
        access: &str,
    ) -> ApiResult<Option<String>> {
        let ours = self.own_client_ids();
        let verdict = if let Some(url) = &self.introspection_url {
            let secret = self.secret();
            let mut form = vec![("token", access), ("token_type_hint", "access_token")];
            let basic = if self.cfg.token_endpoint_auth.as_deref() == Some("client_secret_post") {
                form.push(("client_id", self.client_id.as_str()));
                form.push(("client_secret", secret.as_str()));
                None
            } else {
                Some((self.client_id.as_str(), secret.as_str()))
            };
            let reply = state.outbound.post_form(url, &form, basic).await;
            introspection_verdict(&self.check_answer(reply, access)?, &ours)
        } else {
            let base = self
                .tokeninfo_url
                .as_deref()
                .ok_or_else(ApiError::internal)?;
            let mut url = url::Url::parse(base).map_err(|_| {
                tracing::error!(provider = self.provider, "tokeninfo_url is not a URL");
                ApiError::internal()
            })?;
            url.query_pairs_mut().append_pair("access_token", access);
            let reply = state.outbound.get(url.as_str(), None).await;
            tokeninfo_verdict(&self.check_answer(reply, access)?, &ours)
        };
        verdict.map_err(|why| refused(self.provider, why.reason()))
    }

    /// The token check's answer as a JSON object, or the refusal for why there is none.
    fn check_answer(
        &self,
        reply: Result<Reply, crate::outbound::OutboundError>,
        access: &str,
    ) -> ApiResult<Map<String, Value>> {
        let reply = reply.map_err(|e| {
            let error = scrub(&e.to_string(), access);
            tracing::warn!(provider = self.provider, %error, "token check endpoint unreachable");
            refused(
                self.provider,
                "the token check endpoint could not be reached to check the access token",
            )
        })?;
        if !reply.ok() {
            return Err(refused(
                self.provider,
                format!(
                    "the token check endpoint refused the access token (HTTP {})",
                    reply.status
                ),
            ));
        }
        match reply.json() {
            Some(Value::Object(map)) => Ok(map),
            _ => Err(refused(
                self.provider,
                "the token check answer is not a JSON object",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ours() -> Vec<String> {
        vec!["web-client".into(), "ios-client".into()]
    }

    fn map(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    #[test]
    fn introspection_needs_active_and_our_client_id() {
        let yes = map(json!({"active": true, "client_id": "web-client", "sub": "u1"}));
        assert_eq!(introspection_verdict(&yes, &ours()), Ok(Some("u1".into())));
        let other = map(json!({"active": true, "client_id": "another", "aud": "web-client"}));
        assert_eq!(
            introspection_verdict(&other, &ours()),
            Err(Refusal::OtherClient),
            "a client_id decides even when aud names us"
        );
        for inactive in [
            json!({"active": false, "client_id": "web-client"}),
            json!({"active": "true", "client_id": "web-client"}),
            json!({"client_id": "web-client"}),
        ] {
            assert_eq!(
                introspection_verdict(&map(inactive), &ours()),
                Err(Refusal::Inactive)
            );
        }
        let nameless = map(json!({"active": true, "sub": "u1"}));
        assert_eq!(
            introspection_verdict(&nameless, &ours()),
            Err(Refusal::NoClient)
        );
        let extra = map(json!({"active": true, "client_id": "ios-client"}));
        assert_eq!(introspection_verdict(&extra, &ours()), Ok(None));
    }

    #[test]
    fn introspection_falls_back_to_aud_only_without_client_id() {
        for aud in [json!("web-client"), json!(["api", "web-client"])] {
            let a = map(json!({"active": true, "aud": aud, "sub": "u2"}));
            assert_eq!(introspection_verdict(&a, &ours()), Ok(Some("u2".into())));
        }
        for aud in [json!("api"), json!(["api", "other"]), json!(7), json!([])] {
            let a = map(json!({"active": true, "aud": aud}));
            assert_eq!(
                introspection_verdict(&a, &ours()),
                Err(Refusal::OtherClient)
            );
        }
    }

    #[test]
    fn tokeninfo_needs_our_aud_or_azp_and_time_left() {
        let google = map(json!({
            "azp": "web-client", "aud": "web-client", "sub": "1234",
            "expires_in": "3599", "scope": "openid email"
        }));
        assert_eq!(tokeninfo_verdict(&google, &ours()), Ok(Some("1234".into())));
        let azp_only = map(json!({"azp": "web-client", "aud": "api", "expires_in": 10}));
        assert_eq!(tokeninfo_verdict(&azp_only, &ours()), Ok(None));
        let aud_only = map(json!({"aud": "web-client"}));
        assert_eq!(tokeninfo_verdict(&aud_only, &ours()), Ok(None));
        let other = map(json!({"azp": "another", "aud": "another", "expires_in": "3599"}));
        assert_eq!(
            tokeninfo_verdict(&other, &ours()),
            Err(Refusal::OtherClient)
        );
        assert_eq!(
            tokeninfo_verdict(&map(json!({"sub": "1", "expires_in": 5})), &ours()),
            Err(Refusal::NoClient)
        );
        for left in [json!("0"), json!(-5), json!("soon"), json!(null)] {
            let a = map(json!({"aud": "web-client", "expires_in": left}));
            assert_eq!(tokeninfo_verdict(&a, &ours()), Err(Refusal::Expired));
        }
    }

    #[test]
    fn the_token_is_scrubbed_from_error_text() {
        let text = "calling https://x/tokeninfo?access_token=ya29.a%2Fb failed: ya29.a/b";
        let clean = scrub(text, "ya29.a/b");
        assert!(!clean.contains("ya29"), "{clean}");
    }
}
