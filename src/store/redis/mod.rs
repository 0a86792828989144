//! The Redis store: carts as hashes changed only by the Lua scripts in
//! `src/store/lua/`, the catalog, accounts and login counters.
//!
//! * [`connect`]: URLs, TLS and the connection pool.
//! * [`scripts`]: the script table and the shared Lua prelude.
//! * [`keys`]: every key name (and the table of what each holds).
//! * [`reply`]: parsing the scripts' replies.
//! * `cart`, `cluster`, `catalog`, `accounts`: the store traits, and the login
//!   merge's three-step saga on Redis Cluster.

mod accounts;
mod cart;
mod catalog;
mod claims;
pub(crate) mod cluster;
pub(crate) mod connect;
pub(crate) mod failover;
mod keys;
mod reply;
mod scripts;

use std::{future::Future, sync::Arc, time::Duration};

use fred::prelude::*;

use scripts::Function;
use tokio::sync::Mutex;

pub use connect::RedisOptions;
#[cfg(feature = "test-hooks")]
pub use connect::parse_config;

use super::{StoreError, StoreResult, instrument};

/// Carts, catalog and accounts in Redis.
pub struct RedisStore {
    pool: Pool,
    scripts: scripts::Scripts,
    /// Cart numbers reserved by this replica: (next, last).
    cart_numbers: Mutex<(u64, u64)>,
    /// The server is a Redis Cluster: the login merge runs as three single-slot
    /// steps instead of one script over two slots.
    clustered: bool,
    /// Replicas every cart change must reach (`TROLLEY_REDIS_WAIT`), and how
    /// long `WAIT` may take for it.
    wait_replicas: u32,
    wait_timeout_ms: i64,
    /// Up while a Sentinel failover moves the primary: cart changes wait.
    fence: Arc<failover::WriteFence>,
    /// Sentinel `+switch-master` watchers (none without Sentinel), kept alive here.
    _failover_watchers: Vec<Client>,
}

impl RedisStore {
    /// Builds the connection pool (connecting in the background; see
    /// [`RedisStore::wait_connected`]).
    pub fn new(options: &RedisOptions) -> Result<Self, String> {
        let fence = Arc::new(failover::WriteFence::default());
        let (pool, clustered, watchers) = connect::connect_pool(options, &fence)?;
        Ok(RedisStore {
            pool,
            scripts: scripts::Scripts::new(),
            cart_numbers: Mutex::new((1, 0)),
            clustered,
            wait_replicas: options.wait_replicas,
            wait_timeout_ms: (options.timeout.as_millis() / 2).max(1) as i64,
            fence,
            _failover_watchers: watchers,
        })
    }

    /// The client the session store shares with the other stores.
    pub(crate) fn pool(&self) -> Pool {
        self.pool.clone()
    }

    /// Whether the server is a Redis Cluster.
    pub(crate) fn is_clustered(&self) -> bool {
        self.clustered
    }

    /// (connected, total) connections of the pool.
    pub(crate) fn pool_state(&self) -> (usize, usize) {
        let connected = self
            .pool
            .clients()
            .iter()
            .filter(|c| c.is_connected())
            .count();
        (connected, self.pool.size())
    }

    /// Waits until every connection is up, then loads the scripts' library (it
    /// is loaded again when a function is not found, e.g. after a Redis restart).
    pub async fn wait_connected(&self, within: Duration) -> StoreResult<()> {
        tokio::time::timeout(within, self.pool.wait_for_connect())
            .await
            .map_err(|_| {
                StoreError::Redis(fred::error::Error::new(
                    fred::error::ErrorKind::Timeout,
                    "could not connect to Redis in time",
                ))
            })??;
        Ok(self.load_library(self.pool.next()).await?)
    }

    /// `FUNCTION LOAD` of the scripts' library, on every primary of a Cluster.
    async fn load_library(&self, client: &Client) -> Result<(), fred::error::Error> {
        client
            .function_load_cluster::<(), _>(true, self.scripts.library.as_str())
            .await
    }

    /// Runs one Redis call, measured and traced under `operation`.
    async fn call<T>(
        &self,
        operation: &'static str,
        future: impl Future<Output = Result<T, fred::error::Error>>,
    ) -> StoreResult<T> {
        // Boxed: fred's command futures are large, and every await of an
        // unboxed one moves it through each wrapper (the profile showed 7% of
        // the CPU in memmove).
        instrument::redis_call(operation, Box::pin(future)).await
    }

