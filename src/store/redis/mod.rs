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
pub(crate) mod cluster;
pub(crate) mod connect;
mod keys;
mod reply;
mod scripts;

use std::{future::Future, time::Duration};

use fred::{prelude::*, types::scripts::Script};
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
}

impl RedisStore {
    /// Builds the connection pool (connecting in the background; see
    /// [`RedisStore::wait_connected`]).
    pub fn new(options: &RedisOptions) -> Result<Self, String> {
        let (pool, clustered) = connect::connect_pool(options)?;
        Ok(RedisStore {
            pool,
            scripts: scripts::Scripts::new(),
            cart_numbers: Mutex::new((1, 0)),
            clustered,
        })
    }

    /// The client the session store shares with the other stores.
    pub(crate) fn pool(&self) -> Pool {
        self.pool.clone()
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

    /// Waits until every connection is up, then loads the scripts (they are
    /// re-loaded on NOSCRIPT too, e.g. after a Redis restart or failover).
    pub async fn wait_connected(&self, within: Duration) -> StoreResult<()> {
        tokio::time::timeout(within, self.pool.wait_for_connect())
            .await
            .map_err(|_| {
                StoreError::Redis(fred::error::Error::new(
                    fred::error::ErrorKind::Timeout,
                    "could not connect to Redis in time",
                ))
            })??;
        for script in self.scripts.all() {
            script.load(self.pool.next()).await?;
        }
        Ok(())
    }

    /// Runs one Redis call, measured and traced under `operation`.
    async fn call<T>(
        &self,
        operation: &'static str,
        future: impl Future<Output = Result<T, fred::error::Error>>,
    ) -> StoreResult<T> {
        instrument::redis_call(operation, future).await
    }

    /// Runs a script by SHA (loading it on NOSCRIPT).
    async fn eval<T: FromValue>(
        &self,
        operation: &'static str,
        script: &Script,
        keys: Vec<String>,
        args: Vec<String>,
    ) -> StoreResult<T> {
        self.call(
            operation,
            script.evalsha_with_reload(self.pool.next(), keys, args),
        )
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
        script: &Script,
        keys: Vec<String>,
        args: Vec<String>,
    ) -> StoreResult<Vec<String>> {
        match self
            .eval(operation, script, keys.clone(), args.clone())
            .await
        {
            Err(StoreError::Redis(error)) if reply_may_be_lost(&error) => {
                tracing::warn!(operation, %error, "a cart change's reply may be lost; running it again with the same operation id");
                crate::metrics::cart_change_rerun(operation);
                self.eval(operation, script, keys, args).await
            }
            other => other,
        }
    }
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
