//! Editing the profile fields the server keeps for a user (Gatehouse extension, issue 17): the
//! display name and the picture URL, stored in the profile `data` App Services clients read
//! (`name`, `picture_url`; `picture` too, which realm-web reads).

use gatehouse_proto::self_service::ProfileUpdate;
use serde_json::{Map, Value};

use crate::activity::{record, Origin};
use crate::error::{ApiError, ApiResult};
use crate::sessions::AccessAuth;
use crate::state::AppState;
use crate::store::activity::Kind;
use crate::store::users;

pub const MAX_NAME_CHARS: usize = 100;
pub const MAX_PICTURE_URL: usize = 2048;

fn check_name(name: &str) -> ApiResult<String> {
    let name = name.trim();
    let chars = name.chars().count();
    if chars == 0 || chars > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(ApiError::invalid_parameter(format!(
            "name must be 1 to {MAX_NAME_CHARS} characters (after trimming), without control \
             characters, or null to clear it"
        )));
    }
    Ok(name.to_string())
}

fn check_picture_url(text: &str) -> ApiResult<String> {
    let bad = || {
        ApiError::invalid_parameter(format!(
            "picture_url must be an https URL of at most {MAX_PICTURE_URL} characters, or null \
             to clear it"
        ))
    };
    if text.len() > MAX_PICTURE_URL {
        return Err(bad());
    }
    let url = url::Url::parse(text).map_err(|_| bad())?;
    // Credentials in a picture address would be shown to everyone who sees the profile.
    let credentials = !url.username().is_empty() || url.password().is_some();
    if url.scheme() != "https" || url.host_str().is_none_or(str::is_empty) || credentials {
        return Err(bad());
    }
    Ok(url.to_string())
}

/// Applies `update` to the caller's profile data. The caller has passed the recent-sign-in check.
pub async fn update(
    state: &AppState,
    auth: &AccessAuth,
    update: ProfileUpdate,
    from: Origin<'_>,
) -> ApiResult<()> {
    if update.name.is_none() && update.picture_url.is_none() {
        return Err(ApiError::invalid_parameter(
            "nothing to change: send name and/or picture_url",
        ));
    }
    let name = update
        .name
        .map(|n| n.as_deref().map(check_name).transpose())
        .transpose()?;
    let picture = update
        .picture_url
        .map(|p| p.as_deref().map(check_picture_url).transpose())
        .transpose()?;
    let user_id = &auth.session.user_id;
    let mut tx = state.db.writer().begin().await?;
    let user = users::get(&mut *tx, user_id)
        .await?
        .ok_or_else(|| ApiError::invalid_session("invalid session: the user no longer exists"))?;
    let mut data = user.data;
    let mut fields = vec![];
    if let Some(name) = name {
        fields.push(Value::from("name"));
        match name {
            Some(n) => data.insert("name".into(), n.into()),
            None => data.remove("name"),
        };
    }
    if let Some(picture) = picture {
        fields.push(Value::from("picture_url"));
        match picture {
            Some(p) => {
                data.insert("picture".into(), p.as_str().into());
                data.insert("picture_url".into(), p.into());
            }
            None => {
                data.remove("picture");
                data.remove("picture_url");
            }
        }
    }
    users::set_data(&mut *tx, user_id, &data).await?;
    tx.commit().await?;
    let mut detail = Map::new();
    detail.insert("fields".into(), Value::Array(fields));
    record(
        state,
        (&auth.session.app_id, user_id),
        Kind::ProfileChanged,
        detail,
        Some(from),
    )
    .await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(check_name("  Ada Lovelace ").unwrap(), "Ada Lovelace");
        assert!(check_name("   ").is_err());
        assert!(check_name(&"é".repeat(100)).is_ok());
        assert!(check_name(&"é".repeat(101)).is_err());
        assert!(check_name("a\u{7}b").is_err());
    }

    #[test]
    fn pictures_are_https_and_bounded() {
        assert!(check_picture_url("https://example.com/me.png").is_ok());
        for bad in [
            "http://example.com/me.png",
            "javascript:alert(1)",
            "not a url",
            "https://",
            "https://user:secret@example.com/me.png",
        ] {
            assert!(check_picture_url(bad).is_err(), "{bad}");
        }
        let long = format!("https://example.com/{}", "a".repeat(2048));
        assert!(check_picture_url(&long).is_err());
    }
}
