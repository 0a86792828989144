//! The Redis store: carts as hashes changed only by the Lua scripts in `lua/`,
//! the catalog, accounts and login counters.
//!
//! # Keys
//!
//! Every key one script touches shares one hash tag, so the cart scripts run on
//! Redis Cluster unchanged (see docs/ARCHITECTURE.md for TTLs and slots):
//!
//! | key | type | what |
//! |---|---|---|
//! | `trolley:{cart:<no>}` | hash | a cart (layout in `lua/cart_add.lua`) |
//! | `trolley:{cart:<no>}:merged` | string | tombstone of a guest cart merged at login: the user's cart number; `sealed:<user cart no>` while a Cluster merge is under way |
//! | `trolley:{cart:<no>}:absorbed` | set | guest cart numbers a Cluster merge applied to this user cart |
//! | `trolley:cart-seq` | string | the cart-number counter (allocated in blocks) |
//! | `trolley:{catalog}:products`, `trolley:{catalog}:version` | hash, string | the catalog |
//! | `trolley:{user:<name>}` | hash | an account: `password`, `cart_no`, `cart_id` |
//! | `trolley:{user:<name>}:sessions` | set | the account's session ids |
//! | `trolley:{login-failures:<user or ip>:<value>}` | string | failed-login counter |
//! | `<session id>` | string | a session record (tower-sessions-redis-store, unprefixed) |

use std::{future::Future, str::FromStr, time::Duration};

use async_trait::async_trait;
use fred::{
    prelude::*,
    types::{
        config::{Config as FredConfig, ReconnectPolicy, UnresponsiveConfig},
        scripts::Script,
    },
};
use rust_decimal::Decimal;
use tokio::sync::Mutex;

use super::{
    AddOutcome, CartPolicy, CartStore, ClearOutcome, LineOutcome, MergeReport, NewItem, StoreError,
    StoreResult, StoredCatalog, UserRecord,
};
use crate::{
    cart::{
        model::{CartRef, Line, LineId, MAX_CART_NO, Product, ProductId},
        rules::MergeRule,
    },
    config::RedisSettings,
    metrics,
};

/// How many cart numbers a replica reserves at once: one INCRBY per block.
const CART_NO_BLOCK: u64 = 64;

/// The store's Lua scripts, each loaded once and run by SHA.
struct Scripts {
    cart_read: Script,
    cart_add: Script,
    cart_set_quantity: Script,
    cart_remove: Script,
    cart_clear: Script,
    cart_merge: Script,
    cart_seal: Script,
    cart_absorb: Script,
    cart_seal_done: Script,
    user_cart: Script,
    login_failure: Script,
    catalog_replace: Script,
    catalog_read: Script,
}

impl Scripts {
    fn new() -> Self {
        Scripts {
            cart_read: Script::from_lua(include_str!("lua/cart_read.lua")),
            cart_add: Script::from_lua(include_str!("lua/cart_add.lua")),
            cart_set_quantity: Script::from_lua(include_str!("lua/cart_set_quantity.lua")),
            cart_remove: Script::from_lua(include_str!("lua/cart_remove.lua")),
            cart_clear: Script::from_lua(include_str!("lua/cart_clear.lua")),
            cart_merge: Script::from_lua(concat!(
                include_str!("lua/merge_lines.lua"),
                include_str!("lua/cart_merge.lua")
            )),
            cart_seal: Script::from_lua(include_str!("lua/cart_seal.lua")),
            cart_absorb: Script::from_lua(concat!(
                include_str!("lua/merge_lines.lua"),
                include_str!("lua/cart_absorb.lua")
            )),
            cart_seal_done: Script::from_lua(include_str!("lua/cart_seal_done.lua")),
            user_cart: Script::from_lua(include_str!("lua/user_cart.lua")),
            login_failure: Script::from_lua(include_str!("lua/login_failure.lua")),
            catalog_replace: Script::from_lua(include_str!("lua/catalog_replace.lua")),
            catalog_read: Script::from_lua(include_str!("lua/catalog_read.lua")),
        }
    }

