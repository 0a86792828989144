//! Storage of carts, catalog, accounts and login counters: the [`CartStore`] trait and
//! its two implementations, Redis (production, shared by replicas) and an embedded
//! in-process store (one replica, for trying trolley without Redis).
//!
//! Both implementations answer the same contract test suite (`tests/api`), so they
//! cannot drift apart. Every cart mutation is one atomic step: one Lua script run by
//! SHA in Redis, one critical section in the embedded store.

pub mod memory;
pub mod redis;

use std::time::Duration;

use async_trait::async_trait;
use rust_decimal::Decimal;

use crate::cart::{
    model::{CartRef, Line, LineId, Product, ProductId},
    rules::{Limits, MergeRule},
};

/// Storage trouble. Every variant becomes a 503 at the HTTP boundary; the cause is
/// logged there once.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Redis did not answer in time, the connection is down, or it answered an error.
    #[error("redis: {0}")]
    Redis(#[from] fred::error::Error),
    /// Stored data is not in the shape this version writes.
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// A short, bounded label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            StoreError::Redis(e) => match e.kind() {
                fred::error::ErrorKind::Timeout => "timeout",
                fred::error::ErrorKind::IO | fred::error::ErrorKind::Canceled => "io",
                fred::error::ErrorKind::Auth => "auth",
                fred::error::ErrorKind::Tls => "tls",
                _ => "other",
            },
            StoreError::Corrupt(_) => "corrupt",
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// How long a cart lives after a touch, and the limits it must keep.
#[derive(Debug, Clone, Copy)]
pub struct CartPolicy {
    pub ttl: Duration,
    pub limits: Limits,
}

/// A request to add a product to a cart.
#[derive(Debug, Clone)]
pub struct NewItem {
    pub product_id: ProductId,
    pub quantity: u32,
    /// Today's catalog price, frozen into the line if the line is new.
    pub price: Decimal,
    pub now_ms: i64,
}

/// What an add did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddOutcome {
    /// The line as it is now (new, or with its quantity incremented).
    Added(Line),
    /// The line would pass the max quantity; nothing changed.
    QuantityAboveMax,
    /// A new line would pass the max lines; nothing changed.
    CartFull,
    /// The cart was merged into a user's cart at a login; nothing changed.
    CartMerged,
}

/// What a change to one line did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineOutcome {
    /// The line after the change (for a removal: the line that was removed).
    Done(Line),
    /// The line is not in this cart; nothing changed.
    NotInCart,
    /// The cart was merged into a user's cart at a login; nothing changed.
    CartMerged,
}

/// What clearing a cart did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClearOutcome {
    Cleared,
    CartMerged,
}

/// What a login merge did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MergeReport {
    /// The guest cart was merged by an earlier login already: nothing was done now.
    pub already_merged: bool,
    /// Guest lines moved into the user's cart with their id, price and `addedAt`.
    pub lines_moved: u32,
    /// Guest lines whose product was in the user's cart already.
    pub lines_combined: u32,
    /// User-cart lines whose merged quantity was cut to the max quantity.
    pub clamped: Vec<LineId>,
    /// Guest lines that did not fit under the max lines and were dropped.
    pub dropped: Vec<LineId>,
}

/// A stored account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// PHC string of the argon2id hash.
    pub password_hash: String,
    /// The user's cart, once the user has logged in once.
    pub cart: Option<CartRef>,
}

/// A catalog as stored, with the version that changes at every import.
#[derive(Debug, Clone, Default)]
pub struct StoredCatalog {
    pub version: u64,
    pub products: Vec<Product>,
}

