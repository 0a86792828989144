//! Key names, in one place.
//!
//! Every key one script touches shares one hash tag, so the cart scripts run on
//! Redis Cluster unchanged (see docs/ARCHITECTURE.md for TTLs and slots):
//!
//! | key | type | what |
//! |---|---|---|
//! | `trolley:{cart:<no>}` | hash | a cart (layout in `lua/prelude.lua`) |
//! | `trolley:{cart:<no>}:merged` | string | tombstone of a guest cart merged at login: `<user cart no>\|<guest cart id>`; `sealed:<user cart no>\|<guest cart id>\|<nonce>\|<ttl ms>` while a Cluster merge is under way |
//! | `trolley:{cart:<no>}:idem:<key>` | string | the decision recorded under a client's `Idempotency-Key`: `<cart id> <request fingerprint>\n<reply as JSON>`, PX min(`TROLLEY_IDEMPOTENCY_TTL`, cart TTL) |
//! | `trolley:{cart:<no>}:absorbed` | set | guest cart numbers a Cluster merge applied to this user cart |
//! | `trolley:{cart:<no>}:refused` | set | seals a Cluster merge into this user cart refused while it was claimed |
//! | `trolley:{cart:<no>}:claim:<claim id>` | hash | a checkout claim's record (see `claim`) |
//! | `trolley:{guest:<cart id>}` | string | a guest cart's number by its public id, PX `TROLLEY_SESSION_MAX_AGE` |
//! | `trolley:{ext:<id>}` | hash | the cart of an `ext/{id}` owner: `cart_no`, `cart_id` |
//! | `trolley:cart-seq` | string | the cart-number counter (allocated in blocks) |
//! | `trolley:{catalog}:products`, `trolley:{catalog}:version` | hash, string | the catalog |
//! | `trolley:{user:<name>}` | hash | an account: `password`, `cart_no`, `cart_id` |
//! | `trolley:{user:<name>}:sessions` | set | the account's session ids |
//! | `trolley:{login-failures:<user or ip>:<value>}` | string | login-attempt counter |
//! | `trolley:{new-sessions:<address>}` | string | sessions started by an address this minute (`TROLLEY_NEW_SESSIONS_PER_MINUTE`) |
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

pub(super) fn refused(no: u64) -> String {
    format!("trolley:{{cart:{no}}}:refused")
}

/// A checkout claim's record: `cart` (the cart's public id), `until` (ms),
/// `state` (`active` | `released` | `completed`), `claimed` (the cart's
/// version when claimed), `lines` (the claimed lines),
/// and once completed `order` and `version`.
pub(super) fn claim(no: u64, id: &str) -> String {
    format!("trolley:{{cart:{no}}}:claim:{id}")
}

/// A guest cart's number by its public id (the service API's `guest/{cartId}`).
pub(super) fn guest_index(id: &str) -> String {
    format!("trolley:{{guest:{id}}}")
}

/// An `ext/{id}` owner's record: `cart_no`, `cart_id`.
pub(super) fn ext_owner(id: &str) -> String {
    format!("trolley:{{ext:{id}}}")
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

pub(super) fn new_sessions(address: &str) -> String {
    format!("trolley:{{new-sessions:{address}}}")
}

/// A login limiter key's failures in the window, and the attempts being
/// checked (one hash tag, so one script can hold both on a Cluster).
pub(super) fn login_attempts(key: &str) -> [String; 2] {
    let failures = format!("trolley:{{login-failures:{key}}}");
    let checking = format!("{failures}:checking");
    [failures, checking]
}

/// A cart hash and its merge tombstone (the Cluster merge's guest steps, the
/// line owner lookup).
pub(super) fn cart_and_tombstone(no: u64) -> Vec<String> {
    vec![cart(no), tombstone(no)]
}

/// The keys of a cart change (see `write_gate` in `lua/prelude.lua`): the cart
/// hash, its merge tombstone and the record of the client's `Idempotency-Key`
/// (a key name in the same slot when there is none; the script then ignores it).
pub(super) fn cart_change(no: u64, idempotency_key: Option<&str>) -> Vec<String> {
    vec![
        cart(no),
        tombstone(no),
        format!(
            "trolley:{{cart:{no}}}:idem:{}",
            idempotency_key.unwrap_or("")
        ),
    ]
}
