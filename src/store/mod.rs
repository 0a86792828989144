//! Storage, split by what is stored: carts ([`CartStore`]), the catalog
//! ([`CatalogStore`]), accounts ([`AccountStore`]) and failed-login counters
//! ([`Limiter`]), each implemented twice: on Redis (production, shared by
//! replicas) and embedded in this process (one replica, for trying trolley without
//! Redis). Session records go through tower-sessions' store for the same
//! backend, `crate::sessions`, which uses these stores.
//!
//! Both implementations answer the same contract suite (`tests/api`) and the
//! differential property test of the cart rules, so they cannot drift apart.
//! Every cart mutation is one atomic step: one Lua script run by SHA in Redis,
//! one critical section in the embedded store.
//!
//! The store knows the cart's vocabulary (`cart::model`, `cart::rules`) and
//! nothing above it: no HTTP, no sessions' meaning beyond their records.

mod error;
pub(crate) mod instrument;
pub(crate) mod memory;
pub(crate) mod redis;
pub(crate) mod stores;

pub use error::{StoreError, StoreResult};

use std::time::Duration;

use async_trait::async_trait;

use crate::cart::{
    change::{ServedCopy, Version, Write, Written},
    claim::{Claim, ClaimEnd, ClaimEnded, ClaimId, ClaimStart, NewClaim},
    model::{CartRef, Line, LineId, Product},
    rules::{AddOutcome, LineChange, LineOutcome, MergeReport, MergeRule, NewItem},
};

/// How long a cart lives after a touch, and the limits it must keep.
#[derive(Debug, Clone, Copy)]
pub struct CartPolicy {
    pub ttl: Duration,
    pub limits: crate::cart::rules::Limits,
}

/// What reading a cart found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CartRead {
    /// The cart's lines (none when it does not exist) and its version.
    Lines { lines: Vec<Line>, version: Version },
    /// The stored cart under this number is another session's (see
    /// `Written::Foreign`); nothing was read.
    Foreign,
    /// The session record served from a copy is no longer the one in Redis
    /// (see [`ServedCopy`]); nothing was read.
    SessionStale,
}

/// The operation names of the cart changes (`trolley_cart_change_reruns_total`).
pub const CART_CHANGES: [&str; 4] = ["cart_add", "cart_set_quantity", "cart_remove", "cart_clear"];

/// Carts: hashes of lines changed only by atomic steps. Every call names the
/// cart by number and public id, and a store never reads or changes a stored cart
/// whose public id is another one. Every change takes a [`Write`] (operation id,
/// Idempotency-Key, precondition) applied in the same atomic step.
#[async_trait]
pub trait CartStore: Send + Sync + 'static {
    /// A new cart number, unique across replicas.
    async fn allocate_cart_no(&self) -> StoreResult<u64>;

    /// A new cart number from a newly reserved block: the current block turned out
    /// to hold numbers already in use (Redis lost its counter).
    async fn allocate_fresh_cart_no(&self) -> StoreResult<u64> {
        self.allocate_cart_no().await
    }

    /// The lines of a cart (in no particular order), sliding its TTL; first
    /// checking `session`, the record the request was served from a copy.
    async fn read_cart(
        &self,
        cart: &CartRef,
        ttl: Duration,
        session: Option<&ServedCopy>,
    ) -> StoreResult<CartRead>;

    /// Adds a product, or increments the line of a product already in the
    /// cart; with `with_lines`, an add that applied also answers the cart.
    async fn add_item(
        &self,
        cart: &CartRef,
        item: &NewItem,
        policy: CartPolicy,
        write: &Write,
        with_lines: bool,
    ) -> StoreResult<Written<AddOutcome>>;

    /// Sets a line's quantity (already checked against the limits), or
    /// removes the line.
    async fn change_line(
        &self,
        cart: &CartRef,
        line: LineId,
        change: LineChange,
        policy: CartPolicy,
        write: &Write,
    ) -> StoreResult<Written<LineOutcome>>;

    /// Removes every line; the cart keeps its id and line sequence.
    async fn clear_cart(
        &self,
        cart: &CartRef,
        policy: CartPolicy,
        write: &Write,
    ) -> StoreResult<Written<()>>;

    /// Whether a line with this id exists in any cart.
    async fn line_exists(&self, line: LineId) -> StoreResult<bool>;

    /// Merges a guest cart into a user's cart in one atomic step (on Redis Cluster:
    /// three single-slot steps that a retried merge finishes, applying nothing
    /// twice); the guest cart is gone afterwards and a tombstone makes a retried
    /// merge a no-op.
    async fn merge_carts(
        &self,
        guest: &CartRef,
        user: &CartRef,
        rule: MergeRule,
        policy: CartPolicy,
    ) -> StoreResult<MergeReport>;

    /// Remembers the number of a guest cart by its public id, for the service
    /// API's `guest/{cartId}`, for `ttl` (a session's longest life, so as long
    /// as any session can hold the cart). Written once when the cart is made.
    async fn index_guest_cart(&self, cart: &CartRef, ttl: Duration) -> StoreResult<()>;

    /// The guest cart a public id names, if it was remembered.
    async fn guest_cart(&self, id: &str) -> StoreResult<Option<CartRef>>;

    /// Claims a cart for a checkout, in one atomic step with reading the lines
    /// it freezes; from then on every change of the cart is refused by its
    /// write gate (`Refusal::Claimed`) until the claim ends.
    async fn claim_cart(&self, cart: &CartRef, claim: &NewClaim) -> StoreResult<ClaimStart>;

    /// Completes (removing exactly the claimed lines, the cart's version
    /// becoming `op`) or releases a claim, in one atomic step answered from the
    /// claim's record, so a repeat answers the same and changes nothing.
    async fn end_claim(
        &self,
        cart: &CartRef,
        claim: &ClaimId,
        end: &ClaimEnd,
        policy: CartPolicy,
        op: &Version,
    ) -> StoreResult<ClaimEnded>;

    /// The claim holding a cart now, if any.
    async fn active_claim(&self, cart: &CartRef) -> StoreResult<Option<Claim>>;

    /// Answers when cart storage is reachable and takes writes (readiness): on
    /// Redis, the node answers as a primary (a demoted or read-only replica is not
    /// ready), on Cluster `cluster_state:ok`.
    async fn ready(&self) -> StoreResult<()>;
}

