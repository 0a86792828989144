//! The cart domain: the operations both route sets share. Handlers in [`api`]
//! (PerfShop, camelCase) and [`minimal`] (snake_case, by sku) are thin mappings
//! onto these functions.

pub mod api;
pub mod minimal;
pub mod model;
pub mod rules;

use std::sync::Arc;

use rust_decimal::Decimal;

use crate::{
    app::AppState,
    catalog::Snapshot,
    error::{ApiError, ApiResult},
    extract::CartSession,
    metrics,
    store::{AddOutcome, ClearOutcome, LineOutcome, NewItem},
};
use model::{Line, LineId, Product, ProductId, now_ms};

/// A cart as clients see it: lines in first-added order with today's catalog data.
pub struct CartView {
    pub cart_id: Option<String>,
    pub lines: Vec<PricedLine>,
    pub total: Decimal,
}

/// A line with the product it refers to (absent if the catalog dropped it since).
pub struct PricedLine {
    pub line: Line,
    pub product: Option<Product>,
}

/// How a client names the product to add.
pub enum ProductRef {
    Id(ProductId),
    Sku(String),
}

const MERGED: &str =
    "This cart was merged into a signed-in cart; use the session cookie from the login response";

/// Reads the session's cart, sliding its TTL. A visitor without a session gets
/// an empty cart and nothing is written.
pub async fn view(state: &AppState, session: &CartSession) -> ApiResult<CartView> {
    let result = async {
        let Some(cart) = session.cart().await? else {
            return Ok(CartView {
                cart_id: None,
                lines: Vec::new(),
                total: Decimal::ZERO,
            });
        };
        let policy = session.policy().await?;
        let mut lines = state.store.read_cart(&cart, policy.ttl).await?;
        Line::sort(&mut lines);
        let catalog = state.catalog.current(state.store.as_ref()).await?;
        Ok(price(cart.id, lines, &catalog))
    }
    .await;
    metrics::cart_operation("get", &result);
    result
}

fn price(cart_id: String, lines: Vec<Line>, catalog: &Snapshot) -> CartView {
    let total = model::total(&lines);
    let lines = lines
        .into_iter()
        .map(|line| PricedLine {
            product: catalog.by_id(line.product_id).cloned(),
            line,
        })
        .collect();
    CartView {
        cart_id: Some(cart_id),
        lines,
        total,
    }
}

/// Adds a product (or increments its line). Returns the line and its product.
pub async fn add(
    state: &AppState,
    session: &CartSession,
    product: ProductRef,
    quantity: u32,
) -> ApiResult<(Line, Product)> {
    let result = async {
        let catalog: Arc<Snapshot> = state.catalog.current(state.store.as_ref()).await?;
        let product = match &product {
            ProductRef::Id(id) => catalog.by_id(*id),
            ProductRef::Sku(sku) => catalog.by_sku(sku),
        }
        .cloned()
        .ok_or_else(|| {
            ApiError::NotFound(match &product {
                ProductRef::Id(id) => format!("Product not found: {}", id.0),
                ProductRef::Sku(sku) => format!("Product not found: {sku}"),
            })
        })?;
        let cart = session.cart_or_create().await?;
        let policy = session.policy().await?;
        let item = NewItem {
            product_id: product.id,
            quantity,
            price: product.price,
            now_ms: now_ms(),
        };
        match state.store.add_item(&cart, &item, policy).await? {
            AddOutcome::Added(line) => Ok((line, product)),
            AddOutcome::QuantityAboveMax => Err(ApiError::InvalidFields(
                [(
                    "quantity",
                    rules::QuantityError::AboveMax(policy.limits.max_quantity).message(),
                )]
                .into(),
            )),
            AddOutcome::CartFull => Err(ApiError::Conflict(format!(
                "Cart is full ({} lines)",
                policy.limits.max_lines
            ))),
            AddOutcome::CartMerged => Err(ApiError::Conflict(MERGED.into())),
        }
    }
    .await;
    metrics::cart_operation("add", &result);
    result
}

/// Sets a line's quantity (already validated against the limits).
pub async fn set_quantity(
    state: &AppState,
    session: &CartSession,
    line: LineId,
    quantity: u32,
) -> ApiResult<Line> {
    let result = async {
        let outcome = match session.cart().await? {
            Some(cart) => {
                let policy = session.policy().await?;
                state
                    .store
                    .set_quantity(&cart, line, quantity, policy)
                    .await?
            }
            None => LineOutcome::NotInCart,
        };
        resolve_line(state, line, outcome).await
    }
    .await;
    metrics::cart_operation("set_quantity", &result);
    result
}

/// Removes a line.
pub async fn remove(state: &AppState, session: &CartSession, line: LineId) -> ApiResult<Line> {
    let result = async {
        let outcome = match session.cart().await? {
            Some(cart) => {
                let policy = session.policy().await?;
                state.store.remove_line(&cart, line, policy).await?
            }
            None => LineOutcome::NotInCart,
        };
        resolve_line(state, line, outcome).await
    }
    .await;
    metrics::cart_operation("remove", &result);
    result
}

/// A line that is not in this cart is someone else's (403) or nobody's (404).
async fn resolve_line(state: &AppState, line: LineId, outcome: LineOutcome) -> ApiResult<Line> {
    match outcome {
        LineOutcome::Done(line) => Ok(line),
        LineOutcome::CartMerged => Err(ApiError::Conflict(MERGED.into())),
        LineOutcome::NotInCart => {
            if state.store.line_exists(line).await? {
                Err(ApiError::Forbidden(
                    "Unauthorized access to cart item".into(),
                ))
            } else {
                Err(ApiError::NotFound(format!(
                    "Cart item not found: {}",
                    line.0
                )))
            }
        }
    }
}

/// Removes every line; succeeds on an empty or absent cart too.
pub async fn clear(state: &AppState, session: &CartSession) -> ApiResult<()> {
    let result = async {
        let Some(cart) = session.cart().await? else {
            return Ok(());
        };
        let policy = session.policy().await?;
        match state.store.clear_cart(&cart, policy).await? {
            ClearOutcome::Cleared => Ok(()),
            ClearOutcome::CartMerged => Err(ApiError::Conflict(MERGED.into())),
        }
    }
    .await;
    metrics::cart_operation("clear", &result);
    result
}
