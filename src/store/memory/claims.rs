//! Checkout claims in the embedded store: the same steps as
//! `lua/cart_claim.lua`, `cart_claim_end.lua` and `cart_claim_read.lua`, each
//! one critical section; the claim itself is the cart's `claim`, which the
//! write gate reads.

use std::time::Instant;

use super::{ClaimState, Contents, MemClaim, MemoryStore};
use crate::{
    cart::{
        change::{RECENT_OPS, Version},
        claim::{Claim, ClaimEnd, ClaimEnded, ClaimId, ClaimStart, NewClaim, take_claimed},
        model::{CartRef, now_ms},
    },
    store::CartPolicy,
};

impl Contents {
    /// Ends an active claim that has not run out: its record's new state and
    /// the answer.
    fn end_active(
        &mut self,
        cart: &CartRef,
        claim: &ClaimId,
        end: &ClaimEnd,
        claimed: Vec<crate::cart::model::Line>,
        (policy, op): (CartPolicy, &Version),
    ) -> (ClaimState, ClaimEnded) {
        let owned = self
            .cart(cart.no)
            .filter(|c| c.id == cart.id && c.claim.as_ref().is_some_and(|(id, _)| *id == claim.0));
        match end {
            ClaimEnd::Release => {
                if let Some(stored) = owned {
                    stored.claim = None;
                }
                (ClaimState::Released, ClaimEnded::Released)
            }
            ClaimEnd::Complete(order) => {
                if let Some(stored) = owned {
                    stored.claim = None;
                    take_claimed(&mut stored.lines, &claimed);
                    stored.ops.insert(0, op.clone());
                    stored.ops.truncate(RECENT_OPS);
                    stored.expires = Instant::now() + policy.ttl;
                }
                let version = op.clone();
                (
                    ClaimState::Completed {
                        order: order.0.clone(),
                        version: version.clone(),
                    },
                    ClaimEnded::Completed {
                        lines: claimed,
                        version,
                    },
                )
            }
        }
    }

    /// A claim holds the cart now.
    pub(super) fn claim_holds(&mut self, no: u64) -> bool {
        self.cart(no)
            .and_then(|cart| cart.claim.as_ref())
            .is_some_and(|(_, until_ms)| now_ms() < *until_ms)
    }
}

impl MemoryStore {
    pub(super) fn claim(&self, cart: &CartRef, claim: &NewClaim) -> ClaimStart {
        let mut state = self.state();
        if state.is_merged(cart) {
            return ClaimStart::Merged;
        }
        if state.is_foreign(cart) {
            return ClaimStart::Empty;
        }
        // This very claim again (a retry with the same Idempotency-Key):
        // answered from its record, whatever became of it since.
        if let Some(record) = state
            .claims
            .get(&(cart.no, claim.id.0.clone()))
            .filter(|record| record.cart_id == cart.id)
        {
            if record.request != claim.request {
                return ClaimStart::KeyReused;
            }
            return ClaimStart::Claimed {
                claim: Claim {
                    id: claim.id.clone(),
                    until_ms: record.until_ms,
                },
                lines: record.lines.clone(),
                version: record.claimed.clone(),
                again: true,
            };
        }
        if state.claim_holds(cart.no) {
            return ClaimStart::Busy;
        }
        let version = state.version(cart.no);
        if !claim.expect.holds(&version, state.cart(cart.no).is_some()) {
            return ClaimStart::Stale;
        }
        let Some(stored) = state.cart(cart.no).filter(|c| !c.lines.lines.is_empty()) else {
            return ClaimStart::Empty;
        };
        let until_ms = now_ms() + claim.ttl.as_millis() as i64;
        stored.claim = Some((claim.id.0.clone(), until_ms));
        stored.expires = stored.expires.max(Instant::now() + claim.ttl);
        let lines = stored.lines.lines.clone();
        state.claims.insert(
            (cart.no, claim.id.0.clone()),
            MemClaim {
                cart_id: cart.id.clone(),
                until_ms,
                state: ClaimState::Active,
                claimed: version.clone(),
                lines: lines.clone(),
                request: claim.request.clone(),
                expires: Instant::now() + claim.ttl + claim.keep,
            },
        );
        ClaimStart::Claimed {
            claim: Claim {
                id: claim.id.clone(),
                until_ms,
            },
            lines,
            version,
            again: false,
        }
    }

    pub(super) fn end(
        &self,
        cart: &CartRef,
        claim: &ClaimId,
        end: &ClaimEnd,
        policy: CartPolicy,
        op: &Version,
    ) -> ClaimEnded {
        let mut state = self.state();
        let slot = (cart.no, claim.0.clone());
        let Some(record) = state.claims.get(&slot).filter(|r| r.cart_id == cart.id) else {
            return ClaimEnded::NotFound;
        };
        match (&record.state, end) {
            (ClaimState::Completed { order, version }, ClaimEnd::Complete(asked))
                if *order == asked.0 =>
            {
                return ClaimEnded::Completed {
                    lines: record.lines.clone(),
                    version: version.clone(),
                };
            }
            (ClaimState::Completed { .. }, _) => return ClaimEnded::AlreadyCompleted,
            (ClaimState::Released, ClaimEnd::Release) => return ClaimEnded::Released,
            (ClaimState::Released, ClaimEnd::Complete(_)) => return ClaimEnded::WasReleased,
            (ClaimState::Active, _) if now_ms() >= record.until_ms => return ClaimEnded::Expired,
            (ClaimState::Active, _) => {}
        }
        let claimed = record.lines.clone();
        let ended = state.end_active(cart, claim, end, claimed, (policy, op));
        if let Some(record) = state.claims.get_mut(&slot) {
            record.state = ended.0;
        }
        ended.1
    }

    pub(super) fn holding_claim(&self, cart: &CartRef) -> Option<Claim> {
        let mut state = self.state();
        if !state.claim_holds(cart.no) {
            return None;
        }
        let stored = state.cart(cart.no).filter(|c| c.id == cart.id)?;
        stored.claim.as_ref().map(|(id, until_ms)| Claim {
            id: ClaimId(id.clone()),
            until_ms: *until_ms,
        })
    }
}
