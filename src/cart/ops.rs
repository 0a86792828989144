//! The cart operations both route sets share. Each takes what it needs
//! explicitly (the cart store, the catalog, the session's cart, the policy) and
//! answers in the domain's terms ([`CartError`]); the HTTP edge maps them onto
//! its two APIs.

use std::time::Duration;

use rust_decimal::Decimal;

use super::{
    error::CartError,
    model::{self, CartRef, Line, LineId, Product, ProductRef, now_ms},
    rules::{AddOutcome, ClearOutcome, Limits, LineOutcome, NewItem},
};
use crate::{
    catalog::{Catalog, Snapshot},
    metrics,
    store::{CartPolicy, CartRead, CartStore, StoreError},
};

/// The cart settings: limits, and how long carts live.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CartSettings {
    pub(crate) limits: Limits,
    /// A guest cart's inactivity expiry (the session's).
    pub(crate) guest_ttl: Duration,
    /// A signed-in user's cart lives longer.
    pub(crate) user_ttl: Duration,
}

impl CartSettings {
    /// TTL and limits for a cart: a signed-in user's cart lives longer.
    pub(crate) fn policy(&self, signed_in: bool) -> CartPolicy {
        CartPolicy {
            ttl: if signed_in {
                self.user_ttl
            } else {
                self.guest_ttl
            },
            limits: self.limits,
        }
    }

