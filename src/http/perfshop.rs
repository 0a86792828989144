//! The PerfShop cart API (`/api/cart…`, camelCase): thin handlers parsing requests
//! into the domain's types and the exact response and error bodies of API.md.

use axum::{
    Json,
    extract::{RawQuery, State},
    http::HeaderMap,
    response::Response,
};
use serde_json::{Map, Value};

use super::{
    bodies::{CartBody, Done, LineBody, LineChanged},
    error::{ApiError, ApiResult},
    extract::{CartSession, JsonObject, PathId, integer_field},
    preconditions::{CartWrite, answer_headers, cart_answer},
};
use crate::{
    cart::{
        model::{LineId, ProductId, ProductRef},
        ops::{self, LineRequest},
        rules::LineChange,
    },
    state::AppState,
};

/// `GET /api/cart`: the cart with its `ETag`; 304 for a matching `If-None-Match`.
#[utoipa::path(get, path = "/api/cart", tag = "cart",
    params(("If-None-Match" = Option<String>, Header, nullable = false, description = "the cart's ETag: 304 while it has not changed")),
    responses(
        (status = 200, description = "The session's cart (an empty one without a session)", body = CartBody,
            headers(("ETag" = String, description = "the cart's version"))),
        (status = 304, description = "Not modified"),
        (status = 400, description = "Malformed If-None-Match", body = crate::http::openapi::ErrorDoc),
        (status = 503, description = "Cart storage unavailable (with Retry-After)", body = crate::http::openapi::ErrorDoc)))]
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

/// `POST /api/cart/add` `{"productId": 42, "quantity": 2}`
#[utoipa::path(post, path = "/api/cart/add", tag = "cart",
    request_body(content = crate::http::openapi::AddItemDoc, content_type = "application/json"),
    params(
        crate::http::openapi::WriteHeaders
    ),
    responses(
        (status = 200, description = "Item added (a product already in the cart increments its line)", body = LineChanged,
            headers(("ETag" = String), ("Idempotent-Replayed" = Option<String>))),
        (status = 400, description = "Invalid fields (a map of field to message) or a malformed body ({\"error\"})", body = crate::http::openapi::FieldErrorsDoc),
        (status = 403, description = "Cross-site request refused", body = crate::http::openapi::ErrorDoc),
        (status = 404, description = "Product not found", body = crate::http::openapi::ErrorDoc),
        (status = 409, description = "Cart is full, or a request with this Idempotency-Key is in progress", body = crate::http::openapi::ErrorDoc),
        (status = 413, description = "Body over 16 KiB", body = crate::http::openapi::ErrorDoc),
        (status = 415, description = "Content type is not JSON", body = crate::http::openapi::ErrorDoc),
        (status = 429, description = "Too many new sessions from this address", body = crate::http::openapi::ErrorDoc),
        crate::http::openapi::WriteGateAnswers))]
pub(crate) async fn add_item(
    State(state): State<AppState>,
    mut session: CartSession,
    write: CartWrite,
    JsonObject(body, raw): JsonObject,
) -> ApiResult<(HeaderMap, Json<LineChanged>)> {
    let (product_id, quantity) = parse_add(&body, &state)?;
    let added = super::add::add_to_cart(
        &state,
        &mut session,
        &write,
        &raw,
        (ProductRef::Id(product_id), quantity),
        false,
    )
    .await?;
    Ok((
        answer_headers(&added.version, added.replayed),
        LineChanged::new("Item added to cart", LineBody::from(&added.line)),
    ))
}

/// Field checks of an add: wrong types first (one `{"error"}`), then every
/// missing or out-of-range field at once (`{"productId": …, "quantity": …}`).
fn parse_add(body: &Map<String, Value>, state: &AppState) -> ApiResult<(ProductId, u32)> {
    // No product id is outside i64: one that is would be clamped to an id the
    // client never sent.
    let product_id = integer_field(body, "productId")?
        .map(|id| {
            i64::try_from(id).map_err(|_| ApiError::BadRequest("productId is out of range".into()))
        })
        .transpose()?;
    let quantity = integer_field(body, "quantity")?;
    let mut errors = std::collections::BTreeMap::new();
    if product_id.is_none() {
        errors.insert("productId", "Product ID is required".to_string());
    }
    let quantity = match quantity {
        None => {
            errors.insert("quantity", "Quantity is required".to_string());
            None
        }
        Some(q) => match state.cart.limits.check_quantity(q) {
            Ok(q) => Some(q),
            Err(e) => {
                errors.insert("quantity", e.message());
                None
            }
        },
    };
    match (product_id, quantity) {
        (Some(id), Some(quantity)) if errors.is_empty() => Ok((ProductId(id), quantity)),
        _ => Err(ApiError::InvalidFields(errors)),
    }
}

