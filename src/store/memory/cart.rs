//! [`CartStore`] in memory: each change is one critical section that applies the
//! reference rules of `cart::rules`.

use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::{MemoryStore, Recorded};
use crate::{
    cart::{
        change::{RECENT_OPS, ServedCopy, Version, Write, Written},
        claim::{Claim, ClaimEnd, ClaimEnded, ClaimId, ClaimStart, NewClaim},
        model::{CartRef, LineId},
        rules::{self, AddOutcome, LineChange, LineOutcome, MergeReport, MergeRule, NewItem},
    },
    store::{CartPolicy, CartRead, CartStore, StoreResult},
};

#[async_trait]
impl CartStore for MemoryStore {
    async fn allocate_cart_no(&self) -> StoreResult<u64> {
        let mut state = self.state();
        state.last_cart_no += 1;
        Ok(state.last_cart_no)
    }

    /// No copies of session records are served on the embedded store, so
    /// there is never one to check.
    async fn read_cart(
        &self,
        cart: &CartRef,
        ttl: Duration,
        _session: Option<&ServedCopy>,
    ) -> StoreResult<CartRead> {
        let mut state = self.state();
        if state.is_foreign(cart) {
            return Ok(CartRead::Foreign);
        }
        let version = state.version(cart.no);
        Ok(CartRead::Lines {
            lines: match state.cart(cart.no) {
                Some(stored) => {
                    stored.expires = Instant::now() + ttl;
                    stored.lines.lines.clone()
                }
                None => Vec::new(),
            },
            version,
        })
    }

    async fn add_item(
        &self,
        cart: &CartRef,
        item: &NewItem,
        policy: CartPolicy,
        write: &Write,
        with_lines: bool,
    ) -> StoreResult<Written<AddOutcome>> {
        let mut state = self.state();
        let unpack = |recorded: &Recorded| match recorded {
            Recorded::Add(outcome) => Some(outcome.clone()),
            _ => None,
        };
        if let Some(stop) = state.gate(cart, write, unpack, true) {
            return Ok(stop);
        }
        let existed = state.cart(cart.no).is_some();
        let stored = state.cart_or_new(cart, policy.ttl);
        let mut outcome = rules::add(&mut stored.lines, cart.no, item, &policy.limits);
        let added = matches!(outcome, AddOutcome::Added { .. });
        if let AddOutcome::Added { cart: whole, .. } = &mut outcome {
            stored.expires = Instant::now() + policy.ttl;
            *whole = with_lines.then(|| stored.lines.lines.clone());
        }
        if !added && !existed {
            // A refused first add leaves no cart behind, as in Redis.
            state.carts.remove(&cart.no);
        }
        if outcome == AddOutcome::QuantityAboveMax {
            // Refused before the cart decided anything: not recorded.
            return Ok(Written::decided(outcome, state.version(cart.no)));
        }
        let version = state.decided(
            cart,
            write,
            policy.ttl,
            Recorded::Add(outcome.clone()),
            added,
        );
        Ok(Written::decided(outcome, version))
    }

    async fn change_line(
        &self,
        cart: &CartRef,
        line: LineId,
        change: LineChange,
        policy: CartPolicy,
        write: &Write,
    ) -> StoreResult<Written<LineOutcome>> {
        let mut state = self.state();
        let unpack = |recorded: &Recorded| match recorded {
            Recorded::Line(outcome) => Some(outcome.clone()),
            _ => None,
        };
        let applies = state.holds_line(cart.no, line);
        if let Some(stop) = state.gate(cart, write, unpack, applies) {
            return Ok(stop);
        }
        let outcome = match state.cart(cart.no) {
            Some(stored) => rules::change_line(&mut stored.lines, line, change),
            None => LineOutcome::NotInCart,
        };
        let changed = matches!(outcome, LineOutcome::Done(_));
        if changed && let Some(stored) = state.cart(cart.no) {
            stored.expires = Instant::now() + policy.ttl;
        }
        let version = state.decided(
            cart,
            write,
            policy.ttl,
            Recorded::Line(outcome.clone()),
            changed,
        );
        Ok(Written::decided(outcome, version))
    }

