//! The session record fields trolley itself reads outside the HTTP edge.

use tower_sessions::session::Record;

/// The session record field that names a signed-in user (written by the HTTP
/// edge's typed session, read here for tracking and by the embedded store).
pub(crate) const SESSION_USER_KEY: &str = "user";

/// The signed-in user a record names, if any.
pub(crate) fn record_user(record: &Record) -> Option<&str> {
    record.data.get(SESSION_USER_KEY).and_then(|v| v.as_str())
}

// What trolley keeps in a session record: small facts only. The cart itself lives
// in its own Redis hash, because the session store rewrites whole records (last
// writer wins) and would lose concurrent cart changes.
pub(crate) const CART_KEY: &str = "cart";
pub(crate) const STARTED_KEY: &str = "started";
/// When the record's expiry was last moved (ms since the epoch).
pub(crate) const SLID_KEY: &str = "slid";

/// The absolute end of a session that started at `started` (unix seconds):
/// `max_age` later, whatever its activity.
pub(crate) fn session_end(started: i64, max_age: std::time::Duration) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp(started)
        .unwrap_or_else(|_| time::OffsetDateTime::now_utc())
        .saturating_add(time_duration(max_age))
}

/// A std duration as a `time` one (saturating: a setting cannot overflow it).
pub(crate) fn time_duration(duration: std::time::Duration) -> time::Duration {
    time::Duration::try_from(duration).unwrap_or(time::Duration::MAX)
}

/// Whether a record last slid at `slid_ms` is due to slide again at `now_ms`:
/// the expiry moves coarsely (API.md v1.1), once it would move by at least a
/// tenth of the inactivity TTL.
pub(crate) fn slide_due(slid_ms: i64, now_ms: i64, ttl: std::time::Duration) -> bool {
    now_ms - slid_ms >= (ttl.as_millis() / 10) as i64
}
