//! `magic-link`: sign in by a link mailed to a confirmed address — bound to the device that asked
//! (security.md S-21, S-22). The request carries a PKCE S256 challenge and a redirect URI; the
//! mailed link opens a page whose button (never the GET: mail scanners fetch links) hands a
//! single-use, 60-second code to the redirect URI (the desktop app's `gatehouse://` deep link);
//! the app redeems it with its verifier. The mail also shows a short code to type into the app
//! instead, redeemed with the same verifier. A link opened on another device signs nothing in.
//! A flow is one PKCE challenge: a new link voids only the older links of its own flow, and a
//! typed code is looked up in the typing device's flow (issue 12, item 17; protocol.md).

use base64::Engine as _;
use gatehouse_proto::auth::LoginResponse;
use gatehouse_proto::routes::provider;
use gatehouse_proto::userpass::MagicLinkRequest;
use gatehouse_proto::{ErrorCode, ProviderType};

use super::credentials::MagicLinkLogin;
use crate::crypto::{self, object_id, random_bytes, secret_256, sha256_hex};
use crate::error::{ApiError, ApiResult};
use crate::mail::Mail;
use crate::ratelimit::Group;
use crate::sessions::LoginContext;
use crate::state::AppState;
use crate::store::magic::{self, MagicRow};
use crate::store::userpass as accounts;

const APP_CODE_TTL_SECS: i64 = 60;
const OTP_ATTEMPTS: i64 = 5;
/// No 0/O, 1/I/L: the short code is read off a screen and typed.
const OTP_ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";

fn bad(message: &str) -> ApiError {
    ApiError::invalid_parameter(message.to_string())
}

fn invalid_code() -> ApiError {
    ApiError::new(
        ErrorCode::InvalidCode,
        "the sign-in code is not valid; ask for a new link",
    )
}

/// Exact match against the app's list, or a loopback `http` redirect on any port (RFC 8252 §7.3).
/// Where a page may send its code: a URI registered for the app, exactly; or a loopback URI
/// (`http://127.0.0.1…` / `http://[::1]…`) when the app registered that loopback URI — any port
/// then, the same path and query (RFC 8252 §7.3). Loopback is never allowed unregistered.
pub(crate) fn redirect_allowed(allowed: &[String], uri: &str) -> bool {
    if allowed.iter().any(|a| a == uri) {
        return true;
    }
    loopback_parts(uri).is_some_and(|asked| {
        allowed
            .iter()
            .any(|registered| loopback_parts(registered) == Some(asked))
    })
}

/// A loopback redirect's host and its path and query, without the port; `None` for anything
/// else (another host, a bad port, a fragment or userinfo).
fn loopback_parts(uri: &str) -> Option<(&'static str, &str)> {
    ["http://127.0.0.1", "http://[::1]"]
        .into_iter()
        .find_map(|host| {
            let rest = uri.strip_prefix(host)?;
            let rest = match rest.strip_prefix(':') {
                Some(port_and_path) => {
                    let end = port_and_path.find('/').unwrap_or(port_and_path.len());
                    let (port, path) = port_and_path.split_at(end);
                    port.parse::<u16>().ok()?;
                    path
                }
                None => rest,
            };
            let path = if rest.is_empty() { "/" } else { rest };
            (path.starts_with('/') && !path.contains('#') && !path.contains('@'))
                .then_some((host, path))
        })
}

/// What the mail says about the device that asked, so the owner can tell their own request from
/// someone else's: its user agent (control characters dropped, cut at 120 characters) and its
/// address.
fn requesting_device(user_agent: Option<&str>, ip: std::net::IpAddr) -> String {
    let agent: String = user_agent
        .unwrap_or("")
        .chars()
        .filter(|c| !c.is_control())
        .take(120)
        .collect();
    let agent = agent.trim();
    if agent.is_empty() {
        format!("an unnamed device at {ip}")
    } else {
        format!("{agent} at {ip}")
    }
}

