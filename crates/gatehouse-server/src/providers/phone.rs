//! `phone-password` (register, confirm by texted code, log in, reset by texted code) and
//! `sms-code` (a code texted to a confirmed number signs in). Same enumeration and throttling
//! rules as email/password: sends answer 204 whether or not the number has an account, and the
//! per-number send limit applies to unknown numbers too.
//!
//! Codes: 6 digits, 5 minutes (`tokens.sms_code_ttl_secs`), 5 attempts each, single use, newest
//! only; stored as keyed hashes; at most one text per number per minute and five per hour;
//! numbers outside the app's country allowlist get nothing. A sign-in code belongs to the flow
//! that asked for it (a PKCE S256 challenge with `send`, its verifier with `login`), as magic
//! links do: only that flow can redeem it, wrong guesses use up that flow's code only, and a
//! send from another flow (an attacker's included) leaves it alone.

use gatehouse_proto::auth::LoginResponse;
use gatehouse_proto::routes::provider;
use gatehouse_proto::userpass::SmsCodeRequest;
use gatehouse_proto::{ErrorCode, ProviderType};

use super::credentials::{PhonePasswordLogin, SmsCodeLogin};
use super::magic_link::{is_pkce, s256};
use super::throttle::check_password;
use crate::config::AppConfig;
use crate::crypto::random_bytes;
use crate::error::{ApiError, ApiResult};
use crate::phone::Phone;
use crate::ratelimit::Group;
use crate::sessions::LoginContext;
use crate::state::AppState;
use crate::store::phone::{self as accounts, CodeCheck, PhoneAccount};
use crate::store::unconfirmed::{self, PasswordTable};
use crate::store::Purpose;
use crate::store::{failures, sessions as session_rows};

pub const MAX_ATTEMPTS: i64 = 5;

pub(crate) fn parse(app: &AppConfig, input: &str) -> ApiResult<Phone> {
    let phone =
        crate::phone::canonicalize(input).map_err(|e| ApiError::new(ErrorCode::InvalidPhone, e))?;
    if !app.phone.allows(&phone.country) {
        return Err(ApiError::new(
            ErrorCode::CountryNotAllowed,
            format!(
                "this app does not send text messages to {} numbers",
                phone.country
            ),
        ));
    }
    Ok(phone)
}

/// Six uniformly random digits.
pub(crate) fn new_code() -> String {
    loop {
        let n = u32::from_be_bytes(random_bytes::<4>());
        // Reject the top sliver so that `% 1_000_000` is uniform.
        if n < 4_294_000_000 {
            return format!("{:06}", n % 1_000_000);
        }
    }
}

/// The keyed hash of a code. A confirmation code is also bound to the password hash it was
/// issued for (`bound_to`): after a re-registration replaced that password, the code matches
/// nothing. A code sent for a flow (always for sign-in codes; for confirmation and reset codes
/// when the client sent a challenge) is bound to its challenge (`flow`) as well as stored under
/// it.
fn code_hash(
    state: &AppState,
    app_id: &str,
    phone: &str,
    (purpose, flow): (Purpose, &str),
    code: &str,
    bound_to: Option<&str>,
) -> String {
    let mut context = match (purpose, bound_to) {
        (Purpose::Confirm, Some(hash)) => format!(
            "{app_id}/{phone}/{}",
            crate::store::userpass::password_fingerprint(hash)
        ),
        _ => format!("{app_id}/{phone}"),
    };
    if !flow.is_empty() {
        context = format!("{context}/{flow}");
    }
    state
        .keys
        .code_hash(&format!("sms-{}", purpose.as_str()), &context, code)
}

/// Per-number, per-IP and global SMS budgets, applied before looking the number up (so the
/// answer says nothing about it).
async fn send_allowed(state: &AppState, phone: &Phone, ip: std::net::IpAddr) -> ApiResult<()> {
    state.limiter.allow_sms(&phone.e164, ip).await
}

