//! Storage, split by what is stored: carts ([`CartStore`]), the catalog
//! ([`CatalogStore`]), accounts ([`AccountStore`]) and failed-login counters
//! ([`LoginLimiter`]), each implemented twice: on Redis (production, shared by
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

pub(crate) mod instrument;
pub(crate) mod memory;
pub(crate) mod redis;

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;

use crate::cart::{
    model::{CartRef, Line, LineId, Product},
    rules::{AddOutcome, ClearOutcome, LineOutcome, MergeReport, MergeRule, NewItem},
};

/// Storage trouble. Every variant becomes a 503 at the HTTP edge, which logs the
/// cause once; [`StoreError::kind`] is its bounded label.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Redis did not answer in time, the connection is down, or it answered an error.
    #[error("redis: {0}")]
    Redis(#[from] fred::error::Error),
    /// The session store could not load or save a record (its errors carry only text).
    #[error("session store: {0}")]
    SessionStore(String),
    /// The embedded store's users file could not be read or written.
    #[error("users file: {0}")]
    UsersFile(String),
    /// Stored data is not in the shape this version writes.
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
    /// Every cart number a line id can hold is used up.
    #[error("cart numbers exhausted")]
    CartNumbersExhausted,
}

impl StoreError {
    /// A short, bounded label for metrics and logs (`trolley_redis_errors_total`).
    pub fn kind(&self) -> &'static str {
        match self {
            StoreError::Redis(e) => match e.kind() {
                fred::error::ErrorKind::Timeout => "timeout",
                fred::error::ErrorKind::IO | fred::error::ErrorKind::Canceled => "io",
                fred::error::ErrorKind::Auth => "auth",
                fred::error::ErrorKind::Tls => "tls",
                _ => "other",
            },
            StoreError::SessionStore(_) => "session_store",
            StoreError::UsersFile(_) => "io",
            StoreError::Corrupt(_) => "corrupt",
            StoreError::CartNumbersExhausted => "other",
        }
    }

    /// Every label [`StoreError::kind`] can give, for registering the counter at 0.
    pub const KINDS: [&'static str; 7] = [
        "timeout",
        "io",
        "auth",
        "tls",
        "session_store",
        "corrupt",
        "other",
    ];
}

pub type StoreResult<T> = Result<T, StoreError>;

/// How long a cart lives after a touch, and the limits it must keep.
#[derive(Debug, Clone, Copy)]
pub struct CartPolicy {
    pub ttl: Duration,
    pub limits: crate::cart::rules::Limits,
}

/// Carts: hashes of lines changed only by atomic steps.
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

    /// Answers when cart storage is reachable (readiness).
    async fn ping(&self) -> StoreResult<()>;
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

    /// Remembers a session of a user, so removing the user can end it. Called by
    /// the session store when it writes a signed-in session's first record.
    async fn track_session(
        &self,
        username: &str,
        session_id: &str,
        ttl: Duration,
    ) -> StoreResult<()>;
}

/// Failed-login counters, shared by every replica.
#[async_trait]
pub trait LoginLimiter: Send + Sync + 'static {
    /// Counts a failed login against a limiter key; returns the count in the window.
    async fn record_login_failure(&self, key: &str, window: Duration) -> StoreResult<u32>;

    /// Failures counted against a limiter key, and how long until the window ends.
    async fn login_failures(&self, key: &str) -> StoreResult<(u32, Duration)>;

    /// Forgets a limiter key's failures.
    async fn reset_login_failures(&self, key: &str) -> StoreResult<()>;
}

/// Where the stores live: Redis when a URL is given, else the embedded store.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    pub redis: Option<redis::RedisOptions>,
    /// Where the embedded store keeps accounts.
    pub users_file: std::path::PathBuf,
    /// How long a signed-in session is tracked for its account (its max age).
    pub session_max_age: Duration,
}

/// The configured stores, one backend behind every trait.
#[derive(Clone)]
pub struct Stores {
    pub carts: Arc<dyn CartStore>,
    pub catalog: Arc<dyn CatalogStore>,
    pub accounts: Arc<dyn AccountStore>,
    pub limiter: Arc<dyn LoginLimiter>,
    /// (connected, total) Redis connections; `None` when embedded.
    pub pool_state: Arc<dyn Fn() -> Option<(usize, usize)> + Send + Sync>,
    /// The one backend behind them, for the session store.
    pub backend: Backend,
    /// How long a signed-in session is tracked for its account.
    pub session_max_age: Duration,
}

/// Which backend the stores are.
#[derive(Clone)]
pub enum Backend {
    Redis(Arc<redis::RedisStore>),
    Memory(Arc<memory::MemoryStore>),
}

impl Stores {
    /// Opens Redis (when a URL is set) or the embedded store. Redis is connected in
    /// the background: a replica starts even while Redis is down and reports
    /// not-ready until it answers.
    pub async fn open(options: &StoreOptions, wait: Duration) -> Result<Stores, String> {
        match &options.redis {
            Some(redis_options) => {
                let store = Arc::new(
                    redis::RedisStore::new(redis_options)
                        .map_err(|e| format!("TROLLEY_REDIS_URL is invalid: {e}"))?,
                );
                if let Err(error) = store.wait_connected(wait).await {
                    tracing::warn!(%error, "Redis is not reachable yet; retrying in the background");
                }
                let pool_store = store.clone();
                Ok(Stores {
                    carts: store.clone(),
                    catalog: store.clone(),
                    accounts: store.clone(),
                    limiter: store.clone(),
                    pool_state: Arc::new(move || Some(pool_store.pool_state())),
                    backend: Backend::Redis(store),
                    session_max_age: options.session_max_age,
                })
            }
            None => {
                let store = Arc::new(memory::MemoryStore::new(Some(options.users_file.clone())));
                Ok(Stores {
                    carts: store.clone(),
                    catalog: store.clone(),
                    accounts: store.clone(),
                    limiter: store.clone(),
                    pool_state: Arc::new(|| None),
                    backend: Backend::Memory(store),
                    session_max_age: options.session_max_age,
                })
            }
        }
    }
}
