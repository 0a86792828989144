//! The embedded store: the same contract as Redis, in this process's memory.
//!
//! It lets `cargo run --release` serve the whole API with nothing else installed.
//! It is single-replica only (nothing is shared), and only accounts survive a
//! restart (they are kept in a JSON file so `trolley user add` works without Redis).
//! Each mutation is one critical section under one mutex, the in-process
//! equivalent of a Lua script.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    path::PathBuf,
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, Instant, SystemTime},
};

use async_trait::async_trait;
use tower_sessions::{
    SessionStore,
    session::{Id, Record},
    session_store,
};

use super::{
    AddOutcome, CartPolicy, CartStore, ClearOutcome, LineOutcome, MergeReport, NewItem, StoreError,
    StoreResult, StoredCatalog, UserRecord,
};
use crate::cart::{
    model::{CartRef, LINE_SEQ_BITS, Line, LineId, MAX_LINE_SEQ, Product, ProductId},
    rules::MergeRule,
};

#[derive(Debug)]
struct MemCart {
    seq: u64,
    lines: BTreeMap<LineId, Line>,
    by_product: HashMap<ProductId, LineId>,
    expires: Instant,
}

impl MemCart {
    fn new(ttl: Duration) -> Self {
        MemCart {
            seq: 0,
            lines: BTreeMap::new(),
            by_product: HashMap::new(),
            expires: Instant::now() + ttl,
        }
    }
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct MemUser {
    password_hash: String,
    cart: Option<CartRef>,
    #[serde(skip)]
    sessions: HashSet<String>,
}

#[derive(Debug, Default)]
struct State {
    carts: HashMap<u64, MemCart>,
    /// Guest cart number → (user cart number, expiry): see `lua/cart_merge.lua`.
    tombstones: HashMap<u64, (u64, Instant)>,
    last_cart_no: u64,
    catalog: StoredCatalog,
    users: HashMap<String, MemUser>,
    users_file_stamp: Option<SystemTime>,
    failures: HashMap<String, (u32, Instant)>,
    last_sweep: Option<Instant>,
}

impl State {
    /// A live cart, dropping it if it expired.
    fn cart(&mut self, no: u64) -> Option<&mut MemCart> {
        let now = Instant::now();
        if self.carts.get(&no).is_some_and(|c| c.expires <= now) {
            self.carts.remove(&no);
        }
        self.carts.get_mut(&no)
    }

    fn is_merged(&mut self, no: u64) -> bool {
        let now = Instant::now();
        match self.tombstones.get(&no) {
            Some((_, expires)) if *expires > now => true,
            Some(_) => {
                self.tombstones.remove(&no);
                false
            }
            None => false,
        }
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
        self.tombstones.retain(|_, (_, expires)| *expires > now);
        self.failures.retain(|_, (_, expires)| *expires > now);
    }
}

/// Session records in memory, with the Redis store's semantics: `save` only
/// updates a live record (like `SET XX`), so a request still in flight when its
/// session is deleted (logout, login rotation) cannot bring it back.
#[derive(Debug, Clone, Default)]
pub struct MemorySessions {
    records: Arc<Mutex<HashMap<Id, Record>>>,
}

impl MemorySessions {
    fn records(&self) -> MutexGuard<'_, HashMap<Id, Record>> {
        self.records
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn delete_by_text(&self, id: &str) {
        if let Ok(id) = id.parse::<Id>() {
            self.records().remove(&id);
        }
    }
}

fn is_live(record: &Record) -> bool {
    record.expiry_date > time::OffsetDateTime::now_utc()
}

#[async_trait]
impl SessionStore for MemorySessions {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        let mut records = self.records();
        while records.contains_key(&record.id) {
            record.id = Id::default();
        }
        records.retain(|_, r| is_live(r));
        records.insert(record.id, record.clone());
        Ok(())
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        let mut records = self.records();
        if let Some(existing) = records.get_mut(&record.id)
            && is_live(existing)
        {
            *existing = record.clone();
        }
        Ok(())
    }

    async fn load(&self, session_id: &Id) -> session_store::Result<Option<Record>> {
        Ok(self
            .records()
            .get(session_id)
            .filter(|r| is_live(r))
            .cloned())
    }

    async fn delete(&self, session_id: &Id) -> session_store::Result<()> {
        self.records().remove(session_id);
        Ok(())
    }
}

/// The embedded store.
#[derive(Debug)]
pub struct MemoryStore {
    state: Mutex<State>,
    sessions: MemorySessions,
    users_file: Option<PathBuf>,
}

