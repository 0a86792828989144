//! Passwords: argon2id hashes, and a check that costs the same whether or not the
//! user exists.

use std::sync::LazyLock;

use argon2::{
    Argon2,
    password_hash::{PasswordHasher, PasswordVerifier, phc::PasswordHash},
};

use super::{error::LoginError, validate::validate_username};
use crate::store::{AccountStore, UserRecord};

/// An argon2id PHC hash of a password (default OWASP parameters, random salt).
pub(crate) fn hash_password(password: &str) -> Result<String, String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|e| format!("hashing failed: {e}"))
}

/// Verified against when the username does not exist, so an unknown user costs
/// the same argon2 work as a wrong password and timing does not reveal which
/// usernames exist.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    let random: u128 = rand::random();
    hash_password(&format!("{random:032x}")).unwrap_or_default()
});

fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).ok().is_some_and(|parsed| {
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// The account, if it exists and the password is its own. The argon2 work runs
/// off the async threads, and is the same for unknown users.
pub(super) async fn check(
    accounts: &dyn AccountStore,
    username: &str,
    password: &str,
) -> Result<Option<UserRecord>, LoginError> {
    let record = if validate_username(username).is_ok() {
        accounts.user(username).await?
    } else {
        None
    };
    let hash = record
        .as_ref()
        .map(|r| r.password_hash.clone())
        .unwrap_or_else(|| DUMMY_HASH.clone());
    let attempt = password.to_string();
    let verified = tokio::task::spawn_blocking(move || verify_password(&attempt, &hash))
        .await
        .map_err(|e| LoginError::PasswordCheck(e.to_string()))?;
    Ok(record.filter(|_| verified))
}
