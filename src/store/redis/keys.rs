//! Key names, in one place.
//!
//! Every key one script touches shares one hash tag, so the cart scripts run on
//! Redis Cluster unchanged (see docs/ARCHITECTURE.md for TTLs and slots):
//!
//! | key | type | what |
//! |---|---|---|
//! | `trolley:{cart:<no>}` | hash | a cart (layout in `lua/cart_add.lua`) |
//! | `trolley:{cart:<no>}:merged` | string | tombstone of a guest cart merged at login: `<user cart no>\|<guest cart id>`; `sealed:<user cart no>\|<guest cart id>` while a Cluster merge is under way |
//! | `trolley:{cart:<no>}:absorbed` | set | guest cart numbers a Cluster merge applied to this user cart |
//! | `trolley:cart-seq` | string | the cart-number counter (allocated in blocks) |
//! | `trolley:{catalog}:products`, `trolley:{catalog}:version` | hash, string | the catalog |
//! | `trolley:{user:<name>}` | hash | an account: `password`, `cart_no`, `cart_id` |
//! | `trolley:{user:<name>}:sessions` | set | the account's session ids |
//! | `trolley:{login-failures:<user or ip>:<value>}` | string | failed-login counter |
//! | `<session id>` | string | a session record (tower-sessions-redis-store, unprefixed) |

pub(super) fn cart(no: u64) -> String {
    format!("trolley:{{cart:{no}}}")
}

pub(super) fn tombstone(no: u64) -> String {
    format!("trolley:{{cart:{no}}}:merged")
}

pub(super) fn absorbed(no: u64) -> String {
    format!("trolley:{{cart:{no}}}:absorbed")
}

pub(super) const CART_SEQ: &str = "trolley:cart-seq";
pub(super) const CATALOG_PRODUCTS: &str = "trolley:{catalog}:products";
pub(super) const CATALOG_VERSION: &str = "trolley:{catalog}:version";

pub(super) fn user(name: &str) -> String {
    format!("trolley:{{user:{name}}}")
}

pub(super) fn user_sessions(name: &str) -> String {
    format!("trolley:{{user:{name}}}:sessions")
}

pub(super) fn login_failures(key: &str) -> String {
    format!("trolley:{{login-failures:{key}}}")
}

/// The keys of a cart script: the cart hash and its merge tombstone.
pub(super) fn cart_and_tombstone(no: u64) -> Vec<String> {
    vec![cart(no), tombstone(no)]
}
