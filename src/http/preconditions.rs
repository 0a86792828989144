//! Safe retries and concurrent edits at the edge (API.md v1.1): the
//! `Idempotency-Key`, `If-Match` and `If-None-Match` headers parsed into the
//! domain's [`Write`], the `ETag` and `Idempotent-Replayed` headers of the
//! answers, and the in-process guard that answers 409 while a request with the
//! same key is still being applied on this replica.

use axum::{
    extract::FromRequestParts,
    http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header, request::Parts},
    response::{IntoResponse, Response},
};
use sha2::{Digest, Sha256};

use super::error::{ApiError, ApiResult, IDEMPOTENT_REPLAYED};
use crate::{
    cart::{
        change::{Expect, Idempotency, Version, Write},
        model::CartRef,
        ops::CartView,
    },
    state::{AppState, InFlight, KeyHold},
};

pub(crate) const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");

/// Longest Idempotency-Key accepted.
const MAX_KEY_LEN: usize = 255;

/// The write headers of a cart change, and what identifies its request.
pub(crate) struct CartWrite {
    key: Option<String>,
    expect: Expect,
    /// Method, path and query: with the body, the request's fingerprint.
    request_line: String,
    ttl: std::time::Duration,
    in_flight: InFlight,
}

impl FromRequestParts<AppState> for CartWrite {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Self> {
        let key = idempotency_key(&parts.headers)?;
        let expect = if_match(&parts.headers)?;
        Ok(CartWrite {
            key,
            expect,
            request_line: format!(
                "{} {}",
                parts.method,
                parts
                    .uri
                    .path_and_query()
                    .map_or(parts.uri.path(), |pq| pq.as_str())
            ),
            ttl: state.settings.idempotency_ttl,
            in_flight: state.in_flight.clone(),
        })
    }
}

impl CartWrite {
    /// The request's `Idempotency-Key`.
    pub(crate) fn key(&self) -> Option<&str> {
        self.key.as_deref()
    }

    /// The request's `If-Match`.
    pub(crate) fn expect(&self) -> &Expect {
        &self.expect
    }

