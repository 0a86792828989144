//! The cart domain: [`model`] (ids, lines, money), [`rules`] (the one reference
//! definition of limits and merge rules), [`change`] (a change's operation id, idempotency key and
//! precondition), [`gate`] (the reference write gate those pass), [`claim`] (checkout claims' vocabulary), [`checkout`] (claiming,
//! completing and releasing a cart), [`ops`] (the operations both route sets
//! share, taking their inputs explicitly) and [`error`] (what they refuse).
//!
//! Nothing here knows HTTP, sessions or the application state.

pub mod add;
pub mod change;
pub mod checkout;
pub mod claim;
pub mod error;
pub mod gate;
pub mod model;
pub mod ops;
pub mod owner;
pub mod rules;
