//! `anon-user`: every call creates a new user with one anonymous identity (reusing an anonymous
//! user is a client-side decision). Rate limited per IP, since each call creates a row.

use gatehouse_proto::auth::LoginResponse;
use gatehouse_proto::routes::provider;

use crate::crypto::object_id;
use crate::db::Script;
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
                // The user, their identity and the session: one round trip on SQLite.
                let mut creation = Script::new();
                let nothing = Default::default();
                let (user_id, user) = users::create_statement(&app, "normal", &nothing, now);
                creation.push(user);
                let identity = users::NewIdentity {
                    app_id: &app,
                    user_id: &user_id,
                    provider_type: provider::ANONYMOUS,
                    provider_id: provider::ANONYMOUS,
                    subject: &object_id(now),
                    data: &nothing,
                };
                creation.push(users::identity_statement(&identity, now));
                let owner = (app.as_str(), user_id.as_str());
                let opened =
                    sessions::open_first(&st, tx, owner, provider::ANONYMOUS, &ctx, creation)
                        .await?;
                Ok::<_, ApiError>((opened, user_id))
            })
        })
        .await?;
    let response = opened.respond(state).await?;
    tracing::info!(app_id, user_id, provider = provider::ANONYMOUS, "login");
    Ok(response)
}
