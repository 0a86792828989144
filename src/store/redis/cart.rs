//! [`CartStore`] on Redis: every read and change is one script (a function of
//! the library, by `FCALL`).

use std::time::Duration;

use async_trait::async_trait;
use fred::prelude::*;

use super::{
    RedisStore, keys,
    reply::{
        corrupt, is_foreign, is_stale_session, line_outcome, merge_report, parse_line_reply,
        parse_lines, parse_version, written,
    },
    ttl_ms,
};
use crate::{
    cart::{
        change::{Expect, ServedCopy, Version, Write, Written},
        claim::{Claim, ClaimEnd, ClaimEnded, ClaimId, ClaimStart, NewClaim},
        model::{CartRef, LineId, MAX_CART_NO},
        rules::{AddOutcome, LineChange, MergeReport, MergeRule, NewItem},
    },
    store::{CartPolicy, CartRead, CartStore, StoreError, StoreResult},
};

/// How many cart numbers a replica reserves at once: one INCRBY per block.
const CART_NO_BLOCK: u64 = 64;

impl RedisStore {
    /// A cart change's keys and arguments, plus the session record to check
    /// when the request was served one from the replica's copy (never on
    /// Cluster, where the record is in another slot, so no copy is served there).
    fn checking_session(
        &self,
        mut keys: Vec<String>,
        args: Vec<String>,
        session: Option<&ServedCopy>,
    ) -> (Vec<String>, Vec<Value>) {
        let mut args: Vec<Value> = args.into_iter().map(Value::from).collect();
        if !self.clustered
            && let Some(copy) = session
        {
            keys.push(copy.key.clone());
            args.push(Value::Bytes(copy.bytes.clone()));
        }
        (keys, args)
    }

    /// Runs a cart change: its keys (see `write_gate` in `lua/prelude.lua`),
    /// `args` (which start with [`change_args`]) and the session check.
    async fn eval_cart_change(
        &self,
        operation: &'static str,
        script: &super::scripts::Function,
        cart: &CartRef,
        write: &Write,
        args: Vec<String>,
    ) -> StoreResult<Vec<String>> {
        let keys = keys::cart_change(
            cart.no,
            write.idempotency.as_ref().map(|key| key.key.as_str()),
        );
        let (keys, args) = self.checking_session(keys, args, write.session.as_ref());
        self.eval_change(operation, script, keys, args).await
    }
}

/// `If-Match` as the scripts take it (see `write_gate` in `lua/prelude.lua`).
pub(super) fn expect_arg(expect: &Expect) -> String {
    match expect {
        Expect::Anything => String::new(),
        Expect::Exists => "*".to_string(),
        // Versions never hold a space (see `Version::fresh`); one that a client
        // sent with one cannot match, and is dropped.
        Expect::OneOf(versions) => {
            let listed: Vec<&str> = versions
                .iter()
                .map(Version::as_str)
                .filter(|v| !v.is_empty() && !v.contains(' '))
                .collect();
            if listed.is_empty() {
                "!".to_string()
            } else {
                listed.join(" ")
            }
        }
    }
}

/// The arguments every cart change starts with (see `write_gate`).
fn change_args(cart: &CartRef, policy: CartPolicy, write: &Write) -> Vec<String> {
    let expect = expect_arg(&write.expect);
    vec![
        cart.id.clone(),
        write.op.0.clone(),
        write
            .idempotency
            .as_ref()
            .map(|key| key.fingerprint.clone())
            .unwrap_or_default(),
        ttl_ms(write.record_ttl(policy.ttl)),
        expect,
        ttl_ms(policy.ttl),
    ]
}

/// The cart a moved line now lives in, from the tombstone of the cart that
/// created it: `<user cart no>|<guest id>` once merged, `sealed:<user cart
/// no>|<guest id>|…` while a Cluster merge is under way (the line may be in
/// either cart then).
fn merged_into(tombstone: &str) -> StoreResult<u64> {
    let state = tombstone.split('|').next().unwrap_or_default();
    state
        .strip_prefix("sealed:")
        .unwrap_or(state)
        .parse::<u64>()
        .map_err(|_| corrupt("merge tombstone"))
}

