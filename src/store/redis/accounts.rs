//! [`AccountStore`] and [`Limiter`] on Redis.

use std::time::Duration;

use async_trait::async_trait;
use fred::prelude::*;

use super::{RedisStore, keys, reply::corrupt, ttl_ms};
use crate::{
    cart::model::CartRef,
    store::{AccountStore, Admission, AttemptEnd, Limiter, StoreResult, UserRecord},
};

#[async_trait]
impl AccountStore for RedisStore {
    async fn user(&self, username: &str) -> StoreResult<Option<UserRecord>> {
        let (password, cart_no, cart_id): (Option<String>, Option<u64>, Option<String>) = self
            .call(
                "user_read",
                self.pool
                    .next()
                    .hmget(keys::user(username), vec!["password", "cart_no", "cart_id"]),
            )
            .await?;
        Ok(password.map(|password_hash| UserRecord {
            password_hash,
            cart: cart_no.zip(cart_id).map(|(no, id)| CartRef { no, id }),
        }))
    }

    async fn put_user(&self, username: &str, password_hash: &str) -> StoreResult<bool> {
        let added: u32 = self
            .call(
                "user_write",
                self.pool
                    .next()
                    .hset(keys::user(username), ("password", password_hash)),
            )
            .await?;
        Ok(added == 1)
    }

    async fn owner_cart(
        &self,
        id: &str,
        candidate: Option<&CartRef>,
        ttl: Duration,
    ) -> StoreResult<Option<CartRef>> {
        let reply: Vec<String> = self
            .eval(
                "ext_cart",
                &self.scripts.ext_cart,
                vec![keys::ext_owner(id)],
                vec![
                    candidate.map(|c| c.no.to_string()).unwrap_or_default(),
                    candidate.map(|c| c.id.clone()).unwrap_or_default(),
                    ttl_ms(ttl),
                ],
            )
            .await?;
        match reply.as_slice() {
            [] => Ok(None),
            [no, id] => Ok(Some(CartRef {
                no: no.parse().map_err(|_| corrupt("ext owner"))?,
                id: id.clone(),
            })),
            _ => Err(corrupt("ext_cart reply")),
        }
    }

    async fn remove_user(&self, username: &str) -> StoreResult<bool> {
        let client = self.pool.next();
        let Some(record) = self.user(username).await? else {
            return Ok(false);
        };
        // The account goes first, so no new login can start while its sessions go.
        let _: u32 = self
            .call("user_write", client.del(keys::user(username)))
            .await?;
        let sessions: Vec<String> = self
            .call(
                "user_sessions",
                client.smembers(keys::user_sessions(username)),
            )
            .await?;
        for session in sessions {
            let _: u32 = self.call("session_delete", client.del(session)).await?;
        }
        let _: u32 = self
            .call("user_sessions", client.del(keys::user_sessions(username)))
            .await?;
        if let Some(cart) = record.cart {
            let _: u32 = self
                .call("cart_delete", client.del(keys::cart(cart.no)))
                .await?;
        }
        Ok(true)
    }

    async fn ensure_user_cart(&self, username: &str, candidate: &CartRef) -> StoreResult<CartRef> {
        let reply: Vec<Option<String>> = self
            .eval(
                "user_cart",
                &self.scripts.user_cart,
                vec![keys::user(username)],
                vec![candidate.no.to_string(), candidate.id.clone()],
            )
            .await?;
        match reply.as_slice() {
            [Some(no), Some(id)] => Ok(CartRef {
                no: no.parse().map_err(|_| corrupt("user cart"))?,
                id: id.clone(),
            }),
            _ => Err(corrupt("user vanished during login")),
        }
    }

    async fn track_session(
        &self,
        username: &str,
        session_id: &str,
        ttl: Duration,
    ) -> StoreResult<()> {
        let key = keys::user_sessions(username);
        // SADD and PEXPIRE in one round trip.
        let pipeline = self.pool.next().pipeline();
        let _: (u32, bool) = self
            .call("user_sessions", async {
                let _: () = pipeline.sadd(&key, session_id).await?;
                let _: () = pipeline.pexpire(&key, ttl.as_millis() as i64, None).await?;
                pipeline.all().await
            })
            .await?;
        Ok(())
    }
}

#[async_trait]
impl Limiter for RedisStore {
    async fn begin_login_attempt(
        &self,
        key: &str,
        attempt: &str,
        limit: u32,
        lease: Duration,
    ) -> StoreResult<Admission> {
        let reply: Vec<Value> = self
            .eval(
                "login_attempt",
                &self.scripts.login_attempt_begin,
                keys::login_attempts(key).to_vec(),
                vec![attempt.to_string(), limit.to_string(), ttl_ms(lease)],
            )
            .await?;
        let number = |at: usize| reply.get(at).and_then(Value::as_i64);
        match number(0) {
            Some(0) => Ok(Admission::Admitted),
            Some(1) => Ok(Admission::Busy {
                checking: match reply.get(1) {
                    Some(Value::Array(ids)) => ids.iter().filter_map(Value::as_string).collect(),
                    _ => Vec::new(),
                },
            }),
            Some(2) => Ok(Admission::Refused {
                retry_after: Duration::from_millis(number(1).unwrap_or(0).max(0) as u64),
            }),
            _ => Err(corrupt("login_attempt_begin answered something else")),
        }
    }

    async fn end_login_attempt(
        &self,
        key: &str,
        attempt: &str,
        end: AttemptEnd,
        window: Duration,
    ) -> StoreResult<()> {
        let end = match end {
            AttemptEnd::Failed => "failed",
            AttemptEnd::Cleared => "cleared",
            AttemptEnd::Released => "released",
        };
        let _: i64 = self
            .eval(
                "login_attempt",
                &self.scripts.login_attempt_end,
                keys::login_attempts(key).to_vec(),
                vec![attempt.to_string(), end.to_string(), ttl_ms(window)],
            )
            .await?;
        Ok(())
    }

    async fn admit_new_session(
        &self,
        address: &str,
        window: Duration,
        limit: u32,
    ) -> StoreResult<Result<(), Duration>> {
        let (_count, remaining, admitted): (u32, i64, u8) = self
            .eval(
                "new_session",
                &self.scripts.count_in_window,
                vec![keys::new_sessions(address)],
                vec![ttl_ms(window), limit.to_string()],
            )
            .await?;
        Ok(match admitted {
            1 => Ok(()),
            _ => Err(Duration::from_millis(remaining.max(0) as u64)),
        })
    }
}
