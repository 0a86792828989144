//! [`AccountStore`] and [`Limiter`] in memory. Accounts are kept in the users
//! file, so `trolley user add` and `user remove` (other processes) reach a running
//! embedded server: it rereads the file when its modification time changes.

use std::{
    collections::{HashMap, HashSet},
    time::{Duration, Instant},
};

use async_trait::async_trait;

use super::{Contents, MemUser, Memory, MemoryStore, live};
use crate::{
    cart::model::CartRef,
    store::{AccountStore, Admission, AttemptEnd, Limiter, StoreError, StoreResult, UserRecord},
};

fn file_error(e: impl std::fmt::Display) -> StoreError {
    StoreError::UsersFile(e.to_string())
}

impl MemoryStore {
    /// Whether an account exists, after noticing changes another process made to
    /// the users file (a removal there ends the user's sessions).
    pub(crate) fn user_exists(&self, username: &str) -> StoreResult<bool> {
        let mut state = self.state();
        self.memory.refresh_users(&mut state)?;
        Ok(state.users.contains_key(username))
    }
}

impl Memory {
    /// Ends a removed user's sessions and drops its cart.
    fn forget_user(&self, state: &mut Contents, user: MemUser) {
        let mut records = self.sessions();
        for session in &user.sessions {
            records.remove(session);
        }
        if let Some(cart) = user.cart {
            state.carts.remove(&cart.no);
        }
    }

    /// Reloads accounts from the users file when another process changed it.
    fn refresh_users(&self, state: &mut Contents) -> StoreResult<()> {
        let Some(path) = &self.users_file else {
            return Ok(());
        };
        let stamp = std::fs::metadata(path).and_then(|m| m.modified()).ok();
        if stamp.is_none() || stamp == state.users_file_stamp {
            return Ok(());
        }
        let text = std::fs::read_to_string(path).map_err(file_error)?;
        let loaded: HashMap<String, MemUser> = serde_json::from_str(&text).map_err(file_error)?;
        let removed: Vec<String> = state
            .users
            .keys()
            .filter(|name| !loaded.contains_key(*name))
            .cloned()
            .collect();
        for name in removed {
            if let Some(user) = state.users.remove(&name) {
                self.forget_user(state, user);
            }
        }
        for (name, mut user) in loaded {
            // This process knows the sessions, and may know a cart the file lacks.
            if let Some(known) = state.users.get(&name) {
                user.sessions = known.sessions.clone();
                user.cart = known.cart.clone().or(user.cart);
            }
            state.users.insert(name, user);
        }
        state.users_file_stamp = stamp;
        Ok(())
    }

    fn write_users(&self, state: &mut Contents) -> StoreResult<()> {
        let Some(path) = &self.users_file else {
            return Ok(());
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(file_error)?;
        }
        let text = serde_json::to_string_pretty(&state.users).map_err(file_error)?;
        let temp = path.with_extension("json.tmp");
        std::fs::write(&temp, text)
            .and_then(|()| std::fs::rename(&temp, path))
            .map_err(file_error)?;
        state.users_file_stamp = std::fs::metadata(path).and_then(|m| m.modified()).ok();
        Ok(())
    }
}

#[async_trait]
impl AccountStore for MemoryStore {
    async fn user(&self, username: &str) -> StoreResult<Option<UserRecord>> {
        let mut state = self.state();
        self.memory.refresh_users(&mut state)?;
        Ok(state.users.get(username).map(|u| UserRecord {
            password_hash: u.password_hash.clone(),
            cart: u.cart.clone(),
        }))
    }

    async fn put_user(&self, username: &str, password_hash: &str) -> StoreResult<bool> {
        let mut state = self.state();
        self.memory.refresh_users(&mut state)?;
        let added = match state.users.get_mut(username) {
            Some(user) => {
                user.password_hash = password_hash.to_string();
                false
            }
            None => {
                let user = MemUser {
                    password_hash: password_hash.to_string(),
                    cart: None,
                    sessions: HashSet::new(),
                };
                state.users.insert(username.to_string(), user);
                true
            }
        };
        self.memory.write_users(&mut state)?;
        Ok(added)
    }

