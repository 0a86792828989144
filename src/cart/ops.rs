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
    rules::{Limits, LineChange, LineOutcome},
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

/// A decision of the cart as an operation finishes it: its outcome, the
/// cart's version and whether it was answered again from its Idempotency-Key
/// record (counted here, once for every kind of change).
pub(super) fn decision<T>(outcome: T, version: Version, replayed: bool) -> (T, Version, bool) {
    if replayed {
        metrics::idempotent_replay();
    }
    (outcome, version, replayed)
}

/// A refusal, marked as replayed when it came from an Idempotency-Key record.
pub(super) fn replayed_if(error: CartError, replayed: bool) -> CartError {
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
    pub(crate) change: LineChange,
    pub(crate) policy: CartPolicy,
    pub(crate) write: &'a Write,
}

/// Sets a line's quantity (already validated against the limits) or removes
/// the line. Answers the line after the change (a removed one as it was), or
/// `None` for a removal re-run after a lost reply: the line is gone, and what
/// its answer held with it.
pub(crate) async fn change_line(
    carts: &dyn CartStore,
    request: LineRequest<'_>,
) -> Result<Changed<Option<Line>>, CartError> {
    let LineRequest {
        cart,
        line,
        change,
        policy,
        write,
    } = request;
    let result = async {
        let Some(cart) = cart else {
            without_cart(write)?;
            return Err(not_in_the_cart(carts, line, false).await);
        };
        let written = carts.change_line(cart, line, change, policy, write).await?;
        let (outcome, version, replayed) = match written {
            Written::Decided {
                outcome,
                version,
                replayed,
            } => decision(outcome, version, replayed),
            Written::AlreadyApplied { version } if change == LineChange::Remove => {
                return Ok(Changed {
                    value: None,
                    version,
                    replayed: false,
                });
            }
            // A quantity set before its reply was lost: the line as it is now.
            Written::AlreadyApplied { version } => {
                let (lines, _) = read(carts, cart, policy, None).await?;
                let found = lines.into_iter().find(|found| found.id == line);
                (
                    found.map_or(LineOutcome::NotInCart, LineOutcome::Done),
                    version,
                    false,
                )
            }
            // This session's cart is gone, so the line is not in it.
            Written::Foreign => (LineOutcome::NotInCart, Version::none(), false),
            Written::Refused(refusal) => return Err(refusal.into()),
        };
        match outcome {
            LineOutcome::Done(done) => Ok(Changed {
                value: Some(done),
                version,
                replayed,
            }),
            LineOutcome::NotInCart => Err(not_in_the_cart(carts, line, replayed).await),
        }
    }
    .await;
    counted(change.name(), result)
}

/// A line that is not in the session's cart is someone else's (403) or
/// nobody's (404).
async fn not_in_the_cart(carts: &dyn CartStore, line: LineId, replayed: bool) -> CartError {
    match carts.line_exists(line).await {
        Ok(true) => replayed_if(CartError::LineOfAnotherCart, replayed),
        Ok(false) => replayed_if(CartError::LineNotFound(line), replayed),
        Err(error) => error.into(),
    }
}

/// A change for a session without a cart: only if its precondition holds for
/// no cart (`If-Match` naming a version it cannot be at → 412).
pub(super) fn without_cart(write: &Write) -> Result<(), CartError> {
    if write.expect.holds_without_cart() {
        Ok(())
    } else {
        Err(CartError::CartChanged)
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
            without_cart(write)?;
            return Ok(((), Version::none(), false));
        };
        match carts.clear_cart(cart, policy, write).await? {
            Written::Decided {
                outcome,
                version,
                replayed,
            } => Ok(decision(outcome, version, replayed)),
            Written::AlreadyApplied { version } => Ok(((), version, false)),
            // A foreign number: this session's cart is gone already.
            Written::Foreign => Ok(((), Version::none(), false)),
            Written::Refused(refusal) => Err(refusal.into()),
        }
    }
    .await
    .map(|(value, version, replayed)| Changed {
        value,
        version,
        replayed,
    });
    counted("clear", result)
}