    async fn clear_cart(
        &self,
        cart: &CartRef,
        policy: CartPolicy,
        write: &Write,
    ) -> StoreResult<Written<()>> {
        let mut state = self.state();
        let unpack = |recorded: &Recorded| matches!(recorded, Recorded::Clear).then_some(());
        if let Some(stop) = state.gate(cart, write, unpack, true) {
            return Ok(stop);
        }
        let mut changed = false;
        if let Some(stored) = state.cart(cart.no) {
            changed = !stored.lines.lines.is_empty();
            rules::clear(&mut stored.lines);
            if changed {
                stored.expires = Instant::now() + policy.ttl;
            }
        }
        let version = state.decided(cart, write, policy.ttl, Recorded::Clear, changed);
        Ok(Written::decided((), version))
    }

    async fn line_exists(&self, line: LineId) -> StoreResult<bool> {
        let mut state = self.state();
        let origin = line.cart_no();
        Ok(state.holds_line(origin, line)
            || state
                .merged_into(origin)
                .is_some_and(|no| state.holds_line(no, line)))
    }

    async fn merge_carts(
        &self,
        guest: &CartRef,
        user: &CartRef,
        rule: MergeRule,
        policy: CartPolicy,
    ) -> StoreResult<MergeReport> {
        let mut state = self.state();
        if state.is_foreign(guest) {
            return Ok(MergeReport::default());
        }
        if state.is_merged(guest) {
            return Ok(MergeReport::already_merged());
        }
        let guest_lines = state
            .cart(guest.no)
            .map(|c| c.lines.lines.clone())
            .unwrap_or_default();
        if state.claim_holds(guest.no) || (!guest_lines.is_empty() && state.claim_holds(user.no)) {
            return Ok(MergeReport {
                claimed: true,
                ..MergeReport::default()
            });
        }
        state.carts.remove(&guest.no);
        let target = state.cart_or_new(user, policy.ttl);
        let report = rules::merge(&mut target.lines, &guest_lines, rule, &policy.limits);
        target.expires = Instant::now() + policy.ttl;
        if report.lines_moved + report.lines_combined > 0 {
            target.ops.insert(0, Version::fresh());
            target.ops.truncate(RECENT_OPS);
        }
        state.tombstones.insert(
            guest.no,
            (user.no, guest.id.clone(), Instant::now() + policy.ttl),
        );
        Ok(report)
    }

    async fn index_guest_cart(&self, cart: &CartRef, ttl: Duration) -> StoreResult<()> {
        self.state()
            .guests
            .insert(cart.id.clone(), (cart.no, Instant::now() + ttl));
        Ok(())
    }

    async fn guest_cart(&self, id: &str) -> StoreResult<Option<CartRef>> {
        let state = self.state();
        Ok(state
            .guests
            .get(id)
            .filter(|(_, expires)| *expires > Instant::now())
            .map(|(no, _)| CartRef {
                no: *no,
                id: id.to_string(),
            }))
    }

    async fn claim_cart(&self, cart: &CartRef, claim: &NewClaim) -> StoreResult<ClaimStart> {
        Ok(self.claim(cart, claim))
    }

    async fn end_claim(
        &self,
        cart: &CartRef,
        claim: &ClaimId,
        end: &ClaimEnd,
        policy: CartPolicy,
        op: &Version,
    ) -> StoreResult<ClaimEnded> {
        Ok(self.end(cart, claim, end, policy, op))
    }

    async fn active_claim(&self, cart: &CartRef) -> StoreResult<Option<Claim>> {
        Ok(self.holding_claim(cart))
    }

    async fn ready(&self) -> StoreResult<()> {
        Ok(())
    }
}