impl MemoryStore {
    /// An empty store; accounts are kept in `users_file` when given.
    pub fn new(users_file: Option<PathBuf>) -> Self {
        MemoryStore {
            state: Mutex::new(State::default()),
            sessions: MemorySessions::default(),
            users_file,
        }
    }

    /// The session store that shares this store's lifetime (for `remove_user`).
    pub fn sessions(&self) -> MemorySessions {
        self.sessions.clone()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere cannot leave a half-done mutation behind (each one
        // completes before it can panic), so a poisoned lock is still consistent.
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        state.sweep();
        state
    }

    /// Reloads accounts from the users file when another process changed it.
    fn refresh_users(&self, state: &mut State) -> StoreResult<()> {
        let Some(path) = &self.users_file else {
            return Ok(());
        };
        let stamp = std::fs::metadata(path).and_then(|m| m.modified()).ok();
        if stamp.is_none() || stamp == state.users_file_stamp {
            return Ok(());
        }
        let text = std::fs::read_to_string(path)
            .map_err(|e| StoreError::Corrupt(format!("users file: {e}")))?;
        let loaded: HashMap<String, MemUser> = serde_json::from_str(&text)
            .map_err(|e| StoreError::Corrupt(format!("users file: {e}")))?;
        // Users removed by another process: end their sessions, drop their carts.
        let removed: Vec<String> = state
            .users
            .keys()
            .filter(|name| !loaded.contains_key(*name))
            .cloned()
            .collect();
        for name in removed {
            if let Some(user) = state.users.remove(&name) {
                for session in &user.sessions {
                    self.sessions.delete_by_text(session);
                }
                if let Some(cart) = user.cart {
                    state.carts.remove(&cart.no);
                }
            }
        }
        for (name, user) in loaded {
            let sessions = state
                .users
                .get(&name)
                .map(|u| u.sessions.clone())
                .unwrap_or_default();
            let cart = state
                .users
                .get(&name)
                .and_then(|u| u.cart.clone())
                .or(user.cart);
            state.users.insert(
                name,
                MemUser {
                    password_hash: user.password_hash,
                    cart,
                    sessions,
                },
            );
        }
        state.users_file_stamp = stamp;
        Ok(())
    }

    fn write_users(&self, state: &mut State) -> StoreResult<()> {
        let Some(path) = &self.users_file else {
            return Ok(());
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Corrupt(format!("users file: {e}")))?;
        }
        let text = serde_json::to_string_pretty(&state.users)
            .map_err(|e| StoreError::Corrupt(format!("users file: {e}")))?;
        let temp = path.with_extension("json.tmp");
        std::fs::write(&temp, text)
            .and_then(|()| std::fs::rename(&temp, path))
            .map_err(|e| StoreError::Corrupt(format!("users file: {e}")))?;
        state.users_file_stamp = std::fs::metadata(path).and_then(|m| m.modified()).ok();
        Ok(())
    }
}

#[async_trait]
impl CartStore for MemoryStore {
    async fn allocate_cart_no(&self) -> StoreResult<u64> {
        let mut state = self.state();
        state.last_cart_no += 1;
        Ok(state.last_cart_no)
    }

    async fn read_cart(&self, cart: &CartRef, ttl: Duration) -> StoreResult<Vec<Line>> {
        let mut state = self.state();
        Ok(match state.cart(cart.no) {
            Some(stored) => {
                stored.expires = Instant::now() + ttl;
                stored.lines.values().cloned().collect()
            }
            None => Vec::new(),
        })
    }

    async fn add_item(
        &self,
        cart: &CartRef,
        item: &NewItem,
        policy: CartPolicy,
    ) -> StoreResult<AddOutcome> {
        let mut state = self.state();
        if state.is_merged(cart.no) {
            return Ok(AddOutcome::CartMerged);
        }
        if state.cart(cart.no).is_none() {
            state.carts.insert(cart.no, MemCart::new(policy.ttl));
        }
        let Some(stored) = state.cart(cart.no) else {
            return Err(StoreError::Corrupt("cart vanished".into()));
        };
        if let Some(line_id) = stored.by_product.get(&item.product_id).copied() {
            let Some(line) = stored.lines.get_mut(&line_id) else {
                return Err(StoreError::Corrupt("product index".into()));
            };
            let Ok(quantity) = policy.limits.increment(line.quantity, item.quantity) else {
                return Ok(AddOutcome::QuantityAboveMax);
            };
            line.quantity = quantity;
            let line = line.clone();
            stored.expires = Instant::now() + policy.ttl;
            return Ok(AddOutcome::Added(line));
        }
        if item.quantity > policy.limits.max_quantity {
            return Ok(AddOutcome::QuantityAboveMax);
        }
        if stored.lines.len() >= policy.limits.max_lines as usize || stored.seq >= MAX_LINE_SEQ {
            return Ok(AddOutcome::CartFull);
        }
        stored.seq += 1;
        let line = Line {
            id: LineId((cart.no << LINE_SEQ_BITS) | stored.seq),
            product_id: item.product_id,
            quantity: item.quantity,
            price: item.price,
            added_at_ms: item.now_ms,
        };
        stored.by_product.insert(item.product_id, line.id);
        stored.lines.insert(line.id, line.clone());
        stored.expires = Instant::now() + policy.ttl;
        Ok(AddOutcome::Added(line))
    }

