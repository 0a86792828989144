//! Accounts, login, logout and the login merge of the guest cart.
//!
//! Login order matters (see `login`): everything that can fail runs before the
//! session id rotates, because tower-sessions does not save a session on a 5xx and
//! the old record is already gone once the id rotates.

use std::{net::SocketAddr, sync::LazyLock};

use argon2::{
    Argon2,
    password_hash::{PasswordHasher, PasswordVerifier, phc::PasswordHash},
};
use axum::{
    Json,
    extract::{ConnectInfo, State},
    http::HeaderMap,
};
use serde_json::{Value, json};

use crate::{
    app::AppState,
    cart::{self, api::CartBody, model::CartRef},
    error::{ApiError, ApiResult},
    extract::{CartSession, JsonObject},
    metrics,
    store::{CartPolicy, CartStore, MergeReport, StoreError},
};

const INVALID_LOGIN: &str = "Invalid username or password";

/// Checks a username: 1 to 64 of `A-Z a-z 0-9 . _ -`, starting with a letter or digit.
pub fn validate_username(name: &str) -> Result<(), String> {
    let valid_chars = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    let starts_well = name
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphanumeric());
    if name.is_empty() || name.len() > 64 || !valid_chars || !starts_well {
        return Err(format!(
            "invalid username {name:?}: use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit"
        ));
    }
    Ok(())
}

/// Checks a new password's length (in characters).
pub fn validate_password(password: &str) -> Result<(), String> {
    let length = password.chars().count();
    if !(8..=1024).contains(&length) {
        return Err("the password must be 8 to 1024 characters long".into());
    }
    Ok(())
}

/// An argon2id PHC hash of a password (default OWASP parameters, random salt).
pub fn hash_password(password: &str) -> Result<String, String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|e| format!("hashing failed: {e}"))
}

/// Verified against when the username does not exist, so an unknown user costs
/// the same argon2 work as a wrong password and timing does not reveal which
/// usernames exist.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    let random: u128 = rand::random();
    hash_password(&format!("{random:032x}")).unwrap_or_default()
});

fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).ok().is_some_and(|parsed| {
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// Creates an account or changes its password (`trolley user add`).
pub async fn add_user(
    store: &dyn CartStore,
    username: &str,
    password: &str,
) -> Result<bool, String> {
    validate_username(username)?;
    validate_password(password)?;
    let password = password.to_string();
    let hash = tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| format!("hashing failed: {e}"))??;
    store
        .put_user(username, &hash)
        .await
        .map_err(|e| format!("could not store the user: {e}"))
}

/// The client address login limits count against.
fn client_address(state: &AppState, peer: SocketAddr, headers: &HeaderMap) -> String {
    if state.settings.trust_forwarded_for {
        let forwarded = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .rfind(|v| !v.is_empty());
        if let Some(address) = forwarded {
            return address.to_string();
        }
    }
    peer.ip().to_string()
}

/// `POST /api/auth/login` `{"username": "alice", "password": "…"}`
pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    session: CartSession,
    JsonObject(body): JsonObject,
) -> ApiResult<Json<Value>> {
    let (Some(Value::String(username)), Some(Value::String(password))) =
        (body.get("username"), body.get("password"))
    else {
        return Err(ApiError::BadRequest(
            "username and password are required strings".into(),
        ));
    };
    let store = state.store.as_ref();
    let settings = &state.settings;
    // Names that cannot exist share one counter, so junk names cannot create
    // unbounded keys (or break the key's hash tag).
    let user_key = match validate_username(username) {
        Ok(()) => format!("user:{username}"),
        Err(_) => "user:(invalid)".to_string(),
    };
    let address_key = format!("ip:{}", client_address(&state, peer, &headers));

    // 1. Brute-force limits, shared by every replica through the store.
    for (key, limit) in [
        (&user_key, settings.login_max_failures),
        (&address_key, settings.login_max_failures_per_address),
    ] {
        let (failures, remaining) = store.login_failures(key).await?;
        if failures >= limit {
            metrics::login("rate_limited");
            return Err(ApiError::TooManyRequests {
                retry_after_secs: remaining.as_secs_f64().ceil() as u64,
            });
        }
    }

    // 2. Credentials: the same argon2 work whether or not the user exists.
    let record = if validate_username(username).is_ok() {
        store.user(username).await?
    } else {
        None
    };
    let hash = record
        .as_ref()
        .map(|r| r.password_hash.clone())
        .unwrap_or_else(|| DUMMY_HASH.clone());
    let attempt = password.clone();
    let verified = tokio::task::spawn_blocking(move || verify_password(&attempt, &hash))
        .await
        .map_err(|e| ApiError::Internal(format!("password check: {e}")))?;
    let Some(record) = record.filter(|_| verified) else {
        for key in [&user_key, &address_key] {
            store
                .record_login_failure(key, settings.login_failure_window)
                .await?;
        }
        metrics::login("invalid");
        return Err(ApiError::Unauthorized(INVALID_LOGIN.into()));
    };
    store.reset_login_failures(&user_key).await?;

    // 3. The user's cart, and the merge of the guest cart into it. A session that
    //    already belongs to a user holds that user's cart, which is not a guest
    //    cart: it is never merged into another account.
    let user_cart = match record.cart {
        Some(cart) => cart,
        None => {
            let candidate = CartRef {
                no: store.allocate_cart_no().await?,
                id: crate::extract::new_cart_id(),
            };
            store.ensure_user_cart(username, &candidate).await?
        }
    };
    let guest_cart = match session.user().await? {
        Some(_) => None,
        None => session.cart().await?.filter(|cart| cart.no != user_cart.no),
    };
    let policy = CartPolicy {
        ttl: settings.user_cart_ttl,
        limits: settings.limits(),
    };
    let report = match &guest_cart {
        Some(guest) => {
            match store
                .merge_carts(guest, &user_cart, settings.merge_rule, policy)
                .await
            {
                Ok(report) => {
                    let outcome = if report.already_merged {
                        "retried"
                    } else {
                        "merged"
                    };
                    metrics::login_merge(outcome, report.lines_moved);
                    tracing::info!(
                        outcome,
                        lines_moved = report.lines_moved,
                        lines_combined = report.lines_combined,
                        clamped = report.clamped.len(),
                        dropped = report.dropped.len(),
                        "login merge"
                    );
                    report
                }
                Err(error) => {
                    metrics::login_merge("failed", 0);
                    return Err(error.into());
                }
            }
        }
        None => {
            metrics::login_merge("nothing_to_merge", 0);
            MergeReport::default()
        }
    };

    // 4. Only now rotate the session id, and write the new record at once so the
    //    account can end it later.
    let session_id = session.sign_in(username, &user_cart).await?;
    store
        .track_session(username, &session_id, settings.session_max_age)
        .await?;
    metrics::login("success");

    let cart: CartBody = cart::view(&state, &session).await?.into();
    Ok(Json(json!({
        "success": true,
        "user": {"username": username},
        "cart": cart,
        "merge": {
            "linesMoved": report.lines_moved,
            "linesCombined": report.lines_combined,
            "clamped": report.clamped.iter().map(|id| id.0).collect::<Vec<_>>(),
            "dropped": report.dropped.iter().map(|id| id.0).collect::<Vec<_>>(),
        },
    })))
}

/// `POST /api/auth/logout`: destroys the session; the user's cart stays.
pub async fn logout(session: CartSession) -> ApiResult<Json<Value>> {
    session.sign_out().await?;
    Ok(Json(json!({"success": true, "message": "Logged out"})))
}

/// `GET /api/auth/me`
pub async fn me(session: CartSession) -> ApiResult<Json<Value>> {
    match session.user().await? {
        Some(username) => Ok(Json(json!({"username": username}))),
        None => Err(ApiError::Unauthorized("Not logged in".into())),
    }
}

/// Removes an account (`trolley user remove`): its sessions end and its cart goes.
pub async fn remove_user(store: &dyn CartStore, username: &str) -> Result<bool, String> {
    validate_username(username)?;
    store
        .remove_user(username)
        .await
        .map_err(|e: StoreError| format!("could not remove the user: {e}"))
}