#[async_trait]
impl CartStore for RedisStore {
    async fn allocate_cart_no(&self) -> StoreResult<u64> {
        let mut numbers = self.cart_numbers.lock().await;
        if numbers.0 > numbers.1 {
            // numbers.1 is the highest number this replica has handed out.
            let (last, went_back): (u64, u8) = self
                .eval(
                    "cart_seq",
                    &self.scripts.cart_seq,
                    vec![keys::CART_SEQ.to_string()],
                    vec![CART_NO_BLOCK.to_string(), numbers.1.to_string()],
                )
                .await?;
            if went_back == 1 {
                tracing::warn!(
                    highest_handed_out = numbers.1,
                    "the cart-number counter had gone backwards (Redis lost data); moved it past this replica's numbers"
                );
            }
            if last > MAX_CART_NO {
                return Err(StoreError::CartNumbersExhausted);
            }
            *numbers = (last + 1 - CART_NO_BLOCK, last);
        }
        let no = numbers.0;
        numbers.0 += 1;
        Ok(no)
    }

    async fn allocate_fresh_cart_no(&self) -> StoreResult<u64> {
        {
            let mut numbers = self.cart_numbers.lock().await;
            numbers.0 = numbers.1 + 1;
        }
        self.allocate_cart_no().await
    }