    async fn set_quantity(
        &self,
        cart: &CartRef,
        line: LineId,
        quantity: u32,
        policy: CartPolicy,
    ) -> StoreResult<LineOutcome> {
        let mut state = self.state();
        if state.is_merged(cart.no) {
            return Ok(LineOutcome::CartMerged);
        }
        let Some(stored) = state.cart(cart.no) else {
            return Ok(LineOutcome::NotInCart);
        };
        let Some(existing) = stored.lines.get_mut(&line) else {
            return Ok(LineOutcome::NotInCart);
        };
        existing.quantity = quantity;
        let line = existing.clone();
        stored.expires = Instant::now() + policy.ttl;
        Ok(LineOutcome::Done(line))
    }

    async fn remove_line(
        &self,
        cart: &CartRef,
        line: LineId,
        policy: CartPolicy,
    ) -> StoreResult<LineOutcome> {
        let mut state = self.state();
        if state.is_merged(cart.no) {
            return Ok(LineOutcome::CartMerged);
        }
        let Some(stored) = state.cart(cart.no) else {
            return Ok(LineOutcome::NotInCart);
        };
        let Some(removed) = stored.lines.remove(&line) else {
            return Ok(LineOutcome::NotInCart);
        };
        stored.by_product.remove(&removed.product_id);
        stored.expires = Instant::now() + policy.ttl;
        Ok(LineOutcome::Done(removed))
    }

    async fn clear_cart(&self, cart: &CartRef, policy: CartPolicy) -> StoreResult<ClearOutcome> {
        let mut state = self.state();
        if state.is_merged(cart.no) {
            return Ok(ClearOutcome::CartMerged);
        }
        if let Some(stored) = state.cart(cart.no) {
            stored.lines.clear();
            stored.by_product.clear();
            stored.expires = Instant::now() + policy.ttl;
        }
        Ok(ClearOutcome::Cleared)
    }

    async fn line_exists(&self, line: LineId) -> StoreResult<bool> {
        let mut state = self.state();
        let origin = line.cart_no();
        if state
            .cart(origin)
            .is_some_and(|c| c.lines.contains_key(&line))
        {
            return Ok(true);
        }
        let moved_to = state
            .is_merged(origin)
            .then(|| state.tombstones.get(&origin).map(|(no, _)| *no))
            .flatten();
        Ok(moved_to.is_some_and(|no| state.cart(no).is_some_and(|c| c.lines.contains_key(&line))))
    }

    async fn ping(&self) -> StoreResult<()> {
        Ok(())
    }

    async fn catalog_version(&self) -> StoreResult<u64> {
        Ok(self.state().catalog.version)
    }

    async fn load_catalog(&self) -> StoreResult<StoredCatalog> {
        Ok(self.state().catalog.clone())
    }

    async fn replace_catalog(&self, products: &[Product], only_if_empty: bool) -> StoreResult<u64> {
        let mut state = self.state();
        if only_if_empty && state.catalog.version > 0 {
            return Ok(0);
        }
        state.catalog = StoredCatalog {
            version: state.catalog.version + 1,
            products: products.to_vec(),
        };
        Ok(state.catalog.version)
    }

    async fn user(&self, username: &str) -> StoreResult<Option<UserRecord>> {
        let mut state = self.state();
        self.refresh_users(&mut state)?;
        Ok(state.users.get(username).map(|u| UserRecord {
            password_hash: u.password_hash.clone(),
            cart: u.cart.clone(),
        }))
    }

