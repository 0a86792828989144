//! Adding to a cart, shared by both route sets: the product is checked first,
//! a session without a cart gets a new one (`new_cart`, which the session
//! remembers before the add), and the add is one atomic step that renumbers the
//! cart once if its number turned out to hold another session's cart.

use std::{sync::Arc, time::Duration};

use super::{
    change::{Version, Write, Written},
    error::CartError,
    model::{CartRef, Line, Product, ProductId, ProductRef, now_ms},
    ops::{CartView, counted, decision, price, read, replayed_if, without_cart},
    rules::{AddOutcome, NewItem},
};
use crate::{
    catalog::{Catalog, Snapshot},
    metrics,
    store::{CartPolicy, CartStore, StoreError},
};

/// What an add did.
pub(crate) struct Added {
    /// The cart the line is in.
    pub(crate) cart: CartRef,
    /// The cart got a fresh number (the old one turned out to hold another
    /// session's cart): the session must remember it.
    pub(crate) renumbered: bool,
    pub(crate) line: Line,
    /// The whole cart after the add, when it was asked for.
    pub(crate) view: Option<CartView>,
    /// The cart's version after the add.
    pub(crate) version: Version,
    /// The add was answered again from its Idempotency-Key record.
    pub(crate) replayed: bool,
}

/// The product an add names, with the catalog snapshot it was found in; an
/// unknown product is refused (and counted) before anything is written.
pub(crate) async fn product_to_add(
    catalog: &Catalog,
    product: &ProductRef,
) -> Result<(Arc<Snapshot>, Product), CartError> {
    let result = async {
        let snapshot = catalog.current().await?;
        let found = match product {
            ProductRef::Id(id) => snapshot.by_id(*id),
            ProductRef::Sku(sku) => snapshot.by_sku(sku),
        };
        let found = found
            .cloned()
            .ok_or_else(|| CartError::ProductNotFound(product.clone()))?;
        Ok::<_, CartError>((snapshot, found))
    }
    .await;
    if let Err(error) = &result {
        metrics::cart_operation("add", error.outcome());
    }
    result
}

/// A new cart for a session that has none, if the change's precondition allows
/// one (`If-Match` naming a version the session cannot be at → 412).
///
/// The cart is indexed by its public id for `index_ttl` (the service API's
/// `guest/{cartId}`): one write per new cart, none per request.
pub(crate) async fn new_cart(
    carts: &dyn CartStore,
    write: &Write,
    index_ttl: Duration,
) -> Result<CartRef, CartError> {
    without_cart(write).inspect_err(|error| metrics::cart_operation("add", error.outcome()))?;
    let no = carts
        .allocate_cart_no()
        .await
        .inspect_err(|_| metrics::cart_operation("add", "unavailable"))?;
    let cart = CartRef::new(no);
    carts
        .index_guest_cart(&cart, index_ttl)
        .await
        .inspect_err(|_| metrics::cart_operation("add", "unavailable"))?;
    Ok(cart)
}

/// What an add is asked to do.
pub(crate) struct AddRequest<'a> {
    /// The session's cart (a new one is remembered by the session first).
    pub(crate) cart: &'a CartRef,
    pub(crate) product: Product,
    pub(crate) quantity: u32,
    pub(crate) policy: CartPolicy,
    pub(crate) write: &'a Write,
    /// Also answer the whole cart after the add, read in the same atomic step.
    pub(crate) with_cart: bool,
}

/// Adds a product (or increments its line).
pub(crate) async fn add(
    carts: &dyn CartStore,
    snapshot: &Snapshot,
    request: AddRequest<'_>,
) -> Result<Added, CartError> {
    let result = async {
        let AddRequest {
            cart,
            product,
            quantity,
            policy,
            write,
            with_cart,
        } = request;
        let item = NewItem {
            product_id: product.id,
            quantity,
            price: product.price,
            now_ms: now_ms(),
        };
        let mut written_to = cart.clone();
        let written = write_add(carts, &mut written_to, &item, policy, write, with_cart).await?;
        let renumbered = written_to.no != cart.no;
        let cart = written_to;
        let (outcome, version, replayed) = match written {
            Written::Decided {
                outcome,
                version,
                replayed,
            } => decision(outcome, version, replayed),
            Written::AlreadyApplied { version } => (
                already_added(carts, &cart, product.id, policy).await?,
                version,
                false,
            ),
            Written::Foreign => {
                let fresh = "a fresh cart number holds another cart";
                return Err(StoreError::Corrupt(fresh.into()).into());
            }
            Written::Refused(refusal) => return Err(refusal.into()),
        };
        let (line, lines) = added_line(outcome, policy, replayed)?;
        let view = lines.map(|lines| price(cart.id.clone(), lines, version.clone(), snapshot));
        Ok(Added {
            cart,
            renumbered,
            line,
            view,
            version,
            replayed,
        })
    }
    .await;
    counted("add", result)
}

/// Writes the add to `cart`. A number that turns out to hold another
/// session's cart (it was handed out twice after Redis lost its counter, and
/// the other session wrote first) is replaced, once, by one of a fresh block:
/// this session's cart continues under it with its public id, and the other
/// cart is not touched.
async fn write_add(
    carts: &dyn CartStore,
    cart: &mut CartRef,
    item: &NewItem,
    policy: CartPolicy,
    write: &Write,
    with_cart: bool,
) -> Result<Written<AddOutcome>, CartError> {
    let written = carts.add_item(cart, item, policy, write, with_cart).await?;
    if !matches!(written, Written::Foreign) {
        return Ok(written);
    }
    cart.no = carts.allocate_fresh_cart_no().await?;
    Ok(carts
        .add_item(cart, item, policy, &write.checked(), with_cart)
        .await?)
}

/// The line an add produced (with the cart, when the store answered it), or
/// its refusal.
fn added_line(
    outcome: AddOutcome,
    policy: CartPolicy,
    replayed: bool,
) -> Result<(Line, Option<Vec<Line>>), CartError> {
    match outcome {
        AddOutcome::Added { line, cart } => Ok((line, cart)),
        AddOutcome::QuantityAboveMax => {
            Err(CartError::QuantityAboveMax(policy.limits.max_quantity))
        }
        AddOutcome::CartFull => Err(replayed_if(
            CartError::CartFull(policy.limits.max_lines),
            replayed,
        )),
    }
}

/// An add re-run after a lost reply that had applied: its line as it is now,
/// with the cart.
async fn already_added(
    carts: &dyn CartStore,
    cart: &CartRef,
    product: ProductId,
    policy: CartPolicy,
) -> Result<AddOutcome, CartError> {
    let (lines, _) = read(carts, cart, policy, None).await?;
    let line = lines
        .iter()
        .find(|line| line.product_id == product)
        .cloned()
        .ok_or(StoreError::AnswerLost)?;
    Ok(AddOutcome::Added {
        line,
        cart: Some(lines),
    })
}
