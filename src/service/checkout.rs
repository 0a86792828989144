//! The service API's checkout claims: claim a cart, then complete or release
//! the claim (`cart::checkout`).

use std::time::Duration;

use axum::{
    Json,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
};
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::Value;

use utoipa::ToSchema;

use super::{
    carts,
    doc::{CallerAnswers, CheckoutDoc, ClaimPath, CompleteDoc, OwnerPath, ReleasedDoc},
    path::Named,
};
use crate::{
    cart::{
        change::Version,
        checkout::{self, Ended, Warning},
        claim::{ClaimEnd, ClaimId, MAX_CLAIM_TTL, NewClaim, OrderId},
        model::{format_timestamp, money},
        ops::CartView,
    },
    http::{
        bodies::{CartItemBody, item_bodies},
        error::{ApiError, ApiResult},
        extract::JsonObject,
        openapi::{ErrorDoc, WriteHeaders},
        preconditions::{CartWrite, answer_headers},
    },
    metrics,
    state::AppState,
};

/// `POST …/checkout` → 201.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = CheckoutClaimed)]
struct ClaimedBody {
    claim_id: String,
    /// when the claim ends by itself
    #[schema(format = DateTime)]
    until: String,
    version: String,
    /// the claimed lines, priced as frozen
    items: Vec<CartItemBody>,
    #[serde(serialize_with = "money::serialize")]
    #[schema(value_type = f64)]
    total: Decimal,
    #[schema(minimum = 0)]
    item_count: usize,
    warnings: Vec<WarningBody>,
}

/// What the caller should know before charging a claimed line.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase", tag = "kind")]
#[schema(as = CheckoutWarning)]
enum WarningBody {
    #[serde(rename = "price_changed", rename_all = "camelCase")]
    PriceChanged {
        line_id: u64,
        product_id: i64,
        /// the frozen price
        #[serde(serialize_with = "money::serialize")]
        #[schema(value_type = f64)]
        price: Decimal,
        /// the catalog's price now
        #[serde(serialize_with = "money::serialize")]
        #[schema(value_type = f64)]
        product_price: Decimal,
    },
    #[serde(rename = "unavailable", rename_all = "camelCase")]
    Unavailable { line_id: u64, product_id: i64 },
}

impl From<Warning> for WarningBody {
    fn from(warning: Warning) -> Self {
        match warning {
            Warning::PriceChanged {
                line,
                product,
                price,
                product_price,
            } => WarningBody::PriceChanged {
                line_id: line.0,
                product_id: product.0,
                price,
                product_price,
            },
            Warning::Unavailable { line, product } => WarningBody::Unavailable {
                line_id: line.0,
                product_id: product.0,
            },
        }
    }
}

/// `POST …/complete` → 200.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = CheckoutCompleted)]
struct CompletedBody {
    order_id: String,
    claim_id: String,
    /// the claimed lines, now removed
    items: Vec<CartItemBody>,
    #[serde(serialize_with = "money::serialize")]
    #[schema(value_type = f64)]
    total: Decimal,
    #[schema(minimum = 0)]
    item_count: usize,
}

/// `POST /v1/carts/{owner}/checkout`, optional body `{"ttl": "10m"}`: freezes
/// the cart until the claim is completed, released or runs out
#[utoipa::path(post, path = "/v1/carts/{kind}/{id}/checkout", tag = "service", operation_id = "service_checkout",
    request_body(content = CheckoutDoc, content_type = "application/json"),
    params(OwnerPath, WriteHeaders),
    responses(
        (status = 201, description = "Claimed: the frozen lines, priced, with warnings", body = ClaimedBody,
            headers(("ETag" = String), ("Idempotent-Replayed" = Option<String>))),
        (status = 400, description = "Malformed owner or ttl", body = ErrorDoc),
        (status = 404, description = "User or guest cart not found", body = ErrorDoc),
        (status = 409, description = "Cart is empty, or already being checked out", body = ErrorDoc),
        (status = 412, description = "The cart has changed", body = ErrorDoc),
        (status = 422, description = "Idempotency-Key reused with another ttl or If-Match", body = ErrorDoc),
        (status = 503, description = "Cart storage unavailable (with Retry-After)", body = ErrorDoc),
        CallerAnswers))]
pub(super) async fn claim(
    State(state): State<AppState>,
    named: Named,
    write: CartWrite,
    body: Bytes,
) -> ApiResult<(StatusCode, HeaderMap, Json<Value>)> {
    let ttl = parse_ttl(&body, state.settings.checkout_ttl)?;
    let cart = carts::find_to_change(&state, &named.owner).await?;
    let claimed = checkout::checkout(
        state.carts(),
        &state.catalog,
        cart.as_ref(),
        NewClaim {
            id: match (write.key(), &cart) {
                (Some(key), Some(cart)) => ClaimId::for_key(&cart.id, key),
                _ => ClaimId::fresh(),
            },
            ttl,
            keep: state.settings.idempotency_ttl,
            expect: write.expect().clone(),
            request: match write.key() {
                Some(_) => NewClaim::fingerprint(ttl, write.expect()),
                None => String::new(),
            },
        },
    )
    .await?;
    // A checkout's Idempotency-Key names its claim (`ClaimId::for_key`): a
    // claim taken before under the key is a replay.
    let replayed = claimed.again && write.key().is_some();
    if replayed {
        metrics::idempotent_replay();
    }
    let view = claimed.view;
    let body = ClaimedBody {
        claim_id: claimed.claim.id.0,
        until: format_timestamp(claimed.claim.until_ms),
        version: view.version.0.clone(),
        item_count: view.lines.len(),
        total: view.total,
        warnings: claimed
            .warnings
            .into_iter()
            .map(WarningBody::from)
            .collect(),
        items: item_bodies(view.lines),
    };
    Ok((
        StatusCode::CREATED,
        answer_headers(&Version(body.version.clone()), replayed),
        Json(serde_json::to_value(body).unwrap_or_default()),
    ))
}

