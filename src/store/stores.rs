//! Opening the configured stores: one backend (Redis or embedded) behind every
//! store trait.

use std::{sync::Arc, time::Duration};

use super::{AccountStore, CartStore, CatalogStore, Limiter, memory, redis};

/// Where the stores live: Redis when a URL is given, else the embedded store.
#[derive(Debug, Clone)]
pub(crate) struct StoreOptions {
    pub(crate) redis: Option<redis::RedisOptions>,
    /// Where the embedded store keeps accounts.
    pub(crate) users_file: std::path::PathBuf,
    /// How long a signed-in session is tracked for its account (its max age).
    pub(crate) session_max_age: Duration,
}

/// The configured stores, one backend behind every trait.
#[derive(Clone)]
pub(crate) struct Stores {
    pub(crate) carts: Arc<dyn CartStore>,
    pub(crate) catalog: Arc<dyn CatalogStore>,
    pub(crate) accounts: Arc<dyn AccountStore>,
    pub(crate) limiter: Arc<dyn Limiter>,
    /// The one backend behind them, for the session store.
    pub(crate) backend: Backend,
    /// How long a signed-in session is tracked for its account.
    pub(crate) session_max_age: Duration,
}

impl Stores {
    /// (connected, total) Redis connections; `None` when embedded.
    pub(crate) fn pool_state(&self) -> Option<(usize, usize)> {
        match &self.backend {
            Backend::Redis(store) => Some(store.pool_state()),
            Backend::Memory(_) => None,
        }
    }
}

/// Which backend the stores are.
#[derive(Clone)]
pub(crate) enum Backend {
    Redis(Arc<redis::RedisStore>),
    Memory(Arc<memory::MemoryStore>),
}

impl Stores {
    /// Opens Redis (when a URL is set) or the embedded store. Redis is connected in
    /// the background: a replica starts even while Redis is down and reports
    /// not-ready until it answers.
    pub(crate) async fn open(options: &StoreOptions, wait: Duration) -> Result<Stores, String> {
        match &options.redis {
            Some(redis_options) => {
                let store = Arc::new(
                    redis::RedisStore::new(redis_options)
                        .map_err(|e| format!("TROLLEY_REDIS_URL is invalid: {e}"))?,
                );
                if let Err(error) = store.wait_connected(wait).await {
                    tracing::warn!(%error, "Redis is not reachable yet; retrying in the background");
                }
                Ok(Stores::on(store, Backend::Redis, options.session_max_age))
            }
            None => {
                let store = Arc::new(memory::MemoryStore::new(Some(options.users_file.clone())));
                Ok(Stores::on(store, Backend::Memory, options.session_max_age))
            }
        }
    }

    /// Every store trait on one backend's `store`.
    fn on<S>(store: Arc<S>, backend: fn(Arc<S>) -> Backend, session_max_age: Duration) -> Stores
    where
        S: CartStore + CatalogStore + AccountStore + Limiter + 'static,
    {
        Stores {
            carts: store.clone(),
            catalog: store.clone(),
            accounts: store.clone(),
            limiter: store.clone(),
            backend: backend(store),
            session_max_age,
        }
    }
}
