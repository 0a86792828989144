//! The cart operations both route sets share. Each takes what it needs
//! explicitly (the cart store, the catalog, the session's cart, the policy) and
//! answers in the domain's terms ([`CartError`]); the HTTP edge maps them onto
//! its two APIs.

use std::time::Duration;

use rust_decimal::Decimal;

use super::{
    change::{ServedCopy, Version, Write, Written},
    error::CartError,
    model::{self, CartRef, Line, LineId, Product},
    rules::{ClearOutcome, Limits, LineOutcome},
};
use crate::{
    catalog::{Catalog, Snapshot},
    metrics,
    store::{CartPolicy, CartRead, CartStore},
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
    /// The cart's version (its ETag).
    pub(crate) version: Version,
}

/// What a change did: its result, the cart's version after it, and whether it
/// was answered again from its Idempotency-Key record instead of applied now.
pub(crate) struct Changed<T> {
    pub(crate) value: T,
    pub(crate) version: Version,
    pub(crate) replayed: bool,
}

/// A line with the product it refers to (absent if the catalog dropped it since).
pub(crate) struct PricedLine {
    pub(crate) line: Line,
    pub(crate) product: Option<Product>,
}

/// Counts an operation's outcome and passes its result on.
pub(super) fn counted<T>(
    operation: &'static str,
    result: Result<T, CartError>,
) -> Result<T, CartError> {
    let outcome = match &result {
        Ok(_) => "ok",
        // Not an outcome: the request runs again from Redis's session record.
        Err(CartError::SessionStale) => return result,
        Err(error) => error.outcome(),
    };
    metrics::cart_operation(operation, outcome);
    result
}

/// Reads a cart, sliding its TTL (and checking `session`, the record the
/// request was served from a copy). No cart yet: an empty view, nothing written.
pub(crate) async fn view(
    carts: &dyn CartStore,
    catalog: &Catalog,
    cart: Option<&CartRef>,
    policy: CartPolicy,
    session: Option<&ServedCopy>,
) -> Result<CartView, CartError> {
    let result = async {
        let Some(cart) = cart else {
            return Ok(CartView {
                cart_id: None,
                lines: Vec::new(),
                total: Decimal::ZERO,
                version: Version::none(),
            });
        };
        let (lines, version) = read(carts, cart, policy, session).await?;
        let catalog = catalog.current().await?;
        Ok(price(cart.id.clone(), lines, version, &catalog))
    }
    .await;
    counted("get", result)
}

/// A cart's lines in first-added order, and its version. A number that holds
/// another session's cart: this session's cart is gone (Redis lost it); it reads
/// as empty, and the next add renumbers it.
pub(super) async fn read(
    carts: &dyn CartStore,
    cart: &CartRef,
    policy: CartPolicy,
    session: Option<&ServedCopy>,
) -> Result<(Vec<Line>, Version), CartError> {
    let (mut lines, version) = match carts.read_cart(cart, policy.ttl, session).await? {
        CartRead::Lines { lines, version } => (lines, version),
        CartRead::Foreign => (Vec::new(), Version::none()),
        CartRead::SessionStale => return Err(CartError::SessionStale),
    };
    Line::sort(&mut lines);
    Ok((lines, version))
}

pub(super) fn price(
    cart_id: String,
    mut lines: Vec<Line>,
    version: Version,
    catalog: &Snapshot,
) -> CartView {
    Line::sort(&mut lines);
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
        version,
    }
}

/// A store's answer in the domain's terms: a decision (a replayed refusal stays
/// marked as replayed), or `None` when this very operation had been applied
/// already (a re-run after a lost reply), with the cart's version now.
pub(super) fn settle<T>(written: Written<T>) -> Result<Result<Changed<T>, Version>, CartError> {
    match written {
        Written::Decided {
            outcome,
            version,
            replayed,
        } => {
            if replayed {
                metrics::idempotent_replay();
            }
            Ok(Ok(Changed {
                value: outcome,
                version,
                replayed,
            }))
        }
        Written::KeyReused => Err(CartError::KeyReused),
        Written::Stale => Err(CartError::CartChanged),
        Written::Claimed => Err(CartError::CartClaimed),
        Written::AlreadyApplied { version } => Ok(Err(version)),
        Written::SessionStale => Err(CartError::SessionStale),
    }
}

/// A refusal, marked as replayed when it came from an Idempotency-Key record.
pub(super) fn refusal(error: CartError, replayed: bool) -> CartError {
    if replayed {
        CartError::Replayed(Box::new(error))
    } else {
        error
    }
}

