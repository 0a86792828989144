//! The failed-login limits, per username and per client address, shared by every
//! replica through the [`LoginLimiter`] store.

use std::time::Duration;

use super::{error::LoginError, validate::validate_username};
use crate::store::{LoginLimiter, StoreResult};

/// Failed logins allowed within the window.
pub(super) struct Limits {
    pub(super) per_username: u32,
    pub(super) per_address: u32,
}

/// The two counters one login attempt is checked against.
pub(super) struct LimiterKeys {
    user: String,
    address: String,
}

impl LimiterKeys {
    pub(super) fn new(username: &str, client_address: &str) -> Self {
        // Names that cannot exist share one counter, so junk names cannot create
        // unbounded keys (or break the key's hash tag).
        let user = match validate_username(username) {
            Ok(()) => format!("user:{username}"),
            Err(_) => "user:(invalid)".to_string(),
        };
        LimiterKeys {
            user,
            address: format!("ip:{client_address}"),
        }
    }
}

/// Refuses the attempt when either counter is at its limit.
pub(super) async fn check(
    limiter: &dyn LoginLimiter,
    keys: &LimiterKeys,
    limits: Limits,
) -> Result<(), LoginError> {
    for (key, limit) in [
        (&keys.user, limits.per_username),
        (&keys.address, limits.per_address),
    ] {
        let (failures, remaining) = limiter.login_failures(key).await?;
        if failures >= limit {
            return Err(LoginError::RateLimited {
                retry_after: remaining,
            });
        }
    }
    Ok(())
}

/// Counts a failed attempt against both counters.
pub(super) async fn record_failure(
    limiter: &dyn LoginLimiter,
    keys: &LimiterKeys,
    window: Duration,
) -> StoreResult<()> {
    for key in [&keys.user, &keys.address] {
        limiter.record_login_failure(key, window).await?;
    }
    Ok(())
}

/// A successful login forgets the username's failures.
pub(super) async fn reset(limiter: &dyn LoginLimiter, keys: &LimiterKeys) -> StoreResult<()> {
    limiter.reset_login_failures(&keys.user).await
}
