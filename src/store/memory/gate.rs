//! The embedded store's half of a cart change's [`Write`]: the same gate as
//! `write_gate` in `lua/prelude.lua` (another session's or a merged cart, a
//! recorded Idempotency-Key decision, an operation already applied, a checkout
//! claim holding the cart, the precondition) and the recording of a decision, inside the change's critical
//! section.

use std::time::Instant;

use super::{Record, Recorded, State};
use crate::cart::{
    change::{Expect, RECENT_OPS, Version, Write, Written},
    model::CartRef,
};

/// Why a change is not applied.
pub(super) enum Stop {
    Foreign,
    Merged,
    /// Answered from its record.
    Written(Written<Recorded>),
}

impl State {
    /// The version of a live cart (`Version::NONE` for none).
    pub(super) fn version(&mut self, no: u64) -> Version {
        self.cart(no)
            .and_then(|cart| cart.ops.first().cloned())
            .unwrap_or_else(Version::none)
    }

    /// What stops a change before it applies, if anything.
    pub(super) fn write_gate(&mut self, cart: &CartRef, write: &Write) -> Option<Stop> {
        if self.is_foreign(cart) {
            return Some(Stop::Foreign);
        }
        if self.is_merged(cart) {
            return Some(Stop::Merged);
        }
        if let Some(key) = &write.idempotency {
            let slot = (cart.no, key.key.clone());
            if self
                .records
                .get(&slot)
                .is_some_and(|record| record.expires <= Instant::now())
            {
                self.records.remove(&slot);
            }
            if let Some(record) = self.records.get(&slot) {
                if record.owner != (cart.id.clone(), key.fingerprint.clone()) {
                    return Some(Stop::Written(Written::KeyReused));
                }
                return Some(Stop::Written(Written::Decided {
                    outcome: record.decision.clone(),
                    version: record.version.clone(),
                    replayed: true,
                }));
            }
        }
        let ops = self
            .cart(cart.no)
            .map(|stored| stored.ops.clone())
            .unwrap_or_default();
        if ops.contains(&write.op) {
            return Some(Stop::Written(Written::AlreadyApplied {
                version: self.version(cart.no),
            }));
        }
        if self.claim_holds(cart.no) {
            return Some(Stop::Written(Written::Claimed));
        }
        (!self.expect_holds(cart.no, &write.expect)).then_some(Stop::Written(Written::Stale))
    }

    /// Whether a live cart holds a line.
    pub(super) fn holds_line(&mut self, no: u64, line: crate::cart::model::LineId) -> bool {
        self.cart(no)
            .is_some_and(|cart| cart.lines.lines.iter().any(|l| l.id == line))
    }

    /// Whether a cart is where a precondition (`If-Match`) wants it.
    pub(super) fn expect_holds(&mut self, no: u64, expect: &Expect) -> bool {
        match expect {
            Expect::Anything => true,
            Expect::Exists => self.cart(no).is_some(),
            Expect::OneOf(versions) => versions.contains(&self.version(no)),
        }
    }

    /// Records a decision of the cart: a change makes the operation the cart's
    /// version; a client's key keeps the decision. Returns the version after it.
    pub(super) fn decided(
        &mut self,
        cart: &CartRef,
        write: &Write,
        cart_ttl: std::time::Duration,
        decision: Recorded,
        changed: bool,
    ) -> Version {
        if changed && let Some(stored) = self.cart(cart.no) {
            stored.ops.insert(0, write.op.clone());
            stored.ops.truncate(RECENT_OPS);
        }
        let version = self.version(cart.no);
        if let Some(key) = &write.idempotency {
            self.records.insert(
                (cart.no, key.key.clone()),
                Record {
                    owner: (cart.id.clone(), key.fingerprint.clone()),
                    decision,
                    version: version.clone(),
                    expires: Instant::now() + write.record_ttl(cart_ttl),
                },
            );
        }
        version
    }
}

/// A gate's stop as the answer of one kind of change.
pub(super) fn stopped<T>(
    stop: Stop,
    foreign: T,
    merged: T,
    unpack: impl FnOnce(Recorded) -> Option<T>,
) -> Written<T> {
    let decided = |outcome| Written::decided(outcome, Version::none());
    match stop {
        Stop::Foreign => decided(foreign),
        Stop::Merged => decided(merged),
        Stop::Written(Written::Decided {
            outcome,
            version,
            replayed,
        }) => match unpack(outcome) {
            Some(outcome) => Written::Decided {
                outcome,
                version,
                replayed,
            },
            // A key recorded for another kind of change is another request.
            None => Written::KeyReused,
        },
        Stop::Written(Written::KeyReused) => Written::KeyReused,
        Stop::Written(Written::Stale) => Written::Stale,
        Stop::Written(Written::Claimed) => Written::Claimed,
        Stop::Written(Written::AlreadyApplied { version }) => Written::AlreadyApplied { version },
        Stop::Written(Written::SessionStale) => Written::SessionStale,
    }
}
