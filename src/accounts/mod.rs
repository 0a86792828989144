//! Accounts: creating and removing users (`trolley user`), and login as named
//! steps ([`login`]: limiter, password, the user's cart, the guest-cart merge).
//!
//! Nothing here knows HTTP or sessions: the edge rotates the session id only
//! after [`login::login`] succeeded, so nothing can fail after the rotation.

pub(crate) mod error;
mod limiter;
pub(crate) mod login;
mod password;
mod validate;

use crate::store::{AccountStore, StoreError};
use validate::{validate_password, validate_username};

/// Creates an account or changes its password (`trolley user add`); returns
/// whether it was new.
pub(crate) async fn add_user(
    accounts: &dyn AccountStore,
    username: &str,
    password: &str,
) -> Result<bool, String> {
    let (username, password) = (
        validate::normalized(username),
        validate::normalized(password),
    );
    let username = username.as_str();
    validate_username(username)?;
    validate_password(&password)?;
    let hash = tokio::task::spawn_blocking(move || password::hash_password(&password))
        .await
        .map_err(|e| format!("hashing failed: {e}"))??;
    accounts
        .put_user(username, &hash)
        .await
        .map_err(|e| format!("could not store the user: {e}"))
}

/// Removes an account (`trolley user remove`): its sessions end and its cart goes.
pub(crate) async fn remove_user(
    accounts: &dyn AccountStore,
    username: &str,
) -> Result<bool, String> {
    validate_username(username)?;
    accounts
        .remove_user(username)
        .await
        .map_err(|e: StoreError| format!("could not remove the user: {e}"))
}