async fn send_code(
    state: &AppState,
    (app_id, app): (&str, &AppConfig),
    phone: &str,
    (purpose, flow): (Purpose, &str),
    bound_to: Option<&str>,
) -> ApiResult<()> {
    let code = new_code();
    let now = state.now();
    let ttl = state.config.tokens.sms_code_ttl_secs;
    let mut tx = state.db.writer().begin().await?;
    accounts::issue_code(
        &mut tx,
        app_id,
        phone,
        purpose,
        flow,
        &code_hash(state, app_id, phone, (purpose, flow), &code, bound_to),
        now,
        ttl,
    )
    .await?;
    tx.commit().await?;
    let name = if app.name.is_empty() {
        app_id
    } else {
        &app.name
    };
    state.sms.send(
        phone,
        format!(
            "{code} is your {name} code. It expires in {} minutes. Never share it.",
            ttl / 60
        ),
    );
    Ok(())
}

async fn verify_code(
    state: &AppState,
    app_id: &str,
    phone: &str,
    (purpose, flow): (Purpose, &str),
    code: &str,
    bound_to: Option<&str>,
) -> ApiResult<()> {
    let wrong = || {
        ApiError::new(
            ErrorCode::InvalidCode,
            "the code is not right; check the latest text message",
        )
    };
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(wrong());
    }
    let hash = code_hash(state, app_id, phone, (purpose, flow), code, bound_to);
    match accounts::check_code(
        &state.db,
        app_id,
        phone,
        purpose,
        flow,
        &hash,
        state.now(),
        MAX_ATTEMPTS,
    )
    .await?
    {
        CodeCheck::Accepted => Ok(()),
        CodeCheck::Wrong | CodeCheck::NoCode => Err(wrong()),
        CodeCheck::Expired => Err(ApiError::new(
            ErrorCode::CodeExpired,
            "the code has expired; ask for a new one",
        )),
        CodeCheck::AlreadyUsed => Err(ApiError::new(
            ErrorCode::CodeAlreadyUsed,
            "the code was already used; ask for a new one",
        )),
        CodeCheck::TooManyAttempts => Err(ApiError::new(
            ErrorCode::TooManyAttempts,
            "too many wrong tries for this code; ask for a new one",
        )),
    }
}

/// The flow a send names: its PKCE S256 challenge, or "" when the client sent none (a code for
/// the number alone, as stock clients get).
pub(crate) fn flow_of_challenge(challenge: Option<&str>) -> ApiResult<&str> {
    match challenge {
        None => Ok(""),
        Some(c) if is_pkce(c) => Ok(c),
        Some(_) => Err(ApiError::invalid_parameter(
            "code_challenge must be the base64url SHA-256 of a 43-128 character code_verifier",
        )),
    }
}

/// The flow a redeem names: the challenge of its verifier, or "" without one.
fn flow_of_verifier(verifier: Option<&str>) -> ApiResult<String> {
    match verifier {
        None => Ok(String::new()),
        Some(v) if is_pkce(v) => Ok(s256(v)),
        Some(_) => Err(ApiError::invalid_parameter(
            "code_verifier must be 43-128 unreserved characters",
        )),
    }
}

fn check_policy(state: &AppState, app: &AppConfig, password: &str) -> ApiResult<String> {
    state
        .policy
        .check(password, &[app.name.as_str(), "gatehouse"])
        .map_err(|v| ApiError::new(ErrorCode::WeakPassword, v.to_string()))
}

