//! The gRPC calls' way to the service port's JSON routes: one route run in
//! process, its answer's status as the gRPC status API.md maps it to.

use axum::{
    Router,
    body::Body,
    http::{HeaderValue, Method, StatusCode, header},
};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;
use serde_json::{Value, value::RawValue};
use tonic::{Status, metadata::MetadataMap};
use tower::ServiceExt;

/// The metadata a call passes on to its JSON route, as the headers of the same
/// names (the token was checked once, for the call).
const PASSED_ON: [&str; 2] = ["idempotency-key", "if-match"];

/// The service port's JSON routes, called in process.
#[derive(Clone)]
pub(super) struct Json(pub(super) Router);

impl Json {
    /// Runs one JSON route: its body on success, else its status as a gRPC one.
    pub(super) async fn call(
        &self,
        method: Method,
        path: &str,
        metadata: &MetadataMap,
        body: Option<Value>,
    ) -> Result<axum::body::Bytes, Status> {
        let mut request = axum::http::Request::builder().method(method).uri(path);
        for name in PASSED_ON {
            if let Some(value) = metadata
                .get(name)
                .and_then(|value| HeaderValue::from_bytes(value.as_bytes()).ok())
            {
                request = request.header(name, value);
            }
        }
        let body = match body {
            Some(body) => {
                request = request.header(header::CONTENT_TYPE, "application/json");
                Body::from(body.to_string())
            }
            None => Body::empty(),
        };
        let request = request
            .body(body)
            .map_err(|_| Status::invalid_argument("The request cannot be expressed"))?;
        let response = match self.0.clone().oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        };
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .map_err(|_| Status::internal("Internal error"))?;
        if status.is_success() {
            Ok(bytes)
        } else {
            Err(grpc_status(status, &bytes))
        }
    }

    pub(super) async fn call_as<T: for<'de> Deserialize<'de>>(
        &self,
        method: Method,
        path: &str,
        metadata: &MetadataMap,
        body: Option<Value>,
    ) -> Result<T, Status> {
        let bytes = self.call(method, path, metadata, body).await?;
        serde_json::from_slice(&bytes).map_err(|_| Status::internal("Internal error"))
    }
}

/// API.md's mapping of a route's status; the message is the JSON error's (or a
/// field map's first message).
fn grpc_status(status: StatusCode, body: &[u8]) -> Status {
    let body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let message = body["error"]
        .as_str()
        .or_else(|| body.as_object()?.values().find_map(Value::as_str))
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("Error"))
        .to_string();
    match status.as_u16() {
        400 | 413 | 415 | 422 => Status::invalid_argument(message),
        401 => Status::unauthenticated(message),
        403 => Status::permission_denied(message),
        404 => Status::not_found(message),
        409 | 410 | 412 => Status::failed_precondition(message),
        429 => Status::resource_exhausted(message),
        503 => Status::unavailable(message),
        _ => Status::internal(message),
    }
}

/// `/v1/carts/{kind}/{id}` for an owner written `kind/id`; the id is
/// percent-encoded, so any of its characters reaches the route as written.
pub(super) fn cart_path(owner: &str) -> Result<String, Status> {
    let (kind, id) = owner.split_once('/').ok_or_else(|| {
        Status::invalid_argument("The owner must be user/{username}, guest/{cartId} or ext/{id}")
    })?;
    Ok(format!(
        "/v1/carts/{}/{}",
        utf8_percent_encode(kind, NON_ALPHANUMERIC),
        utf8_percent_encode(id, NON_ALPHANUMERIC)
    ))
}

/// `…/checkout/{claim}/{action}` of an owner's cart.
pub(super) fn claim_path(owner: &str, claim: &str, action: &str) -> Result<String, Status> {
    Ok(format!(
        "{}/checkout/{}/{action}",
        cart_path(owner)?,
        utf8_percent_encode(claim, NON_ALPHANUMERIC)
    ))
}

/// Money as the JSON route wrote it (exact decimal text).
pub(super) fn money(raw: &RawValue) -> String {
    raw.get().to_string()
}