/// `PUT /api/cart/item/{id}?quantity=N`
#[utoipa::path(put, path = "/api/cart/item/{id}", tag = "cart",
    params(
        ("id" = i64, Path, minimum = 1, maximum = 9007199254740991_i64, description = "the cart line's id (below 2^53)"),
        ("quantity" = i64, Query, minimum = 1, description = "the new quantity (at most TROLLEY_MAX_QUANTITY, written in at start)"),
        crate::http::openapi::WriteHeaders
    ),
    responses(
        (status = 200, description = "Cart item updated", body = LineChanged, headers(("ETag" = String))),
        (status = 400, description = "Bad id or quantity", body = crate::http::openapi::ErrorDoc),
        (status = 403, description = "The line belongs to another cart, or a cross-site request", body = crate::http::openapi::ErrorDoc),
        (status = 404, description = "No such line", body = crate::http::openapi::ErrorDoc),
        (status = 409, description = "Cart merged at login, or a request with this key is in progress", body = crate::http::openapi::ErrorDoc),
        crate::http::openapi::WriteGateAnswers))]
pub(crate) async fn update_item(
    State(state): State<AppState>,
    session: CartSession,
    write: CartWrite,
    PathId(id): PathId,
    RawQuery(query): RawQuery,
) -> ApiResult<(HeaderMap, Json<LineChanged>)> {
    let line_id = parse_line_id(&id)?;
    let quantity = parse_quantity_param(query.as_deref(), &state)?;
    let (write, _hold) = session.begin(&write, b"")?;
    let changed = ops::change_line(
        state.carts(),
        LineRequest {
            cart: session.cart(),
            line: line_id,
            change: LineChange::SetQuantity(quantity),
            policy: session.policy(),
            write: &write,
        },
    )
    .await?;
    let line = changed.value.as_ref().ok_or_else(ApiError::no_line)?;
    Ok((
        answer_headers(&changed.version, changed.replayed),
        LineChanged::new("Cart item updated", LineBody::from(line)),
    ))
}

/// `DELETE /api/cart/item/{id}`
#[utoipa::path(delete, path = "/api/cart/item/{id}", tag = "cart",
    params(
        ("id" = i64, Path, minimum = 1, maximum = 9007199254740991_i64, description = "the cart line's id (below 2^53)"),
        crate::http::openapi::WriteHeaders
    ),
    responses(
        (status = 200, description = "Item removed from cart", body = Done, headers(("ETag" = String))),
        (status = 400, description = "Bad id", body = crate::http::openapi::ErrorDoc),
        (status = 403, description = "The line belongs to another cart, or a cross-site request", body = crate::http::openapi::ErrorDoc),
        (status = 404, description = "No such line", body = crate::http::openapi::ErrorDoc),
        (status = 409, description = "Cart merged at login, or a request with this key is in progress", body = crate::http::openapi::ErrorDoc),
        crate::http::openapi::WriteGateAnswers))]
pub(crate) async fn remove_item(
    State(state): State<AppState>,
    session: CartSession,
    write: CartWrite,
    PathId(id): PathId,
) -> ApiResult<(HeaderMap, Json<Done>)> {
    let line_id = parse_line_id(&id)?;
    let (write, _hold) = session.begin(&write, b"")?;
    let removed = ops::change_line(
        state.carts(),
        LineRequest {
            cart: session.cart(),
            line: line_id,
            change: LineChange::Remove,
            policy: session.policy(),
            write: &write,
        },
    )
    .await?;
    Ok((
        answer_headers(&removed.version, removed.replayed),
        Done::new("Item removed from cart"),
    ))
}

/// `DELETE /api/cart`
#[utoipa::path(delete, path = "/api/cart", tag = "cart",
    params(
        crate::http::openapi::WriteHeaders
    ),
    responses(
        (status = 200, description = "Cart cleared (also an empty or absent cart)", body = Done, headers(("ETag" = String))),
        (status = 400, description = "Malformed Idempotency-Key or If-Match", body = crate::http::openapi::ErrorDoc),
        (status = 403, description = "Cross-site request refused", body = crate::http::openapi::ErrorDoc),
        (status = 409, description = "Cart merged at login, or a request with this key is in progress", body = crate::http::openapi::ErrorDoc),
        crate::http::openapi::WriteGateAnswers))]
pub(crate) async fn clear_cart(
    State(state): State<AppState>,
    session: CartSession,
    write: CartWrite,
) -> ApiResult<(HeaderMap, Json<Done>)> {
    let (write, _hold) = session.begin(&write, b"")?;
    let cleared = ops::clear(state.carts(), session.cart(), session.policy(), &write).await?;
    Ok((
        answer_headers(&cleared.version, cleared.replayed),
        Done::new("Cart cleared"),
    ))
}

fn parse_line_id(text: &str) -> ApiResult<LineId> {
    LineId::parse(text)
        .ok_or_else(|| ApiError::BadRequest("Cart item id must be a positive integer".into()))
}

/// The `quantity` query parameter: missing or below 1 → "at least 1".
pub(crate) fn parse_quantity_param(query: Option<&str>, state: &AppState) -> ApiResult<u32> {
    let raw = query
        .into_iter()
        .flat_map(|q| url::form_urlencoded::parse(q.as_bytes()))
        .find(|(key, _)| key == "quantity")
        .map(|(_, value)| value.into_owned());
    let requested: i128 = match raw {
        None => 0,
        Some(text) => text
            .trim()
            .parse()
            .map_err(|_| ApiError::BadRequest("Quantity must be an integer".into()))?,
    };
    state
        .cart
        .limits
        .check_quantity(requested)
        .map_err(|e| ApiError::BadRequest(e.message()))
}
