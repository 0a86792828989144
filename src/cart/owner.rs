//! Carts named by their owner (API.md v1.2, the service API): a signed-in
//! user's cart (`user/{username}`), a guest session's cart by the `cartId` its
//! shopper sees (`guest/{cartId}`, through the index written when the cart was
//! made: no scan, and only that exact id reaches it), and a cart another system
//! owns (`ext/{id}`). Finding one never creates it; a write creates it the way the
//! first login or the first add does.

use super::{change::Version, error::CartError, model::CartRef};
use crate::store::{AccountStore, CartRead, CartStore};

/// Who owns a cart, already validated by the edge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Owner {
    /// An existing account's username.
    User(String),
    /// A guest cart's public id.
    Guest(String),
    /// Another system's id: 1–128 visible ASCII characters.
    Ext(String),
}

/// Each kind of owner and the pattern of its ids, as the OpenAPI document
/// states them. [`Owner::parse`] takes exactly the ids a guest's and an ext
/// pattern match, and every id the user pattern matches (a username may be any
/// text of up to 128 bytes without braces; the pattern names its ASCII part).
pub(crate) const OWNER_KINDS: [(&str, &str); 3] = [
    ("user", r"^[ -z|~]{1,128}$"),
    ("guest", r"^[A-Za-z0-9_-]{1,64}$"),
    ("ext", r"^[!-~]{1,128}$"),
];

impl Owner {
    /// Parses `user/{username}`, `guest/{cartId}` or `ext/{id}` path segments.
    pub(crate) fn parse(kind: &str, id: &str) -> Option<Owner> {
        let visible = |b: u8| (0x21..=0x7e).contains(&b);
        match kind {
            "user" if !id.is_empty() && id.len() <= 128 && !id.contains(['{', '}']) => {
                Some(Owner::User(id.to_string()))
            }
            "guest"
                if !id.is_empty()
                    && id.len() <= 64
                    && id
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
            {
                Some(Owner::Guest(id.to_string()))
            }
            "ext" if !id.is_empty() && id.len() <= 128 && id.bytes().all(visible) => {
                Some(Owner::Ext(id.to_string()))
            }
            _ => None,
        }
    }

    /// Whether its cart lives as long as a signed-in user's (a guest cart
    /// lives as long as its session).
    pub(crate) fn long_lived(&self) -> bool {
        !matches!(self, Owner::Guest(_))
    }

    /// The owner as the path names it, e.g. `user/alice`.
    pub(crate) fn as_path(&self) -> String {
        match self {
            Owner::User(name) => format!("user/{name}"),
            Owner::Guest(id) => format!("guest/{id}"),
            Owner::Ext(id) => format!("ext/{id}"),
        }
    }
}

/// The owner's cart, if it has one; an unknown user → `UserNotFound`.
pub(crate) async fn find(
    carts: &dyn CartStore,
    accounts: &dyn AccountStore,
    owner: &Owner,
    ttl: std::time::Duration,
) -> Result<Option<CartRef>, CartError> {
    match owner {
        Owner::Guest(id) => Ok(carts.guest_cart(id).await?),
        Owner::User(name) => match accounts.user(name).await? {
            Some(record) => Ok(record.cart),
            None => Err(CartError::UserNotFound),
        },
        Owner::Ext(id) => Ok(accounts.owner_cart(id, None, ttl).await?),
    }
}

/// The owner's cart for a change of its lines or a checkout: a guest cart
/// must be live (else `CartNotFound`); a user's or another system's may be
/// missing (the change finds nothing to change).
pub(crate) async fn find_to_change(
    carts: &dyn CartStore,
    accounts: &dyn AccountStore,
    owner: &Owner,
    ttl: std::time::Duration,
) -> Result<Option<CartRef>, CartError> {
    let cart = find(carts, accounts, owner, ttl).await?;
    match (owner, cart) {
        (Owner::Guest(_), Some(cart)) if is_live(carts, &cart, ttl).await? => Ok(Some(cart)),
        (Owner::Guest(_), _) => Err(CartError::CartNotFound),
        (Owner::User(_) | Owner::Ext(_), cart) => Ok(cart),
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
    if let Owner::Guest(_) = owner {
        // Only a live cart: a guest cart is made by its session's first add.
        return find_to_change(carts, accounts, owner, ttl)
            .await?
            .ok_or(CartError::CartNotFound);
    }
    // Finding an ext/ owner's record slides it, with its cart.
    if let Some(cart) = find(carts, accounts, owner, ttl).await? {
        return Ok(cart);
    }
    let candidate = CartRef::new(carts.allocate_cart_no().await?);
    match owner {
        Owner::User(name) => Ok(accounts.ensure_user_cart(name, &candidate).await?),
        Owner::Ext(id) => accounts
            .owner_cart(id, Some(&candidate), ttl)
            .await?
            .ok_or(CartError::UserNotFound),
        Owner::Guest(_) => Err(CartError::CartNotFound),
    }
}

/// The cart is stored under its number with its own id (an emptied cart
/// still has a version; a gone one reads as version "0").
async fn is_live(
    carts: &dyn CartStore,
    cart: &CartRef,
    ttl: std::time::Duration,
) -> Result<bool, CartError> {
    Ok(match carts.read_cart(cart, ttl, None).await? {
        CartRead::Lines { version, .. } => version.0 != Version::NONE,
        // (No session copy was asked to be checked, so none is stale.)
        CartRead::Foreign | CartRead::SessionStale => false,
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::{OWNER_KINDS, Owner};

    proptest! {
        /// The documented patterns and the parser agree: on guest and ext ids
        /// exactly, on user ids one way (the parser takes more than ASCII).
        #[test]
        fn the_parser_takes_what_the_documented_patterns_match(
            id in "[ -~\t\u{1}{}é]{0,3}|[a-z]{60,70}|[!-~]{120,135}"
        ) {
            for (kind, pattern) in OWNER_KINDS {
                let matched = regex::Regex::new(pattern).expect("pattern").is_match(&id);
                let parsed = Owner::parse(kind, &id).is_some();
                if kind == "user" {
                    prop_assert!(!matched || parsed, "{}/{:?}", kind, id);
                } else {
                    prop_assert_eq!(matched, parsed, "{}/{:?}", kind, id);
                }
            }
        }
    }
}
