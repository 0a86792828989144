//! Carts named by their owner (API.md v1.2, the service API): a signed-in
//! user's cart (`user/{username}`), and a cart another system owns
//! (`ext/{id}`). Finding one never creates it; a write creates it the way the
//! first login or the first add does.

use super::{error::CartError, model::CartRef};
use crate::store::{AccountStore, CartStore};

/// Who owns a cart, already validated by the edge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Owner {
    /// An existing account's username.
    User(String),
    /// Another system's id: 1–128 visible ASCII characters.
    Ext(String),
}

impl Owner {
    /// Parses `user/{username}` or `ext/{id}` path segments.
    pub(crate) fn parse(kind: &str, id: &str) -> Option<Owner> {
        let visible = |b: u8| (0x21..=0x7e).contains(&b);
        match kind {
            "user" if !id.is_empty() && id.len() <= 128 && !id.contains(['{', '}']) => {
                Some(Owner::User(id.to_string()))
            }
            "ext" if !id.is_empty() && id.len() <= 128 && id.bytes().all(visible) => {
                Some(Owner::Ext(id.to_string()))
            }
            _ => None,
        }
    }

    /// The owner as the path names it, e.g. `user/alice`.
    pub(crate) fn as_path(&self) -> String {
        match self {
            Owner::User(name) => format!("user/{name}"),
            Owner::Ext(id) => format!("ext/{id}"),
        }
    }
}

/// The owner's cart, if it has one; an unknown user → `UserNotFound`.
pub(crate) async fn find(
    accounts: &dyn AccountStore,
    owner: &Owner,
    ttl: std::time::Duration,
) -> Result<Option<CartRef>, CartError> {
    match owner {
        Owner::User(name) => match accounts.user(name).await? {
            Some(record) => Ok(record.cart),
            None => Err(CartError::UserNotFound),
        },
        Owner::Ext(id) => Ok(accounts.owner_cart(id, None, ttl).await?),
    }
}

/// The owner's cart, given a new one if it has none (atomic: two first writes
/// agree on one cart).
pub(crate) async fn find_or_create(
    carts: &dyn CartStore,
    accounts: &dyn AccountStore,
    owner: &Owner,
    ttl: std::time::Duration,
) -> Result<CartRef, CartError> {
    if let Some(cart) = find(accounts, owner, ttl).await? {
        if let Owner::Ext(id) = owner {
            // Slides the owner's record with its cart.
            accounts.owner_cart(id, Some(&cart), ttl).await?;
        }
        return Ok(cart);
    }
    let candidate = CartRef::new(carts.allocate_cart_no().await?);
    match owner {
        Owner::User(name) => Ok(accounts.ensure_user_cart(name, &candidate).await?),
        Owner::Ext(id) => accounts
            .owner_cart(id, Some(&candidate), ttl)
            .await?
            .ok_or(CartError::UserNotFound),
    }
}