/// The claim's ttl: absent → the default; a duration up to an hour, else 400.
fn parse_ttl(body: &[u8], default: Duration) -> ApiResult<Duration> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(default);
    }
    let invalid =
        || ApiError::BadRequest("ttl must be a duration from 1s to 1h, e.g. \"10m\"".into());
    let object = match crate::http::strict_json::parse(body) {
        Ok(Value::Object(object)) => object,
        _ => {
            return Err(ApiError::BadRequest(
                "Request body must be a JSON object".into(),
            ));
        }
    };
    match object.get("ttl") {
        None | Some(Value::Null) => Ok(default),
        Some(Value::String(text)) => {
            let ttl = humantime::parse_duration(text).map_err(|_| invalid())?;
            if ttl < Duration::from_secs(1) || ttl > MAX_CLAIM_TTL {
                return Err(invalid());
            }
            Ok(ttl)
        }
        Some(_) => Err(invalid()),
    }
}

/// `POST /v1/carts/{owner}/checkout/{claimId}/complete` `{"orderId": "…"}`:
/// removes exactly the claimed lines, once
#[utoipa::path(post, path = "/v1/carts/{kind}/{id}/checkout/{claim}/complete", tag = "service", operation_id = "service_complete_checkout",
    request_body(content = CompleteDoc, content_type = "application/json"),
    params(OwnerPath, ClaimPath),
    responses(
        (status = 200, description = "Completed (now, or before with the same orderId)", body = CompletedBody),
        (status = 400, description = "Malformed owner, claim id or orderId", body = ErrorDoc),
        (status = 404, description = "Checkout claim or user not found", body = ErrorDoc),
        (status = 409, description = "Checkout already completed (with another orderId)", body = ErrorDoc),
        (status = 410, description = "Checkout claim released or expired", body = ErrorDoc),
        (status = 413, description = "Body over 16 KiB", body = ErrorDoc),
        (status = 415, description = "Content type is not JSON", body = ErrorDoc),
        (status = 503, description = "Cart storage unavailable (with Retry-After)", body = ErrorDoc),
        CallerAnswers))]
pub(super) async fn complete(
    State(state): State<AppState>,
    named: Named,
    JsonObject(body, _): JsonObject,
) -> ApiResult<Json<Value>> {
    let order = match body.get("orderId") {
        Some(Value::String(text)) => OrderId::parse(text),
        _ => None,
    }
    .ok_or_else(|| {
        ApiError::BadRequest("orderId must be 1 to 128 visible ASCII characters".into())
    })?;
    let claim = named.claim.clone().ok_or(ApiError::MethodNotAllowed)?;
    let view = match end(&state, &named, &claim, ClaimEnd::Complete(order.clone())).await? {
        Ended::Completed(view) => view,
        Ended::Released => return Err(ApiError::Internal("a complete answered released".into())),
    };
    let body = completed_body(order, claim, view);
    Ok(Json(serde_json::to_value(body).unwrap_or_default()))
}

fn completed_body(order: OrderId, claim: ClaimId, view: CartView) -> CompletedBody {
    CompletedBody {
        order_id: order.0,
        claim_id: claim.0,
        item_count: view.lines.len(),
        total: view.total,
        items: item_bodies(view.lines),
    }
}

/// `POST /v1/carts/{owner}/checkout/{claimId}/release`: the cart takes changes again
#[utoipa::path(post, path = "/v1/carts/{kind}/{id}/checkout/{claim}/release", tag = "service", operation_id = "service_release_checkout",
    params(OwnerPath, ClaimPath),
    responses(
        (status = 200, description = "Released (now or before)", body = ReleasedDoc),
        (status = 400, description = "Malformed owner or claim id", body = ErrorDoc),
        (status = 404, description = "Checkout claim or user not found", body = ErrorDoc),
        (status = 409, description = "Checkout already completed", body = ErrorDoc),
        (status = 410, description = "Checkout claim expired", body = ErrorDoc),
        (status = 503, description = "Cart storage unavailable (with Retry-After)", body = ErrorDoc),
        CallerAnswers))]
pub(super) async fn release(State(state): State<AppState>, named: Named) -> ApiResult<Json<Value>> {
    let claim = named.claim.clone().ok_or(ApiError::MethodNotAllowed)?;
    end(&state, &named, &claim, ClaimEnd::Release).await?;
    Ok(Json(serde_json::json!({ "released": true })))
}

async fn end(state: &AppState, named: &Named, claim: &ClaimId, how: ClaimEnd) -> ApiResult<Ended> {
    let cart = carts::find(state, &named.owner).await?;
    Ok(checkout::end(
        state.carts(),
        &state.catalog,
        cart.as_ref(),
        claim,
        how,
        carts::policy(state, &named.owner),
    )
    .await?)
}