/// What a change of one line is asked to do.
pub(crate) struct LineRequest<'a> {
    pub(crate) cart: Option<&'a CartRef>,
    pub(crate) line: LineId,
    pub(crate) policy: CartPolicy,
    pub(crate) write: &'a Write,
}

/// Sets a line's quantity (already validated against the limits).
pub(crate) async fn set_quantity(
    carts: &dyn CartStore,
    request: LineRequest<'_>,
    quantity: u32,
) -> Result<Changed<Line>, CartError> {
    let result = async {
        let LineRequest {
            cart,
            line,
            policy,
            write,
        } = request;
        let decided = match cart {
            Some(cart) => {
                match settle(
                    carts
                        .set_quantity(cart, line, quantity, policy, write)
                        .await?,
                )? {
                    Ok(decided) => decided,
                    // Applied before its reply was lost: the line as it is now.
                    Err(version) => Changed {
                        value: read(carts, cart, policy, None)
                            .await?
                            .0
                            .into_iter()
                            .find(|found| found.id == line)
                            .map_or(LineOutcome::NotInCart, LineOutcome::Done),
                        version,
                        replayed: false,
                    },
                }
            }
            None => no_cart(write)?,
        };
        resolve_line(carts, line, decided).await
    }
    .await;
    counted("set_quantity", result)
}

/// A line change for a session without a cart: the line is not in it.
fn no_cart(write: &Write) -> Result<Changed<LineOutcome>, CartError> {
    if !write.expect.holds_without_cart() {
        return Err(CartError::CartChanged);
    }
    Ok(Changed {
        value: LineOutcome::NotInCart,
        version: Version::none(),
        replayed: false,
    })
}

/// Removes a line.
pub(crate) async fn remove(
    carts: &dyn CartStore,
    request: LineRequest<'_>,
) -> Result<Changed<()>, CartError> {
    let result = async {
        let LineRequest {
            cart,
            line,
            policy,
            write,
        } = request;
        let decided = match cart {
            Some(cart) => match settle(carts.remove_line(cart, line, policy, write).await?)? {
                Ok(decided) => decided,
                // Applied before its reply was lost.
                Err(version) => {
                    return Ok(Changed {
                        value: (),
                        version,
                        replayed: false,
                    });
                }
            },
            None => no_cart(write)?,
        };
        let removed = resolve_line(carts, line, decided).await?;
        Ok(Changed {
            value: (),
            version: removed.version,
            replayed: removed.replayed,
        })
    }
    .await;
    counted("remove", result)
}

/// A line that is not in this cart is someone else's (403) or nobody's (404).
async fn resolve_line(
    carts: &dyn CartStore,
    line: LineId,
    decided: Changed<LineOutcome>,
) -> Result<Changed<Line>, CartError> {
    let replayed = decided.replayed;
    match decided.value {
        LineOutcome::Done(done) => Ok(Changed {
            value: done,
            version: decided.version,
            replayed,
        }),
        LineOutcome::CartMerged => Err(CartError::CartMerged),
        // The session's cart is gone (its number holds another session's cart),
        // so the line is not in it: 403 or 404 by who holds the line.
        LineOutcome::NotInCart | LineOutcome::Foreign if carts.line_exists(line).await? => {
            Err(refusal(CartError::LineOfAnotherCart, replayed))
        }
        LineOutcome::NotInCart | LineOutcome::Foreign => {
            Err(refusal(CartError::LineNotFound(line), replayed))
        }
    }
}

/// Removes every line; succeeds on an empty or absent cart too.
pub(crate) async fn clear(
    carts: &dyn CartStore,
    cart: Option<&CartRef>,
    policy: CartPolicy,
    write: &Write,
) -> Result<Changed<()>, CartError> {
    let result = async {
        let Some(cart) = cart else {
            no_cart(write)?;
            return Ok(Changed {
                value: (),
                version: Version::none(),
                replayed: false,
            });
        };
        let decided = match settle(carts.clear_cart(cart, policy, write).await?)? {
            Ok(decided) => decided,
            Err(version) => Changed {
                value: ClearOutcome::Cleared,
                version,
                replayed: false,
            },
        };
        match decided.value {
            // A foreign number: this session's cart is gone already.
            ClearOutcome::Cleared | ClearOutcome::Foreign => Ok(Changed {
                value: (),
                version: decided.version,
                replayed: decided.replayed,
            }),
            ClearOutcome::CartMerged => Err(CartError::CartMerged),
        }
    }
    .await;
    counted("clear", result)
}
