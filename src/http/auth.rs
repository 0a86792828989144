//! `/api/auth/…`: login, logout and the signed-in user. The login steps are the
//! domain's (`accounts::login`); the session id rotates only after they all
//! succeeded and the merged cart was read, so a failed login keeps its guest
//! session.

use axum::{Json, extract::State};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::{
    bodies::{CartBody, Done},
    error::{ApiError, ApiResult},
    extract::{CartSession, JsonObject},
};
use crate::{
    accounts::login::{self, Attempt, LoginStores},
    cart::{model::LineId, ops, rules::MergeReport},
    state::AppState,
};

/// The login's answer.
#[derive(Serialize, ToSchema)]
pub(crate) struct SignedInBody {
    success: bool,
    user: MeBody,
    /// The user's cart after the merge.
    cart: CartBody,
    merge: MergeBody,
}

/// What happened to the guest cart's lines.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MergeBody {
    lines_moved: u32,
    lines_combined: u32,
    /// User lines whose combined quantity was capped at the max.
    clamped: Vec<u64>,
    /// Guest lines that did not fit under the max lines.
    dropped: Vec<u64>,
}

/// `{"username": …}`
#[derive(Serialize, ToSchema)]
pub(crate) struct MeBody {
    username: String,
}

#[utoipa::path(post, path = "/api/auth/login", tag = "accounts",
    request_body(content = crate::http::openapi::LoginDoc, content_type = "application/json"),
    responses(
        (status = 200, description = "Signed in: a new session id, the guest cart merged", body = SignedInBody),
        (status = 400, description = "Missing or malformed fields", body = crate::http::openapi::ErrorDoc),
        (status = 401, description = "Invalid username or password", body = crate::http::openapi::ErrorDoc),
        (status = 403, description = "Cross-site request refused", body = crate::http::openapi::ErrorDoc),
        (status = 415, description = "Content type is not JSON", body = crate::http::openapi::ErrorDoc),
        (status = 429, description = "Too many failed logins (with Retry-After)", body = crate::http::openapi::ErrorDoc),
        (status = 503, description = "Cart storage unavailable", body = crate::http::openapi::ErrorDoc)))]
/// `POST /api/auth/login` `{"username": "alice", "password": "…"}`
pub(crate) async fn login(
    State(state): State<AppState>,
    mut session: CartSession,
    JsonObject(body, _): JsonObject,
) -> ApiResult<Json<SignedInBody>> {
    let (Some(Value::String(username)), Some(Value::String(password))) =
        (body.get("username"), body.get("password"))
    else {
        return Err(ApiError::BadRequest(
            "username and password are required strings".into(),
        ));
    };
    let attempt = Attempt {
        username,
        password,
        client_address: &session.client(),
        guest_cart: session.cart().filter(|_| session.user().is_none()),
    };
    let signed_in = login::login(state.login_stores(), &state.login, attempt).await?;
    let policy = state.cart.policy(true);
    let cart = ops::view(
        state.carts(),
        &state.catalog,
        Some(&signed_in.cart),
        policy,
        None,
    )
    .await?;
    // Everything that can fail is done: only now rotate the session id.
    session
        .sign_in(&signed_in.username, &signed_in.cart)
        .await?;
    Ok(Json(SignedInBody {
        success: true,
        user: MeBody {
            username: signed_in.username,
        },
        cart: CartBody::from(cart),
        merge: merge_body(&signed_in.merge),
    }))
}

/// The login response's `merge`: what happened to the guest cart's lines.
fn merge_body(merge: &MergeReport) -> MergeBody {
    let ids = |ids: &[LineId]| ids.iter().map(|id| id.0).collect::<Vec<_>>();
    MergeBody {
        lines_moved: merge.lines_moved,
        lines_combined: merge.lines_combined,
        clamped: ids(&merge.clamped),
        dropped: ids(&merge.dropped),
    }
}

#[utoipa::path(post, path = "/api/auth/logout", tag = "accounts",
    responses(
        (status = 200, description = "Logged out: the session is destroyed", body = Done),
        (status = 403, description = "Cross-site request refused", body = crate::http::openapi::ErrorDoc),
        (status = 503, description = "Cart storage unavailable", body = crate::http::openapi::ErrorDoc)))]
/// `POST /api/auth/logout`: destroys the session; the user's cart stays.
pub(crate) async fn logout(session: CartSession) -> ApiResult<Json<Done>> {
    session.sign_out().await?;
    Ok(Done::new("Logged out"))
}

#[utoipa::path(get, path = "/api/auth/me", tag = "accounts",
    responses(
        (status = 200, description = "The signed-in user", body = MeBody),
        (status = 401, description = "Not logged in", body = crate::http::openapi::ErrorDoc),
        (status = 503, description = "Cart storage unavailable", body = crate::http::openapi::ErrorDoc)))]
/// `GET /api/auth/me`
pub(crate) async fn me(session: CartSession) -> ApiResult<Json<MeBody>> {
    match session.user() {
        Some(username) => Ok(Json(MeBody {
            username: username.to_string(),
        })),
        None => Err(ApiError::Unauthorized("Not logged in".into())),
    }
}

impl AppState {
    fn login_stores(&self) -> LoginStores<'_> {
        LoginStores {
            accounts: self.stores.accounts.as_ref(),
            limiter: self.stores.limiter.as_ref(),
            carts: self.carts(),
        }
    }
}
