//! Login as named steps: the limiter, the password, the user's cart, the merge of
//! the guest cart. Everything that can fail happens here, before the HTTP edge
//! rotates the session id: a login that fails leaves the guest session as it was.

use std::time::Duration;

use super::{error::LoginError, limiter, password};
use crate::{
    cart::{
        model::CartRef,
        rules::{Limits, MergeReport, MergeRule},
    },
    metrics,
    store::{AccountStore, CartPolicy, CartStore, Limiter},
};

/// The login settings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LoginSettings {
    /// Failed logins allowed per username within the window.
    pub(crate) max_failures: u32,
    /// Failed logins allowed per client address within the window.
    pub(crate) max_failures_per_address: u32,
    pub(crate) failure_window: Duration,
    pub(crate) merge_rule: MergeRule,
    /// How long a user's cart lives after a touch.
    pub(crate) user_cart_ttl: Duration,
    pub(crate) limits: Limits,
}

impl LoginSettings {
    fn limits(&self) -> limiter::Limits {
        limiter::Limits {
            per_username: self.max_failures,
            per_address: self.max_failures_per_address,
        }
    }

    fn user_cart_policy(&self) -> CartPolicy {
        CartPolicy {
            ttl: self.user_cart_ttl,
            limits: self.limits,
        }
    }
}

/// What a login attempt brings.
pub(crate) struct Attempt<'a> {
    pub(crate) username: &'a str,
    pub(crate) password: &'a str,
    /// The address the per-address limit counts against.
    pub(crate) client_address: &'a str,
    /// The session's guest cart, if it has one. A session already signed in holds
    /// its user's cart, which is no guest cart: pass `None` then.
    pub(crate) guest_cart: Option<&'a CartRef>,
}

/// A successful login: the account's name as stored, its cart, and what the
/// merge did.
pub(crate) struct SignedIn {
    /// The username as stored (NFC), whatever form of it was typed.
    pub(crate) username: String,
    pub(crate) cart: CartRef,
    pub(crate) merge: MergeReport,
}

/// The stores a login touches.
pub(crate) struct LoginStores<'a> {
    pub(crate) accounts: &'a dyn AccountStore,
    pub(crate) limiter: &'a dyn Limiter,
    pub(crate) carts: &'a dyn CartStore,
}

/// Checks the credentials and merges the guest cart into the user's cart.
pub(crate) async fn login(
    stores: LoginStores<'_>,
    settings: &LoginSettings,
    attempt: Attempt<'_>,
) -> Result<SignedIn, LoginError> {
    let result = signed_in(stores, settings, attempt).await;
    match &result {
        Ok(_) => metrics::login("success"),
        Err(error) => {
            if let Some(outcome) = error.outcome() {
                metrics::login(outcome);
            }
        }
    }
    result
}

async fn signed_in(
    stores: LoginStores<'_>,
    settings: &LoginSettings,
    attempt: Attempt<'_>,
) -> Result<SignedIn, LoginError> {
    let (username, password) = (
        super::validate::normalized(attempt.username),
        super::validate::normalized(attempt.password),
    );
    let attempt = Attempt {
        username: &username,
        password: &password,
        ..attempt
    };
    let keys = limiter::LimiterKeys::new(attempt.username, attempt.client_address);
    let admitted = limiter::admit(stores.limiter, &keys, settings.limits()).await?;
    let checked = password::check(stores.accounts, attempt.username, attempt.password).await;
    let outcome = match &checked {
        Ok(Some(_)) => limiter::Outcome::SignedIn,
        Ok(None) => limiter::Outcome::WrongPassword,
        Err(_) => limiter::Outcome::NotChecked,
    };
    limiter::finish(
        stores.limiter,
        &keys,
        admitted,
        outcome,
        settings.failure_window,
    )
    .await?;
    let Some(record) = checked? else {
        return Err(LoginError::InvalidCredentials);
    };
    let cart = match record.cart {
        Some(cart) => cart,
        None => {
            let candidate = CartRef::new(stores.carts.allocate_cart_no().await?);
            stores
                .accounts
                .ensure_user_cart(attempt.username, &candidate)
                .await?
        }
    };
    let guest = attempt.guest_cart.filter(|guest| guest.no != cart.no);
    let merge = merge_guest_cart(stores.carts, guest, &cart, settings).await?;
    Ok(SignedIn {
        username: attempt.username.to_string(),
        cart,
        merge,
    })
}

/// Merges the guest cart (if any) into the user's cart, counting the outcome.
async fn merge_guest_cart(
    carts: &dyn CartStore,
    guest: Option<&CartRef>,
    user_cart: &CartRef,
    settings: &LoginSettings,
) -> Result<MergeReport, LoginError> {
    let Some(guest) = guest else {
        metrics::login_merge("nothing_to_merge", 0);
        return Ok(MergeReport::default());
    };
    let merged = carts
        .merge_carts(
            guest,
            user_cart,
            settings.merge_rule,
            settings.user_cart_policy(),
        )
        .await;
    let report = match merged {
        Ok(report) => report,
        Err(error) => {
            metrics::login_merge("failed", 0);
            return Err(error.into());
        }
    };
    if report.claimed {
        metrics::login_merge("failed", 0);
        return Err(LoginError::CartClaimed);
    }
    let outcome = if report.already_merged {
        "retried"
    } else {
        "merged"
    };
    metrics::login_merge(outcome, report.lines_moved);
    tracing::info!(
        outcome,
        lines_moved = report.lines_moved,
        lines_combined = report.lines_combined,
        clamped = report.clamped.len(),
        dropped = report.dropped.len(),
        "login merge"
    );
    Ok(report)
}

/// The outcome labels of `trolley_login_merges_total`.
pub(crate) const MERGE_OUTCOMES: [&str; 4] = ["merged", "nothing_to_merge", "retried", "failed"];
