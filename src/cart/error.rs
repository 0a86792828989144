//! What a cart operation can refuse, in the domain's words. The HTTP edge turns
//! each into its status and API.md message (`http::error`); metrics count
//! [`CartError::outcome`].

use super::{
    change::Refusal,
    model::{LineId, ProductRef},
};
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub(crate) enum CartError {
    /// The catalog has no such product.
    #[error("product not found")]
    ProductNotFound(ProductRef),
    /// The line would pass the max quantity.
    #[error("quantity above {0}")]
    QuantityAboveMax(u32),
    /// A new line would pass the max lines.
    #[error("cart full ({0} lines)")]
    CartFull(u32),
    /// The cart was merged into a signed-in cart at a login.
    #[error("cart merged at login")]
    CartMerged,
    /// The line exists, in another cart.
    #[error("line of another cart")]
    LineOfAnotherCart,
    /// No cart holds this line.
    #[error("line {} not found", .0.0)]
    LineNotFound(LineId),
    /// The request's Idempotency-Key was used before with another request.
    #[error("idempotency key reused")]
    KeyReused,
    /// The cart is not at the version the request's precondition names.
    #[error("cart changed")]
    CartChanged,
    /// A refusal the cart decided earlier, answered again from the request's
    /// Idempotency-Key record.
    #[error("replayed: {0}")]
    Replayed(Box<CartError>),
    /// A checkout claim holds the cart: it takes no changes until the claim ends.
    #[error("cart claimed by a checkout")]
    CartClaimed,
    /// No account has this username (the service API's `user/{username}`).
    #[error("user not found")]
    UserNotFound,
    /// A guest cart id that names no live cart.
    #[error("cart not found")]
    CartNotFound,
    /// A checkout of a cart without lines.
    #[error("cart empty")]
    CartEmpty,
    /// No such checkout claim of this cart.
    #[error("checkout claim not found")]
    ClaimNotFound,
    /// The checkout was completed already (with another order id).
    #[error("checkout already completed")]
    CheckoutCompleted,
    /// The checkout claim was released.
    #[error("checkout claim released")]
    ClaimReleased,
    /// The checkout claim ran out of time.
    #[error("checkout claim expired")]
    ClaimExpired,
    /// The session record served from this replica's copy is no longer the
    /// one in Redis (see `ServedCopy`): nothing changed, and the request runs
    /// again from the record in Redis. Never reaches a client.
    #[error("the session record served from this replica's copy is stale")]
    SessionStale,
    /// Storage trouble.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<Refusal> for CartError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::CartMerged => CartError::CartMerged,
            Refusal::KeyReused => CartError::KeyReused,
            Refusal::Claimed => CartError::CartClaimed,
            Refusal::PreconditionFailed => CartError::CartChanged,
            Refusal::SessionStale => CartError::SessionStale,
        }
    }
}

impl CartError {
    /// The `outcome` label of `trolley_cart_operations_total`.
    pub(crate) fn outcome(&self) -> &'static str {
        match self {
            CartError::QuantityAboveMax(_) => "invalid",
            CartError::ProductNotFound(_) | CartError::LineNotFound(_) => "not_found",
            CartError::LineOfAnotherCart => "forbidden",
            CartError::CartFull(_) | CartError::CartMerged => "limit",
            CartError::KeyReused => "invalid",
            CartError::CartChanged
            | CartError::CartClaimed
            | CartError::CartEmpty
            | CartError::CheckoutCompleted
            | CartError::ClaimReleased
            | CartError::ClaimExpired => "conflict",
            CartError::ClaimNotFound | CartError::UserNotFound | CartError::CartNotFound => {
                "not_found"
            }
            CartError::Replayed(refusal) => refusal.outcome(),
            CartError::Store(_) | CartError::SessionStale => "unavailable",
        }
    }

    /// Every outcome label, success included, for registering the counter at 0.
    pub(crate) const OUTCOMES: [&'static str; 7] = [
        "ok",
        "invalid",
        "not_found",
        "forbidden",
        "limit",
        "conflict",
        "unavailable",
    ];
}
