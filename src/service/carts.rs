//! The service API's cart routes (`/v1/carts/{owner}…`): the public routes'
//! operations (`cart::ops`, `cart::add`) on a cart named by its owner.

use axum::{
    Json,
    extract::{RawQuery, State},
    http::HeaderMap,
    response::{IntoResponse, Response},
};
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::{
    doc::{CallerAnswers, LinePath, OwnerPath, ServiceAddDoc},
    path::Named,
};
use crate::{
    cart::{
        add::{self, AddRequest},
        change::Version,
        checkout,
        claim::Claim,
        model::{CartRef, ProductId, ProductRef, format_timestamp, money},
        ops::{self, LineRequest, PricedLine},
        owner::{self, Owner},
        rules::LineChange,
    },
    http::{
        bodies::{CartItemBody, item_bodies},
        error::{ApiError, ApiResult},
        extract::{JsonObject, integer_field},
        openapi::{ErrorDoc, FieldErrorsDoc, WriteGateAnswers, WriteHeaders},
        preconditions::{CartWrite, answer_headers, etag},
    },
    state::AppState,
    store::CartPolicy,
};

/// `GET /v1/carts/{owner}`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = ServiceCart)]
pub(super) struct CartBody {
    #[schema(example = "user/alice")]
    owner: String,
    /// null while the owner has no cart
    cart_id: Option<String>,
    /// "0" while the owner has no cart
    version: String,
    items: Vec<CartItemBody>,
    #[serde(serialize_with = "money::serialize")]
    #[schema(value_type = f64, example = 299.98)]
    total: Decimal,
    #[schema(minimum = 0)]
    item_count: usize,
    /// the claim holding the cart, if one does
    checkout: Option<ClaimBody>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = CheckoutHold)]
pub(super) struct ClaimBody {
    claim_id: String,
    #[schema(format = DateTime)]
    until: String,
}

impl From<Claim> for ClaimBody {
    fn from(claim: Claim) -> Self {
        ClaimBody {
            claim_id: claim.id.0,
            until: format_timestamp(claim.until_ms),
        }
    }
}

/// A change's answer: the line (if it has one) and the cart's version.
#[derive(Serialize, ToSchema)]
#[schema(as = ServiceChanged)]
pub(super) struct Changed {
    #[serde(skip_serializing_if = "Option::is_none")]
    line: Option<CartItemBody>,
    version: String,
}

/// A user's and another system's carts live as long as a signed-in user's; a
/// guest cart as long as its session.
pub(super) fn policy(state: &AppState, owner: &Owner) -> CartPolicy {
    state.cart.policy(owner.long_lived())
}

/// The owner's cart if it has one (an unknown user → 404).
pub(super) async fn find(state: &AppState, owner: &Owner) -> ApiResult<Option<CartRef>> {
    Ok(owner::find(
        state.carts(),
        state.stores.accounts.as_ref(),
        owner,
        policy(state, owner).ttl,
    )
    .await?)
}

/// The owner's cart to change or claim (an unknown user, or a guest cart that
/// is not live → 404).
pub(super) async fn find_to_change(state: &AppState, owner: &Owner) -> ApiResult<Option<CartRef>> {
    Ok(owner::find_to_change(
        state.carts(),
        state.stores.accounts.as_ref(),
        owner,
        policy(state, owner).ttl,
    )
    .await?)
}

/// `GET /v1/carts/{owner}`
#[utoipa::path(get, path = "/v1/carts/{kind}/{id}", tag = "service", operation_id = "service_get_cart",
    params(OwnerPath),
    responses(
        (status = 200, description = "The owner's cart (an empty one, version \"0\", when it has none)", body = CartBody,
            headers(("ETag" = String, description = "the cart's version"))),
        (status = 400, description = "Malformed owner", body = ErrorDoc),
        (status = 404, description = "User not found", body = ErrorDoc),
        (status = 503, description = "Cart storage unavailable (with Retry-After)", body = ErrorDoc),
        CallerAnswers))]
pub(super) async fn get_cart(State(state): State<AppState>, named: Named) -> ApiResult<Response> {
    let cart = find(&state, &named.owner).await?;
    let view = ops::view(
        state.carts(),
        &state.catalog,
        cart.as_ref(),
        policy(&state, &named.owner),
        None,
    )
    .await?;
    let claim = checkout::active(state.carts(), cart.as_ref()).await?;
    let headers = etag(&view.version);
    let body = CartBody {
        owner: named.owner.as_path(),
        cart_id: view.cart_id,
        version: view.version.0,
        item_count: view.lines.len(),
        items: item_bodies(view.lines),
        total: view.total,
        checkout: claim.map(ClaimBody::from),
    };
    Ok((headers, Json(body)).into_response())
}

