//! The embedded store's half of a cart change's [`Write`]: it reads what the
//! reference gate (`cart::gate`) needs of a cart, runs it, and records a
//! decision, inside the change's critical section.

use std::time::Instant;

use super::{Contents, Recorded, live};
use crate::cart::{
    change::{RECENT_OPS, Version, Write, Written},
    gate::{AtGate, KeyRecord, Standing, gate},
    model::CartRef,
};

impl Contents {
    /// The version of a live cart (`Version::NONE` for none).
    pub(super) fn version(&mut self, no: u64) -> Version {
        self.cart(no)
            .and_then(|cart| cart.ops.first().cloned())
            .unwrap_or_else(Version::none)
    }

    /// The gate's answer to `write` on `cart`, if it stops the change.
    /// `unpack`: the decision of a record, when it is this kind of change's;
    /// `applies`: the change would apply (see `AtGate::applies`).
    pub(super) fn gate<R>(
        &mut self,
        cart: &CartRef,
        write: &Write,
        unpack: impl FnOnce(&Recorded) -> Option<R>,
        applies: bool,
    ) -> Option<Written<R>> {
        let standing = if self.is_foreign(cart) {
            Standing::Foreign
        } else if self.is_merged(cart) {
            Standing::Merged
        } else {
            Standing::Own
        };
        let record = write
            .idempotency
            .as_ref()
            .and_then(|key| self.record(cart.no, &key.key))
            .map(|record| KeyRecord {
                cart_id: record.cart_id.clone(),
                fingerprint: record.fingerprint.clone(),
                decision: record.decision.as_ref().and_then(unpack),
                version: record.version.clone(),
            });
        let claimed = self.claim_holds(cart.no);
        let stored = self.cart(cart.no);
        let exists = stored.is_some();
        let ops = stored.map(|stored| stored.ops.clone()).unwrap_or_default();
        gate(
            AtGate {
                cart_id: &cart.id,
                standing,
                record,
                ops: &ops,
                exists,
                claimed,
                applies,
            },
            write,
        )
    }

    /// The live record under a cart's Idempotency-Key.
    fn record(&mut self, no: u64, key: &str) -> Option<&KeyRecord<Recorded>> {
        let slot = (no, key.to_string());
        live(&mut self.records, &slot, |(_, expires)| *expires).map(|(record, _)| &*record)
    }

    /// Whether a live cart holds a line.
    pub(super) fn holds_line(&mut self, no: u64, line: crate::cart::model::LineId) -> bool {
        self.cart(no)
            .is_some_and(|cart| cart.lines.lines.iter().any(|l| l.id == line))
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
            let record = KeyRecord {
                cart_id: cart.id.clone(),
                fingerprint: key.fingerprint.clone(),
                decision: Some(decision),
                version: version.clone(),
            };
            let expires = Instant::now() + write.record_ttl(cart_ttl);
            self.records
                .insert((cart.no, key.key.clone()), (record, expires));
        }
        version
    }
}
