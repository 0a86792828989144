//! The session record fields trolley itself reads outside the HTTP edge.

use tower_sessions::session::Record;

/// The session record field that names a signed-in user (written by the HTTP
/// edge's typed session, read here for tracking and by the embedded store).
pub(crate) const SESSION_USER_KEY: &str = "user";

/// The signed-in user a record names, if any.
pub(crate) fn record_user(record: &Record) -> Option<&str> {
    record.data.get(SESSION_USER_KEY).and_then(|v| v.as_str())
}