/// Everything trolley keeps outside its own process (sessions aside: those go
/// through tower-sessions' store for the same backend).
#[async_trait]
pub trait CartStore: Send + Sync + 'static {
    /// A new cart number, unique across replicas.
    async fn allocate_cart_no(&self) -> StoreResult<u64>;

    /// The lines of a cart (in no particular order), sliding its TTL.
    async fn read_cart(&self, cart: &CartRef, ttl: Duration) -> StoreResult<Vec<Line>>;

    /// Adds a product, or increments the line of a product already in the cart.
    async fn add_item(
        &self,
        cart: &CartRef,
        item: &NewItem,
        policy: CartPolicy,
    ) -> StoreResult<AddOutcome>;

    /// Sets a line's quantity (already checked against the limits).
    async fn set_quantity(
        &self,
        cart: &CartRef,
        line: LineId,
        quantity: u32,
        policy: CartPolicy,
    ) -> StoreResult<LineOutcome>;

    /// Removes a line.
    async fn remove_line(
        &self,
        cart: &CartRef,
        line: LineId,
        policy: CartPolicy,
    ) -> StoreResult<LineOutcome>;

    /// Removes every line; the cart keeps its id and line sequence.
    async fn clear_cart(&self, cart: &CartRef, policy: CartPolicy) -> StoreResult<ClearOutcome>;

    /// Whether a line with this id exists in any cart.
    async fn line_exists(&self, line: LineId) -> StoreResult<bool>;

    /// Answers when the backend is reachable.
    async fn ping(&self) -> StoreResult<()>;

    /// The version of the stored catalog (0 when none was imported).
    async fn catalog_version(&self) -> StoreResult<u64>;

    /// The stored catalog.
    async fn load_catalog(&self) -> StoreResult<StoredCatalog>;

    /// Replaces the catalog atomically; returns the new version. With
    /// `only_if_empty`, writes only when no catalog was ever stored (returns 0 if
    /// one was), so seeding the demo catalog never overwrites an import.
    async fn replace_catalog(&self, products: &[Product], only_if_empty: bool) -> StoreResult<u64>;

    /// An account, if it exists.
    async fn user(&self, username: &str) -> StoreResult<Option<UserRecord>>;

    /// Creates an account or replaces its password; returns whether it was new.
    async fn put_user(&self, username: &str, password_hash: &str) -> StoreResult<bool>;

    /// Deletes an account, its cart and all its sessions; returns whether it existed.
    async fn remove_user(&self, username: &str) -> StoreResult<bool>;

    /// The user's cart, given `candidate` if the user has none yet (atomic, so two
    /// concurrent first logins agree on one cart).
    async fn ensure_user_cart(&self, username: &str, candidate: &CartRef) -> StoreResult<CartRef>;

    /// Whether a signed-in session of this user may go on. Redis ends a removed
    /// user's sessions directly; the embedded store learns of removals made by
    /// another process (`trolley user remove`) through its users file.
    async fn user_still_exists(&self, _username: &str) -> StoreResult<bool> {
        Ok(true)
    }

    /// Remembers a session of a user, so removing the user can end it.
    async fn track_session(
        &self,
        username: &str,
        session_id: &str,
        ttl: Duration,
    ) -> StoreResult<()>;

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

    /// Counts a failed login against a limiter key; returns the count in the window.
    async fn record_login_failure(&self, key: &str, window: Duration) -> StoreResult<u32>;

    /// Failures counted against a limiter key, and how long until the window ends.
    async fn login_failures(&self, key: &str) -> StoreResult<(u32, Duration)>;

    /// Forgets a limiter key's failures.
    async fn reset_login_failures(&self, key: &str) -> StoreResult<()>;
}

/// The session store for the configured backend: tower-sessions-redis-store on the
/// shared Redis pool, or the embedded store's sessions.
#[derive(Debug, Clone)]
pub enum SessionBackend {
    Redis(tower_sessions_redis_store::RedisStore<fred::clients::Pool>),
    Memory(memory::MemorySessions),
}

#[async_trait]
impl tower_sessions::SessionStore for SessionBackend {
    async fn create(
        &self,
        record: &mut tower_sessions::session::Record,
    ) -> tower_sessions::session_store::Result<()> {
        match self {
            SessionBackend::Redis(store) => {
                timed_session("session_create", store.create(record)).await
            }
            SessionBackend::Memory(store) => store.create(record).await,
        }
    }

    async fn save(
        &self,
        record: &tower_sessions::session::Record,
    ) -> tower_sessions::session_store::Result<()> {
        match self {
            SessionBackend::Redis(store) => timed_session("session_save", store.save(record)).await,
            SessionBackend::Memory(store) => store.save(record).await,
        }
    }

    async fn load(
        &self,
        id: &tower_sessions::session::Id,
    ) -> tower_sessions::session_store::Result<Option<tower_sessions::session::Record>> {
        match self {
            SessionBackend::Redis(store) => timed_session("session_load", store.load(id)).await,
            SessionBackend::Memory(store) => store.load(id).await,
        }
    }

    async fn delete(
        &self,
        id: &tower_sessions::session::Id,
    ) -> tower_sessions::session_store::Result<()> {
        match self {
            SessionBackend::Redis(store) => timed_session("session_delete", store.delete(id)).await,
            SessionBackend::Memory(store) => store.delete(id).await,
        }
    }
}

/// Measures a session-store call like any other Redis call. Its errors carry
/// only text, so they are counted under one kind.
async fn timed_session<T>(
    operation: &'static str,
    call: impl std::future::Future<Output = tower_sessions::session_store::Result<T>>,
) -> tower_sessions::session_store::Result<T> {
    crate::metrics::redis_call_with(operation, call, |_| "session_store").await
}
