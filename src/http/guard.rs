//! Refusals made before a request reaches the session layer or its handler
//! (API.md v1.1 "Hostile clients"), so a refused request writes nothing:
//!
//! * an HTTP/1.1 request without `Host` → 400 (RFC 9112 §3.2);
//! * a declared `Content-Length` over the body limit → 413 at once, before any
//!   body is read (so hyper never sends `100 Continue` for it);
//! * a state-changing request (POST, PUT, PATCH, DELETE) from another site → 403
//!   `{"error": "Cross-site request refused"}`: its `Origin` is neither its own
//!   (host and port equal the `Host` header's, whatever the scheme: TLS may end
//!   at a proxy) nor allowed; or it has no `Origin` and `Sec-Fetch-Site:
//!   cross-site`. Requests with neither header (curl, server to server) pass.

use axum::{
    extract::Request,
    http::{HeaderMap, Method, Version, header},
};

use super::{BODY_LIMIT, error::ApiError};
use crate::state::AppState;

/// Why a request is refused before its session is touched, if it is.
pub(crate) fn refuse_hostile(state: &AppState, request: &Request) -> Option<ApiError> {
    let headers = request.headers();
    if request.version() == Version::HTTP_11 && !headers.contains_key(header::HOST) {
        return Some(ApiError::BadRequest("Host header is required".into()));
    }
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|length| length > BODY_LIMIT as u64) {
        return Some(ApiError::PayloadTooLarge);
    }
    let changes_state = matches!(
        *request.method(),
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    );
    if changes_state
        && is_cross_site(
            headers,
            &state.settings.allowed_origins,
            &state.settings.cors_origins,
        )
    {
        return Some(ApiError::Forbidden("Cross-site request refused".into()));
    }
    None
}

/// Whether a request comes from a page of another site (see the module docs).
pub(crate) fn is_cross_site(headers: &HeaderMap, allowed: &[String], cors: &[String]) -> bool {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let Some(origin) = text("origin") else {
        return text("sec-fetch-site").is_some_and(|site| site.eq_ignore_ascii_case("cross-site"));
    };
    let origin = origin.trim().trim_end_matches('/');
    let listed = |list: &[String]| {
        list.iter()
            .any(|o| o.trim().trim_end_matches('/').eq_ignore_ascii_case(origin))
    };
    if listed(allowed) || listed(cors) {
        return false;
    }
    let Some((scheme, authority)) = origin.split_once("://") else {
        // `Origin: null` (a sandboxed or privacy-sensitive context) and anything
        // unparsable are not this site.
        return true;
    };
    match text("host") {
        Some(host) => same_host_and_port(authority, host, scheme) != Some(true),
        None => true,
    }
}

/// Whether two `host[:port]` authorities name the same host and port, a
/// missing port being the scheme's default.
fn same_host_and_port(origin: &str, host: &str, scheme: &str) -> Option<bool> {
    let default = match scheme.to_ascii_lowercase().as_str() {
        "https" => 443,
        "http" => 80,
        _ => return Some(false),
    };
    let split = |authority: &str| -> Option<(String, u16)> {
        let authority = authority.trim();
        // An IPv6 literal keeps its brackets: `[::1]:8080`.
        let (name, port) = match authority.rfind(':') {
            Some(i) if !authority[i..].contains(']') => {
                (&authority[..i], authority[i + 1..].parse().ok()?)
            }
            _ => (authority, default),
        };
        Some((name.to_ascii_lowercase(), port))
    };
    Some(split(origin)? == split(host)?)
}

#[cfg(test)]
mod tests {
    use axum::http::{HeaderMap, HeaderValue};

    use super::is_cross_site;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn the_own_origin_passes_whatever_the_scheme_and_other_sites_do_not() {
        let allowed = vec!["https://shop.example".to_string()];
        let cross = |pairs| is_cross_site(&headers(pairs), &allowed, &[]);
        assert!(!cross(&[
            ("host", "cart.example:9080"),
            ("origin", "https://cart.example:9080")
        ]));
        assert!(!cross(&[
            ("host", "cart.example"),
            ("origin", "http://cart.example")
        ]));
        assert!(!cross(&[
            ("host", "cart.example:443"),
            ("origin", "https://cart.example")
        ]));
        assert!(!cross(&[
            ("host", "x"),
            ("origin", "https://shop.example/")
        ]));
        assert!(!cross(&[("host", "x")]));
        assert!(!cross(&[("host", "x"), ("sec-fetch-site", "same-origin")]));
        assert!(cross(&[
            ("host", "cart.example"),
            ("origin", "https://evil.example")
        ]));
        assert!(cross(&[
            ("host", "cart.example:9080"),
            ("origin", "https://cart.example:9081")
        ]));
        assert!(cross(&[("host", "cart.example"), ("origin", "null")]));
        assert!(cross(&[("host", "x"), ("sec-fetch-site", "cross-site")]));
    }
}
