//! Accounts: creating and removing users (`trolley user`), and login as named
//! steps ([`login`]: limiter, password, the user's cart, the guest-cart merge).
//!
//! Nothing here knows HTTP or sessions: the edge rotates the session id only
//! after [`login::login`] succeeded, so nothing can fail after the rotation.

mod error;
mod limiter;
pub mod login;
mod password;

pub use error::LoginError;

use crate::store::{AccountStore, StoreError};

/// Checks a username: 1 to 64 of `A-Z a-z 0-9 . _ -`, starting with a letter or digit.
pub fn validate_username(name: &str) -> Result<(), String> {
    let valid_chars = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    let starts_well = name
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphanumeric());
    if name.is_empty() || name.len() > 64 || !valid_chars || !starts_well {
        return Err(format!(
            "invalid username {name:?}: use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit"
        ));
    }
    Ok(())
}

/// Checks a new password's length (in characters).
pub fn validate_password(password: &str) -> Result<(), String> {
    let length = password.chars().count();
    if !(8..=1024).contains(&length) {
        return Err("the password must be 8 to 1024 characters long".into());
    }
    Ok(())
}

/// Creates an account or changes its password (`trolley user add`); returns
/// whether it was new.
pub async fn add_user(
    accounts: &dyn AccountStore,
    username: &str,
    password: &str,
) -> Result<bool, String> {
    validate_username(username)?;
    validate_password(password)?;
    let password = password.to_string();
    let hash = tokio::task::spawn_blocking(move || password::hash_password(&password))
        .await
        .map_err(|e| format!("hashing failed: {e}"))??;
    accounts
        .put_user(username, &hash)
        .await
        .map_err(|e| format!("could not store the user: {e}"))
}

/// Removes an account (`trolley user remove`): its sessions end and its cart goes.
pub async fn remove_user(accounts: &dyn AccountStore, username: &str) -> Result<bool, String> {
    validate_username(username)?;
    accounts
        .remove_user(username)
        .await
        .map_err(|e: StoreError| format!("could not remove the user: {e}"))
}
