//! Session records: tower-sessions' store for the configured backend,
//! tower-sessions-redis-store on the shared Redis pool or records in the embedded
//! store ([`memory`]); measured like every other Redis call. It sits beside the
//! stores (it uses them) and below the HTTP edge (whose session layer uses it).
//!
//! It also keeps each account's list of sessions: when it writes the first record
//! of a signed-in session (after a login rotated the id), it tracks that id for
//! the account, so removing the account ends the session. Doing it here, as part
//! of writing the record, means a login has nothing left to do that can fail once
//! its session id has rotated.

use std::{cell::Cell, future::Future, sync::Arc, time::Duration};

use async_trait::async_trait;
use tower_sessions::{
    SessionStore,
    session::{Id, Record},
    session_store,
};

pub(crate) mod fields;
mod memory;

use crate::store::{
    AccountStore, instrument,
    stores::{Backend, Stores},
};
use fields::record_user;
use memory::MemorySessions;

#[derive(Debug, Clone)]
enum Records {
    Redis(tower_sessions_redis_store::RedisStore<fred::clients::Pool>),
    Memory(MemorySessions),
}

/// tower-sessions' store for trolley's backend.
#[derive(Clone)]
pub(crate) struct SessionBackend {
    records: Records,
    accounts: Arc<dyn AccountStore>,
    /// How long a tracked session id is kept (the sessions' absolute lifetime).
    tracking_ttl: Duration,
}

impl std::fmt::Debug for SessionBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionBackend")
            .field("records", &self.records)
            .finish_non_exhaustive()
    }
}

impl SessionBackend {
    /// The session store for the stores' backend; signed-in sessions are tracked
    /// in the stores' accounts for their max age.
    pub(crate) fn new(stores: &Stores) -> Self {
        let records = match &stores.backend {
            Backend::Redis(store) => {
                Records::Redis(tower_sessions_redis_store::RedisStore::new(store.pool()))
            }
            Backend::Memory(store) => Records::Memory(MemorySessions::new(store.clone())),
        };
        SessionBackend {
            records,
            accounts: stores.accounts.clone(),
            tracking_ttl: stores.session_max_age,
        }
    }
}

/// Measures a session-store call like any other Redis call. Its errors carry
/// only text, so they are counted under one kind.
async fn timed<T>(
    operation: &'static str,
    call: impl std::future::Future<Output = session_store::Result<T>>,
) -> session_store::Result<T> {
    instrument::redis_call_with(operation, call, |_| "session_store").await
}

#[async_trait]
impl SessionStore for SessionBackend {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        match &self.records {
            Records::Redis(store) => {
                timed("session_create", Box::pin(store.create(record))).await?
            }
            Records::Memory(store) => store.create(record).await?,
        }
        if let Some(user) = record_user(record) {
            self.accounts
                .track_session(user, &record.id.to_string(), self.tracking_ttl)
                .await
                .map_err(|e| session_store::Error::Backend(e.to_string()))?;
        }
        Ok(())
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        let saved = match &self.records {
            Records::Redis(store) => timed("session_save", Box::pin(store.save(record))).await,
            Records::Memory(store) => store.save(record).await,
        };
        match saved {
            // Only the expiry moved: the request itself succeeded (its cart
            // change is in Redis already), so its answer stands; the record keeps
            // its previous expiry and the next request slides it again.
            Err(error) if only_sliding() => {
                tracing::warn!(%error, "could not slide a session's expiry; the answer stands");
                crate::metrics::session_slide_failure();
                Ok(())
            }
            other => other,
        }
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        match &self.records {
            Records::Redis(store) => timed("session_load", Box::pin(store.load(id))).await,
            Records::Memory(store) => store.load(id).await,
        }
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        match &self.records {
            Records::Redis(store) => timed("session_delete", Box::pin(store.delete(id))).await,
            Records::Memory(store) => store.delete(id).await,
        }
    }
}

/// Admits a session a client address is about to start, under
/// `TROLLEY_NEW_SESSIONS_PER_MINUTE` (0: no limit): `Err(time until the minute
/// ends)` past it, so a bot cannot fill Redis with sessions and carts.
pub(crate) async fn admit_new_session(
    limiter: &dyn crate::store::LoginLimiter,
    address: &str,
    per_minute: u32,
) -> crate::store::StoreResult<Result<(), Duration>> {
    if per_minute == 0 {
        return Ok(Ok(()));
    }
    limiter
        .count_new_session(address, Duration::from_secs(60), per_minute)
        .await
}

tokio::task_local! {
    /// Whether the request being answered left its session's data as it was,
    /// so saving the record only slides its expiry.
    static ONLY_SLIDING: Cell<bool>;
}

/// Runs one request, tracking whether it changes its session's data (see
/// [`session_changed`]). Wraps the session layer, which saves the record in
/// the same task when the response goes out.
pub(crate) async fn track_request<F: Future>(request: F) -> F::Output {
    ONLY_SLIDING.scope(Cell::new(true), request).await
}

/// The request changed its session's data (a new cart, a sign-in): saving the
/// record is more than a slide, and a failure to save it must fail the request.
pub(crate) fn session_changed() {
    let _ = ONLY_SLIDING.try_with(|only| only.set(false));
}

fn only_sliding() -> bool {
    ONLY_SLIDING.try_with(Cell::get).unwrap_or(false)
}
