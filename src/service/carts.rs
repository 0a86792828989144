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

use super::path::Named;
use crate::{
    cart::{
        add::{self, AddRequest},
        checkout,
        claim::Claim,
        model::{CartRef, ProductId, ProductRef, format_timestamp, money},
        ops::{self, LineRequest, PricedLine},
        owner::{self, Owner},
    },
    http::{
        bodies::{CartItemBody, item_bodies},
        error::{ApiError, ApiResult},
        extract::{JsonObject, integer_field},
        write::{CartWrite, changed_headers, etag},
    },
    state::AppState,
    store::CartPolicy,
};

/// `GET /v1/carts/{owner}`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CartBody {
    owner: String,
    cart_id: Option<String>,
    version: String,
    items: Vec<CartItemBody>,
    #[serde(serialize_with = "money::serialize")]
    total: Decimal,
    item_count: usize,
    checkout: Option<ClaimBody>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ClaimBody {
    claim_id: String,
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
#[derive(Serialize)]
struct Changed {
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

pub(super) async fn get_cart(State(state): State<AppState>, named: Named) -> ApiResult<Response> {
    let cart = find(&state, &named.owner).await?;
    let view = ops::view(
        state.carts(),
        &state.catalog,
        cart.as_ref(),
        policy(&state, &named.owner),
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
        line: added.value.line.clone(),
        product: Some(product),
    });
    Ok(answer(&added, Some(line)))
}

fn answer<T>(changed: &ops::Changed<T>, line: Option<CartItemBody>) -> (HeaderMap, Json<Value>) {
    let body = Changed {
        line,
        version: changed.version.0.clone(),
    };
    (
        changed_headers(changed),
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

pub(super) async fn update_item(
    State(state): State<AppState>,
    named: Named,
    write: CartWrite,
    RawQuery(query): RawQuery,
) -> ApiResult<(HeaderMap, Json<Value>)> {
    let line = named.line.ok_or(ApiError::MethodNotAllowed)?;
    let quantity = crate::http::perfshop::parse_quantity_param(query.as_deref(), &state)?;
    let cart = find(&state, &named.owner).await?;
    let (write, _hold) = write.begin(cart.as_ref(), b"")?;
    let changed = ops::set_quantity(
        state.carts(),
        LineRequest {
            cart: cart.as_ref(),
            line,
            policy: policy(&state, &named.owner),
            write: &write,
        },
        quantity,
    )
    .await?;
    let snapshot = state.catalog.current().await?;
    let body = CartItemBody::from(PricedLine {
        product: snapshot.by_id(changed.value.product_id).cloned(),
        line: changed.value.clone(),
    });
    Ok(answer(&changed, Some(body)))
}

pub(super) async fn remove_item(
    State(state): State<AppState>,
    named: Named,
    write: CartWrite,
) -> ApiResult<(HeaderMap, Json<Value>)> {
    let line = named.line.ok_or(ApiError::MethodNotAllowed)?;
    let cart = find(&state, &named.owner).await?;
    let (write, _hold) = write.begin(cart.as_ref(), b"")?;
    let removed = ops::remove(
        state.carts(),
        LineRequest {
            cart: cart.as_ref(),
            line,
            policy: policy(&state, &named.owner),
            write: &write,
        },
    )
    .await?;
    Ok(answer(&removed, None))
}

pub(super) async fn clear_cart(
    State(state): State<AppState>,
    named: Named,
    write: CartWrite,
) -> ApiResult<(HeaderMap, Json<Value>)> {
    let cart = find(&state, &named.owner).await?;
    let (write, _hold) = write.begin(cart.as_ref(), b"")?;
    let cleared = ops::clear(
        state.carts(),
        cart.as_ref(),
        policy(&state, &named.owner),
        &write,
    )
    .await?;
    Ok(answer(&cleared, None))
}
