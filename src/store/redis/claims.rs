//! Checkout claims on Redis: claiming, ending and reading one are one script
//! each (`lua/cart_claim.lua`, `cart_claim_end.lua`, `cart_claim_read.lua`),
//! all in the cart's slot; the claim itself is the cart hash's `co` field, which
//! every cart change's write gate reads with its own fields.

use super::{
    RedisStore,
    cart::expect_arg,
    keys,
    reply::{corrupt, parse_lines},
    ttl_ms,
};
use crate::{
    cart::{
        change::Version,
        claim::{Claim, ClaimEnd, ClaimEnded, ClaimId, ClaimStart, NewClaim},
        model::CartRef,
    },
    store::{CartPolicy, StoreResult},
};

fn until(text: &str) -> StoreResult<i64> {
    text.parse().map_err(|_| corrupt("claim until"))
}

impl RedisStore {
    pub(super) async fn claim(&self, cart: &CartRef, claim: &NewClaim) -> StoreResult<ClaimStart> {
        let reply: Vec<String> = self
            .eval_change(
                "cart_claim",
                &self.scripts.cart_claim,
                vec![
                    keys::cart(cart.no),
                    keys::tombstone(cart.no),
                    keys::claim(cart.no, &claim.id.0),
                ],
                vec![
                    cart.id.clone(),
                    claim.id.0.clone(),
                    ttl_ms(claim.ttl),
                    expect_arg(&claim.expect),
                    ttl_ms(claim.keep),
                    claim.request.clone(),
                ],
            )
            .await?;
        match reply.as_slice() {
            [status, version, until_ms, lines @ ..] if status == "ok" || status == "again" => {
                Ok(ClaimStart::Claimed {
                    claim: Claim {
                        id: claim.id.clone(),
                        until_ms: until(until_ms)?,
                    },
                    lines: parse_lines(lines)?,
                    version: Version(version.clone()),
                    again: status == "again",
                })
            }
            [status, _] => match status.as_str() {
                "empty" => Ok(ClaimStart::Empty),
                "claimed" => Ok(ClaimStart::Busy),
                "merged" => Ok(ClaimStart::Merged),
                "stale" => Ok(ClaimStart::Stale),
                "reused" => Ok(ClaimStart::KeyReused),
                _ => Err(corrupt("cart_claim reply")),
            },
            _ => Err(corrupt("cart_claim reply")),
        }
    }

    pub(super) async fn end(
        &self,
        cart: &CartRef,
        claim: &ClaimId,
        end: &ClaimEnd,
        policy: CartPolicy,
        op: &Version,
    ) -> StoreResult<ClaimEnded> {
        let (what, order) = match end {
            ClaimEnd::Complete(order) => ("complete", order.0.clone()),
            ClaimEnd::Release => ("release", String::new()),
        };
        // Answered from the claim's record, so a re-run after a lost reply
        // answers what the first run did.
        let reply: Vec<String> = self
            .eval_change(
                "cart_claim_end",
                &self.scripts.cart_claim_end,
                vec![keys::cart(cart.no), keys::claim(cart.no, &claim.0)],
                vec![
                    cart.id.clone(),
                    claim.0.clone(),
                    what.to_string(),
                    order,
                    op.0.clone(),
                    ttl_ms(policy.ttl),
                ],
            )
            .await?;
        match reply.as_slice() {
            [status, version, lines @ ..] if status == "completed" => Ok(ClaimEnded::Completed {
                lines: parse_lines(lines)?,
                version: Version(version.clone()),
            }),
            [status] => match status.as_str() {
                "released" => Ok(ClaimEnded::Released),
                "not_found" => Ok(ClaimEnded::NotFound),
                "conflict" => Ok(ClaimEnded::AlreadyCompleted),
                "was_released" => Ok(ClaimEnded::WasReleased),
                "expired" => Ok(ClaimEnded::Expired),
                _ => Err(corrupt("cart_claim_end reply")),
            },
            _ => Err(corrupt("cart_claim_end reply")),
        }
    }

    pub(super) async fn holding_claim(&self, cart: &CartRef) -> StoreResult<Option<Claim>> {
        let reply: Vec<String> = self
            .eval(
                "cart_claim_read",
                &self.scripts.cart_claim_read,
                vec![keys::cart(cart.no)],
                vec![cart.id.clone()],
            )
            .await?;
        match reply.as_slice() {
            [] => Ok(None),
            [id, until_ms] => Ok(Some(Claim {
                id: ClaimId(id.clone()),
                until_ms: until(until_ms)?,
            })),
            _ => Err(corrupt("cart_claim_read reply")),
        }
    }
}
