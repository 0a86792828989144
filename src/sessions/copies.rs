//! Each replica's copies of session records: a cart request whose record is
//! copied here skips the session store's `GET` and makes one Redis round trip
//! (its cart script) instead of two.
//!
//! A copy is never trusted on its own: the request carries what it was served
//! (a [`ServedCopy`], handed to its first cart script), and the script checks,
//! before anything else and in the same atomic step, that Redis still holds
//! exactly those bytes. A record that changed meanwhile (logged out, rotated at
//! a login, slid or given a new cart by another replica, lost by Redis) is
//! answered as stale with nothing changed, and the request runs again from
//! Redis's record.
//!
//! Only records a cart request can use without writing them are copied: with a
//! cart, not due for a slide, not expired, within the absolute lifetime. A
//! request served a copy writes its record only after its script has checked
//! it: the edge does not slide such a record, and a stale copy's answer is a
//! 503, which tower-sessions does not save.

use std::{sync::Arc, time::Duration};

use quick_cache::sync::Cache;
use time::OffsetDateTime;
use tower_sessions::session::{Id, Record};

use super::fields::{CART_KEY, SLID_KEY, STARTED_KEY, session_end, slide_due};
use crate::cart::change::ServedCopy;

/// A record as Redis held it, and what a script checks it by.
struct CachedRecord {
    record: Record,
    copy: ServedCopy,
}

pub(crate) struct Copies {
    records: Cache<Id, Arc<CachedRecord>>,
    /// The sessions' inactivity TTL: a record due for a slide is not served.
    ttl: Duration,
    /// Their absolute lifetime: a session past it is ended, not served.
    max_age: Duration,
}

impl Copies {
    /// Room for `capacity` records (none: `None`).
    pub(crate) fn new(capacity: usize, ttl: Duration, max_age: Duration) -> Option<Copies> {
        (capacity > 0).then(|| Copies {
            records: Cache::new(capacity),
            ttl,
            max_age,
        })
    }

    /// The copy of `id`'s record, if there is one a cart request may use, with
    /// what the request's cart script will check it by.
    pub(crate) fn serve(&self, id: &Id) -> Option<(Record, ServedCopy)> {
        let cached = self.records.get(id)?;
        if !self.servable(&cached.record) {
            self.records.remove(id);
            return None;
        }
        crate::metrics::session_copy("served");
        Some((cached.record.clone(), cached.copy.clone()))
    }

    /// Keeps a copy of a record just read from Redis as `bytes`, if servable
    /// (an older copy of it is replaced, or dropped).
    pub(crate) fn keep(&self, id: Id, bytes: &[u8], record: &Record) {
        if !self.servable(record) {
            self.records.remove(&id);
            return;
        }
        let cached = CachedRecord {
            record: record.clone(),
            copy: ServedCopy::of(&id.to_string(), bytes),
        };
        self.records.insert(id, Arc::new(cached));
    }

    /// Drops the copy of a record being written or deleted.
    pub(crate) fn forget(&self, id: &Id) {
        self.records.remove(id);
    }

    fn servable(&self, record: &Record) -> bool {
        let now = OffsetDateTime::now_utc();
        let slid_ms = record
            .data
            .get(SLID_KEY)
            .and_then(serde_json::Value::as_i64)
            .unwrap_or(0);
        let now_ms = (now.unix_timestamp_nanos() / 1_000_000) as i64;
        let started = record
            .data
            .get(STARTED_KEY)
            .and_then(serde_json::Value::as_i64)
            .unwrap_or(0);
        record.data.contains_key(CART_KEY)
            && record.expiry_date > now
            && session_end(started, self.max_age) > now
            && !slide_due(slid_ms, now_ms, self.ttl)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn record(cart: bool, slid_ago: Duration) -> Record {
        let now = OffsetDateTime::now_utc();
        let mut data = HashMap::new();
        if cart {
            data.insert(CART_KEY.to_string(), serde_json::json!([1, "cAAAAAAAAAAA"]));
        }
        data.insert(
            STARTED_KEY.to_string(),
            serde_json::json!(now.unix_timestamp() - 60),
        );
        let slid = now - slid_ago;
        data.insert(
            SLID_KEY.to_string(),
            serde_json::json!((slid.unix_timestamp_nanos() / 1_000_000) as i64),
        );
        Record {
            id: Id::default(),
            data,
            expiry_date: now + time::Duration::minutes(30),
        }
    }

    #[test]
    fn only_records_a_cart_request_can_use_unwritten_are_kept() {
        let hours = |n: u64| Duration::from_secs(n * 3600);
        let copies = Copies::new(10, Duration::from_secs(30 * 60), hours(12)).expect("copies");
        let ready = record(true, Duration::from_secs(5));
        let no_cart = record(false, Duration::from_secs(5));
        let due = record(true, Duration::from_secs(4 * 60));
        for r in [&ready, &no_cart, &due] {
            copies.keep(r.id, b"bytes", r);
        }
        assert!(copies.serve(&ready.id).is_some());
        assert!(copies.serve(&no_cart.id).is_none());
        assert!(copies.serve(&due.id).is_none());
        copies.forget(&ready.id);
        assert!(copies.serve(&ready.id).is_none());
        // Past its absolute lifetime (started a minute ago, 30 s allowed).
        let ended =
            Copies::new(10, Duration::from_secs(30 * 60), Duration::from_secs(30)).expect("copies");
        ended.keep(ready.id, b"bytes", &ready);
        assert!(ended.serve(&ready.id).is_none());
        assert!(Copies::new(0, Duration::from_secs(60), hours(1)).is_none());
    }
}