pub async fn register(
    state: &AppState,
    app_id: &str,
    (phone, password): (&str, &str),
    challenge: Option<&str>,
    ip: std::net::IpAddr,
) -> ApiResult<()> {
    let app = state.provider(app_id, ProviderType::PhonePassword)?;
    state.limiter.check(Group::Register, ip).await?;
    let flow = flow_of_challenge(challenge)?;
    let phone = parse(app, phone)?;
    let normalized = check_policy(state, app, password)?;
    let hash = state.hasher.hash(normalized).await?;
    let needs_code = app.phone.require_confirmation;
    let created = accounts::insert(
        state.db.writer(),
        app_id,
        &phone.e164,
        &hash,
        !needs_code,
        state.now(),
    )
    .await?;
    let replaced = match created {
        Some(_) => true,
        // No second account. An unconfirmed one takes the new registrant's password (codes
        // texted for the earlier password stop working) and a fresh code goes to the number.
        None => match accounts::by_phone(state.db.writer(), app_id, &phone.e164).await? {
            Some(existing) if !existing.confirmed => {
                let replaced = unconfirmed::replace_password(
                    state.db.writer(),
                    PasswordTable::Phone,
                    &existing.id,
                    &hash,
                )
                .await?;
                if replaced && !needs_code {
                    accounts::confirm(state.db.writer(), &existing.id, state.now()).await?;
                }
                replaced
            }
            _ => false,
        },
    };
    if !replaced {
        if app.strict_app_services_errors {
            return Err(ApiError::new(
                ErrorCode::AccountNameInUse,
                "name already in use",
            ));
        }
        return Ok(());
    }
    if needs_code && state.limiter.allow_sms(&phone.e164, ip).await.is_ok() {
        send_code(
            state,
            (app_id, app),
            &phone.e164,
            (Purpose::Confirm, flow),
            Some(&hash),
        )
        .await?;
    }
    Ok(())
}

pub async fn confirm(
    state: &AppState,
    app_id: &str,
    (phone, code): (&str, &str),
    verifier: Option<&str>,
    ip: std::net::IpAddr,
) -> ApiResult<()> {
    let app = state.provider(app_id, ProviderType::PhonePassword)?;
    state.limiter.check(Group::Redeem, ip).await?;
    let flow = flow_of_verifier(verifier)?;
    let phone = parse(app, phone)?;
    let account = accounts::by_phone(state.db.reader(), app_id, &phone.e164).await?;
    let bound_to = account.as_ref().map(|a| a.password_hash.as_str());
    verify_code(
        state,
        app_id,
        &phone.e164,
        (Purpose::Confirm, &flow),
        code,
        bound_to,
    )
    .await?;
    if let Some(account) = account.filter(|a| !a.confirmed) {
        // Only the password the code was texted for becomes live.
        let now = state.now();
        if !unconfirmed::confirm_bound(
            state.db.writer(),
            PasswordTable::Phone,
            &account.id,
            &account.password_hash,
            now,
        )
        .await?
        {
            return Err(ApiError::new(
                ErrorCode::InvalidCode,
                "the code is not right; check the latest text message",
            ));
        }
    }
    Ok(())
}

/// `confirm/send` and `reset/send` for `phone-password` (purposes `Confirm`, `Reset`): 204
/// either way.
pub async fn send(
    state: &AppState,
    app_id: &str,
    purpose: Purpose,
    (phone, challenge): (&str, Option<&str>),
    ip: std::net::IpAddr,
) -> ApiResult<()> {
    let flow = flow_of_challenge(challenge)?;
    send_for_flow(state, app_id, (purpose, flow), phone, ip).await
}

/// `sms-code/send`: a sign-in code for the flow whose S256 challenge the body carries; 204
/// either way.
pub async fn send_login_code(
    state: &AppState,
    app_id: &str,
    req: SmsCodeRequest,
    ip: std::net::IpAddr,
) -> ApiResult<()> {
    state.provider(app_id, ProviderType::SmsCode)?;
    if req.code_challenge_method != "S256" {
        return Err(ApiError::invalid_parameter(
            "code_challenge_method must be S256",
        ));
    }
    if !is_pkce(&req.code_challenge) {
        return Err(ApiError::invalid_parameter(
            "code_challenge must be the base64url SHA-256 of a 43-128 character code_verifier",
        ));
    }
    let flow = (Purpose::Login, req.code_challenge.as_str());
    send_for_flow(state, app_id, flow, &req.phone, ip).await
}

