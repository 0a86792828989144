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

use std::{
    cell::{Cell, RefCell},
    future::Future,
    sync::Arc,
    time::Duration,
};

use async_trait::async_trait;
use tower_sessions::{
    SessionStore,
    session::{Id, Record},
    session_store,
};

mod copies;
pub(crate) mod fields;
mod memory;

use crate::{
    cart::change::ServedCopy,
    store::{
        AccountStore, instrument,
        stores::{Backend, Stores},
    },
};
use copies::Copies;
use fields::record_user;
use memory::MemorySessions;

#[derive(Clone)]
enum Records {
    Redis {
        store: tower_sessions_redis_store::RedisStore<fred::clients::Pool>,
        /// The same pool, for reading a record's bytes when a copy is kept.
        pool: fred::clients::Pool,
        /// None: no copies (`TROLLEY_SESSION_COPIES=0`, or Redis Cluster).
        copies: Option<Arc<Copies>>,
    },
    Memory(MemorySessions),
}

impl std::fmt::Debug for Records {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Records::Redis { copies, .. } => f
                .debug_struct("Redis")
                .field("copies", &copies.is_some())
                .finish_non_exhaustive(),
            Records::Memory(store) => f.debug_tuple("Memory").field(store).finish(),
        }
    }
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
    /// in the stores' accounts for their max age. On Redis (not Cluster), up to
    /// `copies` records are also kept in this replica (see [`copies`]).
    pub(crate) fn new(stores: &Stores, copies: usize, ttl: Duration) -> Self {
        let max_age = stores.session_max_age;
        let records = match &stores.backend {
            Backend::Redis(store) => Records::Redis {
                store: tower_sessions_redis_store::RedisStore::new(store.pool()),
                pool: store.pool(),
                copies: if store.is_clustered() {
                    None
                } else {
                    Copies::new(copies, ttl, max_age).map(Arc::new)
                },
            },
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
            Records::Redis { store, copies, .. } => {
                copies.iter().for_each(|copies| copies.forget(&record.id));
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
            Records::Redis { store, copies, .. } => {
                copies.iter().for_each(|copies| copies.forget(&record.id));
                timed("session_save", Box::pin(store.save(record))).await
            }
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
        let uses = copy_use();
        match &self.records {
            Records::Redis {
                copies: Some(copies),
                pool,
                ..
            } if uses != CopyUse::Off => {
                if uses == CopyUse::Serve
                    && let Some((record, copy)) = copies.serve(id)
                {
                    let _ = REQUEST.try_with(|request| *request.served.borrow_mut() = Some(copy));
                    return Ok(Some(record));
                }
                crate::metrics::session_copy("loaded");
                load_and_copy(pool, copies, id).await
            }
            Records::Redis { store, .. } => timed("session_load", Box::pin(store.load(id))).await,
            Records::Memory(store) => store.load(id).await,
        }
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        match &self.records {
            Records::Redis { store, copies, .. } => {
                copies.iter().for_each(|copies| copies.forget(id));
                timed("session_delete", Box::pin(store.delete(id))).await
            }
            Records::Memory(store) => store.delete(id).await,
        }
    }
}

/// tower-sessions-redis-store's `load` (the same key, the same MessagePack),
/// keeping the bytes: a copy is checked against them.
async fn load_and_copy(
    pool: &fred::clients::Pool,
    copies: &Copies,
    id: &Id,
) -> session_store::Result<Option<Record>> {
    use fred::interfaces::KeysInterface;
    let bytes: Option<Vec<u8>> = timed(
        "session_load",
        Box::pin(async {
            pool.get(id.to_string())
                .await
                .map_err(|e| session_store::Error::Backend(e.to_string()))
        }),
    )
    .await?;
    let Some(bytes) = bytes else {
        copies.forget(id);
        return Ok(None);
    };
    let record: Record =
        rmp_serde::from_slice(&bytes).map_err(|e| session_store::Error::Decode(e.to_string()))?;
    copies.keep(*id, &bytes, &record);
    Ok(Some(record))
}

/// What the session store and the request's edge tell each other: the one
/// piece of per-request state that cannot travel in a signature, because
/// tower-sessions calls `load` and `save` without the request.
struct RequestSession {
    /// How the request may use this replica's copies of session records.
    copies: CopyUse,
    /// The copy `load` served, for the edge to hand to the first cart script.
    served: RefCell<Option<ServedCopy>>,
    /// The request left its session's data as it was, so saving the record
    /// only slides its expiry.
    only_sliding: Cell<bool>,
}

tokio::task_local! {
    static REQUEST: RequestSession;
}

/// How a request may use this replica's copies of session records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CopyUse {
    /// A cart route, whose every use of the record goes through a cart script
    /// that checks it: served from the copy when there is one.
    Serve,
    /// A cart request run again after its copy was found stale: read from
    /// Redis, and the copy replaced (or dropped) by what Redis holds.
    Refresh,
    /// Any other route: read from Redis.
    Off,
}

/// Runs one request with `copies`, tracking whether it changes its session's
/// data (see [`session_changed`]). Wraps the session layer, which loads the
/// record on the first read and saves it in the same task when the response
/// goes out.
pub(crate) async fn track_request<F: Future>(copies: CopyUse, request: F) -> F::Output {
    let tracked = RequestSession {
        copies,
        served: RefCell::new(None),
        only_sliding: Cell::new(true),
    };
    REQUEST.scope(tracked, request).await
}

/// The copy of its record this request was served, if any (after the
/// session's first read).
pub(crate) fn served_copy() -> Option<ServedCopy> {
    REQUEST
        .try_with(|request| request.served.borrow().clone())
        .ok()
        .flatten()
}

fn copy_use() -> CopyUse {
    REQUEST
        .try_with(|request| request.copies)
        .unwrap_or(CopyUse::Off)
}

/// The request changed its session's data (a new cart, a sign-in): saving the
/// record is more than a slide, and a failure to save it must fail the request.
pub(crate) fn session_changed() {
    let _ = REQUEST.try_with(|request| request.only_sliding.set(false));
}

fn only_sliding() -> bool {
    REQUEST
        .try_with(|request| request.only_sliding.get())
        .unwrap_or(false)
}