    async fn put_user(&self, username: &str, password_hash: &str) -> StoreResult<bool> {
        let mut state = self.state();
        self.refresh_users(&mut state)?;
        let added = match state.users.get_mut(username) {
            Some(user) => {
                user.password_hash = password_hash.to_string();
                false
            }
            None => {
                state.users.insert(
                    username.to_string(),
                    MemUser {
                        password_hash: password_hash.to_string(),
                        cart: None,
                        sessions: HashSet::new(),
                    },
                );
                true
            }
        };
        self.write_users(&mut state)?;
        Ok(added)
    }

    async fn remove_user(&self, username: &str) -> StoreResult<bool> {
        let mut state = self.state();
        self.refresh_users(&mut state)?;
        let Some(user) = state.users.remove(username) else {
            return Ok(false);
        };
        for session in &user.sessions {
            self.sessions.delete_by_text(session);
        }
        if let Some(cart) = user.cart {
            state.carts.remove(&cart.no);
        }
        self.write_users(&mut state)?;
        Ok(true)
    }

    async fn ensure_user_cart(&self, username: &str, candidate: &CartRef) -> StoreResult<CartRef> {
        let mut state = self.state();
        let Some(user) = state.users.get_mut(username) else {
            return Err(StoreError::Corrupt("user vanished during login".into()));
        };
        let cart = user.cart.get_or_insert_with(|| candidate.clone()).clone();
        self.write_users(&mut state)?;
        Ok(cart)
    }

    async fn user_still_exists(&self, username: &str) -> StoreResult<bool> {
        let mut state = self.state();
        self.refresh_users(&mut state)?;
        Ok(state.users.contains_key(username))
    }

    async fn track_session(
        &self,
        username: &str,
        session_id: &str,
        _ttl: Duration,
    ) -> StoreResult<()> {
        if let Some(user) = self.state().users.get_mut(username) {
            user.sessions.insert(session_id.to_string());
        }
        Ok(())
    }

    async fn merge_carts(
        &self,
        guest: &CartRef,
        user: &CartRef,
        rule: MergeRule,
        policy: CartPolicy,
    ) -> StoreResult<MergeReport> {
        let mut state = self.state();
        if state.is_merged(guest.no) {
            return Ok(MergeReport {
                already_merged: true,
                ..MergeReport::default()
            });
        }
        let mut guest_lines: Vec<Line> = state
            .cart(guest.no)
            .map(|c| c.lines.values().cloned().collect())
            .unwrap_or_default();
        Line::sort(&mut guest_lines);
        state.carts.remove(&guest.no);
        if state.cart(user.no).is_none() {
            state.carts.insert(user.no, MemCart::new(policy.ttl));
        }
        let Some(target) = state.cart(user.no) else {
            return Err(StoreError::Corrupt("cart vanished".into()));
        };
        let mut report = MergeReport::default();
        for line in guest_lines {
            if let Some(existing_id) = target.by_product.get(&line.product_id).copied() {
                let Some(existing) = target.lines.get_mut(&existing_id) else {
                    return Err(StoreError::Corrupt("product index".into()));
                };
                let (quantity, clamped) =
                    rule.combine(existing.quantity, line.quantity, &policy.limits);
                existing.quantity = quantity;
                if clamped {
                    report.clamped.push(existing_id);
                }
                report.lines_combined += 1;
            } else if target.lines.len() < policy.limits.max_lines as usize {
                target.by_product.insert(line.product_id, line.id);
                target.lines.insert(line.id, line);
                report.lines_moved += 1;
            } else {
                report.dropped.push(line.id);
            }
        }
        target.expires = Instant::now() + policy.ttl;
        state
            .tombstones
            .insert(guest.no, (user.no, Instant::now() + policy.ttl));
        Ok(report)
    }

    async fn record_login_failure(&self, key: &str, window: Duration) -> StoreResult<u32> {
        let mut state = self.state();
        let now = Instant::now();
        let entry = state
            .failures
            .entry(key.to_string())
            .or_insert((0, now + window));
        if entry.1 <= now {
            *entry = (0, now + window);
        }
        entry.0 += 1;
        Ok(entry.0)
    }

    async fn login_failures(&self, key: &str) -> StoreResult<(u32, Duration)> {
        let state = self.state();
        let now = Instant::now();
        Ok(match state.failures.get(key) {
            Some((count, expires)) if *expires > now => (*count, *expires - now),
            _ => (0, Duration::ZERO),
        })
    }

    async fn reset_login_failures(&self, key: &str) -> StoreResult<()> {
        self.state().failures.remove(key);
        Ok(())
    }
}
