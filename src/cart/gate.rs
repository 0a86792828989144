//! The write gate: what a cart change must pass before the rules decide it,
//! and in which order (API.md's): another session's or a merged cart; a
//! decision recorded under the request's `Idempotency-Key` (the same request:
//! answered again; another: refused); this very operation applied already (a
//! re-run after a lost reply); then, for a change that would apply (a line
//! the cart does not hold is the rules' 404 first), a checkout claim holding
//! the cart (409) and the precondition of `If-Match` (412).
//!
//! The one reference definition, as [`rules`](super::rules) is for the rules:
//! the embedded store runs it, `write_gate` in `store/lua/prelude.lua` is the
//! same in Lua, and the differential property test (`tests/api/rules.rs`) sends
//! keyed, conditional and re-run writes to all three.

use super::change::{Refusal, Version, Write, Written};

/// Whose cart a stored cart number holds, as a change finds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// The session's own cart (or no cart yet).
    Own,
    /// The session's cart, merged into a user's cart at a login.
    Merged,
    /// Another session's cart under the same number (it was handed out twice
    /// after Redis lost its counter).
    Foreign,
}

/// A decision kept under an `Idempotency-Key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord<R> {
    /// The cart and the request (its fingerprint) it was recorded for.
    pub cart_id: String,
    pub fingerprint: String,
    /// The decision; `None` when it was another kind of change's.
    pub decision: Option<R>,
    /// The cart's version after it.
    pub version: Version,
}

/// What the gate reads of a cart before a change of it.
#[derive(Debug)]
pub struct AtGate<'a, R> {
    /// The public id of the session's cart.
    pub cart_id: &'a str,
    pub standing: Standing,
    /// The record under the request's key, when it sent one and one is kept.
    pub record: Option<KeyRecord<R>>,
    /// The cart's recent operations, newest first (none: no cart).
    pub ops: &'a [Version],
    /// The cart exists.
    pub exists: bool,
    /// A checkout claim holds the cart.
    pub claimed: bool,
    /// The change would apply: false for a change of a line the cart does not
    /// hold, which the rules answer (404) before a claim (409) or a stale
    /// precondition (412) would.
    pub applies: bool,
}

/// The gate's answer to `write` on a cart found as `at`: `None` lets the
/// change through to the rules.
pub fn gate<R>(at: AtGate<'_, R>, write: &Write) -> Option<Written<R>> {
    match at.standing {
        Standing::Foreign => return Some(Written::Foreign),
        Standing::Merged => return Some(Written::Refused(Refusal::CartMerged)),
        Standing::Own => {}
    }
    if let (Some(key), Some(record)) = (&write.idempotency, at.record) {
        if record.cart_id != at.cart_id || record.fingerprint != key.fingerprint {
            return Some(Written::Refused(Refusal::KeyReused));
        }
        return Some(match record.decision {
            Some(outcome) => Written::Decided {
                outcome,
                version: record.version,
                replayed: true,
            },
            None => Written::Refused(Refusal::KeyReused),
        });
    }
    let version = at.ops.first().cloned().unwrap_or_else(Version::none);
    if at.ops.contains(&write.op) {
        return Some(Written::AlreadyApplied { version });
    }
    if !at.applies {
        return None;
    }
    if at.claimed {
        return Some(Written::Refused(Refusal::Claimed));
    }
    (!write.expect.holds(&version, at.exists))
        .then_some(Written::Refused(Refusal::PreconditionFailed))
}