/// `POST /v1/carts/{owner}/items` `{"productId": 42}` or `{"sku": "apple"}`
#[utoipa::path(post, path = "/v1/carts/{kind}/{id}/items", tag = "service", operation_id = "service_add_item",
    request_body(content = ServiceAddDoc, content_type = "application/json"),
    params(OwnerPath, WriteHeaders),
    responses(
        (status = 200, description = "Item added (a product already in the cart increments its line)", body = Changed,
            headers(("ETag" = String), ("Idempotent-Replayed" = Option<String>))),
        (status = 400, description = "Invalid fields (a map of field to message) or a malformed owner or body ({\"error\"})", body = FieldErrorsDoc),
        (status = 404, description = "User, cart or product not found", body = ErrorDoc),
        (status = 409, description = "Cart is full, being checked out, or a request with this key is in progress", body = ErrorDoc),
        (status = 413, description = "Body over 16 KiB", body = ErrorDoc),
        (status = 415, description = "Content type is not JSON", body = ErrorDoc),
        WriteGateAnswers, CallerAnswers))]
pub(super) async fn add_item(
    State(state): State<AppState>,
    named: Named,
    write: CartWrite,
    JsonObject(body, raw): JsonObject,
) -> ApiResult<(HeaderMap, Json<Value>)> {
    let (product, quantity) = parse_add(&body, &state)?;
    let (snapshot, product) = add::product_to_add(&state.catalog, &product).await?;
    let policy = policy(&state, &named.owner);
    let cart = owner::find_or_create(
        state.carts(),
        state.stores.accounts.as_ref(),
        &named.owner,
        policy.ttl,
    )
    .await?;
    let (write, _hold) = write.begin(Some(&cart), &raw)?;
    let added = add::add(
        state.carts(),
        &snapshot,
        AddRequest {
            cart: &cart,
            product: product.clone(),
            quantity,
            policy,
            write: &write,
            with_cart: false,
        },
    )
    .await?;
    let line = CartItemBody::from(PricedLine {
        line: added.line.clone(),
        product: Some(product),
    });
    Ok(answer(&added.version, added.replayed, Some(line)))
}

/// A change's answer: its line, if it has one, at the cart's `version`.
fn answer(
    version: &Version,
    replayed: bool,
    line: Option<CartItemBody>,
) -> (HeaderMap, Json<Value>) {
    let body = Changed {
        line,
        version: version.0.clone(),
    };
    (
        answer_headers(version, replayed),
        Json(serde_json::to_value(body).unwrap_or_default()),
    )
}

/// `{"productId": 42}` or `{"sku": "apple"}`, exactly one; `quantity` defaults to 1.
fn parse_add(body: &Map<String, Value>, state: &AppState) -> ApiResult<(ProductRef, u32)> {
    let id = integer_field(body, "productId")?;
    let sku = match body.get("sku") {
        None | Some(Value::Null) => None,
        Some(Value::String(sku)) if !sku.is_empty() => Some(sku.clone()),
        Some(_) => {
            return Err(ApiError::BadRequest(
                "sku must be a non-empty string".into(),
            ));
        }
    };
    let product = match (id, sku) {
        (Some(id), None) => {
            ProductRef::Id(ProductId(i64::try_from(id).map_err(|_| {
                ApiError::BadRequest("productId is out of range".into())
            })?))
        }
        (None, Some(sku)) => ProductRef::Sku(sku),
        _ => {
            return Err(ApiError::BadRequest(
                "Exactly one of productId and sku is required".into(),
            ));
        }
    };
    let quantity = integer_field(body, "quantity")?.unwrap_or(1);
    let quantity = state
        .cart
        .limits
        .check_quantity(quantity)
        .map_err(|e| ApiError::InvalidFields([("quantity", e.message())].into()))?;
    Ok((product, quantity))
}