    fn all(&self) -> [&Script; 13] {
        [
            &self.cart_read,
            &self.cart_add,
            &self.cart_set_quantity,
            &self.cart_remove,
            &self.cart_clear,
            &self.cart_merge,
            &self.cart_seal,
            &self.cart_absorb,
            &self.cart_seal_done,
            &self.user_cart,
            &self.login_failure,
            &self.catalog_replace,
            &self.catalog_read,
        ]
    }
}

/// Key names, in one place.
mod keys {
    pub fn cart(no: u64) -> String {
        format!("trolley:{{cart:{no}}}")
    }
    pub fn tombstone(no: u64) -> String {
        format!("trolley:{{cart:{no}}}:merged")
    }
    pub fn absorbed(no: u64) -> String {
        format!("trolley:{{cart:{no}}}:absorbed")
    }
    pub const CART_SEQ: &str = "trolley:cart-seq";
    pub const CATALOG_PRODUCTS: &str = "trolley:{catalog}:products";
    pub const CATALOG_VERSION: &str = "trolley:{catalog}:version";
    pub fn user(name: &str) -> String {
        format!("trolley:{{user:{name}}}")
    }
    pub fn user_sessions(name: &str) -> String {
        format!("trolley:{{user:{name}}}:sessions")
    }
    pub fn login_failures(key: &str) -> String {
        format!("trolley:{{login-failures:{key}}}")
    }
}

/// Parses a Redis URL into fred's config, with an optional password override.
pub fn parse_config(url: &str, settings: &RedisSettings) -> Result<FredConfig, String> {
    // fred builds a rustls config for rediss:// URLs while parsing.
    crate::app::install_crypto_provider();
    const SCHEMES: [&str; 6] = [
        "redis://",
        "rediss://",
        "redis-sentinel://",
        "rediss-sentinel://",
        "redis-cluster://",
        "rediss-cluster://",
    ];
    if !SCHEMES.iter().any(|scheme| url.starts_with(scheme)) {
        return Err(format!("expected one of {}", SCHEMES.join(", ")));
    }
    let url = comma_nodes_to_query(url);
    let mut config = FredConfig::from_url(&url).map_err(|e| e.details().to_string())?;
    if let Some(password) = &settings.password {
        config.password = Some(password.clone());
    }
    if let Some(ca_file) = &settings.ca_file {
        if config.tls.is_none() {
            return Err("TROLLEY_REDIS_CA_FILE is set but the URL is not rediss://".into());
        }
        config.tls = Some(tls_trusting(ca_file)?.into());
    }
    // Keep retrying the first connection too, so a replica started before Redis
    // comes up by itself (readiness says 503 meanwhile).
    config.fail_fast = false;
    Ok(config)
}

/// Accepts the common `redis-cluster://:pw@n1:6379,n2:6379,n3:6379/0` form (and
/// the same for Sentinel) by rewriting it to fred's `…@n1:6379/0?node=n2:6379&node=n3:6379`.
fn comma_nodes_to_query(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    if !(scheme.ends_with("-cluster") || scheme.ends_with("-sentinel")) {
        return url.to_string();
    }
    let (authority, tail) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let (userinfo, hosts) = match authority.rsplit_once('@') {
        Some((userinfo, hosts)) => (Some(userinfo), hosts),
        None => (None, authority),
    };
    let mut nodes = hosts.split(',').filter(|n| !n.is_empty());
    let Some(first) = nodes.next() else {
        return url.to_string();
    };
    let others: Vec<&str> = nodes.collect();
    if others.is_empty() {
        return url.to_string();
    }
    let (path, query) = match tail.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (tail, None),
    };
    let mut params: Vec<String> = others.iter().map(|n| format!("node={n}")).collect();
    if let Some(query) = query.filter(|q| !q.is_empty()) {
        params.push(query.to_string());
    }
    let userinfo = userinfo.map(|u| format!("{u}@")).unwrap_or_default();
    format!("{scheme}://{userinfo}{first}{path}?{}", params.join("&"))
}