async fn send_for_flow(
    state: &AppState,
    app_id: &str,
    (purpose, flow): (Purpose, &str),
    phone: &str,
    ip: std::net::IpAddr,
) -> ApiResult<()> {
    let provider = if purpose == Purpose::Login {
        ProviderType::SmsCode
    } else {
        ProviderType::PhonePassword
    };
    let app = state.provider(app_id, provider)?;
    state.limiter.check(Group::EmailSend, ip).await?;
    let phone = parse(app, phone)?;
    send_allowed(state, &phone, ip).await?;
    let account = accounts::by_phone(state.db.reader(), app_id, &phone.e164).await?;
    let wanted = match purpose {
        Purpose::Confirm => account.as_ref().is_some_and(|a| !a.confirmed),
        Purpose::Reset => account.is_some(),
        Purpose::Login => account.as_ref().is_some_and(|a| a.confirmed),
        Purpose::Lockdown | Purpose::ChangePhone => false,
    };
    match wanted.then_some(purpose) {
        Some(purpose) => {
            let bound_to = account.as_ref().map(|a| a.password_hash.as_str());
            send_code(state, (app_id, app), &phone.e164, (purpose, flow), bound_to).await
        }
        None if app.strict_app_services_errors && account.is_none() => {
            Err(ApiError::new(ErrorCode::UserNotFound, "user not found"))
        }
        None => Ok(()),
    }
}

pub async fn reset(
    state: &AppState,
    app_id: &str,
    (phone, code, password): (&str, &str, &str),
    verifier: Option<&str>,
    ip: std::net::IpAddr,
) -> ApiResult<()> {
    let app = state.provider(app_id, ProviderType::PhonePassword)?;
    state.limiter.check(Group::Redeem, ip).await?;
    let flow = flow_of_verifier(verifier)?;
    let phone = parse(app, phone)?;
    // The policy first (cheap: a weak choice must not burn the code), then the code, and only
    // for a right code the costly hash.
    let normalized = check_policy(state, app, password)?;
    verify_code(
        state,
        app_id,
        &phone.e164,
        (Purpose::Reset, &flow),
        code,
        None,
    )
    .await?;
    let hash = state.hasher.hash(normalized).await?;
    let account = accounts::by_phone(state.db.reader(), app_id, &phone.e164)
        .await?
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidCode,
                "the code is not right; check the latest text message",
            )
        })?;
    let now = state.now();
    let mut tx = state.db.writer().begin().await?;
    accounts::set_password(&mut *tx, &account.id, &hash).await?;
    accounts::confirm(&mut *tx, &account.id, now).await?;
    let mut ended = 0;
    if let Some(user_id) = &account.user_id {
        ended = session_rows::revoke_user(&mut *tx, user_id, None, "password reset", now).await?;
    }
    failures::clear(&mut *tx, app_id, &account_key(&account.phone)).await?;
    tx.commit().await?;
    if let Some(user_id) = &account.user_id {
        let from = crate::activity::Origin::ip_only(ip);
        let (owner, kind) = ((app_id, user_id.as_str()), provider::PHONE_PASSWORD);
        crate::activity::password_reset(state, owner, kind, ended, Some(from)).await;
    }
    tracing::info!(
        app_id,
        "phone password reset; every session of the user ended"
    );
    Ok(())
}

fn account_key(e164: &str) -> String {
    format!("phone:{e164}")
}

pub async fn login_password(
    state: &AppState,
    app_id: &str,
    creds: PhonePasswordLogin,
    ctx: &LoginContext,
    ip: std::net::IpAddr,
) -> ApiResult<LoginResponse> {
    let from = crate::activity::Origin {
        ip,
        user_agent: ctx.user_agent.as_deref(),
    };
    let account = verify_password(state, app_id, creds, from).await?;
    open_session(state, app_id, &account, provider::PHONE_PASSWORD, ctx).await
}

/// `phone-password/login?link=true`: the number and password join the user of the access token
/// (issue 15, item 7).
pub async fn link_password(
    state: &AppState,
    app_id: &str,
    creds: PhonePasswordLogin,
    user_id: &str,
    ip: std::net::IpAddr,
) -> ApiResult<()> {
    let from = crate::activity::Origin::ip_only(ip);
    let account = verify_password(state, app_id, creds, from).await?;
    super::attach_account(state, app_id, user_id, local(&account)).await
}

/// `sms-code/login?link=true`: the number a texted code (of this flow) proves joins the user of
/// the access token.
pub async fn link_code(
    state: &AppState,
    app_id: &str,
    creds: SmsCodeLogin,
    user_id: &str,
    ip: std::net::IpAddr,
) -> ApiResult<()> {
    let account = redeem_code(state, app_id, creds, ip).await?;
    super::attach_account(state, app_id, user_id, local(&account)).await
}