    async fn remove_user(&self, username: &str) -> StoreResult<bool> {
        let mut state = self.state();
        self.memory.refresh_users(&mut state)?;
        let Some(user) = state.users.remove(username) else {
            return Ok(false);
        };
        self.memory.forget_user(&mut state, user);
        self.memory.write_users(&mut state)?;
        Ok(true)
    }

    async fn ensure_user_cart(&self, username: &str, candidate: &CartRef) -> StoreResult<CartRef> {
        let mut state = self.state();
        let Some(user) = state.users.get_mut(username) else {
            return Err(StoreError::Corrupt("user vanished during login".into()));
        };
        let cart = user.cart.get_or_insert_with(|| candidate.clone()).clone();
        self.memory.write_users(&mut state)?;
        Ok(cart)
    }

    async fn owner_cart(
        &self,
        id: &str,
        candidate: Option<&CartRef>,
        ttl: Duration,
    ) -> StoreResult<Option<CartRef>> {
        let mut state = self.state();
        let now = Instant::now();
        let owners = &mut state.owners;
        if live(owners, id, |(_, expires)| *expires).is_none()
            && let Some(candidate) = candidate
        {
            owners.insert(id.to_string(), (candidate.clone(), now + ttl));
        }
        Ok(owners.get_mut(id).map(|(cart, expires)| {
            *expires = now + ttl;
            cart.clone()
        }))
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
}

#[async_trait]
impl Limiter for MemoryStore {
    async fn begin_login_attempt(
        &self,
        key: &str,
        attempt: &str,
        limit: u32,
        lease: Duration,
    ) -> StoreResult<Admission> {
        let mut state = self.state();
        let now = Instant::now();
        let failures = match state.failures.get(key) {
            Some(&(count, ends)) if ends > now => Some((count, ends)),
            _ => None,
        };
        let (count, ends) = failures.unwrap_or((0, now));
        if count >= limit {
            return Ok(Admission::Refused {
                retry_after: ends.saturating_duration_since(now),
            });
        }
        let checking = state.checking.entry(key.to_string()).or_default();
        checking.retain(|_, lease_ends| *lease_ends > now);
        if count as usize + checking.len() >= limit as usize {
            return Ok(Admission::Busy {
                checking: checking.keys().cloned().collect(),
            });
        }
        checking.insert(attempt.to_string(), now + lease);
        Ok(Admission::Admitted)
    }

    async fn end_login_attempt(
        &self,
        key: &str,
        attempt: &str,
        end: AttemptEnd,
        window: Duration,
    ) -> StoreResult<()> {
        let mut state = self.state();
        if let Some(checking) = state.checking.get_mut(key) {
            checking.remove(attempt);
        }
        match end {
            AttemptEnd::Failed => {
                count_in_window(&mut state, key, window);
            }
            AttemptEnd::Cleared => {
                state.failures.remove(key);
            }
            AttemptEnd::Released => {}
        }
        Ok(())
    }

    async fn admit_new_session(
        &self,
        address: &str,
        window: Duration,
        limit: u32,
    ) -> StoreResult<Result<(), Duration>> {
        let mut state = self.state();
        let (count, ends) = count_in_window(&mut state, &format!("new-session:{address}"), window);
        Ok(if count > limit {
            Err(ends.saturating_duration_since(Instant::now()))
        } else {
            Ok(())
        })
    }
}

/// Counts one event against `key` in its window (which starts with the first):
/// the count and when the window ends.
fn count_in_window(state: &mut Contents, key: &str, window: Duration) -> (u32, Instant) {
    let now = Instant::now();
    let entry = state
        .failures
        .entry(key.to_string())
        .or_insert((0, now + window));
    if entry.1 <= now {
        *entry = (0, now + window);
    }
    entry.0 += 1;
    *entry
}
