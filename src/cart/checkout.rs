//! Checkout claims (API.md v1.2): claiming a cart, completing or releasing the
//! claim, and the claim holding a cart now. Explicit inputs, [`CartError`]
//! outcomes, like [`super::ops`]; the store does each step atomically.

use rust_decimal::Decimal;

use super::{
    change::Version,
    claim::{Claim, ClaimEnd, ClaimEnded, ClaimId, ClaimStart, NewClaim},
    error::CartError,
    model::{CartRef, LineId, ProductId},
    ops::{CartView, price},
};
use crate::{
    catalog::Catalog,
    metrics,
    store::{CartPolicy, CartStore},
};

/// A claimed cart: the claim and the lines it froze, priced.
pub(crate) struct Checkout {
    pub(crate) claim: Claim,
    pub(crate) view: CartView,
    pub(crate) warnings: Vec<Warning>,
    /// This claim had been taken before: the answer is its record's.
    pub(crate) again: bool,
}

/// What the caller should know before charging a claimed line.
pub(crate) enum Warning {
    /// The frozen price differs from the product's price now.
    PriceChanged {
        line: LineId,
        product: ProductId,
        price: Decimal,
        product_price: Decimal,
    },
    /// The catalog no longer has the product.
    Unavailable { line: LineId, product: ProductId },
}

/// Claims the cart: 409 empty or already claimed, 412 stale `If-Match`.
pub(crate) async fn checkout(
    carts: &dyn CartStore,
    catalog: &Catalog,
    cart: Option<&CartRef>,
    claim: NewClaim,
) -> Result<Checkout, CartError> {
    let result = async {
        let Some(cart) = cart else {
            return Err(CartError::CartEmpty);
        };
        let (claim, lines, version, again) = match carts.claim_cart(cart, &claim).await? {
            ClaimStart::Claimed {
                claim,
                lines,
                version,
                again,
            } => (claim, lines, version, again),
            ClaimStart::Empty => return Err(CartError::CartEmpty),
            ClaimStart::Busy => return Err(CartError::CartClaimed),
            ClaimStart::Merged => return Err(CartError::CartMerged),
            ClaimStart::Stale => return Err(CartError::CartChanged),
            ClaimStart::KeyReused => return Err(CartError::KeyReused),
        };
        let snapshot = catalog.current().await?;
        let view = price(cart.id.clone(), lines, version, &snapshot);
        let warnings = view
            .lines
            .iter()
            .filter_map(|priced| {
                let (line, product) = (priced.line.id, priced.line.product_id);
                match &priced.product {
                    None => Some(Warning::Unavailable { line, product }),
                    Some(now) if now.price != priced.line.price => Some(Warning::PriceChanged {
                        line,
                        product,
                        price: priced.line.price,
                        product_price: now.price,
                    }),
                    Some(_) => None,
                }
            })
            .collect();
        Ok(Checkout {
            claim,
            view,
            warnings,
            again,
        })
    }
    .await;
    metrics::checkout_claim(match &result {
        Ok(_) => "claimed",
        Err(CartError::CartEmpty) => "empty",
        Err(CartError::CartClaimed) => "busy",
        Err(CartError::Store(_)) => "unavailable",
        Err(_) => "refused",
    });
    result
}

/// How a claim ended.
pub(crate) enum Ended {
    /// Completed: the claimed lines (removed), priced.
    Completed(CartView),
    Released,
}

/// Completes or releases a claim (see [`ClaimEnded`] for the outcomes).
pub(crate) async fn end(
    carts: &dyn CartStore,
    catalog: &Catalog,
    cart: Option<&CartRef>,
    claim: &ClaimId,
    end: ClaimEnd,
    policy: CartPolicy,
) -> Result<Ended, CartError> {
    let completing = matches!(end, ClaimEnd::Complete(_));
    let result = async {
        let Some(cart) = cart else {
            return Err(CartError::ClaimNotFound);
        };
        match carts
            .end_claim(cart, claim, &end, policy, &Version::fresh())
            .await?
        {
            ClaimEnded::Completed { lines, version } => {
                let snapshot = catalog.current().await?;
                Ok(Ended::Completed(price(
                    cart.id.clone(),
                    lines,
                    version,
                    &snapshot,
                )))
            }
            ClaimEnded::Released => Ok(Ended::Released),
            ClaimEnded::NotFound => Err(CartError::ClaimNotFound),
            ClaimEnded::AlreadyCompleted => Err(CartError::CheckoutCompleted),
            ClaimEnded::WasReleased => Err(CartError::ClaimReleased),
            ClaimEnded::Expired => Err(CartError::ClaimExpired),
        }
    }
    .await;
    let outcome = match &result {
        Ok(Ended::Completed(_)) => "completed",
        Ok(Ended::Released) => "released",
        Err(CartError::ClaimExpired) => "expired",
        Err(CartError::ClaimNotFound) => "not_found",
        Err(CartError::Store(_)) => "unavailable",
        Err(_) => "conflict",
    };
    metrics::checkout_end(completing, outcome);
    if outcome == "expired" {
        metrics::checkout_expiry();
    }
    result
}

/// The claim holding a cart now, if any.
pub(crate) async fn active(
    carts: &dyn CartStore,
    cart: Option<&CartRef>,
) -> Result<Option<Claim>, CartError> {
    match cart {
        Some(cart) => Ok(carts.active_claim(cart).await?),
        None => Ok(None),
    }
}
