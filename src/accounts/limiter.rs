//! The failed-login limits, per username and per client address, shared by every
//! replica through the [`Limiter`] store.

use std::time::Duration;

use tokio::time::Instant;

use super::{error::LoginError, validate::validate_username};
use crate::store::{Admission, AttemptEnd, Limiter, StoreResult};

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

/// Longest a check may hold its place: a replica that stops mid-check (or a
/// client that hangs up) frees it after this.
const LEASE: Duration = Duration::from_secs(5);
/// How long an attempt past the limit waits while none of the attempts being
/// checked ends; it waits on as long as they do, up to [`WAIT_AT_MOST`]. One
/// argon2id check takes tens of milliseconds, but on a loaded machine with many
/// in parallel it can take over a second, and a correct password must not be
/// refused for that.
const WAIT_WITHOUT_PROGRESS: Duration = Duration::from_secs(2);
const WAIT_AT_MOST: Duration = Duration::from_secs(10);
/// How often a waiting attempt asks again.
const POLL: Duration = Duration::from_millis(20);

/// An attempt admitted on both keys: it must be [`finish`]ed.
pub(super) struct Admitted(String);

/// How a checked attempt ended.
#[derive(Debug, Clone, Copy)]
pub(super) enum Outcome {
    WrongPassword,
    SignedIn,
    /// The check could not run (storage trouble): no failure is counted.
    NotChecked,
}

/// Admits an attempt to have its password checked: on each key only while
/// its failures plus the attempts being checked are under its limit, each in
/// one atomic step, so N parallel wrong guesses get at most the limit's worth
/// of checks. Past that, it waits for the attempts being checked (bounded)
/// rather than being refused: a correct password is refused only once a key's
/// failures alone reach its limit (API.md v1.2 "Hostile clients").
pub(super) async fn admit(
    limiter: &dyn Limiter,
    keys: &LimiterKeys,
    limits: Limits,
) -> Result<Admitted, LoginError> {
    let attempt = format!("{:016x}", rand::random::<u64>());
    take_place(limiter, &keys.user, &attempt, limits.per_username).await?;
    if let Err(error) = take_place(limiter, &keys.address, &attempt, limits.per_address).await {
        // The lease frees the place if this fails too.
        let _ = limiter
            .end_login_attempt(&keys.user, &attempt, AttemptEnd::Released, LEASE)
            .await;
        return Err(error);
    }
    Ok(Admitted(attempt))
}

/// Waits for a place on one key: admitted, refused, or still busy after the
/// bounded wait (then refused for a second).
async fn take_place(
    limiter: &dyn Limiter,
    key: &str,
    attempt: &str,
    limit: u32,
) -> Result<(), LoginError> {
    let started = Instant::now();
    let mut deadline = started + WAIT_WITHOUT_PROGRESS;
    let mut seen: Vec<String> = Vec::new();
    loop {
        match limiter
            .begin_login_attempt(key, attempt, limit, LEASE)
            .await?
        {
            Admission::Admitted => return Ok(()),
            Admission::Refused { retry_after } => {
                return Err(LoginError::RateLimited { retry_after });
            }
            Admission::Busy { checking } => {
                let now = Instant::now();
                // A check this attempt saw has ended: the queue moves.
                if seen.iter().any(|id| !checking.contains(id)) {
                    deadline = now + WAIT_WITHOUT_PROGRESS;
                }
                seen = checking;
                if now >= deadline.min(started + WAIT_AT_MOST) {
                    return Err(LoginError::RateLimited {
                        retry_after: WAIT_WITHOUT_PROGRESS,
                    });
                }
                tokio::time::sleep(POLL).await;
            }
        }
    }
}

/// Ends an admitted attempt on both keys: a wrong password counts as a failure
/// on each; a successful login forgets the username's failures (the address
/// keeps those of other names).
pub(super) async fn finish(
    limiter: &dyn Limiter,
    keys: &LimiterKeys,
    Admitted(attempt): Admitted,
    outcome: Outcome,
    window: Duration,
) -> StoreResult<()> {
    let (user, address) = match outcome {
        Outcome::WrongPassword => (AttemptEnd::Failed, AttemptEnd::Failed),
        Outcome::SignedIn => (AttemptEnd::Cleared, AttemptEnd::Released),
        Outcome::NotChecked => (AttemptEnd::Released, AttemptEnd::Released),
    };
    limiter
        .end_login_attempt(&keys.user, &attempt, user, window)
        .await?;
    limiter
        .end_login_attempt(&keys.address, &attempt, address, window)
        .await
}
