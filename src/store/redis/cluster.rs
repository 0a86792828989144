//! The login merge on Redis Cluster, where the guest's and the user's carts live
//! in two slots: a saga of three single-slot scripts, each idempotent.

use super::{
    RedisStore, keys,
    reply::{corrupt, merge_report},
    ttl_ms,
};
use crate::{
    cart::{
        change::Version,
        model::CartRef,
        rules::{MergeReport, MergeRule},
    },
    store::{CartPolicy, StoreResult},
};

/// Where a Cluster merge stops early, as a crash or a timeout there would stop it
/// (for tests: [`RedisStore::interrupted_cluster_merge`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(not(feature = "test-hooks"), allow(dead_code))]
pub enum MergeStop {
    /// The guest cart is sealed; nothing was applied to the user's cart.
    AfterSeal,
    /// The lines are in the user's cart; the guest cart is still there, sealed.
    AfterAbsorb,
}

impl RedisStore {
    /// The login merge on Redis Cluster, where the two carts live in two slots: a
    /// saga of three single-slot scripts.
    ///
    /// 1. `cart_seal.lua` (guest slot): the tombstone becomes `sealed:<user no>`,
    ///    so the cart scripts refuse the guest cart from now on, and its lines are
    ///    read in the same step.
    /// 2. `cart_absorb.lua` (user slot): the lines are applied by the merge rules,
    ///    and the guest cart number goes into the user cart's absorbed set; a
    ///    number already there means the lines were applied: nothing happens.
    /// 3. `cart_seal_done.lua` (guest slot): the guest cart goes, the tombstone
    ///    becomes `<user no>`, as the single-node merge leaves it.
    ///
    /// A checkout claim on the user's cart stops step 2 before it applies
    /// anything, and step 2 records the refusal against the seal (so a login
    /// racing this one with the same seal is refused too); `cart_unseal.lua`
    /// (guest slot) then lifts the seal, and the login is refused with the guest
    /// cart as it was.
    ///
    /// A crash or a timeout between steps leaves the seal (the login answered 503
    /// and kept its guest session); the next login with that guest cart reads the
    /// unchanged lines again and carries on, and step 2 never applies them twice.
    pub(super) async fn merge_on_cluster(
        &self,
        guest: &CartRef,
        user: &CartRef,
        rule: MergeRule,
        policy: CartPolicy,
        stop: Option<MergeStop>,
    ) -> StoreResult<MergeReport> {
        let ttl = ttl_ms(policy.ttl);
        let seal = match self.seal(guest, user, &ttl).await? {
            Sealed::Lines(seal) if stop != Some(MergeStop::AfterSeal) => seal,
            Sealed::Lines(_) => return Ok(MergeReport::already_merged()),
            unsealed => return Ok(unsealed.report()),
        };
        // A seal keeps the cart of the login that made it. If that login (of
        // another account, with the same guest session) was interrupted, its merge
        // is finished into its cart, where the lines may be already; this login
        // gets nothing from the guest cart, as after a completed merge.
        let own = seal.target == user.no;
        let report = self.absorb(guest, user, &seal, rule, policy).await?;
        if report.claimed {
            // A checkout claim holds the target cart: the login is refused and
            // the guest cart takes changes again.
            let _: String = self
                .eval(
                    "cart_unseal",
                    &self.scripts.cart_unseal,
                    keys::cart_and_tombstone(guest.no),
                    vec![seal.value],
                )
                .await?;
            return Ok(report);
        }
        if stop == Some(MergeStop::AfterAbsorb) {
            return Ok(report);
        }
        let _: String = self
            .eval(
                "cart_seal_done",
                &self.scripts.cart_seal_done,
                keys::cart_and_tombstone(guest.no),
                vec![seal.target.to_string(), ttl, guest.id.clone(), seal.value],
            )
            .await?;
        if !own {
            tracing::warn!(
                guest_cart = guest.no,
                sealed_for = seal.target,
                "a guest cart sealed by an interrupted login of another account was merged into that account's cart"
            );
            return Ok(MergeReport::already_merged());
        }
        Ok(report)
    }

