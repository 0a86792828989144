//! `ApiError`: the one place HTTP statuses and error bodies are chosen.
//!
//! Every error body is JSON. 5xx bodies are opaque; their cause is logged once,
//! here, and never sent to the client.

use std::collections::BTreeMap;

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::json;

use crate::store::StoreError;

/// Seconds a client should wait before retrying after a 503.
const RETRY_AFTER_SECS: &str = "1";

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
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
    /// 413 `{"error": …}`: body over the limit.
    #[error("payload too large")]
    PayloadTooLarge,
    /// 415 `{"error": …}`: body is not `application/json`.
    #[error("unsupported media type")]
    UnsupportedMediaType,
    /// 429 `{"error": …}` with `Retry-After`.
    #[error("too many requests")]
    TooManyRequests { retry_after_secs: u64 },
    /// 503 `{"error": "Cart storage unavailable"}` with `Retry-After`.
    #[error("storage unavailable: {0}")]
    Unavailable(#[from] StoreError),
    /// 500 `{"error": "Internal server error"}`.
    #[error("internal: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::InvalidFields(_) | ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<tower_sessions::session::Error> for ApiError {
    fn from(error: tower_sessions::session::Error) -> Self {
        match error {
            tower_sessions::session::Error::Store(e) => {
                ApiError::Unavailable(StoreError::Corrupt(format!("session store: {e}")))
            }
            other => ApiError::Internal(format!("session: {other}")),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = match &self {
            ApiError::InvalidFields(fields) => json!(fields),
            ApiError::BadRequest(message)
            | ApiError::Unauthorized(message)
            | ApiError::Forbidden(message)
            | ApiError::NotFound(message)
            | ApiError::Conflict(message) => json!({ "error": message }),
            ApiError::MethodNotAllowed => json!({ "error": "Method not allowed" }),
            ApiError::PayloadTooLarge => {
                json!({ "error": "Request body is larger than 16 KiB" })
            }
            ApiError::UnsupportedMediaType => {
                json!({ "error": "Content-Type must be application/json" })
            }
            ApiError::TooManyRequests { .. } => {
                json!({ "error": "Too many failed login attempts; try again later" })
            }
            ApiError::Unavailable(cause) => {
                tracing::warn!(error = %cause, kind = cause.kind(), "storage unavailable");
                json!({ "error": "Cart storage unavailable" })
            }
            ApiError::Internal(cause) => {
                tracing::error!(error = %cause, "internal error");
                json!({ "error": "Internal server error" })
            }
        };
        let mut response = (status, Json(body)).into_response();
        let retry_after = match &self {
            ApiError::Unavailable(_) => Some(RETRY_AFTER_SECS.to_string()),
            ApiError::TooManyRequests { retry_after_secs } => {
                Some(retry_after_secs.max(&1).to_string())
            }
            _ => None,
        };
        if let Some(value) = retry_after.and_then(|v| HeaderValue::from_str(&v).ok()) {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
