//! [`AccountStore`] and [`LoginLimiter`] on Redis.

use std::time::Duration;

use async_trait::async_trait;
use fred::prelude::*;

use super::{RedisStore, keys, reply::corrupt, ttl_ms};
use crate::{
    cart::model::CartRef,
    store::{AccountStore, LoginLimiter, StoreResult, UserRecord},
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

impl RedisStore {
    /// Counts one event against `key` in its window (`login_failure.lua`);
    /// `Err(time until the window ends)` past `limit`.
    async fn count_in_window(
        &self,
        operation: &'static str,
        key: String,
        window: Duration,
        limit: u32,
    ) -> StoreResult<Result<(), Duration>> {
        let (_count, remaining, admitted): (u32, i64, u8) = self
            .eval(
                operation,
                &self.scripts.login_failure,
                vec![key],
                vec![ttl_ms(window), limit.to_string()],
            )
            .await?;
        Ok(match admitted {
            1 => Ok(()),
            _ => Err(Duration::from_millis(remaining.max(0) as u64)),
        })
    }
}

#[async_trait]
impl LoginLimiter for RedisStore {
    async fn count_login_attempt(
        &self,
        key: &str,
        window: Duration,
        limit: u32,
    ) -> StoreResult<Result<(), Duration>> {
        self.count_in_window("login_failure", keys::login_failures(key), window, limit)
            .await
    }

    async fn count_new_session(
        &self,
        address: &str,
        window: Duration,
        limit: u32,
    ) -> StoreResult<Result<(), Duration>> {
        self.count_in_window("new_session", keys::new_sessions(address), window, limit)
            .await
    }

    async fn uncount_login_attempt(&self, key: &str) -> StoreResult<()> {
        let _: i64 = self
            .call(
                "login_failures",
                self.pool.next().decr(keys::login_failures(key)),
            )
            .await?;
        Ok(())
    }

    async fn reset_login_failures(&self, key: &str) -> StoreResult<()> {
        let _: u32 = self
            .call(
                "login_failures",
                self.pool.next().del(keys::login_failures(key)),
            )
            .await?;
        Ok(())
    }
}