/// A TLS client configuration that trusts only the CA certificates of a PEM file.
fn tls_trusting(ca_file: &std::path::Path) -> Result<rustls::ClientConfig, String> {
    use rustls::pki_types::{CertificateDer, pem::PemObject};
    let shown = ca_file.display();
    let mut roots = rustls::RootCertStore::empty();
    for cert in
        CertificateDer::pem_file_iter(ca_file).map_err(|e| format!("cannot read {shown}: {e}"))?
    {
        let cert = cert.map_err(|e| format!("{shown}: {e}"))?;
        roots.add(cert).map_err(|e| format!("{shown}: {e}"))?;
    }
    if roots.is_empty() {
        return Err(format!("{shown} holds no certificate"));
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// Carts, catalog and accounts in Redis.
pub struct RedisStore {
    pool: Pool,
    scripts: Scripts,
    /// Cart numbers reserved by this replica: (next, last).
    cart_numbers: Mutex<(u64, u64)>,
    /// The server is a Redis Cluster: the login merge runs as three single-slot
    /// steps instead of one script over two slots.
    clustered: bool,
}

impl RedisStore {
    /// Builds the connection pool: command timeout, reconnection forever with
    /// backoff, and detection of half-open connections. Connecting happens in the
    /// background; [`RedisStore::wait_connected`] waits for it.
    pub fn new(url: &str, settings: &RedisSettings) -> Result<Self, String> {
        let config = parse_config(url, settings)?;
        let clustered = config.server.is_clustered();
        let (pool_size, timeout) = (settings.pool_size, settings.timeout);
        let pool = Builder::from_config(config)
            .with_performance_config(|perf| {
                perf.default_command_timeout = timeout;
            })
            .with_connection_config(|conn| {
                conn.connection_timeout = timeout.max(Duration::from_secs(1));
                conn.internal_command_timeout = timeout.max(Duration::from_secs(1));
                // Fail a command rather than replay it after a reconnection: the
                // caller already answered 503 when its timeout passed.
                conn.max_command_attempts = 1;
                // A connection that stops answering (half-open TCP, a paused Redis)
                // is closed and reconnected instead of hanging every command.
                conn.unresponsive = UnresponsiveConfig {
                    max_timeout: Some(timeout.max(Duration::from_millis(500)) * 2),
                    interval: Duration::from_millis(250),
                };
            })
            // 0 attempts = retry forever: from 50 ms doubling up to 2 s.
            .set_policy(ReconnectPolicy::new_exponential(0, 50, 2_000, 2))
            .build_pool(pool_size as usize)
            .map_err(|e| e.details().to_string())?;
        pool.connect_pool();
        Ok(RedisStore {
            pool,
            scripts: Scripts::new(),
            cart_numbers: Mutex::new((1, 0)),
            clustered,
        })
    }

    /// The client the session store shares with the cart store.
    pub fn pool(&self) -> Pool {
        self.pool.clone()
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
        metrics::redis_call(operation, async { future.await.map_err(StoreError::from) }).await
    }

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

fn ttl_ms(ttl: Duration) -> String {
    ttl.as_millis().max(1).to_string()
}

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

/// Parses a stored line value `product|quantity|price|added ms`.
fn parse_line(id: &str, value: &str) -> StoreResult<Line> {
    let mut parts = value.split('|');
    let (Some(product), Some(quantity), Some(price), Some(added), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(corrupt(format!("line {id}")));
    };
    Ok(Line {
        id: LineId(id.parse().map_err(|_| corrupt(format!("line id {id}")))?),
        product_id: ProductId(product.parse().map_err(|_| corrupt(format!("line {id}")))?),
        quantity: quantity
            .parse()
            .map_err(|_| corrupt(format!("line {id}")))?,
        price: Decimal::from_str(price).map_err(|_| corrupt(format!("line {id}")))?,
        added_at_ms: added.parse().map_err(|_| corrupt(format!("line {id}")))?,
    })
}

/// Parses a script's `{'ok', id, product, quantity, price, added}` reply.
fn parse_line_reply(reply: &[String]) -> StoreResult<Line> {
    match reply {
        [_, id, product, quantity, price, added] => {
            parse_line(id, &format!("{product}|{quantity}|{price}|{added}"))
        }
        _ => Err(corrupt("script reply")),
    }
}

fn parse_ids(list: &str) -> StoreResult<Vec<LineId>> {
    list.split(',')
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().map(LineId).map_err(|_| corrupt("line id list")))
        .collect()
}

fn line_args(cart: &CartRef) -> Vec<String> {
    vec![keys::cart(cart.no), keys::tombstone(cart.no)]
}

/// Parses the `{'already'}` or `{'merged', moved, combined, clamped, dropped}`
/// reply of `cart_merge.lua` and `cart_absorb.lua`.
fn merge_report(reply: &[String]) -> StoreResult<MergeReport> {
    match reply {
        [status] if status == "already" => Ok(MergeReport {
            already_merged: true,
            ..MergeReport::default()
        }),
        [status, moved, combined, clamped, dropped] if status == "merged" => Ok(MergeReport {
            already_merged: false,
            lines_moved: moved.parse().map_err(|_| corrupt("merge reply"))?,
            lines_combined: combined.parse().map_err(|_| corrupt("merge reply"))?,
            clamped: parse_ids(clamped)?,
            dropped: parse_ids(dropped)?,
        }),
        _ => Err(corrupt("merge reply")),
    }
}

/// Where a Cluster merge stops early, as a crash or a timeout there would stop it
/// (for tests: [`RedisStore::interrupted_cluster_merge`]).
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MergeStop {
    /// The guest cart is sealed; nothing was applied to the user's cart.
    AfterSeal,
    /// The lines are in the user's cart; the guest cart is still there, sealed.
    AfterAbsorb,
}

impl RedisStore {
    /// The login merge on Redis Cluster, where the two carts live in two slots: a
    /// saga of three single-slot scripts.
    ///
    /// 1. `cart_seal.lua` (guest slot): the tombstone becomes `sealed:<user no>`,
    ///    so the cart scripts refuse the guest cart from now on, and its lines are
    ///    read in the same step.
    /// 2. `cart_absorb.lua` (user slot): the lines are applied by the merge rules,
    ///    and the guest cart number goes into the user cart's absorbed set; a
    ///    number already there means the lines were applied: nothing happens.
    /// 3. `cart_seal_done.lua` (guest slot): the guest cart goes, the tombstone
    ///    becomes `<user no>`, as the single-node merge leaves it.
    ///
    /// A crash or a timeout between steps leaves the seal (the login answered 503
    /// and kept its guest session); the next login with that guest cart reads the
    /// unchanged lines again and carries on, and step 2 never applies them twice.
    async fn merge_on_cluster(
        &self,
        guest: &CartRef,
        user: &CartRef,
        rule: MergeRule,
        policy: CartPolicy,
        stop: Option<MergeStop>,
    ) -> StoreResult<MergeReport> {
        let already = MergeReport {
            already_merged: true,
            ..MergeReport::default()
        };
        let ttl = ttl_ms(policy.ttl);
        let sealed: Vec<String> = self
            .eval(
                "cart_seal",
                &self.scripts.cart_seal,
                line_args(guest),
                vec![user.no.to_string(), ttl.clone()],
            )
            .await?;
        let (target, lines) = match sealed.as_slice() {
            [status] if status == "already" => return Ok(already),
            [status, target, lines @ ..] if status == "sealed" && lines.len() % 2 == 0 => (
                target.parse::<u64>().map_err(|_| corrupt("seal reply"))?,
                lines,
            ),
            _ => return Err(corrupt("seal reply")),
        };
        if stop == Some(MergeStop::AfterSeal) {
            return Ok(already);
        }
        // A seal keeps the cart of the login that made it. If that login (of
        // another account, with the same guest session) was interrupted, its merge
        // is finished into its cart, where the lines may be already; this login
        // gets nothing from the guest cart, as after a completed merge.
        let own = target == user.no;
        let mut args = vec![
            guest.no.to_string(),
            if own { user.id.clone() } else { String::new() },
            rule.as_str().to_string(),
            policy.limits.max_quantity.to_string(),
            policy.limits.max_lines.to_string(),
            ttl.clone(),
        ];
        args.extend(lines.iter().cloned());
        let reply: Vec<String> = self
            .eval(
                "cart_absorb",
                &self.scripts.cart_absorb,
                vec![keys::cart(target), keys::absorbed(target)],
                args,
            )
            .await?;
        let report = merge_report(&reply)?;
        if stop == Some(MergeStop::AfterAbsorb) {
            return Ok(report);
        }
        let _: String = self
            .eval(
                "cart_seal_done",
                &self.scripts.cart_seal_done,
                line_args(guest),
                vec![target.to_string(), ttl],
            )
            .await?;
        if !own {
            tracing::warn!(
                guest_cart = guest.no,
                sealed_for = target,
                "a guest cart sealed by an interrupted login of another account was merged into that account's cart"
            );
            return Ok(already);
        }
        Ok(report)
    }

    /// Test hook: runs the Cluster merge's steps up to `stop` and leaves the
    /// state a crash there would leave (works on a single node too).
    #[doc(hidden)]
    pub async fn interrupted_cluster_merge(
        &self,
        guest: &CartRef,
        user: &CartRef,
        rule: MergeRule,
        policy: CartPolicy,
        stop: MergeStop,
    ) -> StoreResult<MergeReport> {
        self.merge_on_cluster(guest, user, rule, policy, Some(stop))
            .await
    }
}

#[async_trait]
impl CartStore for RedisStore {
    async fn allocate_cart_no(&self) -> StoreResult<u64> {
        let mut numbers = self.cart_numbers.lock().await;
        if numbers.0 > numbers.1 {
            let last: u64 = self
                .call(
                    "cart_seq",
                    self.pool
                        .next()
                        .incr_by(keys::CART_SEQ, CART_NO_BLOCK as i64),
                )
                .await?;
            if last > MAX_CART_NO {
                return Err(corrupt("cart numbers exhausted"));
            }
            *numbers = (last + 1 - CART_NO_BLOCK, last);
        }
        let no = numbers.0;
        numbers.0 += 1;
        Ok(no)
    }

    async fn read_cart(&self, cart: &CartRef, ttl: Duration) -> StoreResult<Vec<Line>> {
        let fields: Vec<String> = self
            .eval(
                "cart_read",
                &self.scripts.cart_read,
                vec![keys::cart(cart.no)],
                vec![ttl_ms(ttl)],
            )
            .await?;
        fields
            .chunks_exact(2)
            .filter_map(|pair| {
                pair[0]
                    .strip_prefix("l:")
                    .map(|id| parse_line(id, &pair[1]))
            })
            .collect()
    }

    async fn add_item(
        &self,
        cart: &CartRef,
        item: &NewItem,
        policy: CartPolicy,
    ) -> StoreResult<AddOutcome> {
        let reply: Vec<String> = self
            .eval(
                "cart_add",
                &self.scripts.cart_add,
                line_args(cart),
                vec![
                    cart.id.clone(),
                    cart.no.to_string(),
                    item.product_id.0.to_string(),
                    item.quantity.to_string(),
                    item.price.normalize().to_string(),
                    item.now_ms.to_string(),
                    ttl_ms(policy.ttl),
                    policy.limits.max_quantity.to_string(),
                    policy.limits.max_lines.to_string(),
                ],
            )
            .await?;
        match reply.first().map(String::as_str) {
            Some("ok") => Ok(AddOutcome::Added(parse_line_reply(&reply)?)),
            Some("too_many") => Ok(AddOutcome::QuantityAboveMax),
            Some("full") => Ok(AddOutcome::CartFull),
            Some("merged") => Ok(AddOutcome::CartMerged),
            _ => Err(corrupt("cart_add reply")),
        }
    }

    async fn set_quantity(
        &self,
        cart: &CartRef,
        line: LineId,
        quantity: u32,
        policy: CartPolicy,
    ) -> StoreResult<LineOutcome> {
        let reply: Vec<String> = self
            .eval(
                "cart_set_quantity",
                &self.scripts.cart_set_quantity,
                line_args(cart),
                vec![line.0.to_string(), quantity.to_string(), ttl_ms(policy.ttl)],
            )
            .await?;
        line_outcome(&reply)
    }

    async fn remove_line(
        &self,
        cart: &CartRef,
        line: LineId,
        policy: CartPolicy,
    ) -> StoreResult<LineOutcome> {
        let reply: Vec<String> = self
            .eval(
                "cart_remove",
                &self.scripts.cart_remove,
                line_args(cart),
                vec![line.0.to_string(), ttl_ms(policy.ttl)],
            )
            .await?;
        line_outcome(&reply)
    }

    async fn clear_cart(&self, cart: &CartRef, policy: CartPolicy) -> StoreResult<ClearOutcome> {
        let reply: String = self
            .eval(
                "cart_clear",
                &self.scripts.cart_clear,
                line_args(cart),
                vec![ttl_ms(policy.ttl)],
            )
            .await?;
        match reply.as_str() {
            "ok" => Ok(ClearOutcome::Cleared),
            "merged" => Ok(ClearOutcome::CartMerged),
            _ => Err(corrupt("cart_clear reply")),
        }
    }

    async fn line_exists(&self, line: LineId) -> StoreResult<bool> {
        // The id names the cart that created the line; a line moved by a login
        // merge is found through that cart's tombstone.
        let field = format!("l:{}", line.0);
        let origin = line.cart_no();
        let client = self.pool.next();
        let here: bool = self
            .call("line_owner", client.hexists(keys::cart(origin), &field))
            .await?;
        if here {
            return Ok(true);
        }
        // The tombstone holds `<user cart no>` once merged, `sealed:<user cart no>`
        // while a Cluster merge is under way (the line may be in either cart then).
        let tombstone: Option<String> = self
            .call("line_owner", client.get(keys::tombstone(origin)))
            .await?;
        let moved_to = match tombstone.as_deref() {
            Some(value) => Some(
                value
                    .strip_prefix("sealed:")
                    .unwrap_or(value)
                    .parse::<u64>()
                    .map_err(|_| corrupt("merge tombstone"))?,
            ),
            None => None,
        };
        match moved_to {
            Some(no) => {
                self.call("line_owner", client.hexists(keys::cart(no), &field))
                    .await
            }
            None => Ok(false),
        }
    }

    async fn ping(&self) -> StoreResult<()> {
        let _: String = self.call("ping", self.pool.next().ping(None)).await?;
        Ok(())
    }

    async fn catalog_version(&self) -> StoreResult<u64> {
        let version: Option<u64> = self
            .call(
                "catalog_version",
                self.pool.next().get(keys::CATALOG_VERSION),
            )
            .await?;
        Ok(version.unwrap_or(0))
    }

    async fn load_catalog(&self) -> StoreResult<StoredCatalog> {
        let reply: Vec<String> = self
            .eval(
                "catalog_read",
                &self.scripts.catalog_read,
                vec![keys::CATALOG_PRODUCTS.into(), keys::CATALOG_VERSION.into()],
                vec![],
            )
            .await?;
        let (version, fields) = reply.split_first().ok_or_else(|| corrupt("catalog"))?;
        let products = fields
            .chunks_exact(2)
            .map(|pair| serde_json::from_str(&pair[1]).map_err(|_| corrupt("catalog product")))
            .collect::<StoreResult<Vec<Product>>>()?;
        Ok(StoredCatalog {
            version: version.parse().map_err(|_| corrupt("catalog version"))?,
            products,
        })
    }

    async fn replace_catalog(&self, products: &[Product], only_if_empty: bool) -> StoreResult<u64> {
        let mut args = Vec::with_capacity(products.len() * 2 + 1);
        args.push(if only_if_empty { "if_empty" } else { "always" }.to_string());
        for product in products {
            args.push(product.id.0.to_string());
            args.push(serde_json::to_string(product).map_err(corrupt)?);
        }
        self.eval(
            "catalog_replace",
            &self.scripts.catalog_replace,
            vec![keys::CATALOG_PRODUCTS.into(), keys::CATALOG_VERSION.into()],
            args,
        )
        .await
    }

    async fn user(&self, username: &str) -> StoreResult<Option<UserRecord>> {
        let (password, cart_no, cart_id): (Option<String>, Option<u64>, Option<String>) = self
            .call(
                "user_read",
                self.pool
                    .next()
                    .hmget(keys::user(username), vec!["password", "cart_no", "cart_id"]),
            )
            .await?;
        Ok(password.map(|password_hash| UserRecord {
            password_hash,
            cart: cart_no.zip(cart_id).map(|(no, id)| CartRef { no, id }),
        }))
    }

    async fn put_user(&self, username: &str, password_hash: &str) -> StoreResult<bool> {
        let added: u32 = self
            .call(
                "user_write",
                self.pool
                    .next()
                    .hset(keys::user(username), ("password", password_hash)),
            )
            .await?;
        Ok(added == 1)
    }

    async fn remove_user(&self, username: &str) -> StoreResult<bool> {
        let client = self.pool.next();
        let Some(record) = self.user(username).await? else {
            return Ok(false);
        };
        // The account goes first, so no new login can start while its sessions go.
        let _: u32 = self
            .call("user_write", client.del(keys::user(username)))
            .await?;
        let sessions: Vec<String> = self
            .call(
                "user_sessions",
                client.smembers(keys::user_sessions(username)),
            )
            .await?;
        for session in sessions {
            let _: u32 = self.call("session_delete", client.del(session)).await?;
        }
        let _: u32 = self
            .call("user_sessions", client.del(keys::user_sessions(username)))
            .await?;
        if let Some(cart) = record.cart {
            let _: u32 = self
                .call("cart_delete", client.del(keys::cart(cart.no)))
                .await?;
        }
        Ok(true)
    }

    async fn ensure_user_cart(&self, username: &str, candidate: &CartRef) -> StoreResult<CartRef> {
        let reply: Vec<Option<String>> = self
            .eval(
                "user_cart",
                &self.scripts.user_cart,
                vec![keys::user(username)],
                vec![candidate.no.to_string(), candidate.id.clone()],
            )
            .await?;
        match reply.as_slice() {
            [Some(no), Some(id)] => Ok(CartRef {
                no: no.parse().map_err(|_| corrupt("user cart"))?,
                id: id.clone(),
            }),
            _ => Err(corrupt("user vanished during login")),
        }
    }

    async fn track_session(
        &self,
        username: &str,
        session_id: &str,
        ttl: Duration,
    ) -> StoreResult<()> {
        let key = keys::user_sessions(username);
        // SADD and PEXPIRE in one round trip.
        let pipeline = self.pool.next().pipeline();
        let _: (u32, bool) = self
            .call("user_sessions", async {
                let _: () = pipeline.sadd(&key, session_id).await?;
                let _: () = pipeline.pexpire(&key, ttl.as_millis() as i64, None).await?;
                pipeline.all().await
            })
            .await?;
        Ok(())
    }

    async fn merge_carts(
        &self,
        guest: &CartRef,
        user: &CartRef,
        rule: MergeRule,
        policy: CartPolicy,
    ) -> StoreResult<MergeReport> {
        if self.clustered {
            return self.merge_on_cluster(guest, user, rule, policy, None).await;
        }
        let reply: Vec<String> = self
            .eval(
                "cart_merge",
                &self.scripts.cart_merge,
                vec![
                    keys::cart(guest.no),
                    keys::tombstone(guest.no),
                    keys::cart(user.no),
                ],
                vec![
                    user.no.to_string(),
                    user.id.clone(),
                    rule.as_str().to_string(),
                    policy.limits.max_quantity.to_string(),
                    policy.limits.max_lines.to_string(),
                    ttl_ms(policy.ttl),
                ],
            )
            .await?;
        merge_report(&reply)
    }

    async fn record_login_failure(&self, key: &str, window: Duration) -> StoreResult<u32> {
        self.eval(
            "login_failure",
            &self.scripts.login_failure,
            vec![keys::login_failures(key)],
            vec![ttl_ms(window)],
        )
        .await
    }

    async fn login_failures(&self, key: &str) -> StoreResult<(u32, Duration)> {
        let key = keys::login_failures(key);
        // GET and PTTL in one round trip.
        let pipeline = self.pool.next().pipeline();
        let (count, ttl): (Option<u32>, i64) = self
            .call("login_failures", async {
                let _: () = pipeline.get(&key).await?;
                let _: () = pipeline.pttl(&key).await?;
                pipeline.all().await
            })
            .await?;
        Ok((count.unwrap_or(0), Duration::from_millis(ttl.max(0) as u64)))
    }

    async fn reset_login_failures(&self, key: &str) -> StoreResult<()> {
        let _: u32 = self
            .call(
                "login_failures",
                self.pool.next().del(keys::login_failures(key)),
            )
            .await?;
        Ok(())
    }
}

fn line_outcome(reply: &[String]) -> StoreResult<LineOutcome> {
    match reply.first().map(String::as_str) {
        Some("ok") => Ok(LineOutcome::Done(parse_line_reply(reply)?)),
        Some("missing") => Ok(LineOutcome::NotInCart),
        Some("merged") => Ok(LineOutcome::CartMerged),
        _ => Err(corrupt("cart script reply")),
    }
}

#[cfg(test)]
mod tests {
    use super::{comma_nodes_to_query, parse_config};
    use crate::config::RedisSettings;

    #[test]
    fn the_urls_the_helm_chart_renders_parse_to_their_topology() {
        let settings = RedisSettings {
            url: None,
            password: Some("from-a-secret".into()),
            ca_file: None,
            pool_size: 4,
            timeout: std::time::Duration::from_secs(1),
        };
        let sentinel = parse_config(
            "redis-sentinel://redis-node-0.redis-headless:26379,redis-node-1.redis-headless:26379/0?sentinelServiceName=mymaster",
            &settings,
        )
        .expect("sentinel url");
        assert!(matches!(
            sentinel.server,
            fred::types::config::ServerConfig::Sentinel { ref hosts, ref service_name, .. }
                if hosts.len() == 2 && service_name == "mymaster"
        ));
        assert_eq!(sentinel.password.as_deref(), Some("from-a-secret"));
        let cluster = parse_config(
            "rediss-cluster://redis-cluster-0.h:6379,redis-cluster-1.h:6379,redis-cluster-2.h:6379",
            &settings,
        )
        .expect("cluster url");
        assert!(cluster.server.is_clustered());
        assert_eq!(cluster.server.hosts().len(), 3);
        assert!(cluster.tls.is_some());
        assert!(parse_config("mysql://nope", &settings).is_err());
    }

    #[test]
    fn comma_separated_nodes_become_fred_node_parameters() {
        assert_eq!(
            comma_nodes_to_query("redis-cluster://:pw@n1:6379,n2:6379,n3:6379"),
            "redis-cluster://:pw@n1:6379?node=n2:6379&node=n3:6379"
        );
        assert_eq!(
            comma_nodes_to_query(
                "redis-sentinel://s1:26379,s2:26379/0?sentinelServiceName=mymaster"
            ),
            "redis-sentinel://s1:26379/0?node=s2:26379&sentinelServiceName=mymaster"
        );
        for unchanged in [
            "redis://:pw@host:6379/0",
            "redis-cluster://n1:6379?node=n2:6379",
            "redis-sentinel://s1:26379/0?sentinelServiceName=mymaster",
        ] {
            assert_eq!(comma_nodes_to_query(unchanged), unchanged);
        }
    }
}
