//! The embedded store: the same contract as Redis, in this process's memory.
//!
//! It lets `cargo run --release` serve the whole API with nothing else installed.
//! It is single-replica only (nothing is shared), and only accounts survive a
//! restart (they are kept in a JSON file so `trolley user add` works without
//! Redis). Each mutation is one critical section under one mutex, the in-process
//! equivalent of a Lua script, and the cart changes are the reference rules of
//! `cart::rules` themselves.

mod accounts;
mod cart;
mod catalog;
mod claims;
mod gate;
mod session_records;

use std::{
    borrow::Borrow,
    collections::{HashMap, HashSet},
    hash::Hash,
    path::PathBuf,
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, Instant, SystemTime},
};

use time::OffsetDateTime;

use crate::{
    cart::{
        change::Version,
        gate::KeyRecord,
        model::CartRef,
        rules::{AddOutcome, CartLines, LineOutcome},
    },
    store::StoredCatalog,
};

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
/// An account as the users file holds it (its sessions only in memory).
pub(super) struct MemUser {
    pub(super) password_hash: String,
    pub(super) cart: Option<CartRef>,
    #[serde(skip)]
    pub(super) sessions: HashSet<String>,
}

/// One stored session record.
#[derive(Debug, Clone)]
pub(crate) struct SessionRecord {
    pub(crate) data: String,
    pub(crate) expires: OffsetDateTime,
}

#[derive(Debug)]
struct MemCart {
    /// The public id of the cart this number was given to.
    id: String,
    lines: CartLines,
    /// The last operations that changed it, newest first (its version).
    ops: Vec<crate::cart::change::Version>,
    expires: Instant,
    /// The checkout claim holding it: its id and end (ms since the epoch).
    claim: Option<(String, i64)>,
}

/// A checkout claim's record (see `lua/cart_claim.lua`).
#[derive(Debug)]
struct MemClaim {
    cart_id: String,
    until_ms: i64,
    state: ClaimState,
    /// The cart's version when it was claimed.
    claimed: Version,
    lines: Vec<crate::cart::model::Line>,
    /// The request's fingerprint under an Idempotency-Key (`NewClaim::request`).
    request: String,
    expires: Instant,
}

#[derive(Debug, Clone)]
enum ClaimState {
    Active,
    Released,
    Completed { order: String, version: Version },
}

/// A decision kept under a client's Idempotency-Key.
#[derive(Debug, Clone)]
enum Recorded {
    Add(AddOutcome),
    Line(LineOutcome),
    Clear,
}

/// Everything the embedded store holds but the session records.
#[derive(Debug, Default)]
struct Contents {
    carts: HashMap<u64, MemCart>,
    /// Guest cart number → (user cart number, guest cart id, expiry): see
    /// `lua/cart_merge.lua`.
    tombstones: HashMap<u64, (u64, String, Instant)>,
    /// Decisions recorded under Idempotency-Keys, by (cart number, key).
    records: HashMap<(u64, String), (KeyRecord<Recorded>, Instant)>,
    /// Checkout claims' records, by (cart number, claim id).
    claims: HashMap<(u64, String), MemClaim>,
    /// Guest carts' numbers by public id, and when each entry expires.
    guests: HashMap<String, (u64, Instant)>,
    /// The carts of `ext/{id}` owners: the cart, and when the entry expires.
    owners: HashMap<String, (CartRef, Instant)>,
    last_cart_no: u64,
    catalog: StoredCatalog,
    users: HashMap<String, MemUser>,
    users_file_stamp: Option<SystemTime>,
    /// Counters in a window (login failures, new sessions): count, window end.
    failures: HashMap<String, (u32, Instant)>,
    /// Per login limiter key, the attempts being checked: their lease ends.
    checking: HashMap<String, HashMap<String, Instant>>,
    last_sweep: Option<Instant>,
}

impl Contents {
    /// A live cart, dropping it if it expired.
    fn cart(&mut self, no: u64) -> Option<&mut MemCart> {
        live(&mut self.carts, &no, |cart| cart.expires)
    }

