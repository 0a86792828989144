//! `ApiError`: the one place HTTP statuses and error bodies are chosen, and
//! where the domain's outcomes ([`CartError`], [`LoginError`]) and storage
//! trouble ([`StoreError`]) become them.
//!
//! Every error body is JSON. 5xx bodies are opaque; their cause is logged once,
//! when the response is written, and never sent to the client.

use std::collections::BTreeMap;

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::json;

use crate::{
    accounts::error::LoginError,
    cart::{error::CartError, model::ProductRef},
    store::StoreError,
};

/// A cart merged at login refuses changes (409).
const MERGED: &str =
    "This cart was merged into a signed-in cart; use the session cookie from the login response";
const INVALID_LOGIN: &str = "Invalid username or password";

/// Marks an answer given again from its Idempotency-Key record.
pub(crate) const IDEMPOTENT_REPLAYED: header::HeaderName =
    header::HeaderName::from_static("idempotent-replayed");

/// Seconds a client should wait before retrying after a 503.
const RETRY_AFTER_SECS: &str = "1";

/// Marks the answer of a request whose session copy a cart script found stale
/// (see `ServedCopy`): it changed nothing, and `routes::gate` runs the request
/// again from Redis's record instead of sending this answer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StaleSessionCopy;

#[derive(Debug, thiserror::Error)]
pub(crate) enum ApiError {
    /// 400: one or more request fields are invalid; the body maps each field to
    /// its message, e.g. `{"quantity": "Quantity must be at least 1"}`.
    #[error("invalid fields")]
    InvalidFields(BTreeMap<&'static str, String>),
    /// 400 `{"error": …}`: malformed request (not JSON, wrong type, bad path).
    #[error("bad request: {0}")]
    BadRequest(String),
    /// 401 `{"error": …}`.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// 403 `{"error": …}`.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// 404 `{"error": …}`.
    #[error("not found: {0}")]
    NotFound(String),
    /// 405 `{"error": "Method not allowed"}`.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// 409 `{"error": …}`: the request conflicts with the cart's state.
    #[error("conflict: {0}")]
    Conflict(String),
    /// 408 `{"error": "Request timeout"}`, and the connection closes: the body
    /// did not arrive within `TROLLEY_BODY_TIMEOUT`.
    #[error("request timeout")]
    RequestTimeout,
    /// 410 `{"error": …}`: a checkout claim that ended without completing.
    #[error("gone: {0}")]
    Gone(String),
    /// 412 `{"error": "The cart has changed"}`: `If-Match` does not hold.
    #[error("precondition failed")]
    PreconditionFailed,
    /// 422 `{"error": …}`: an Idempotency-Key reused with another request.
    #[error("unprocessable: {0}")]
    Unprocessable(String),
    /// A refusal the cart decided earlier, answered again from its
    /// Idempotency-Key record: the same status and body, with
    /// `Idempotent-Replayed: true`.
    #[error("replayed: {0}")]
    Replayed(Box<ApiError>),
    /// 413 `{"error": …}`: body over the limit.
    #[error("payload too large")]
    PayloadTooLarge,
    /// 415 `{"error": …}`: body is not `application/json`.
    #[error("unsupported media type")]
    UnsupportedMediaType,
    /// 429 `{"error": …}` with `Retry-After`: too many failed logins.
    #[error("too many requests")]
    TooManyRequests { retry_after_secs: u64 },
    /// 429 `{"error": …}` with `Retry-After`: too many new sessions from one
    /// address (`TROLLEY_NEW_SESSIONS_PER_MINUTE`).
    #[error("too many new sessions")]
    TooManySessions { retry_after_secs: u64 },
    /// 503 `{"error": "Cart storage unavailable"}` with `Retry-After`.
    #[error("storage unavailable: {0}")]
    Unavailable(#[from] StoreError),
    /// A 503 never sent: the session copy was stale (see [`StaleSessionCopy`]).
    #[error("the session record served from this replica's copy is stale")]
    SessionStale,
    /// 500 `{"error": "Internal server error"}`.
    #[error("internal: {0}")]
    Internal(String),
}

impl ApiError {
    /// The minimal API has one error shape, `{"error": …}`: a field map becomes
    /// its first message.
    pub(crate) fn with_one_shape(self) -> ApiError {
        match self {
            ApiError::InvalidFields(fields) => {
                ApiError::BadRequest(fields.into_values().next().unwrap_or_default())
            }
            ApiError::Replayed(refusal) => ApiError::Replayed(Box::new(refusal.with_one_shape())),
            other => other,
        }
    }

    pub(crate) fn status(&self) -> StatusCode {
        match self {
            ApiError::InvalidFields(_) | ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Gone(_) => StatusCode::GONE,
            ApiError::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            ApiError::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Replayed(refusal) => refusal.status(),
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::TooManyRequests { .. } | ApiError::TooManySessions { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
            ApiError::Unavailable(_) | ApiError::SessionStale => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<tower_sessions::session::Error> for ApiError {
    fn from(error: tower_sessions::session::Error) -> Self {
        match error {
            tower_sessions::session::Error::Store(e) => {
                ApiError::Unavailable(StoreError::SessionStore(e.to_string()))
            }
            other => ApiError::Internal(format!("session: {other}")),
        }
    }
}

impl From<CartError> for ApiError {
    fn from(error: CartError) -> Self {
        match error {
            CartError::ProductNotFound(ProductRef::Id(id)) => {
                ApiError::NotFound(format!("Product not found: {}", id.0))
            }
            CartError::ProductNotFound(ProductRef::Sku(sku)) => {
                ApiError::NotFound(format!("Product not found: {sku}"))
            }
            CartError::QuantityAboveMax(max) => ApiError::InvalidFields(
                [(
                    "quantity",
                    crate::cart::rules::QuantityError::AboveMax(max).message(),
                )]
                .into(),
            ),
            CartError::CartFull(max_lines) => {
                ApiError::Conflict(format!("Cart is full ({max_lines} lines)"))
            }
            CartError::CartMerged => ApiError::Conflict(MERGED.into()),
            CartError::LineOfAnotherCart => {
                ApiError::Forbidden("Unauthorized access to cart item".into())
            }
            CartError::LineNotFound(line) => {
                ApiError::NotFound(format!("Cart item not found: {}", line.0))
            }
            CartError::KeyReused => {
                ApiError::Unprocessable("Idempotency-Key reused with a different request".into())
            }
            CartError::CartChanged => ApiError::PreconditionFailed,
            CartError::CartClaimed => ApiError::Conflict("Cart is being checked out".into()),
            CartError::CartNotFound => ApiError::NotFound("Cart not found".into()),
            CartError::UserNotFound => ApiError::NotFound("User not found".into()),
            CartError::CartEmpty => ApiError::Conflict("Cart is empty".into()),
            CartError::ClaimNotFound => ApiError::NotFound("Checkout claim not found".into()),
            CartError::CheckoutCompleted => ApiError::Conflict("Checkout already completed".into()),
            CartError::ClaimReleased => ApiError::Gone("Checkout claim released".into()),
            CartError::ClaimExpired => ApiError::Gone("Checkout claim expired".into()),
            CartError::Replayed(refusal) => ApiError::Replayed(Box::new((*refusal).into())),
            CartError::Store(error) => ApiError::Unavailable(error),
            CartError::SessionStale => ApiError::SessionStale,
        }
    }
}

impl From<LoginError> for ApiError {
    fn from(error: LoginError) -> Self {
        match error {
            LoginError::InvalidCredentials => ApiError::Unauthorized(INVALID_LOGIN.into()),
            LoginError::RateLimited { retry_after } => ApiError::TooManyRequests {
                retry_after_secs: retry_after.as_secs_f64().ceil() as u64,
            },
            LoginError::PasswordCheck(cause) => {
                ApiError::Internal(format!("password check: {cause}"))
            }
            LoginError::CartClaimed => ApiError::Conflict("Cart is being checked out".into()),
            LoginError::Store(error) => ApiError::Unavailable(error),
        }
    }
}

impl ApiError {
    /// A quantity change answered no line (only a removal's re-run does).
    pub(crate) fn no_line() -> ApiError {
        ApiError::Internal("a quantity change answered no line".into())
    }

    /// The JSON body; a 5xx logs its cause here, once, and never sends it.
    pub(crate) fn body(&self) -> serde_json::Value {
        match self {
            ApiError::InvalidFields(fields) => json!(fields),
            ApiError::BadRequest(message)
            | ApiError::Unauthorized(message)
            | ApiError::Forbidden(message)
            | ApiError::NotFound(message)
            | ApiError::Conflict(message)
            | ApiError::Gone(message)
            | ApiError::Unprocessable(message) => json!({ "error": message }),
            ApiError::PreconditionFailed => json!({ "error": "The cart has changed" }),
            ApiError::RequestTimeout => json!({ "error": "Request timeout" }),
            ApiError::Replayed(_) => json!({}),
            ApiError::MethodNotAllowed => json!({ "error": "Method not allowed" }),
            ApiError::PayloadTooLarge => json!({
                "error": format!(
                    "Request body is larger than {} KiB",
                    super::BODY_LIMIT / 1024
                )
            }),
            ApiError::UnsupportedMediaType => {
                json!({ "error": "Content-Type must be application/json" })
            }
            ApiError::TooManyRequests { .. } => {
                json!({ "error": "Too many failed login attempts; try again later" })
            }
            ApiError::TooManySessions { .. } => {
                json!({ "error": "Too many new sessions from this address; try again later" })
            }
            // Never sent: the request runs again (see `StaleSessionCopy`).
            ApiError::SessionStale => json!({ "error": "Cart storage unavailable" }),
            ApiError::Unavailable(cause) => {
                tracing::warn!(error = %cause, kind = cause.kind(), "storage unavailable");
                json!({ "error": "Cart storage unavailable" })
            }
            ApiError::Internal(cause) => {
                tracing::error!(error = %cause, "internal error");
                json!({ "error": "Internal server error" })
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Replayed(refusal) = self {
            let mut response = refusal.into_response();
            response
                .headers_mut()
                .insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
            return response;
        }
        let status = self.status();
        let body = self.body();
        let mut response = (status, Json(body)).into_response();
        if matches!(self, ApiError::SessionStale) {
            response.extensions_mut().insert(StaleSessionCopy);
        }
        let retry_after = match &self {
            ApiError::Unavailable(_) => Some(RETRY_AFTER_SECS.to_string()),
            ApiError::TooManyRequests { retry_after_secs }
            | ApiError::TooManySessions { retry_after_secs } => {
                Some(retry_after_secs.max(&1).to_string())
            }
            _ => None,
        };
        if let Some(value) = retry_after.and_then(|v| HeaderValue::from_str(&v).ok()) {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        if matches!(self, ApiError::RequestTimeout) {
            // The rest of a slow body is not worth waiting for.
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}

pub(crate) type ApiResult<T> = Result<T, ApiError>;