pub(crate) fn is_pkce(value: &str) -> bool {
    (43..=128).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

pub(crate) fn s256(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(ring::digest::digest(
        &ring::digest::SHA256,
        verifier.as_bytes(),
    ))
}

fn new_otp() -> String {
    let bytes = random_bytes::<8>();
    let chars: String = bytes
        .iter()
        .map(|b| OTP_ALPHABET[(*b as usize) % OTP_ALPHABET.len()] as char)
        .collect();
    format!("{}-{}", &chars[..4], &chars[4..])
}

fn normalize_otp(otp: &str) -> String {
    otp.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

fn otp_hash(state: &AppState, id: &str, otp: &str) -> String {
    state.keys.code_hash("magic-otp", id, &normalize_otp(otp))
}

pub async fn send(
    state: &AppState,
    app_id: &str,
    req: MagicLinkRequest,
    ip: std::net::IpAddr,
    user_agent: Option<&str>,
) -> ApiResult<()> {
    let app = state.provider(app_id, ProviderType::MagicLink)?;
    state.limiter.check(Group::EmailSend, ip).await?;
    let email = crate::email::canonicalize(&req.email).map_err(|e| {
        ApiError::new(
            ErrorCode::InvalidEmail,
            format!("invalid email address: {e}"),
        )
    })?;
    if req.code_challenge_method != "S256" {
        return Err(bad("code_challenge_method must be S256"));
    }
    if !is_pkce(&req.code_challenge) {
        return Err(bad(
            "code_challenge must be the base64url SHA-256 of a 43-128 character code_verifier",
        ));
    }
    if !redirect_allowed(&app.redirect_uris, &req.redirect_uri) {
        return Err(bad("redirect_uri is not registered for this app"));
    }
    if req.state.len() > 512 {
        return Err(bad("state is longer than 512 characters"));
    }
    // Whether the address has an account decides the rest (a row and a mail, or nothing): done
    // after answering, so both answers take the same time (issue 12, item 10).
    let (later, app_id) = (state.clone(), app_id.to_string());
    let device = requesting_device(user_agent, ip);
    state
        .background
        .run("magic-link mail", async move {
            mail_link(&later, &app_id, email, req, device).await
        })
        .await;
    Ok(())
}

/// The link and its mail, for a confirmed account (unknown and unconfirmed addresses get
/// nothing). The new link voids the older live links of the same flow (the same PKCE challenge:
/// the same device asking again); other flows' links are left alone, so nobody can void a link
/// or a short code that someone else is using by asking for one for their address.
async fn mail_link(
    state: &AppState,
    app_id: &str,
    email: String,
    req: MagicLinkRequest,
    device: String,
) -> ApiResult<()> {
    let app = state.provider(app_id, ProviderType::MagicLink)?;
    let Some(account) = accounts::by_email(state.db.reader(), app_id, &email)
        .await?
        .filter(|a| a.confirmed)
    else {
        return Ok(());
    };
    if !state.limiter.allow_mail("magic", &account.email).await {
        return Ok(());
    }
    let now = state.now();
    let id = object_id(now);
    let token = secret_256();
    let otp = new_otp();
    let ttl = state.config.tokens.magic_link_ttl_secs;
    let row = MagicRow {
        id: id.clone(),
        app_id: app_id.into(),
        userpass_id: account.id.clone(),
        email: account.email.clone(),
        link_hash: sha256_hex(token.as_bytes()),
        otp_hash: otp_hash(state, &id, &otp),
        code_challenge: req.code_challenge,
        redirect_uri: req.redirect_uri,
        state: req.state,
        expires_at: now + ttl,
        opened_at: None,
        app_code_hash: None,
        app_code_expires_at: None,
        redeemed_at: None,
    };
    let mut tx = state.db.writer().begin().await?;
    magic::void_flow(&mut *tx, app_id, &row.email, &row.code_challenge, now).await?;
    magic::insert(&mut *tx, &row, now).await?;
    tx.commit().await?;
    let link = format!(
        "{}/app/{app_id}/magic?token={token}&tokenId={id}",
        state.public_url
    );
    let name = if app.name.is_empty() {
        app_id
    } else {
        &app.name
    };
    state.mailer.send(Mail {
        to: account.email,
        subject: format!("Your sign-in link for {name}"),
        text: format!(
            "Requested by {device}.\n\n\
             Open this link on the device where you asked to sign in:\n\n{link}\n\n\
             Or type this code into the app: {otp}\n\n\
             Both work once and expire in {} minutes. \
             If you did not ask to sign in, ignore this message.",
            ttl / 60,
        ),
        links: vec![link],
        channel: "email",
    });
    Ok(())
}

/// The page's button: uses the link once and returns where to send the browser.
pub async fn open(
    state: &AppState,
    app_id: &str,
    token: &str,
    token_id: &str,
) -> ApiResult<String> {
    let now = state.now();
    let row = magic::get(state.db.reader(), token_id)
        .await?
        .filter(|r| {
            r.app_id == app_id && crypto::ct_eq(&r.link_hash, &sha256_hex(token.as_bytes()))
        })
        .ok_or_else(|| ApiError::new(ErrorCode::InvalidCode, "this sign-in link is not valid"))?;
    if row.expires_at <= now {
        return Err(ApiError::new(
            ErrorCode::CodeExpired,
            "this sign-in link has expired; ask for a new one in the app",
        ));
    }
    let code = secret_256();
    if !magic::open(
        state.db.writer(),
        &row.id,
        &sha256_hex(code.as_bytes()),
        now + APP_CODE_TTL_SECS,
        now,
    )
    .await?
    {
        return Err(ApiError::new(
            ErrorCode::CodeAlreadyUsed,
            "this sign-in link was already used; ask for a new one",
        ));
    }
    let sep = if row.redirect_uri.contains('?') {
        '&'
    } else {
        '?'
    };
    Ok(format!(
        "{}{sep}code={}.{code}&state={}",
        row.redirect_uri,
        row.id,
        urlencode(&row.state)
    ))
}

pub(crate) fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `magic-link/login`: `{code, code_verifier}` (from the redirect) or `{email, otp, code_verifier}`
/// (typed). A wrong verifier burns the link.
pub async fn login(
    state: &AppState,
    app_id: &str,
    creds: MagicLinkLogin,
    ctx: &LoginContext,
    ip: std::net::IpAddr,
) -> ApiResult<LoginResponse> {
    let account = redeem(state, app_id, creds, ip).await?;
    super::userpass::open_session(state, app_id, &account, provider::MAGIC_LINK, ctx).await
}

/// `magic-link/login?link=true` with the user's access token: the address the link (or typed
/// code) proves joins that user (issue 15, item 7). The link stays bound to the device that
/// asked for it, as for a sign-in.
pub async fn link(
    state: &AppState,
    app_id: &str,
    creds: MagicLinkLogin,
    user_id: &str,
    ip: std::net::IpAddr,
) -> ApiResult<()> {
    let account = redeem(state, app_id, creds, ip).await?;
    super::attach_account(state, app_id, user_id, super::userpass::local(&account)).await
}

/// Checks the code (or the typed short code) and the flow's verifier, spends the link, and
/// answers the email/password account it proves.
async fn redeem(
    state: &AppState,
    app_id: &str,
    creds: MagicLinkLogin,
    ip: std::net::IpAddr,
) -> ApiResult<crate::store::userpass::Account> {
    state.limiter.check(Group::Login, ip).await?;
    let verifier = creds.code_verifier.required("code_verifier")?;
    if !is_pkce(verifier) {
        return Err(bad("code_verifier must be 43-128 unreserved characters"));
    }
    let now = state.now();
    let row = if creds.code.is_present() {
        let (id, secret) = creds
            .code
            .required("code")?
            .split_once('.')
            .ok_or_else(invalid_code)?;
        let row = magic::get(state.db.reader(), id)
            .await?
            .filter(|r| r.app_id == app_id)
            .ok_or_else(invalid_code)?;
        let matches = row
            .app_code_hash
            .as_deref()
            .is_some_and(|h| crypto::ct_eq(h, &sha256_hex(secret.as_bytes())));
        if !matches {
            return Err(invalid_code());
        }
        if row.app_code_expires_at.is_some_and(|t| t <= now) {
            return Err(ApiError::new(
                ErrorCode::CodeExpired,
                "the sign-in code has expired; ask for a new link",
            ));
        }
        row
    } else {
        let email = crate::email::canonicalize(creds.email.required("email")?)
            .map_err(|_| invalid_code())?;
        // The flow's own newest link: a link someone else asked for meanwhile (another
        // challenge) neither shadows this code nor takes its attempts.
        let row = magic::newest_for(state.db.reader(), app_id, &email, &s256(verifier))
            .await?
            .ok_or_else(invalid_code)?;
        if row.expires_at <= now {
            return Err(ApiError::new(
                ErrorCode::CodeExpired,
                "the code has expired; ask for a new link",
            ));
        }
        if !magic::take_otp_attempt(state.db.writer(), &row.id, OTP_ATTEMPTS).await? {
            return Err(if row.redeemed_at.is_some() {
                used()
            } else {
                ApiError::new(
                    ErrorCode::TooManyAttempts,
                    "too many wrong tries; ask for a new link",
                )
            });
        }
        if !crypto::ct_eq(
            &row.otp_hash,
            &otp_hash(state, &row.id, creds.otp.required("otp")?),
        ) {
            return Err(invalid_code());
        }
        row
    };
    if row.redeemed_at.is_some() {
        return Err(used());
    }
    if !crypto::ct_eq(&row.code_challenge, &s256(verifier)) {
        // Another device (or an attacker) holds the code but not the verifier: burn the link.
        magic::redeem(state.db.writer(), &row.id, now).await?;
        tracing::warn!(
            app_id,
            "magic link redeemed with a wrong verifier; link burnt"
        );
        return Err(invalid_code());
    }
    if !magic::redeem(state.db.writer(), &row.id, now).await? {
        return Err(used());
    }
    accounts::by_id(state.db.reader(), &row.userpass_id)
        .await?
        .ok_or_else(invalid_code)
}

fn used() -> ApiError {
    ApiError::new(
        ErrorCode::CodeAlreadyUsed,
        "this sign-in link was already used; ask for a new one",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_redirects_only_where_registered() {
        let desktop = vec!["gatehouse://auth/callback".to_string()];
        assert!(redirect_allowed(&desktop, "gatehouse://auth/callback"));
        for unregistered in [
            "http://127.0.0.1:49152/cb",
            "http://[::1]:8080",
            "http://127.0.0.1/",
        ] {
            assert!(!redirect_allowed(&desktop, unregistered), "{unregistered}");
        }
        let cli = vec![
            "http://127.0.0.1/cb".to_string(),
            "http://[::1]:1234/".to_string(),
        ];
        assert!(
            redirect_allowed(&cli, "http://127.0.0.1:49152/cb"),
            "any port"
        );
        assert!(redirect_allowed(&cli, "http://127.0.0.1/cb"));
        assert!(redirect_allowed(&cli, "http://[::1]:8080"));
        assert!(redirect_allowed(&cli, "http://[::1]:8080/"));
        for bad in [
            "gatehouse://auth/callback",
            "http://127.0.0.1:49152/cb/x",
            "http://127.0.0.1:49152/other",
            "http://[::1]:8080/cb",
            "http://127.0.0.1.evil.com:80/cb",
            "http://localhost:80/cb",
            "https://evil.example/cb",
            "http://127.0.0.1:x/cb",
            "http://127.0.0.1:99999/cb",
            "http://127.0.0.1:80@evil.com/cb",
            "http://127.0.0.1:80/cb#x",
        ] {
            assert!(!redirect_allowed(&cli, bad), "{bad}");
        }
    }

    #[test]
    fn mails_name_the_requesting_device() {
        let ip: std::net::IpAddr = "203.0.113.5".parse().unwrap();
        assert_eq!(
            requesting_device(Some("Firefox/128.0\r\nBcc: x@evil"), ip),
            "Firefox/128.0Bcc: x@evil at 203.0.113.5"
        );
        assert_eq!(
            requesting_device(None, ip),
            "an unnamed device at 203.0.113.5"
        );
        assert_eq!(
            requesting_device(Some(&"a".repeat(500)), ip).len(),
            120 + " at 203.0.113.5".len()
        );
    }

    #[test]
    fn otps_are_typable_and_normalised() {
        let otp = new_otp();
        assert_eq!(otp.len(), 9);
        assert_eq!(normalize_otp(&otp.to_lowercase()), otp.replace('-', ""));
        assert!(otp
            .chars()
            .all(|c| c == '-' || OTP_ALPHABET.contains(&(c as u8))));
    }

    #[test]
    fn s256_is_unpadded_base64url_of_sha256() {
        // Expected value computed independently (Python hashlib + base64.urlsafe_b64encode).
        assert_eq!(
            s256("dBjftJeZ4CVP-mJ0kkFtDVs3dGzSmFGPyCwrjkL1oy0"),
            "UAp9I0t3BiXfhHGC0vByQUMJEcasn_b0HFTgC1GkYnE"
        );
    }
}