    /// A live cart, created empty if absent.
    fn cart_or_new(&mut self, cart: &CartRef, ttl: Duration) -> &mut MemCart {
        let now = Instant::now();
        let stored = self.carts.entry(cart.no).or_insert_with(|| MemCart {
            id: cart.id.clone(),
            lines: CartLines::default(),
            ops: Vec::new(),
            expires: now + ttl,
            claim: None,
        });
        if stored.expires <= now {
            stored.id = cart.id.clone();
            stored.lines = CartLines::default();
            stored.ops.clear();
            stored.claim = None;
        }
        stored
    }

    /// A live cart under this number that is another session's (as after a lost
    /// counter in Redis; the embedded store never hands a number out twice, but
    /// keeps the same contract).
    fn is_foreign(&mut self, cart: &CartRef) -> bool {
        self.cart(cart.no)
            .is_some_and(|stored| stored.id != cart.id)
            || self.tombstone(cart.no).is_some_and(|(_, id)| id != cart.id)
    }

    /// The user cart a merged guest cart went into, and the guest cart's id,
    /// while its tombstone lives.
    fn tombstone(&mut self, no: u64) -> Option<(u64, &str)> {
        live(&mut self.tombstones, &no, |(_, _, expires)| *expires)
            .map(|(target, id, _)| (*target, id.as_str()))
    }

    fn merged_into(&mut self, no: u64) -> Option<u64> {
        self.tombstone(no).map(|(target, _)| target)
    }

    /// The session's cart was merged at a login.
    fn is_merged(&mut self, cart: &CartRef) -> bool {
        self.tombstone(cart.no).is_some_and(|(_, id)| id == cart.id)
    }

    /// Drops expired entries now and then, so a long-running process stays small.
    fn sweep(&mut self) {
        let now = Instant::now();
        if self
            .last_sweep
            .is_some_and(|at| now.duration_since(at) < Duration::from_secs(30))
        {
            return;
        }
        self.last_sweep = Some(now);
        self.carts.retain(|_, c| c.expires > now);
        self.tombstones.retain(|_, (_, _, expires)| *expires > now);
        self.failures.retain(|_, (_, expires)| *expires > now);
        self.checking.retain(|_, attempts| {
            attempts.retain(|_, lease_ends| *lease_ends > now);
            !attempts.is_empty()
        });
        self.records.retain(|_, (_, expires)| *expires > now);
        self.claims.retain(|_, claim| claim.expires > now);
        self.owners.retain(|_, (_, expires)| *expires > now);
        self.guests.retain(|_, (_, expires)| *expires > now);
    }
}

/// The entry under `key` while it lives; one that has expired is dropped.
fn live<'a, K, Q, V>(
    map: &'a mut HashMap<K, V>,
    key: &Q,
    expires: impl FnOnce(&V) -> Instant,
) -> Option<&'a mut V>
where
    K: Borrow<Q> + Hash + Eq,
    Q: Hash + Eq + ?Sized,
{
    if map
        .get(key)
        .is_some_and(|entry| expires(entry) <= Instant::now())
    {
        map.remove(key);
    }
    map.get_mut(key)
}

/// What the store and its sessions share.
#[derive(Debug)]
struct Memory {
    state: Mutex<Contents>,
    /// Session records by id (see `sessions::memory`, which stores them here).
    sessions: Mutex<HashMap<String, SessionRecord>>,
    users_file: Option<PathBuf>,
}

impl Memory {
    fn state(&self) -> MutexGuard<'_, Contents> {
        // A panic elsewhere cannot leave a half-done mutation behind (each one
        // completes before it can panic), so a poisoned lock is still consistent.
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        state.sweep();
        state
    }

    fn sessions(&self) -> MutexGuard<'_, HashMap<String, SessionRecord>> {
        self.sessions
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The embedded store.
#[derive(Debug, Clone)]
pub struct MemoryStore {
    memory: Arc<Memory>,
}

impl MemoryStore {
    /// An empty store; accounts are kept in `users_file` when given.
    pub fn new(users_file: Option<PathBuf>) -> Self {
        MemoryStore {
            memory: Arc::new(Memory {
                state: Mutex::new(Contents::default()),
                sessions: Mutex::new(HashMap::new()),
                users_file,
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, Contents> {
        self.memory.state()
    }
}
