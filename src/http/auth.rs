//! `/api/auth/…`: login, logout and the signed-in user. The login steps are the
//! domain's (`accounts::login`); the session id rotates only after they all
//! succeeded and the merged cart was read, so a failed login keeps its guest
//! session.

use std::net::SocketAddr;

use axum::{
    Json,
    extract::{ConnectInfo, State},
    http::HeaderMap,
};
use serde_json::{Value, json};

use super::{
    error::{ApiError, ApiResult},
    extract::{CartSession, JsonObject, client_address},
    perfshop::CartBody,
};
use crate::{
    accounts::login::{self, Attempt, LoginStores},
    cart::{model::LineId, ops, rules::MergeReport},
    state::AppState,
};

/// `POST /api/auth/login` `{"username": "alice", "password": "…"}`
pub(crate) async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    mut session: CartSession,
    JsonObject(body, _): JsonObject,
) -> ApiResult<Json<Value>> {
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
        client_address: &client_address(&state, peer, &headers),
        guest_cart: session.cart().filter(|_| session.user().is_none()),
    };
    let signed_in = login::login(state.login_stores(), &state.login, attempt).await?;
    let policy = state.cart.policy(true);
    let cart = ops::view(state.carts(), &state.catalog, Some(&signed_in.cart), policy).await?;
    // Everything that can fail is done: only now rotate the session id.
    session.sign_in(username, &signed_in.cart).await?;
    Ok(Json(json!({
        "success": true,
        "user": {"username": username},
        "cart": CartBody::from(cart),
        "merge": merge_body(&signed_in.merge),
    })))
}

/// The login response's `merge`: what happened to the guest cart's lines.
fn merge_body(merge: &MergeReport) -> Value {
    let ids = |ids: &[LineId]| ids.iter().map(|id| id.0).collect::<Vec<_>>();
    json!({
        "linesMoved": merge.lines_moved,
        "linesCombined": merge.lines_combined,
        "clamped": ids(&merge.clamped),
        "dropped": ids(&merge.dropped),
    })
}

/// `POST /api/auth/logout`: destroys the session; the user's cart stays.
pub(crate) async fn logout(session: CartSession) -> ApiResult<Json<Value>> {
    session.sign_out().await?;
    Ok(Json(json!({"success": true, "message": "Logged out"})))
}

/// `GET /api/auth/me`
pub(crate) async fn me(session: CartSession) -> ApiResult<Json<Value>> {
    match session.user() {
        Some(username) => Ok(Json(json!({"username": username}))),
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
