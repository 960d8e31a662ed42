//! `anon-user`: every call creates a new user with one anonymous identity (reusing an anonymous
//! user is a client-side decision). Rate limited per IP, since each call creates a row.

use gatehouse_proto::auth::LoginResponse;
use gatehouse_proto::routes::provider;

use crate::crypto::object_id;
use crate::error::ApiResult;
use crate::ratelimit::Group;
use crate::sessions::{self, LoginContext};
use crate::state::AppState;
use crate::store::users;

pub async fn login(
    state: &AppState,
    app_id: &str,
    ctx: &LoginContext,
    ip: std::net::IpAddr,
) -> ApiResult<LoginResponse> {
    state.limiter.check(Group::Anonymous, ip).await?;
    let now = state.now();
    let mut tx = state.db.writer().begin().await?;
    let user_id = users::create(&mut *tx, app_id, "normal", &Default::default(), now).await?;
    users::add_identity(
        &mut *tx,
        app_id,
        &user_id,
        provider::ANONYMOUS,
        provider::ANONYMOUS,
        &object_id(now),
        &Default::default(),
        now,
    )
    .await?;
    let opened = sessions::open(
        state,
        &mut tx,
        app_id,
        &user_id,
        provider::ANONYMOUS,
        None,
        ctx,
    )
    .await?;
    tx.commit().await?;
    let response = opened.respond(state).await?;
    tracing::info!(app_id, user_id, provider = provider::ANONYMOUS, "login");
    Ok(response)
}
