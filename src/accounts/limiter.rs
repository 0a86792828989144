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

/// Counts the attempt against both counters before its password is checked,
/// each in one atomic step, and refuses it when either is past its limit: N
/// parallel wrong guesses get at most the limit's worth of checks.
pub(super) async fn admit(
    limiter: &dyn LoginLimiter,
    keys: &LimiterKeys,
    limits: Limits,
    window: Duration,
) -> Result<(), LoginError> {
    for (key, limit) in [
        (&keys.user, limits.per_username),
        (&keys.address, limits.per_address),
    ] {
        if let Err(retry_after) = limiter.count_login_attempt(key, window, limit).await? {
            return Err(LoginError::RateLimited { retry_after });
        }
    }
    Ok(())
}

/// A successful login forgets the username's attempts and takes its own back
/// from the address's count.
pub(super) async fn succeeded(limiter: &dyn LoginLimiter, keys: &LimiterKeys) -> StoreResult<()> {
    limiter.reset_login_failures(&keys.user).await?;
    limiter.uncount_login_attempt(&keys.address).await
}