    /// Runs a script's function (loading the library when Redis lacks it).
    async fn eval<T: FromValue>(
        &self,
        operation: &'static str,
        script: &Function,
        keys: Vec<String>,
        args: Vec<impl Into<Value> + Send>,
    ) -> StoreResult<T> {
        let args: Vec<Value> = args.into_iter().map(Into::into).collect();
        let client = self.pool.next();
        self.call(operation, async {
            match client
                .fcall(script.0.as_str(), keys.clone(), args.clone())
                .await
            {
                Err(error) if is_not_loaded(&error) => {
                    self.load_library(client).await?;
                    client.fcall(script.0.as_str(), keys, args).await
                }
                other => other,
            }
        })
        .await
    }
}

impl RedisStore {
    /// Runs a cart change, re-running it once when its reply may have been lost
    /// (the connection dropped or the reply did not come in time after the
    /// command was sent). The re-run carries the same operation id, which the
    /// cart remembers, so a change Redis did apply is answered, not applied again
    /// (see `write_gate` in `lua/prelude.lua`).
    async fn eval_change(
        &self,
        operation: &'static str,
        script: &Function,
        keys: Vec<String>,
        args: Vec<impl Into<Value> + Send>,
    ) -> StoreResult<Vec<String>> {
        let args: Vec<Value> = args.into_iter().map(Into::into).collect();
        if self.fence.is_up() {
            return Err(StoreError::NotWritable("a Sentinel failover is under way"));
        }
        match self.run_change(operation, script, &keys, &args).await {
            Err(StoreError::Redis(error)) if reply_may_be_lost(&error) => {
                tracing::warn!(operation, %error, "a cart change's reply may be lost; running it again with the same operation id");
                crate::metrics::cart_change_rerun(operation);
                self.run_change(operation, script, &keys, &args).await
            }
            other => other,
        }
    }

    /// One run of a cart change; with `TROLLEY_REDIS_WAIT`, pipelined with a
    /// `WAIT` on the same connection, so it is acknowledged only once that many
    /// replicas have it.
    async fn run_change(
        &self,
        operation: &'static str,
        script: &Function,
        keys: &[String],
        args: &[Value],
    ) -> StoreResult<Vec<String>> {
        if self.wait_replicas == 0 {
            return self
                .eval(operation, script, keys.to_vec(), args.to_vec())
                .await;
        }
        let client = self.pool.next();
        let wanted = self.wait_replicas;
        let fcall_and_wait = || async move {
            let pipeline = client.pipeline();
            let _: () = pipeline
                .fcall(script.0.as_str(), keys.to_vec(), args.to_vec())
                .await?;
            let _: () = pipeline
                .wait(i64::from(wanted), self.wait_timeout_ms)
                .await?;
            pipeline.all().await
        };
        let (reply, acked): (Vec<String>, i64) = self
            .call(operation, async {
                match fcall_and_wait().await {
                    Err(error) if is_not_loaded(&error) => {
                        // A restarted Redis lost the library: load it, then
                        // the same change (it did not run).
                        self.load_library(client).await?;
                        fcall_and_wait().await
                    }
                    other => other,
                }
            })
            .await?;
        // A stale session copy's answer changed nothing: no replica needs it.
        if acked < i64::from(wanted) && !reply::is_stale_session(&reply) {
            return Err(StoreError::NotReplicated { wanted, acked });
        }
        Ok(reply)
    }
}

/// Whether Redis answered that it has no such function: it lost the library.
fn is_not_loaded(error: &fred::error::Error) -> bool {
    error.details().contains("Function not found")
}

/// Whether a failed command may still have run in Redis.
fn reply_may_be_lost(error: &fred::error::Error) -> bool {
    matches!(
        error.kind(),
        fred::error::ErrorKind::IO
            | fred::error::ErrorKind::Timeout
            | fred::error::ErrorKind::Canceled
    )
}

/// A TTL as the scripts take it: whole milliseconds, at least 1.
fn ttl_ms(ttl: Duration) -> String {
    ttl.as_millis().max(1).to_string()
}
