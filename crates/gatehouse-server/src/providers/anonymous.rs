//! `anon-user`: every call creates a new user with one anonymous identity (reusing an anonymous
//! user is a client-side decision). Rate limited per IP, since each call creates a row.

use gatehouse_proto::auth::LoginResponse;
use gatehouse_proto::routes::provider;

use crate::crypto::object_id;
use crate::error::{ApiError, ApiResult};
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
    let (st, app, ctx) = (state.clone(), app_id.to_string(), ctx.clone());
    // One unit of the SQLite group commit: answered once its batch is on disk.
    let (opened, user_id) = state
        .db
        .write(move |tx| {
            Box::pin(async move {
                let user_id =
                    users::create(&mut **tx, &app, "normal", &Default::default(), now).await?;
                users::add_identity(
                    &mut **tx,
                    &app,
                    &user_id,
                    provider::ANONYMOUS,
                    provider::ANONYMOUS,
                    &object_id(now),
                    &Default::default(),
                    now,
                )
                .await?;
                let opened =
                    sessions::open(&st, tx, &app, &user_id, provider::ANONYMOUS, None, &ctx)
                        .await?;
                Ok::<_, ApiError>((opened, user_id))
            })
        })
        .await?;
    let response = opened.respond(state).await?;
    tracing::info!(app_id, user_id, provider = provider::ANONYMOUS, "login");
    Ok(response)
}
