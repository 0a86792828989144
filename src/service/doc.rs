//! The service routes' OpenAPI description: their request bodies and path
//! parameters (the handlers parse them by hand, for API.md's exact messages;
//! these types describe them). The routes are registered with their
//! `#[utoipa::path]` documents (`documented_routes`), so none can exist
//! undocumented; `http::openapi` puts them on the service port's server entry.

#![allow(dead_code)] // documentation only: never built

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// The cart's owner: `{kind}/{id}`.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct OwnerPath {
    /// user: a signed-in user's cart; guest: a guest cart by its cartId;
    /// ext: a cart another system's id owns
    #[param(inline)]
    kind: OwnerKind,
    /// the username, the cartId or the other system's id; the document
    /// lists each kind as its own path, with its ids' pattern
    // (`http::openapi::owner_kinds` writes them from `cart::owner::OWNER_KINDS`).
    #[param(example = "alice")]
    id: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum OwnerKind {
    User,
    Guest,
    Ext,
}

/// A line of the owner's cart.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct LinePath {
    /// the cart line's id (below 2^53)
    #[param(minimum = 1, maximum = 9_007_199_254_740_991_i64)]
    line: i64,
}

/// A checkout claim of the owner's cart.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct ClaimPath {
    /// the claim's id, as the checkout answered it
    #[param(pattern = r"^[A-Za-z0-9_-]{1,64}$", example = "kq3J8xYw2bqC0m1lT5cKzA")]
    claim: String,
}

/// Fields of `POST /v1/carts/{owner}/items`: exactly one of productId and sku.
#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
#[schema(as = ServiceAddItem)]
pub(crate) enum ServiceAddDoc {
    ById(ServiceAddByIdDoc),
    BySku(ServiceAddBySkuDoc),
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = ServiceAddById, example = json!({"productId": 42, "quantity": 2}))]
pub(crate) struct ServiceAddByIdDoc {
    #[schema(minimum = 1)]
    product_id: i64,
    /// Default 1; the line may not pass `TROLLEY_MAX_QUANTITY` (the
    /// document's maximum, written in at start).
    #[schema(minimum = 1)]
    quantity: Option<i64>,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = ServiceAddBySku, example = json!({"sku": "apple"}))]
pub(crate) struct ServiceAddBySkuDoc {
    /// Matched exactly (case-sensitive).
    #[schema(min_length = 1, example = "apple")]
    sku: String,
    /// Default 1; the line may not pass `TROLLEY_MAX_QUANTITY` (the
    /// document's maximum, written in at start).
    #[schema(minimum = 1)]
    quantity: Option<i64>,
}

/// The optional body of `POST /v1/carts/{owner}/checkout`.
#[derive(Deserialize, ToSchema)]
#[schema(as = CheckoutRequest, example = json!({"ttl": "10m"}))]
pub(crate) struct CheckoutDoc {
    /// How long the claim holds the cart: 1s to 1h (default TROLLEY_CHECKOUT_TTL, 15m)
    #[schema(pattern = r"^(([1-9]|[1-5][0-9])[sm]|60m|1h)$")]
    ttl: Option<String>,
}

/// The body of `POST …/checkout/{claimId}/complete`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = CompleteRequest, example = json!({"orderId": "order-1"}))]
pub(crate) struct CompleteDoc {
    /// 1 to 128 visible ASCII characters; the same orderId again is a replay
    #[schema(pattern = r"^[!-~]{1,128}$")]
    order_id: String,
}

/// `{"released": true}`.
#[derive(Serialize, ToSchema)]
#[schema(as = CheckoutReleased)]
pub(crate) struct ReleasedDoc {
    released: bool,
}

/// What every service route can be answered before it runs: a missing or
/// wrong bearer token.
#[derive(utoipa::IntoResponses)]
pub(crate) enum CallerAnswers {
    #[response(
        status = 401,
        description = "Missing or wrong bearer token; nothing is read or written"
    )]
    Unauthorized(crate::http::openapi::ErrorDoc),
}
