//! trolley: a session-backed shopping-cart service. Stateless axum replicas keep
//! sessions and carts in Redis, so any replica serves any request.
//!
//! # Layout
//!
//! Imports run one way, top to bottom; nothing below knows what is above it.
//!
//! * `main.rs` parses the command line and dispatches to [`commands`].
//! * [`app`] builds the service (stores, catalog, routers, ports) and runs it;
//!   [`config`] holds the typed settings and splits them into sections.
//! * `state`: `AppState`, what the handlers share.
//! * `http/`: **the edge**, the only place that knows HTTP: `routes` (every
//!   route and the middleware order), `error` (`ApiError` and the mapping of
//!   domain outcomes onto statuses), `extract` (JSON bodies, the typed session),
//!   `observe` (request telemetry), and thin handlers: `perfshop`, `minimal`,
//!   `auth`, `products`, `admin`.
//! * `service/`: **the second edge**, the service port (API.md v1.2): carts by
//!   owner and checkout claims for other services, behind bearer tokens; thin
//!   mappings onto the same domain operations.
//! * `cart/` and `accounts/`: **the domain**. `cart::ops` and `accounts::login`
//!   take explicit inputs and return their own errors (`CartError`,
//!   `LoginError`); `catalog` is the in-process catalog copy.
//! * `store/`: **the stores**, split by what they store (`CartStore`,
//!   `CatalogStore`, `AccountStore`, `Limiter`), on Redis (`store/redis/`,
//!   Lua scripts in `store/lua/` with one prelude) or embedded (`store/memory/`).
//! * Below everything: the cart's vocabulary (`cart::model`, `cart::rules`, the
//!   one reference definition of the rules, which the embedded store runs) and
//!   the leaves [`metrics`], [`logs`], [`traces`], [`shutdown`],
//!   [`crypto`].
//!
//! A request's way: `http::routes` → handler (`http::perfshop`, …) → `cart::ops`
//! or `accounts::login` → `store`. `scripts/import_graph.py --check` checks it.

pub mod app;
pub mod commands;
pub mod config;
pub mod crypto;
pub mod logs;
pub mod metrics;
pub mod proto;
pub mod shutdown;
pub mod traces;

pub(crate) mod accounts;
pub(crate) mod cart;
pub(crate) mod catalog;
pub(crate) mod http;
pub(crate) mod service;
pub(crate) mod sessions;
pub(crate) mod state;
pub(crate) mod store;

/// What the integration tests reach inside: the cart rules and both stores, for
/// the differential property test and the Cluster merge's crash tests. Only
/// built with the `test-hooks` feature (the tests turn it on).
#[cfg(feature = "test-hooks")]
pub mod testing {
    pub use crate::cart::{change, claim, gate, model, rules};
    pub use crate::store::{
        CartPolicy, CartRead, CartStore, StoreError,
        memory::MemoryStore,
        redis::{RedisOptions, RedisStore, cluster::MergeStop, parse_config},
    };
}
