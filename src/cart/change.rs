//! How one cart change is written: its operation id (which becomes the cart's
//! version), the client's `Idempotency-Key` and the precondition of `If-Match`;
//! and what the store answers.
//!
//! Every store applies these inside the same atomic step as the change (the cart
//! script in Redis, the critical section in the embedded store), so a replay, a
//! re-run after a lost reply and a version check can never interleave with
//! another change of the cart.

use bytes::Bytes;
use std::time::Duration;

/// A cart's version: the id of the last operation that changed its lines. It is
/// the cart's `ETag`, the same on every replica and on both route sets.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Version(pub String);

impl Version {
    /// The version of a cart that does not exist (yet, or any more).
    pub const NONE: &'static str = "0";

    pub fn none() -> Version {
        Version(Self::NONE.to_string())
    }

    /// A fresh operation id: 8 base-36 digits, drawn at random from the 2.7
    /// trillion (41 bits) that have exactly 8, so never "0" and never a space
    /// (the cart keeps its recent ones space-separated). It only has to differ
    /// from the few other changes of one cart around it, and from a version a
    /// client may still hold from before Redis lost that cart; 8 digits keep
    /// the three a cart remembers to 26 bytes.
    pub fn fresh() -> Version {
        const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
        const LOWEST: u64 = 36u64.pow(7);
        let mut n = rand::random_range(LOWEST..LOWEST * 36);
        let mut digits = [0u8; 8];
        for digit in digits.iter_mut().rev() {
            *digit = DIGITS[(n % 36) as usize];
            n /= 36;
        }
        Version(digits.iter().map(|&d| char::from(d)).collect())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What the cart must be at for a change to apply (`If-Match`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Expect {
    /// No precondition.
    #[default]
    Anything,
    /// `If-Match: *`: the cart exists.
    Exists,
    /// The cart is at one of these versions (`If-Match` may list several).
    OneOf(Vec<Version>),
}

impl Expect {
    /// Whether the precondition holds for a cart at `version` (`exists`: the
    /// cart exists).
    pub fn holds(&self, version: &Version, exists: bool) -> bool {
        match self {
            Expect::Anything => true,
            Expect::Exists => exists,
            Expect::OneOf(versions) => versions.contains(version),
        }
    }

    /// Whether the precondition holds for a session that has no cart at all.
    pub fn holds_without_cart(&self) -> bool {
        self.holds(&Version::none(), false)
    }
}

/// A client's `Idempotency-Key`, with what identifies its request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Idempotency {
    /// The key as the client sent it (1–255 visible ASCII characters).
    pub key: String,
    /// A digest of the request (method, path, query, body): the same key with
    /// another request is refused, not replayed.
    pub fingerprint: String,
    /// How long the record of the decision is kept.
    pub ttl: Duration,
}

/// The session record a request was served from its replica's copy (see
/// `sessions::copies`). The first cart step it is handed to (a cart change's
/// script, or a cart read) checks, in the same atomic step, that Redis still
/// holds exactly that record; if not, a change changes nothing and answers
/// [`Refusal::SessionStale`], a read answers its own `SessionStale` without the
/// lines, and the request runs again from the record in Redis. Only the first
/// step of a request checks it: what the request does after it is what it would
/// do having read the record at that moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServedCopy {
    /// The record's key.
    pub key: String,
    /// The record's bytes as Redis held them when the copy was taken: the
    /// check compares them with Redis's bytes (cheaper in Redis than a digest).
    pub bytes: Bytes,
}

impl ServedCopy {
    /// The copy of the record at `key` whose bytes were `bytes`.
    pub fn of(key: &str, bytes: &[u8]) -> ServedCopy {
        ServedCopy {
            key: key.to_string(),
            bytes: Bytes::copy_from_slice(bytes),
        }
    }
}

/// The identity and conditions of one cart change.
#[derive(Debug, Clone)]
pub struct Write {
    /// Fresh per request. The store re-runs a change whose reply was lost with
    /// the same id, and the cart remembers its last few ids, so a re-run is never
    /// applied twice. A change that applies makes it the cart's version.
    pub op: Version,
    pub idempotency: Option<Idempotency>,
    pub expect: Expect,
    /// The session record to check first, when it was served from a copy.
    pub session: Option<ServedCopy>,
}

impl Write {
    /// A change with no key and no precondition.
    #[cfg(any(test, feature = "test-hooks"))]
    pub fn plain() -> Write {
        Write {
            op: Version::fresh(),
            idempotency: None,
            expect: Expect::Anything,
            session: None,
        }
    }

    /// The same change, with no session record left to check (a later script
    /// of the request that checked it).
    pub fn checked(&self) -> Write {
        Write {
            session: None,
            ..self.clone()
        }
    }

    /// How long a record of this change is kept: the key's TTL, but never
    /// longer than the cart it belongs to lives.
    pub fn record_ttl(&self, cart_ttl: Duration) -> Duration {
        self.idempotency
            .as_ref()
            .map_or(Duration::ZERO, |key| key.ttl.min(cart_ttl))
    }
}

/// How many operation ids a cart remembers (see [`Write::op`]).
pub const RECENT_OPS: usize = 3;

/// What a store answers to a change: the cart's decision, or why the change
/// did not reach the rules (the write gate, [`super::gate`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Written<T> {
    /// The cart decided `outcome` (a change, or a refusal such as a full cart);
    /// `version` is the cart's version after it. `replayed`: the decision was
    /// recorded under the request's `Idempotency-Key` earlier and is answered
    /// again, nothing applied now.
    Decided {
        outcome: T,
        version: Version,
        replayed: bool,
    },
    /// This very operation had already been applied (a re-run after a lost
    /// reply); `version` is the cart's version now.
    AlreadyApplied { version: Version },
    /// The stored cart under this number is another session's (the number was
    /// handed out twice after Redis lost its counter); nothing changed.
    Foreign,
    /// The gate refused the change; nothing changed.
    Refused(Refusal),
}

/// Why the write gate refused a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The cart was merged into a user's cart at a login.
    CartMerged,
    /// The `Idempotency-Key` was used before with another request.
    KeyReused,
    /// A checkout claim holds the cart; nothing was recorded under the
    /// request's `Idempotency-Key`, so a retry after the claim ends is applied.
    Claimed,
    /// The precondition (`If-Match`) does not hold.
    PreconditionFailed,
    /// The session record served from a copy is no longer the one in Redis
    /// (see [`ServedCopy`]).
    SessionStale,
}

impl<T> Written<T> {
    /// A fresh decision at `version`.
    pub fn decided(outcome: T, version: Version) -> Written<T> {
        Written::Decided {
            outcome,
            version,
            replayed: false,
        }
    }
}