    /// Step 1: seals the guest cart; the seal, unless an earlier login merged
    /// it already or a checkout claim holds it.
    async fn seal(&self, guest: &CartRef, user: &CartRef, ttl: &str) -> StoreResult<Sealed> {
        let nonce = format!("{:016x}", rand::random::<u64>());
        let sealed: Vec<String> = self
            .eval(
                "cart_seal",
                &self.scripts.cart_seal,
                keys::cart_and_tombstone(guest.no),
                vec![
                    user.no.to_string(),
                    ttl.to_string(),
                    guest.id.clone(),
                    nonce,
                ],
            )
            .await?;
        match sealed.as_slice() {
            // Another session's cart under the guest's number: nothing to merge.
            [status] if status == "already" || status == "foreign" => Ok(Sealed::Already),
            [status] if status == "claimed" => Ok(Sealed::Claimed),
            [status, target, value, lines @ ..] if status == "sealed" && lines.len() % 2 == 0 => {
                Ok(Sealed::Lines(Seal {
                    target: target.parse::<u64>().map_err(|_| corrupt("seal reply"))?,
                    value: value.clone(),
                    lines: lines.to_vec(),
                }))
            }
            _ => Err(corrupt("seal reply")),
        }
    }

    /// Step 2: applies the sealed lines to the seal's target cart, unless it
    /// holds them already or a checkout claim holds it (`claimed`).
    async fn absorb(
        &self,
        guest: &CartRef,
        user: &CartRef,
        seal: &Seal,
        rule: MergeRule,
        policy: CartPolicy,
    ) -> StoreResult<MergeReport> {
        let target = seal.target;
        let mut args = vec![
            guest.no.to_string(),
            if target == user.no {
                user.id.clone()
            } else {
                String::new()
            },
            rule.as_str().to_string(),
            policy.limits.max_quantity.to_string(),
            policy.limits.max_lines.to_string(),
            ttl_ms(policy.ttl),
            Version::fresh().0,
            seal.value.clone(),
        ];
        args.extend(seal.lines.iter().cloned());
        let reply: Vec<String> = self
            .eval(
                "cart_absorb",
                &self.scripts.cart_absorb,
                vec![
                    keys::cart(target),
                    keys::absorbed(target),
                    keys::refused(target),
                ],
                args,
            )
            .await?;
        merge_report(&reply)
    }

    /// Test hook: runs the Cluster merge's steps up to `stop` and leaves the
    /// state a crash there would leave (works on a single node too).
    #[cfg(feature = "test-hooks")]
    pub async fn interrupted_cluster_merge(
        &self,
        guest: &CartRef,
        user: &CartRef,
        rule: MergeRule,
        policy: CartPolicy,
        stop: MergeStop,
    ) -> StoreResult<MergeReport> {
        self.merge_on_cluster(guest, user, rule, policy, Some(stop))
            .await
    }
}

/// A sealed guest cart: the user cart the seal is for, the seal's value (its
/// name in the later steps) and the guest cart's lines.
struct Seal {
    target: u64,
    value: String,
    lines: Vec<String>,
}

/// What sealing a guest cart found.
enum Sealed {
    /// Sealed (now or by an earlier login).
    Lines(Seal),
    /// Merged by an earlier login, or another session's cart: nothing to merge.
    Already,
    /// A checkout claim holds the guest cart: nothing sealed.
    Claimed,
}

impl Sealed {
    /// The login's report when nothing was sealed.
    fn report(self) -> MergeReport {
        MergeReport {
            already_merged: matches!(self, Sealed::Already),
            claimed: matches!(self, Sealed::Claimed),
            ..MergeReport::default()
        }
    }
}
