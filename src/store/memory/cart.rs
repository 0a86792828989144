//! [`CartStore`] in memory: each change is one critical section that applies the
//! reference rules of `cart::rules`.

use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::MemoryStore;
use crate::{
    cart::{
        model::{CartRef, LineId},
        rules::{self, AddOutcome, ClearOutcome, LineOutcome, MergeReport, MergeRule, NewItem},
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

    async fn read_cart(&self, cart: &CartRef, ttl: Duration) -> StoreResult<CartRead> {
        let mut state = self.state();
        if state.is_foreign(cart) {
            return Ok(CartRead::Foreign);
        }
        Ok(CartRead::Lines(match state.cart(cart.no) {
            Some(stored) => {
                stored.expires = Instant::now() + ttl;
                stored.lines.lines.clone()
            }
            None => Vec::new(),
        }))
    }

    async fn add_item(
        &self,
        cart: &CartRef,
        item: &NewItem,
        policy: CartPolicy,
    ) -> StoreResult<AddOutcome> {
        let mut state = self.state();
        if state.is_foreign(cart) {
            return Ok(AddOutcome::Foreign);
        }
        if state.is_merged(cart) {
            return Ok(AddOutcome::CartMerged);
        }
        let existed = state.cart(cart.no).is_some();
        let stored = state.cart_or_new(cart, policy.ttl);
        let outcome = rules::add(&mut stored.lines, cart.no, item, &policy.limits);
        if matches!(outcome, AddOutcome::Added(_)) {
            stored.expires = Instant::now() + policy.ttl;
        } else if !existed {
            // A refused first add leaves no cart behind, as in Redis.
            state.carts.remove(&cart.no);
        }
        Ok(outcome)
    }

    async fn set_quantity(
        &self,
        cart: &CartRef,
        line: LineId,
        quantity: u32,
        policy: CartPolicy,
    ) -> StoreResult<LineOutcome> {
        self.change_line(cart, policy, |lines| {
            rules::set_quantity(lines, line, quantity)
        })
    }

    async fn remove_line(
        &self,
        cart: &CartRef,
        line: LineId,
        policy: CartPolicy,
    ) -> StoreResult<LineOutcome> {
        self.change_line(cart, policy, |lines| rules::remove(lines, line))
    }

    async fn clear_cart(&self, cart: &CartRef, policy: CartPolicy) -> StoreResult<ClearOutcome> {
        let mut state = self.state();
        if state.is_foreign(cart) {
            return Ok(ClearOutcome::Foreign);
        }
        if state.is_merged(cart) {
            return Ok(ClearOutcome::CartMerged);
        }
        if let Some(stored) = state.cart(cart.no) {
            rules::clear(&mut stored.lines);
            stored.expires = Instant::now() + policy.ttl;
        }
        Ok(ClearOutcome::Cleared)
    }

    async fn line_exists(&self, line: LineId) -> StoreResult<bool> {
        let mut state = self.state();
        let holds = |cart: Option<&mut super::MemCart>| {
            cart.is_some_and(|c| c.lines.lines.iter().any(|l| l.id == line))
        };
        let origin = line.cart_no();
        if holds(state.cart(origin)) {
            return Ok(true);
        }
        Ok(match state.merged_into(origin) {
            Some(no) => holds(state.cart(no)),
            None => false,
        })
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
        state.carts.remove(&guest.no);
        let target = state.cart_or_new(user, policy.ttl);
        let report = rules::merge(&mut target.lines, &guest_lines, rule, &policy.limits);
        target.expires = Instant::now() + policy.ttl;
        state.tombstones.insert(
            guest.no,
            (user.no, guest.id.clone(), Instant::now() + policy.ttl),
        );
        Ok(report)
    }

    async fn ready(&self) -> StoreResult<()> {
        Ok(())
    }
}

impl MemoryStore {
    /// A change to one line of a live, unmerged cart, sliding its TTL.
    fn change_line(
        &self,
        cart: &CartRef,
        policy: CartPolicy,
        change: impl FnOnce(&mut rules::CartLines) -> LineOutcome,
    ) -> StoreResult<LineOutcome> {
        let mut state = self.state();
        if state.is_foreign(cart) {
            return Ok(LineOutcome::Foreign);
        }
        if state.is_merged(cart) {
            return Ok(LineOutcome::CartMerged);
        }
        let Some(stored) = state.cart(cart.no) else {
            return Ok(LineOutcome::NotInCart);
        };
        let outcome = change(&mut stored.lines);
        if matches!(outcome, LineOutcome::Done(_)) {
            stored.expires = Instant::now() + policy.ttl;
        }
        Ok(outcome)
    }
}