    /// The domain's write for this request with `body` (no session copy to
    /// check: see `CartSession::begin`), and the guard that holds its key on
    /// this replica until the answer is written. A key already
    /// held here → 409: the first request with it is still being applied.
    pub(crate) fn begin(&self, cart: Option<&CartRef>, body: &[u8]) -> ApiResult<(Write, KeyHold)> {
        let idempotency = self.key.as_ref().map(|key| {
            let mut digest = Sha256::new();
            digest.update(self.request_line.as_bytes());
            digest.update(b"\n");
            digest.update(body);
            Idempotency {
                key: key.clone(),
                fingerprint: hex(&digest.finalize()[..16]),
                ttl: self.ttl,
            }
        });
        let hold = match (&self.key, cart) {
            (Some(key), Some(cart)) => self.in_flight.hold(&cart.id, key).ok_or_else(|| {
                ApiError::Conflict("A request with this Idempotency-Key is in progress".into())
            })?,
            _ => KeyHold::none(),
        };
        Ok((
            Write {
                op: Version::fresh(),
                idempotency,
                expect: self.expect.clone(),
                session: None,
            },
            hold,
        ))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `Idempotency-Key`: 1–255 visible ASCII characters, bare or as a
/// structured-field string (`"abc-1"` names the same key as `abc-1`).
fn idempotency_key(headers: &HeaderMap) -> ApiResult<Option<String>> {
    let mut values = headers.get_all(IDEMPOTENCY_KEY).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    let invalid = || {
        ApiError::BadRequest(
            "Idempotency-Key must be 1 to 255 visible ASCII characters, bare or in double quotes"
                .into(),
        )
    };
    if values.next().is_some() {
        return Err(invalid());
    }
    let raw = value.as_bytes();
    let key = match raw {
        // `""` is the empty structured-field string: no key.
        [b'"', inner @ .., b'"'] => unescape(inner).ok_or_else(invalid)?,
        _ => raw.to_vec(),
    };
    let visible = |b: &u8| (0x21..=0x7e).contains(b);
    if key.is_empty() || key.len() > MAX_KEY_LEN || !key.iter().all(visible) {
        return Err(invalid());
    }
    String::from_utf8(key).map(Some).map_err(|_| invalid())
}

/// The inside of a structured-field string: `\"` and `\\` escapes, no bare `"`.
fn unescape(inner: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(inner.len());
    let mut bytes = inner.iter();
    while let Some(&b) = bytes.next() {
        match b {
            b'\\' => match bytes.next() {
                Some(&escaped @ (b'"' | b'\\')) => out.push(escaped),
                _ => return None,
            },
            b'"' => return None,
            _ => out.push(b),
        }
    }
    Some(out)
}

/// The grammar of `If-Match` and `If-None-Match` that the document declares
/// (`openapi::EntityTagsDoc`) and [`entity_tags`] parses: `*`, or a
/// comma-separated list of entity tags, each optionally weak (`W/`), quoted
/// (`"v1"`) or, as many clients send them, bare (`v1`).
pub(crate) const ENTITY_TAGS_PATTERN: &str =
    r#"^(\*|(W/)?("[!#-~]*"|[A-Za-z0-9._~-]+)(\s*,\s*(W/)?("[!#-~]*"|[A-Za-z0-9._~-]+))*)$"#;

/// The entity tags of a header, each of its lines matching
/// [`ENTITY_TAGS_PATTERN`] (anything else is a 400); `weak` says whether `W/`
/// tags count (If-None-Match compares weakly, If-Match strongly).
fn entity_tags(headers: &HeaderMap, name: HeaderName, weak: bool) -> ApiResult<Option<Expect>> {
    let lines: Vec<&HeaderValue> = headers.get_all(&name).iter().collect();
    if lines.is_empty() {
        return Ok(None);
    }
    let malformed = || ApiError::BadRequest(format!("{name} is not a list of entity tags"));
    if lines.iter().any(|line| line.as_bytes() == b"*") {
        // `*` stands alone.
        return match lines.len() {
            1 => Ok(Some(Expect::Exists)),
            _ => Err(malformed()),
        };
    }
    let mut versions = Vec::new();
    for line in lines {
        let mut rest = line.to_str().map_err(|_| malformed())?;
        loop {
            let (is_weak, tail) = match rest.strip_prefix("W/") {
                Some(tail) => (true, tail),
                None => (false, rest),
            };
            let (tag, after) = match tail.strip_prefix('"') {
                Some(quoted) => {
                    let end = quoted.find('"').ok_or_else(malformed)?;
                    let etagc = |b: u8| b == b'!' || (b'#'..=b'~').contains(&b);
                    if !quoted[..end].bytes().all(etagc) {
                        return Err(malformed());
                    }
                    (&quoted[..end], &quoted[end + 1..])
                }
                None => {
                    let token =
                        |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '~' | '-');
                    let end = tail.find(|c| !token(c)).unwrap_or(tail.len());
                    if end == 0 {
                        return Err(malformed());
                    }
                    tail.split_at(end)
                }
            };
            if weak || !is_weak {
                versions.push(Version(tag.to_string()));
            }
            let after = after.trim_start_matches([' ', '\t']);
            if after.is_empty() {
                break;
            }
            rest = after
                .strip_prefix(',')
                .ok_or_else(malformed)?
                .trim_start_matches([' ', '\t']);
        }
    }
    Ok(Some(Expect::OneOf(versions)))
}

/// `If-Match`: the precondition of a change.
fn if_match(headers: &HeaderMap) -> ApiResult<Expect> {
    Ok(entity_tags(headers, header::IF_MATCH, false)?.unwrap_or_default())
}

/// Whether a GET's `If-None-Match` matches the cart's version (→ 304).
fn not_modified(headers: &HeaderMap, version: &Version) -> ApiResult<bool> {
    Ok(match entity_tags(headers, header::IF_NONE_MATCH, true)? {
        None | Some(Expect::Anything) => false,
        // Every session has a cart representation, if only the empty one.
        Some(Expect::Exists) => true,
        Some(Expect::OneOf(versions)) => versions.contains(version),
    })
}

/// A cart read's answer in either API's `body`: 304 with the `ETag` when
/// `If-None-Match` names the cart's version, else the body with it.
pub(crate) fn cart_answer<B: serde::Serialize>(
    headers: &HeaderMap,
    view: CartView,
    body: impl FnOnce(CartView) -> B,
) -> ApiResult<Response> {
    let tag = etag(&view.version);
    if not_modified(headers, &view.version)? {
        return Ok((StatusCode::NOT_MODIFIED, tag).into_response());
    }
    Ok((tag, axum::Json(body(view))).into_response())
}

/// The `ETag` of a cart version.
pub(crate) fn etag(version: &Version) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_str(&format!("\"{}\"", version.as_str())) {
        headers.insert(header::ETAG, value);
    }
    headers
}

/// The headers of a change's answer: its `ETag`, and `Idempotent-Replayed:
/// true` when it was answered from its Idempotency-Key record.
pub(crate) fn answer_headers(version: &Version, replayed: bool) -> HeaderMap {
    let mut headers = etag(version);
    if replayed {
        headers.insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
    }
    headers
}

#[cfg(test)]
mod tests {
    use axum::http::{HeaderMap, HeaderValue, header};
    use proptest::prelude::*;

    use super::{ENTITY_TAGS_PATTERN, entity_tags};

    proptest! {
        /// The document's pattern and the parser agree on every value (HTTP
        /// strips a value's surrounding whitespace before either sees it).
        #[test]
        fn the_parser_takes_exactly_what_the_documented_pattern_matches(
            value in r#"[Wa1/"*, \t!#~.-]{0,10}"#
        ) {
            prop_assume!(value == value.trim_matches([' ', '\t']));
            let pattern = regex::Regex::new(ENTITY_TAGS_PATTERN).expect("pattern");
            let mut headers = HeaderMap::new();
            headers.insert(header::IF_NONE_MATCH, HeaderValue::from_str(&value).expect("visible"));
            let parsed = entity_tags(&headers, header::IF_NONE_MATCH, true).is_ok();
            prop_assert_eq!(parsed, pattern.is_match(&value), "{:?}", value);
        }
    }
}
