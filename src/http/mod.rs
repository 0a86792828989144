//! The HTTP edge: the only place that knows HTTP. Routes and middleware
//! ([`routes`]), the error mapping ([`error`]), extractors and the typed session
//! ([`extract`]), request telemetry ([`observe`]), and thin handlers per route
//! set: [`perfshop`] (`/api/cart…`), [`minimal`] (`/cart…`), [`auth`],
//! [`products`], and the admin port ([`admin`]); the storefront page and the
//! API docs page ([`storefront`]), which only serve compiled-in files.

/// Largest accepted request body, on every port (413 past it).
pub(crate) const BODY_LIMIT: usize = 16 * 1024;

mod add;
pub(crate) mod admin;
pub(crate) mod auth;
pub(crate) mod bodies;
pub(crate) mod error;
pub(crate) mod extract;
pub(crate) mod guard;
pub(crate) mod minimal;
pub(crate) mod observe;
pub(crate) mod openapi;
pub(crate) mod perfshop;
pub(crate) mod preconditions;
pub(crate) mod products;
mod replayable;
pub(crate) mod routes;
pub(crate) mod serve;
pub(crate) mod storefront;
pub(crate) mod strict_json;