/// `PUT /v1/carts/{owner}/items/{lineId}?quantity=N`
#[utoipa::path(put, path = "/v1/carts/{kind}/{id}/items/{line}", tag = "service", operation_id = "service_update_item",
    params(OwnerPath, LinePath,
        ("quantity" = i64, Query, minimum = 1, description = "the new quantity (at most TROLLEY_MAX_QUANTITY, written in at start)"),
        WriteHeaders),
    responses(
        (status = 200, description = "Cart item updated", body = Changed, headers(("ETag" = String))),
        (status = 400, description = "Malformed owner, line id or quantity", body = ErrorDoc),
        (status = 403, description = "The line belongs to another cart", body = ErrorDoc),
        (status = 404, description = "User, guest cart or line not found", body = ErrorDoc),
        (status = 409, description = "Cart is being checked out, or a request with this key is in progress", body = ErrorDoc),
        WriteGateAnswers, CallerAnswers))]
pub(super) async fn update_item(
    State(state): State<AppState>,
    named: Named,
    write: CartWrite,
    RawQuery(query): RawQuery,
) -> ApiResult<(HeaderMap, Json<Value>)> {
    let line = named.line.ok_or(ApiError::MethodNotAllowed)?;
    let quantity = crate::http::perfshop::parse_quantity_param(query.as_deref(), &state)?;
    let cart = find_to_change(&state, &named.owner).await?;
    let (write, _hold) = write.begin(cart.as_ref(), b"")?;
    let changed = ops::change_line(
        state.carts(),
        LineRequest {
            cart: cart.as_ref(),
            line,
            change: LineChange::SetQuantity(quantity),
            policy: policy(&state, &named.owner),
            write: &write,
        },
    )
    .await?;
    let line = changed.value.clone().ok_or_else(ApiError::no_line)?;
    let snapshot = state.catalog.current().await?;
    let body = CartItemBody::from(PricedLine {
        product: snapshot.by_id(line.product_id).cloned(),
        line,
    });
    Ok(answer(&changed.version, changed.replayed, Some(body)))
}

/// `DELETE /v1/carts/{owner}/items/{lineId}`
#[utoipa::path(delete, path = "/v1/carts/{kind}/{id}/items/{line}", tag = "service", operation_id = "service_remove_item",
    params(OwnerPath, LinePath, WriteHeaders),
    responses(
        (status = 200, description = "Cart item removed", body = Changed, headers(("ETag" = String))),
        (status = 400, description = "Malformed owner or line id", body = ErrorDoc),
        (status = 403, description = "The line belongs to another cart", body = ErrorDoc),
        (status = 404, description = "User, guest cart or line not found", body = ErrorDoc),
        (status = 409, description = "Cart is being checked out, or a request with this key is in progress", body = ErrorDoc),
        WriteGateAnswers, CallerAnswers))]
pub(super) async fn remove_item(
    State(state): State<AppState>,
    named: Named,
    write: CartWrite,
) -> ApiResult<(HeaderMap, Json<Value>)> {
    let line = named.line.ok_or(ApiError::MethodNotAllowed)?;
    let cart = find_to_change(&state, &named.owner).await?;
    let (write, _hold) = write.begin(cart.as_ref(), b"")?;
    let removed = ops::change_line(
        state.carts(),
        LineRequest {
            cart: cart.as_ref(),
            line,
            change: LineChange::Remove,
            policy: policy(&state, &named.owner),
            write: &write,
        },
    )
    .await?;
    Ok(answer(&removed.version, removed.replayed, None))
}

/// `DELETE /v1/carts/{owner}`: empties the cart; its cartId stays
#[utoipa::path(delete, path = "/v1/carts/{kind}/{id}", tag = "service", operation_id = "service_clear_cart",
    params(OwnerPath, WriteHeaders),
    responses(
        (status = 200, description = "Cart emptied", body = Changed, headers(("ETag" = String))),
        (status = 400, description = "Malformed owner", body = ErrorDoc),
        (status = 404, description = "User or guest cart not found", body = ErrorDoc),
        (status = 409, description = "Cart is being checked out, or a request with this key is in progress", body = ErrorDoc),
        WriteGateAnswers, CallerAnswers))]
pub(super) async fn clear_cart(
    State(state): State<AppState>,
    named: Named,
    write: CartWrite,
) -> ApiResult<(HeaderMap, Json<Value>)> {
    let cart = find_to_change(&state, &named.owner).await?;
    let (write, _hold) = write.begin(cart.as_ref(), b"")?;
    let cleared = ops::clear(
        state.carts(),
        cart.as_ref(),
        policy(&state, &named.owner),
        &write,
    )
    .await?;
    Ok(answer(&cleared.version, cleared.replayed, None))
}