    async fn read_cart(
        &self,
        cart: &CartRef,
        ttl: Duration,
        session: Option<&ServedCopy>,
    ) -> StoreResult<CartRead> {
        let (keys, args) = self.checking_session(
            vec![keys::cart(cart.no)],
            vec![ttl_ms(ttl), cart.id.clone()],
            session,
        );
        let fields: Vec<String> = self
            .eval("cart_read", &self.scripts.cart_read, keys, args)
            .await?;
        if is_stale_session(&fields) {
            return Ok(CartRead::SessionStale);
        }
        if is_foreign(&fields) {
            return Ok(CartRead::Foreign);
        }
        Ok(CartRead::Lines {
            lines: parse_lines(&fields)?,
            version: parse_version(&fields),
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
        let mut args = change_args(cart, policy, write);
        args.extend([
            cart.no.to_string(),
            item.product_id.0.to_string(),
            item.quantity.to_string(),
            item.price.normalize().to_string(),
            item.now_ms.to_string(),
            policy.limits.max_quantity.to_string(),
            policy.limits.max_lines.to_string(),
            if with_lines { "1" } else { "0" }.to_string(),
        ]);
        let reply = self
            .eval_cart_change("cart_add", &self.scripts.cart_add, cart, write, args)
            .await?;
        written(&reply, |status, payload| match status {
            "ok" => Ok(AddOutcome::Added {
                line: parse_line_reply(payload)?,
                cart: if with_lines {
                    Some(parse_lines(payload.get(5..).unwrap_or_default())?)
                } else {
                    None
                },
            }),
            "too_many" => Ok(AddOutcome::QuantityAboveMax),
            "full" => Ok(AddOutcome::CartFull),
            _ => Err(corrupt("cart_add reply")),
        })
    }

    async fn change_line(
        &self,
        cart: &CartRef,
        line: LineId,
        change: LineChange,
        policy: CartPolicy,
        write: &Write,
    ) -> StoreResult<Written<crate::cart::rules::LineOutcome>> {
        let mut args = change_args(cart, policy, write);
        args.push(line.0.to_string());
        let (operation, script) = match change {
            LineChange::SetQuantity(quantity) => {
                args.push(quantity.to_string());
                ("cart_set_quantity", &self.scripts.cart_set_quantity)
            }
            LineChange::Remove => ("cart_remove", &self.scripts.cart_remove),
        };
        let reply = self
            .eval_cart_change(operation, script, cart, write, args)
            .await?;
        written(&reply, line_outcome)
    }

    async fn clear_cart(
        &self,
        cart: &CartRef,
        policy: CartPolicy,
        write: &Write,
    ) -> StoreResult<Written<()>> {
        let args = change_args(cart, policy, write);
        let reply = self
            .eval_cart_change("cart_clear", &self.scripts.cart_clear, cart, write, args)
            .await?;
        written(&reply, |status, _| match status {
            "ok" => Ok(()),
            _ => Err(corrupt("cart_clear reply")),
        })
    }

    async fn line_exists(&self, line: LineId) -> StoreResult<bool> {
        // The id names the cart that created the line; a line moved by a login
        // merge is found through that cart's tombstone. Both live in the origin
        // cart's slot, so they are read in one round trip. A cart's line field
        // names its product, so the line is looked for by id inside Redis.
        let id = line.0.to_string();
        let origin = line.cart_no();
        let (here, tombstone): (u8, String) = self
            .eval(
                "line_owner",
                &self.scripts.line_owner,
                keys::cart_and_tombstone(origin),
                vec![id.clone()],
            )
            .await?;
        if here == 1 {
            return Ok(true);
        }
        if tombstone.is_empty() {
            return Ok(false);
        }
        let no = merged_into(&tombstone)?;
        let (there, _): (u8, String) = self
            .eval(
                "line_owner",
                &self.scripts.line_owner,
                vec![keys::cart(no)],
                vec![id],
            )
            .await?;
        Ok(there == 1)
    }

    async fn merge_carts(
        &self,
        guest: &CartRef,
        user: &CartRef,
        rule: MergeRule,
        policy: CartPolicy,
    ) -> StoreResult<MergeReport> {
        if self.clustered {
            return self.merge_on_cluster(guest, user, rule, policy, None).await;
        }
        let reply: Vec<String> = self
            .eval(
                "cart_merge",
                &self.scripts.cart_merge,
                vec![
                    keys::cart(guest.no),
                    keys::tombstone(guest.no),
                    keys::cart(user.no),
                ],
                vec![
                    user.no.to_string(),
                    user.id.clone(),
                    rule.as_str().to_string(),
                    policy.limits.max_quantity.to_string(),
                    policy.limits.max_lines.to_string(),
                    ttl_ms(policy.ttl),
                    guest.id.clone(),
                    Version::fresh().0,
                ],
            )
            .await?;
        merge_report(&reply)
    }

    async fn index_guest_cart(&self, cart: &CartRef, ttl: Duration) -> StoreResult<()> {
        let _: Option<String> = self
            .call(
                "guest_index",
                self.pool.next().set(
                    keys::guest_index(&cart.id),
                    cart.no.to_string(),
                    Some(fred::types::Expiration::PX(ttl.as_millis() as i64)),
                    None,
                    false,
                ),
            )
            .await?;
        Ok(())
    }

    async fn guest_cart(&self, id: &str) -> StoreResult<Option<CartRef>> {
        let no: Option<u64> = self
            .call("guest_index", self.pool.next().get(keys::guest_index(id)))
            .await?;
        Ok(no.map(|no| CartRef {
            no,
            id: id.to_string(),
        }))
    }

    async fn claim_cart(&self, cart: &CartRef, claim: &NewClaim) -> StoreResult<ClaimStart> {
        self.claim(cart, claim).await
    }

    async fn end_claim(
        &self,
        cart: &CartRef,
        claim: &ClaimId,
        end: &ClaimEnd,
        policy: CartPolicy,
        op: &Version,
    ) -> StoreResult<ClaimEnded> {
        self.end(cart, claim, end, policy, op).await
    }

    async fn active_claim(&self, cart: &CartRef) -> StoreResult<Option<Claim>> {
        self.holding_claim(cart).await
    }

    async fn ready(&self) -> StoreResult<()> {
        if self.fence.is_up() {
            return Err(StoreError::NotWritable("a Sentinel failover is under way"));
        }
        let client = self.pool.next();
        if self.clustered {
            let info: String = self
                .call("ping", client.custom(fred::cmd!("CLUSTER"), vec!["INFO"]))
                .await?;
            if !info.lines().any(|line| line.trim() == "cluster_state:ok") {
                return Err(StoreError::NotWritable("cluster_state is not ok"));
            }
            return Ok(());
        }
        let info: String = self
            .call(
                "ping",
                client.info(Some(fred::types::InfoKind::Replication)),
            )
            .await?;
        if !info.lines().any(|line| line.trim() == "role:master") {
            return Err(StoreError::NotWritable("the node is a replica"));
        }
        Ok(())
    }
}
