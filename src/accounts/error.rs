//! What a login can refuse, in the domain's words; the HTTP edge maps each onto
//! its status and API.md message.

use std::time::Duration;

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub(crate) enum LoginError {
    /// Unknown user or wrong password (one answer for both).
    #[error("invalid credentials")]
    InvalidCredentials,
    /// Too many failed logins for this username or client address.
    #[error("rate limited")]
    RateLimited { retry_after: Duration },
    /// The password check itself could not run.
    #[error("password check: {0}")]
    PasswordCheck(String),
    /// A checkout claim holds the user's cart and the guest cart has lines to
    /// merge into it: the login is refused, the guest session left as it was.
    #[error("user cart claimed by a checkout")]
    CartClaimed,
    /// Storage trouble.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl LoginError {
    /// The `outcome` label of `trolley_logins_total`, for the refusals it counts.
    pub(crate) fn outcome(&self) -> Option<&'static str> {
        match self {
            LoginError::InvalidCredentials => Some("invalid"),
            LoginError::RateLimited { .. } => Some("rate_limited"),
            LoginError::PasswordCheck(_) | LoginError::Store(_) | LoginError::CartClaimed => None,
        }
    }

    /// Every outcome label of `trolley_logins_total`.
    pub(crate) const OUTCOMES: [&'static str; 3] = ["success", "invalid", "rate_limited"];
}