    /// The operation names of `trolley_cart_operations_total`.
    pub(crate) const OPERATIONS: [&'static str; 5] =
        ["get", "add", "set_quantity", "remove", "clear"];
}

/// A cart as clients see it: lines in first-added order with today's catalog data.
pub(crate) struct CartView {
    pub(crate) cart_id: Option<String>,
    pub(crate) lines: Vec<PricedLine>,
    pub(crate) total: Decimal,
}

/// A line with the product it refers to (absent if the catalog dropped it since).
pub(crate) struct PricedLine {
    pub(crate) line: Line,
    pub(crate) product: Option<Product>,
}

/// What an add did.
pub(crate) struct Added {
    /// The cart the line is in.
    pub(crate) cart: CartRef,
    /// The cart is new to the session (its first add, or a fresh number after the
    /// old one turned out to hold another session's cart): the session must
    /// remember it.
    pub(crate) created: bool,
    pub(crate) line: Line,
}

/// Counts an operation's outcome and passes its result on.
fn counted<T>(operation: &'static str, result: Result<T, CartError>) -> Result<T, CartError> {
    let outcome = match &result {
        Ok(_) => "ok",
        Err(error) => error.outcome(),
    };
    metrics::cart_operation(operation, outcome);
    result
}

/// Reads a cart, sliding its TTL. No cart yet: an empty view, nothing written.
pub(crate) async fn view(
    carts: &dyn CartStore,
    catalog: &Catalog,
    cart: Option<&CartRef>,
    policy: CartPolicy,
) -> Result<CartView, CartError> {
    let result = async {
        let Some(cart) = cart else {
            return Ok(CartView {
                cart_id: None,
                lines: Vec::new(),
                total: Decimal::ZERO,
            });
        };
        // A number that holds another session's cart: this session's cart is gone
        // (Redis lost it); it reads as empty, and the next add renumbers it.
        let mut lines = match carts.read_cart(cart, policy.ttl).await? {
            CartRead::Lines(lines) => lines,
            CartRead::Foreign => Vec::new(),
        };
        Line::sort(&mut lines);
        let catalog = catalog.current().await?;
        Ok(price(cart.id.clone(), lines, &catalog))
    }
    .await;
    counted("get", result)
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

/// Adds a product (or increments its line), creating the cart on the first add.
pub(crate) async fn add(
    carts: &dyn CartStore,
    catalog: &Catalog,
    cart: Option<&CartRef>,
    product: ProductRef,
    quantity: u32,
    policy: CartPolicy,
) -> Result<Added, CartError> {
    let result = async {
        let snapshot = catalog.current().await?;
        let found = match &product {
            ProductRef::Id(id) => snapshot.by_id(*id),
            ProductRef::Sku(sku) => snapshot.by_sku(sku),
        };
        let product = found.cloned().ok_or(CartError::ProductNotFound(product))?;
        let (mut cart, mut created) = match cart {
            Some(cart) => (cart.clone(), false),
            None => (CartRef::new(carts.allocate_cart_no().await?), true),
        };
        let item = NewItem {
            product_id: product.id,
            quantity,
            price: product.price,
            now_ms: now_ms(),
        };
        let mut outcome = carts.add_item(&cart, &item, policy).await?;
        if outcome == AddOutcome::Foreign {
            // The number was handed out twice (Redis lost its counter) and the
            // other session wrote first: this session's cart continues, with its
            // public id, under a number of a fresh block; the other cart was not
            // touched.
            cart.no = carts.allocate_fresh_cart_no().await?;
            created = true;
            outcome = carts.add_item(&cart, &item, policy).await?;
        }
        match outcome {
            AddOutcome::Added(line) => Ok(Added {
                cart,
                created,
                line,
            }),
            AddOutcome::QuantityAboveMax => {
                Err(CartError::QuantityAboveMax(policy.limits.max_quantity))
            }
            AddOutcome::CartFull => Err(CartError::CartFull(policy.limits.max_lines)),
            AddOutcome::CartMerged => Err(CartError::CartMerged),
            AddOutcome::Foreign => Err(CartError::Store(StoreError::Corrupt(
                "a fresh cart number holds another cart".into(),
            ))),
        }
    }
    .await;
    counted("add", result)
}

/// Sets a line's quantity (already validated against the limits).
pub(crate) async fn set_quantity(
    carts: &dyn CartStore,
    cart: Option<&CartRef>,
    line: LineId,
    quantity: u32,
    policy: CartPolicy,
) -> Result<Line, CartError> {
    let result = async {
        let outcome = match cart {
            Some(cart) => carts.set_quantity(cart, line, quantity, policy).await?,
            None => LineOutcome::NotInCart,
        };
        resolve_line(carts, line, outcome).await
    }
    .await;
    counted("set_quantity", result)
}

/// Removes a line.
pub(crate) async fn remove(
    carts: &dyn CartStore,
    cart: Option<&CartRef>,
    line: LineId,
    policy: CartPolicy,
) -> Result<Line, CartError> {
    let result = async {
        let outcome = match cart {
            Some(cart) => carts.remove_line(cart, line, policy).await?,
            None => LineOutcome::NotInCart,
        };
        resolve_line(carts, line, outcome).await
    }
    .await;
    counted("remove", result)
}

/// A line that is not in this cart is someone else's (403) or nobody's (404).
async fn resolve_line(
    carts: &dyn CartStore,
    line: LineId,
    outcome: LineOutcome,
) -> Result<Line, CartError> {
    match outcome {
        LineOutcome::Done(line) => Ok(line),
        LineOutcome::CartMerged => Err(CartError::CartMerged),
        // The session's cart is gone (its number holds another session's cart),
        // so the line is not in it: 403 or 404 by who holds the line.
        LineOutcome::NotInCart | LineOutcome::Foreign if carts.line_exists(line).await? => {
            Err(CartError::LineOfAnotherCart)
        }
        LineOutcome::NotInCart | LineOutcome::Foreign => Err(CartError::LineNotFound(line)),
    }
}

/// Removes every line; succeeds on an empty or absent cart too.
pub(crate) async fn clear(
    carts: &dyn CartStore,
    cart: Option<&CartRef>,
    policy: CartPolicy,
) -> Result<(), CartError> {
    let result = async {
        let Some(cart) = cart else {
            return Ok(());
        };
        match carts.clear_cart(cart, policy).await? {
            // A foreign number: this session's cart is gone already.
            ClearOutcome::Cleared | ClearOutcome::Foreign => Ok(()),
            ClearOutcome::CartMerged => Err(CartError::CartMerged),
        }
    }
    .await;
    counted("clear", result)
}