/// Checks a number and its password (throttled, equal work); a confirmed account, or why not.
async fn verify_password(
    state: &AppState,
    app_id: &str,
    creds: PhonePasswordLogin,
    from: crate::activity::Origin<'_>,
) -> ApiResult<PhoneAccount> {
    let raw = creds.phone.required("phone")?;
    let password = creds.password.required("password")?;
    // An unparsable number can have no account: the same generic failure, after the same work.
    let phone = crate::phone::canonicalize(raw).ok();
    let key = account_key(
        phone
            .as_ref()
            .map(|p| p.e164.as_str())
            .unwrap_or(raw.trim()),
    );
    let account = match &phone {
        Some(p) => accounts::by_phone(state.db.reader(), app_id, &p.e164).await?,
        None => None,
    };
    let stale = check_password(
        state,
        app_id,
        &key,
        account.as_ref().map(|a| a.password_hash.clone()),
        password,
        from,
        account
            .as_ref()
            .and_then(|a| a.user_id.as_deref())
            .map(|u| (u, provider::PHONE_PASSWORD)),
    )
    .await?;
    let account = account.ok_or_else(ApiError::invalid_credentials)?;
    if stale {
        let hash = state
            .hasher
            .hash(crate::password::policy::normalize(password))
            .await?;
        accounts::set_password(state.db.writer(), &account.id, &hash).await?;
    }
    if !account.confirmed {
        return Err(ApiError::new(
            ErrorCode::AuthError,
            "confirmation required: enter the code texted to your phone, or ask for a new one",
        ));
    }
    Ok(account)
}

pub async fn login_code(
    state: &AppState,
    app_id: &str,
    creds: SmsCodeLogin,
    ctx: &LoginContext,
    ip: std::net::IpAddr,
) -> ApiResult<LoginResponse> {
    let account = redeem_code(state, app_id, creds, ip).await?;
    open_session(state, app_id, &account, provider::SMS_CODE, ctx).await
}

/// Checks a texted sign-in code with its flow's verifier; the confirmed account it proves.
async fn redeem_code(
    state: &AppState,
    app_id: &str,
    creds: SmsCodeLogin,
    ip: std::net::IpAddr,
) -> ApiResult<PhoneAccount> {
    let app = state.app(app_id)?;
    state.limiter.check(Group::Login, ip).await?;
    let phone = parse(app, creds.phone.required("phone")?)?;
    let verifier = creds.code_verifier.required("code_verifier")?;
    if !is_pkce(verifier) {
        return Err(ApiError::invalid_parameter(
            "code_verifier must be 43-128 unreserved characters",
        ));
    }
    // The flow is named by its verifier's challenge: another flow's verifier finds no code here.
    let flow = s256(verifier);
    verify_code(
        state,
        app_id,
        &phone.e164,
        (Purpose::Login, &flow),
        creds.code.required("code")?,
        None,
    )
    .await?;
    accounts::by_phone(state.db.reader(), app_id, &phone.e164)
        .await?
        .filter(|a| a.confirmed)
        .ok_or_else(ApiError::invalid_credentials)
}

async fn open_session(
    state: &AppState,
    app_id: &str,
    account: &PhoneAccount,
    session_provider: &str,
    ctx: &LoginContext,
) -> ApiResult<LoginResponse> {
    let account = local(account);
    super::open_account_session(state, app_id, account, session_provider, ctx).await
}

/// The account as the provider-independent code sees it.
fn local(account: &PhoneAccount) -> super::LocalAccount<'_> {
    super::LocalAccount {
        kind: super::AccountKind::Phone,
        id: &account.id,
        user_id: account.user_id.as_deref(),
        field: "phone",
        value: &account.phone,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn codes_are_six_digits_and_vary() {
        let codes: std::collections::HashSet<String> =
            (0..200).map(|_| super::new_code()).collect();
        assert!(codes
            .iter()
            .all(|c| c.len() == 6 && c.bytes().all(|b| b.is_ascii_digit())));
        assert!(codes.len() > 190);
    }
}
