//! The session record a request was served from its replica's copy (see
//! `sessions::copies`): the cart scripts check, as their first step, that Redis
//! still holds exactly that record, so a copy gone stale (the session logged
//! out, rotated, slid or changed by another replica, or Redis lost it) is
//! noticed in the same atomic step that would have used it, and nothing is
//! changed. The request is then run again from the record in Redis.
//!
//! Per request, in a task-local set by `sessions::track_request`: the stores
//! know nothing of HTTP or of the session layer.

use std::cell::RefCell;

/// What a cart script is asked to check: the record's key and the SHA-1 (hex)
/// of the bytes this replica served.
#[derive(Debug, Clone)]
pub(crate) struct ServedCopy {
    pub(crate) key: String,
    pub(crate) digest: String,
}

#[derive(Debug, Default)]
struct RequestCheck {
    served: Option<ServedCopy>,
    stale: bool,
}

tokio::task_local! {
    static CHECK: RefCell<RequestCheck>;
}

/// Runs one request with its own check (none served yet, not stale).
pub(crate) async fn scope<F: std::future::Future>(request: F) -> F::Output {
    CHECK.scope(RefCell::default(), request).await
}

/// The request's session record came from the replica's copy.
pub(crate) fn served(copy: ServedCopy) {
    let _ = CHECK.try_with(|check| check.borrow_mut().served = Some(copy));
}

/// The copy a cart script must check, if the request was served one.
pub(crate) fn to_check() -> Option<ServedCopy> {
    CHECK
        .try_with(|check| check.borrow().served.clone())
        .ok()
        .flatten()
}

/// A cart script answered with the served copy checked: it held then, and
/// what the request does next (a follow-up read, a new cart written into the
/// record) is what it would do having read the record at that moment. Later
/// scripts of the request are not asked to check it again (a re-run of a
/// change already applied must not be refused for a later change of the record).
pub(crate) fn checked() {
    let _ = CHECK.try_with(|check| check.borrow_mut().served = None);
}

/// The request was served a copy that no script has checked yet: its record
/// must not be written (it may be stale).
pub(crate) fn unchecked_copy() -> bool {
    CHECK
        .try_with(|check| check.borrow().served.is_some())
        .unwrap_or(false)
}

/// A cart script found the served copy stale (it changed nothing).
pub(crate) fn found_stale() {
    let _ = CHECK.try_with(|check| check.borrow_mut().stale = true);
}

/// Whether a cart script found this request's copy stale.
pub(crate) fn is_stale() -> bool {
    CHECK
        .try_with(|check| check.borrow().stale)
        .unwrap_or(false)
}

/// Runs `request` as a request served a copy of the record at `key` whose bytes
/// were `bytes` (for the store-level tests of the scripts' check).
#[cfg(feature = "test-hooks")]
pub async fn as_if_served<F: std::future::Future>(
    key: &str,
    bytes: &[u8],
    request: F,
) -> F::Output {
    scope(async {
        served(ServedCopy {
            key: key.to_string(),
            digest: digest(bytes),
        });
        request.await
    })
    .await
}

/// The SHA-1 of a stored record, as the scripts' `redis.sha1hex` writes it.
pub(crate) fn digest(bytes: &[u8]) -> String {
    use sha1::Digest;
    format!("{:x}", sha1::Sha1::digest(bytes))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_digest_is_what_redis_sha1hex_gives() {
        // redis-cli EVAL "return redis.sha1hex('trolley')" 0
        assert_eq!(
            super::digest(b"trolley"),
            "64f836f6c55cbd24a1b672668fadc1e1551db73a"
        );
        assert_eq!(super::digest(b"").len(), 40);
    }
}
