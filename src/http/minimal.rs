//! The minimal session-backed cart API (`/cart…`, snake_case, products by sku),
//! sharing the session's one cart with the PerfShop API.

use axum::{Json, extract::State, http::HeaderMap, response::Response};
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::{
    add::add_to_cart,
    error::{ApiError, ApiResult},
    extract::{CartSession, JsonObject, integer_field},
    preconditions::{CartWrite, answer_headers, cart_answer},
};
use crate::{
    cart::{
        model::{ProductRef, format_timestamp, money},
        ops::{self, CartView},
    },
    state::AppState,
};

/// The minimal API's cart (snake_case).
#[derive(Serialize, ToSchema)]
#[schema(as = MinimalCart)]
pub(crate) struct CartBody {
    cart_id: Option<String>,
    items: Vec<ItemBody>,
    #[serde(serialize_with = "money::serialize")]
    #[schema(value_type = f64, example = 0.5)]
    total: Decimal,
    #[schema(minimum = 0)]
    item_count: usize,
}

#[derive(Serialize, ToSchema)]
#[schema(as = MinimalItem)]
struct ItemBody {
    #[schema(minimum = 1)]
    id: u64,
    product_id: i64,
    sku: Option<String>,
    name: Option<String>,
    #[schema(minimum = 1)]
    quantity: u32,
    #[serde(serialize_with = "money::serialize")]
    #[schema(value_type = f64, example = 0.5)]
    price: Decimal,
    #[schema(format = DateTime)]
    added_at: String,
}

impl From<CartView> for CartBody {
    fn from(view: CartView) -> Self {
        CartBody {
            cart_id: view.cart_id,
            item_count: view.lines.len(),
            items: view
                .lines
                .into_iter()
                .map(|priced| {
                    // The view is consumed: its product's strings move into the body.
                    let (sku, name) = match priced.product {
                        Some(product) => (Some(product.sku), Some(product.name)),
                        None => (None, None),
                    };
                    ItemBody {
                        id: priced.line.id.0,
                        product_id: priced.line.product_id.0,
                        sku,
                        name,
                        quantity: priced.line.quantity,
                        price: priced.line.price,
                        added_at: format_timestamp(priced.line.added_at_ms),
                    }
                })
                .collect(),
            total: view.total,
        }
    }
}

#[utoipa::path(get, path = "/cart", tag = "minimal", operation_id = "minimal_get_cart",
    params(("If-None-Match" = Option<String>, Header, nullable = false, description = "the cart's ETag: 304 while it has not changed")),
    responses(
        (status = 200, description = "The session's cart", body = CartBody, headers(("ETag" = String))),
        (status = 304, description = "Not modified"),
        (status = 400, description = "Malformed If-None-Match", body = crate::http::openapi::ErrorDoc),
        (status = 503, description = "Cart storage unavailable (with Retry-After)", body = crate::http::openapi::ErrorDoc)))]
/// `GET /cart`: the cart with its `ETag`; 304 for a matching `If-None-Match`.
pub(crate) async fn get_cart(
    State(state): State<AppState>,
    session: CartSession,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let view = ops::view(
        state.carts(),
        &state.catalog,
        session.cart(),
        session.policy(),
        session.served(),
    )
    .await?;
    cart_answer(&headers, view, CartBody::from)
}

#[utoipa::path(post, path = "/cart/items", tag = "minimal", operation_id = "minimal_add_item",
    request_body(content = crate::http::openapi::MinimalAddDoc, content_type = "application/json"),
    params(
        crate::http::openapi::WriteHeaders
    ),
    responses(
        (status = 200, description = "The whole cart after the add", body = CartBody, headers(("ETag" = String))),
        (status = 400, description = "Invalid body", body = crate::http::openapi::ErrorDoc),
        (status = 403, description = "Cross-site request refused", body = crate::http::openapi::ErrorDoc),
        (status = 404, description = "Product not found", body = crate::http::openapi::ErrorDoc),
        (status = 409, description = "Cart full or merged, or a request with this key is in progress", body = crate::http::openapi::ErrorDoc),
        (status = 413, description = "Body over 16 KiB", body = crate::http::openapi::ErrorDoc),
        (status = 415, description = "Content type is not JSON", body = crate::http::openapi::ErrorDoc),
        (status = 429, description = "Too many new sessions from this address", body = crate::http::openapi::ErrorDoc),
        crate::http::openapi::WriteGateAnswers))]
/// `POST /cart/items` `{"sku": "apple", "quantity": 1}` → the whole cart, read
/// in the same atomic step as the add.
pub(crate) async fn add_item(
    State(state): State<AppState>,
    mut session: CartSession,
    write: CartWrite,
    JsonObject(body, raw): JsonObject,
) -> ApiResult<(HeaderMap, Json<CartBody>)> {
    let sku = match body.get("sku") {
        None | Some(Value::Null) => return Err(ApiError::BadRequest("sku is required".into())),
        Some(Value::String(sku)) if !sku.trim().is_empty() => sku.trim().to_string(),
        Some(Value::String(_)) => return Err(ApiError::BadRequest("sku is required".into())),
        Some(_) => return Err(ApiError::BadRequest("sku must be a string".into())),
    };
    let quantity = integer_field(&body, "quantity")?.unwrap_or(1);
    let quantity = state
        .cart
        .limits
        .check_quantity(quantity)
        .map_err(|e| ApiError::BadRequest(e.message()))?;
    let added = add_to_cart(
        &state,
        &mut session,
        &write,
        &raw,
        (ProductRef::Sku(sku), quantity),
        true,
    )
    .await
    .map_err(ApiError::with_one_shape)?;
    let headers = answer_headers(&added.version, added.replayed);
    let view = added
        .view
        .ok_or_else(|| ApiError::Internal("an add asked for its cart answered none".into()))?;
    Ok((headers, Json(view.into())))
}