/// A catalog as stored, with the version that changes at every import.
#[derive(Debug, Clone, Default)]
pub struct StoredCatalog {
    pub version: u64,
    pub products: Vec<Product>,
}

/// The product catalog.
#[async_trait]
pub trait CatalogStore: Send + Sync + 'static {
    /// The version of the stored catalog (0 when none was imported).
    async fn catalog_version(&self) -> StoreResult<u64>;

    /// The stored catalog.
    async fn load_catalog(&self) -> StoreResult<StoredCatalog>;

    /// Replaces the catalog atomically; returns the new version. With
    /// `only_if_empty`, writes only when no catalog was ever stored (returns 0 if
    /// one was), so seeding the demo catalog never overwrites an import.
    async fn replace_catalog(&self, products: &[Product], only_if_empty: bool) -> StoreResult<u64>;
}

/// A stored account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// PHC string of the argon2id hash.
    pub password_hash: String,
    /// The user's cart, once the user has logged in once.
    pub cart: Option<CartRef>,
}

/// Accounts and the sessions signed in to them.
#[async_trait]
pub trait AccountStore: Send + Sync + 'static {
    /// An account, if it exists.
    async fn user(&self, username: &str) -> StoreResult<Option<UserRecord>>;

    /// Creates an account or replaces its password; returns whether it was new.
    async fn put_user(&self, username: &str, password_hash: &str) -> StoreResult<bool>;

    /// Deletes an account, its cart and all its sessions; returns whether it existed.
    async fn remove_user(&self, username: &str) -> StoreResult<bool>;

    /// The user's cart, given `candidate` if the user has none yet (atomic, so two
    /// concurrent first logins agree on one cart).
    async fn ensure_user_cart(&self, username: &str, candidate: &CartRef) -> StoreResult<CartRef>;

    /// The cart of an owner named by another system (`ext/{id}`): found only
    /// without `candidate`; with one, given `candidate` if the owner has none
    /// (atomic, as `ensure_user_cart`). A record found is kept `ttl` longer,
    /// as its cart is by every touch.
    async fn owner_cart(
        &self,
        id: &str,
        candidate: Option<&CartRef>,
        ttl: Duration,
    ) -> StoreResult<Option<CartRef>>;

    /// Remembers a session of a user, so removing the user can end it. Called by
    /// the session store when it writes a signed-in session's first record.
    async fn track_session(
        &self,
        username: &str,
        session_id: &str,
        ttl: Duration,
    ) -> StoreResult<()>;
}

/// What a limiter key says to a login attempt that asks to be checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// Check it: it holds one of the key's places until [`Limiter::end_login_attempt`].
    Admitted,
    /// The failures and the attempts being checked fill the limit: wait for
    /// their outcome. Names the attempts being checked, so a waiter can tell
    /// when one ends.
    Busy { checking: Vec<String> },
    /// The key has its limit's worth of failures in the window.
    Refused { retry_after: Duration },
}

/// How an admitted login attempt ended, for one limiter key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptEnd {
    /// The password was wrong: one more failure in the window.
    Failed,
    /// The account's owner signed in: the key's failures are forgotten.
    Cleared,
    /// Neither (the address of a successful login, or a check that could not run).
    Released,
}

/// Login-attempt limits and new-session counters, shared by every replica.
#[async_trait]
pub trait Limiter: Send + Sync + 'static {
    /// Asks, in one atomic step, whether an attempt may have its password
    /// checked against a limiter key: only while the key's failures plus the
    /// attempts being checked are under `limit`, so N parallel wrong guesses
    /// get at most `limit` checks. An admitted attempt holds its place for at
    /// most `lease`.
    async fn begin_login_attempt(
        &self,
        key: &str,
        attempt: &str,
        limit: u32,
        lease: Duration,
    ) -> StoreResult<Admission>;

    /// Ends an admitted attempt, in one atomic step with counting its outcome;
    /// failures count within `window` from the first.
    async fn end_login_attempt(
        &self,
        key: &str,
        attempt: &str,
        end: AttemptEnd,
        window: Duration,
    ) -> StoreResult<()>;

    /// Counts a new session started by a client address, in one atomic step;
    /// `Err(time until the window ends)` past `limit` in the window.
    async fn admit_new_session(
        &self,
        address: &str,
        window: Duration,
        limit: u32,
    ) -> StoreResult<Result<(), Duration>>;
}
