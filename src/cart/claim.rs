//! Checkout claims (API.md v1.2): a checkout freezes the cart it is paying for,
//! so that what is charged is exactly what is emptied. The vocabulary both
//! stores and the domain share: the ids, what starting a claim found, and how a
//! claim ended.
//!
//! While a claim holds, every cart change is refused inside the store's write
//! gate (`write_gate` in `lua/prelude.lua`, `State::write_gate` in the embedded
//! store); `complete` removes exactly the lines the claim recorded.

use std::time::Duration;

use super::{
    change::{Expect, Version},
    model::Line,
    rules::CartLines,
};

/// Longest checkout a claim may hold a cart for.
pub const MAX_CLAIM_TTL: Duration = Duration::from_secs(3600);

/// A claim's id: `k` and 128 random bits in base64url; names one claim of one cart.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClaimId(pub String);

impl ClaimId {
    pub fn fresh() -> ClaimId {
        use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
        let bits: u128 = rand::random();
        ClaimId(format!("k{}", URL_SAFE_NO_PAD.encode(bits.to_le_bytes())))
    }

    /// The claim id of a checkout sent with an `Idempotency-Key`: the same
    /// key on the same cart names the same claim, so a retry is answered from
    /// that claim's record instead of claiming again.
    pub fn for_key(cart_id: &str, key: &str) -> ClaimId {
        use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
        use sha2::{Digest, Sha256};
        let digest = Sha256::new()
            .chain_update(cart_id.as_bytes())
            .chain_update(b"\n")
            .chain_update(key.as_bytes())
            .finalize();
        ClaimId(format!("k{}", URL_SAFE_NO_PAD.encode(&digest[..16])))
    }

    /// A path segment that a claim id could be: 1–64 letters, digits, `-` or `_`.
    pub fn parse(text: &str) -> Option<ClaimId> {
        let ok = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
        (!text.is_empty() && text.len() <= 64 && text.bytes().all(ok))
            .then(|| ClaimId(text.to_string()))
    }
}

/// The order a checkout completed as: 1–128 visible ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderId(pub String);

impl OrderId {
    pub fn parse(text: &str) -> Option<OrderId> {
        let visible = |b: u8| (0x21..=0x7e).contains(&b);
        (!text.is_empty() && text.len() <= 128 && text.bytes().all(visible))
            .then(|| OrderId(text.to_string()))
    }
}

/// An active claim of a cart: its id and when it ends by itself (ms since the epoch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub id: ClaimId,
    pub until_ms: i64,
}

/// What a new claim is asked for.
#[derive(Debug, Clone)]
pub struct NewClaim {
    pub id: ClaimId,
    /// How long the claim holds the cart.
    pub ttl: Duration,
    /// How long its record outlives it (so a late complete answers 410, not 404).
    pub keep: Duration,
    /// `If-Match`.
    pub expect: Expect,
    /// What was asked, for a claim under an Idempotency-Key (its ttl and
    /// precondition, `NewClaim::fingerprint`): a retry asking otherwise is
    /// refused (`KeyReused`). Empty without a key.
    pub request: String,
}

impl NewClaim {
    /// The fingerprint of a keyed claim's request: its ttl and precondition.
    pub fn fingerprint(ttl: Duration, expect: &Expect) -> String {
        use sha2::{Digest, Sha256};
        let digest = Sha256::new()
            .chain_update(ttl.as_millis().to_string())
            .chain_update(b"\n")
            .chain_update(match expect {
                Expect::Anything => String::new(),
                Expect::Exists => "*".to_string(),
                Expect::OneOf(versions) => versions
                    .iter()
                    .map(Version::as_str)
                    .collect::<Vec<_>>()
                    .join(","),
            })
            .finalize();
        digest[..8].iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// What starting a claim found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimStart {
    /// The cart is claimed: these lines, at this version, until `claim.until_ms`.
    /// `again`: this claim id had claimed it before, and the answer is that
    /// claim's record (a retry with the same Idempotency-Key, or a re-run).
    Claimed {
        claim: Claim,
        lines: Vec<Line>,
        version: Version,
        again: bool,
    },
    /// The cart has no lines.
    Empty,
    /// Another claim holds the cart.
    Busy,
    /// The cart was merged into a user's cart at a login.
    Merged,
    /// `If-Match` does not hold.
    Stale,
    /// The claim id's record was asked for with another request (the same
    /// Idempotency-Key, another ttl or precondition).
    KeyReused,
}

/// How a claim is asked to end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimEnd {
    Complete(OrderId),
    Release,
}

/// How ending a claim went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimEnded {
    /// Completed (now, or earlier with the same order id): the claimed lines,
    /// removed, and the cart's version after their removal.
    Completed { lines: Vec<Line>, version: Version },
    /// Released (now or earlier).
    Released,
    /// No such claim of this cart.
    NotFound,
    /// Completed already (with another order id, or a release after completion).
    AlreadyCompleted,
    /// Released before this complete.
    WasReleased,
    /// Its time ran out before it was completed or released.
    Expired,
}

/// Completing a checkout: takes away exactly the claimed lines' quantities
/// (`lua/cart_claim_end.lua` does the same). While the claim held, nothing could
/// change them, so each claimed line goes; a line holding more than was claimed
/// keeps the rest, and a line the claim never saw stays.
pub fn take_claimed(cart: &mut CartLines, claimed: &[Line]) {
    for taken in claimed {
        if let Some(index) = cart.lines.iter().position(|line| line.id == taken.id) {
            let line = &mut cart.lines[index];
            if line.quantity <= taken.quantity {
                cart.lines.remove(index);
            } else {
                line.quantity -= taken.quantity;
            }
        }
    }
}
