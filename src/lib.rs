//! trolley: a session-backed shopping-cart service. Stateless axum replicas keep
//! sessions and carts in Redis, so any replica serves any request.
//!
//! # Layout
//!
//! * [`config`]: typed settings from flags and `TROLLEY_*` variables.
//! * [`app`]: builds the service (store, routers, ports) and runs it until shutdown.
//! * [`routes`]: every public route and the middleware order.
//! * [`error`]: `ApiError`, the one place HTTP statuses and error bodies are chosen.
//! * [`extract`]: JSON bodies with our error format; the cart session.
//! * [`cart`]: the domain: [`cart::model`] (ids, lines, money), [`cart::rules`]
//!   (limits, merge rules), the shared operations, and the two route sets
//!   [`cart::api`] and [`cart::minimal`].
//! * [`store`]: the `CartStore` trait, the Redis store with its Lua scripts
//!   (`src/store/lua/`), and the embedded store.
//! * [`catalog`]: catalog import, validation and the in-process cache.
//! * [`accounts`]: users, login with the guest-cart merge, logout.
//! * [`health`]: the admin port (`/livez`, `/readyz`, `/metrics`).
//! * [`telemetry`], [`tracing_otlp`], [`metrics`]: logs, traces and metrics.
//! * [`shutdown`]: the shutdown signal.
//!
//! A request's way: `routes` → handler (`cart::api` / `cart::minimal` /
//! `accounts`) → `cart` operation and rules → `store`.

pub mod accounts;
pub mod app;
pub mod cart;
pub mod catalog;
pub mod config;
pub mod error;
pub mod extract;
pub mod health;
pub mod metrics;
pub mod routes;
pub mod shutdown;
pub mod store;
pub mod telemetry;
pub mod tracing_otlp;
