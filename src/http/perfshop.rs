//! The PerfShop cart API (`/api/cart…`, camelCase): thin handlers parsing requests
//! into the domain's types and the exact response and error bodies of API.md.

use axum::{
    Json,
    extract::{RawQuery, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::{
    error::{ApiError, ApiResult},
    extract::{CartSession, JsonObject, PathId, integer_field},
    write::{CartWrite, changed_headers, etag, not_modified},
};
use crate::{
    cart::{
        add::{self, AddRequest, Added},
        model::{Line, LineId, ProductId, ProductRef, format_timestamp, money},
        ops::{self, CartView, Changed, LineRequest},
    },
    state::AppState,
};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CartBody {
    cart_id: Option<String>,
    items: Vec<CartItemBody>,
    #[serde(serialize_with = "money::serialize")]
    total: Decimal,
    item_count: usize,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CartItemBody {
    id: u64,
    product_id: i64,
    sku: Option<String>,
    quantity: u32,
    #[serde(serialize_with = "money::serialize")]
    price: Decimal,
    added_at: String,
    product_name: Option<String>,
    product_image: Option<String>,
    #[serde(serialize_with = "money::serialize_option")]
    product_price: Option<Decimal>,
}

/// The line as add and update return it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LineBody {
    id: u64,
    product_id: i64,
    quantity: u32,
    #[serde(serialize_with = "money::serialize")]
    price: Decimal,
    added_at: String,
}

impl From<&Line> for LineBody {
    fn from(line: &Line) -> Self {
        LineBody {
            id: line.id.0,
            product_id: line.product_id.0,
            quantity: line.quantity,
            price: line.price,
            added_at: format_timestamp(line.added_at_ms),
        }
    }
}

impl From<CartView> for CartBody {
    fn from(view: CartView) -> Self {
        let item_count = view.lines.len();
        CartBody {
            cart_id: view.cart_id,
            items: view
                .lines
                .into_iter()
                .map(|priced| CartItemBody {
                    id: priced.line.id.0,
                    product_id: priced.line.product_id.0,
                    sku: priced.product.as_ref().map(|p| p.sku.clone()),
                    quantity: priced.line.quantity,
                    price: priced.line.price,
                    added_at: format_timestamp(priced.line.added_at_ms),
                    product_name: priced.product.as_ref().map(|p| p.name.clone()),
                    product_image: priced.product.as_ref().map(|p| p.image.clone()),
                    product_price: priced.product.as_ref().map(|p| p.price),
                })
                .collect(),
            total: view.total,
            item_count,
        }
    }
}

/// `GET /api/cart`: the cart with its `ETag`; 304 for a matching `If-None-Match`.
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
    )
    .await?;
    if not_modified(&headers, &view.version)? {
        return Ok((StatusCode::NOT_MODIFIED, etag(&view.version)).into_response());
    }
    Ok((etag(&view.version), Json(CartBody::from(view))).into_response())
}

/// `POST /api/cart/add` `{"productId": 42, "quantity": 2}`
pub(crate) async fn add_item(
    State(state): State<AppState>,
    mut session: CartSession,
    write: CartWrite,
    JsonObject(body, raw): JsonObject,
) -> ApiResult<(HeaderMap, Json<Value>)> {
    let (product_id, quantity) = parse_add(&body, &state)?;
    let added = add_to_cart(
        &state,
        &mut session,
        &write,
        &raw,
        (ProductRef::Id(product_id), quantity),
        false,
    )
    .await?;
    Ok((
        changed_headers(&added),
        Json(json!({
            "success": true,
            "message": "Item added to cart",
            "cartItem": LineBody::from(&added.value.line),
        })),
    ))
}

/// An add of either API: the product is checked first (an unknown one writes
/// nothing), a session without a cart gets one and its record is written before
/// the add, then the add runs as one atomic step.
pub(super) async fn add_to_cart(
    state: &AppState,
    session: &mut CartSession,
    write: &CartWrite,
    body: &[u8],
    (product, quantity): (ProductRef, u32),
    with_cart: bool,
) -> ApiResult<Changed<Added>> {
    let (snapshot, product) = add::product_to_add(&state.catalog, &product).await?;
    let (write, _hold) = write.begin(session.cart(), body)?;
    let cart = match session.cart() {
        Some(cart) => cart.clone(),
        None => {
            if session.is_new()
                && let Err(retry_after) = crate::sessions::admit_new_session(
                    state.stores.limiter.as_ref(),
                    session.client(),
                    state.settings.new_sessions_per_minute,
                )
                .await?
            {
                return Err(ApiError::TooManySessions {
                    retry_after_secs: retry_after.as_secs_f64().ceil() as u64,
                });
            }
            let cart = add::new_cart(state.carts(), &write).await?;
            session.start_new_cart(&cart).await?;
            cart
        }
    };
    let added = add::add(
        state.carts(),
        &snapshot,
        AddRequest {
            cart: &cart,
            product,
            quantity,
            policy: session.policy(),
            write: &write,
            with_cart,
        },
    )
    .await?;
    if added.value.renumbered {
        session.start_cart(&added.value.cart).await?;
    }
    Ok(added)
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
pub(crate) async fn update_item(
    State(state): State<AppState>,
    session: CartSession,
    write: CartWrite,
    PathId(id): PathId,
    RawQuery(query): RawQuery,
) -> ApiResult<(HeaderMap, Json<Value>)> {
    let line_id = parse_line_id(&id)?;
    let quantity = parse_quantity_param(query.as_deref(), &state)?;
    let (write, _hold) = write.begin(session.cart(), b"")?;
    let line = ops::set_quantity(
        state.carts(),
        LineRequest {
            cart: session.cart(),
            line: line_id,
            policy: session.policy(),
            write: &write,
        },
        quantity,
    )
    .await?;
    Ok((
        changed_headers(&line),
        Json(json!({
            "success": true,
            "message": "Cart item updated",
            "cartItem": LineBody::from(&line.value),
        })),
    ))
}

/// `DELETE /api/cart/item/{id}`
pub(crate) async fn remove_item(
    State(state): State<AppState>,
    session: CartSession,
    write: CartWrite,
    PathId(id): PathId,
) -> ApiResult<(HeaderMap, Json<Value>)> {
    let line_id = parse_line_id(&id)?;
    let (write, _hold) = write.begin(session.cart(), b"")?;
    let removed = ops::remove(
        state.carts(),
        LineRequest {
            cart: session.cart(),
            line: line_id,
            policy: session.policy(),
            write: &write,
        },
    )
    .await?;
    Ok((
        changed_headers(&removed),
        Json(json!({"success": true, "message": "Item removed from cart"})),
    ))
}

/// `DELETE /api/cart`
pub(crate) async fn clear_cart(
    State(state): State<AppState>,
    session: CartSession,
    write: CartWrite,
) -> ApiResult<(HeaderMap, Json<Value>)> {
    let (write, _hold) = write.begin(session.cart(), b"")?;
    let cleared = ops::clear(state.carts(), session.cart(), session.policy(), &write).await?;
    Ok((
        changed_headers(&cleared),
        Json(json!({"success": true, "message": "Cart cleared"})),
    ))
}

fn parse_line_id(text: &str) -> ApiResult<LineId> {
    LineId::parse(text)
        .ok_or_else(|| ApiError::BadRequest("Cart item id must be a positive integer".into()))
}

/// The `quantity` query parameter: missing or below 1 → "at least 1".
fn parse_quantity_param(query: Option<&str>, state: &AppState) -> ApiResult<u32> {
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
