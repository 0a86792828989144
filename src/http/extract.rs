//! Extractors: JSON bodies with our error format, and the typed session, which
//! only gets and inserts the session's facts and signs in and out (no store
//! calls: the domain does those).

use axum::{
    body::Bytes,
    extract::{FromRequest, FromRequestParts, Request},
    http::{header, request::Parts},
};
use serde_json::{Map, Value};
use time::OffsetDateTime;
use tower_sessions::{Session, session::Expiry};

use super::{
    error::{ApiError, ApiResult},
    preconditions::CartWrite,
};
use crate::{
    cart::{
        change::{ServedCopy, Write},
        model::CartRef,
    },
    metrics,
    sessions::{self, fields::SESSION_USER_KEY},
    state::{AppState, KeyHold},
    store::CartPolicy,
};

/// A request body that must be a JSON object.
///
/// Checks, in order: content type (415), size (413, the body limit layer),
/// JSON syntax (400), object shape (400). Field validation belongs to the handler,
/// which knows the field messages API.md gives.
/// The raw bytes come along: an Idempotency-Key's fingerprint is taken over
/// them.
pub(crate) struct JsonObject(pub(crate) Map<String, Value>, pub(crate) Bytes);

impl FromRequest<AppState> for JsonObject {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> ApiResult<Self> {
        let is_json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|mime| {
                let mime = mime.trim().to_ascii_lowercase();
                mime == "application/json"
                    || (mime.starts_with("application/") && mime.ends_with("+json"))
            })
            .unwrap_or(false);
        if !is_json {
            return Err(ApiError::UnsupportedMediaType);
        }
        // A body sent a byte at a time must not hold the request for ever.
        let body = tokio::time::timeout(
            state.settings.body_timeout,
            Bytes::from_request(request, state),
        );
        let bytes = body
            .await
            .map_err(|_| ApiError::RequestTimeout)?
            .map_err(|rejection| {
                if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::PayloadTooLarge
                } else {
                    ApiError::BadRequest("Could not read the request body".into())
                }
            })?;
        match super::strict_json::parse(&bytes) {
            Ok(Value::Object(object)) => Ok(JsonObject(object, bytes)),
            Ok(_) => Err(ApiError::BadRequest(
                "Request body must be a JSON object".into(),
            )),
            // Only a repeated key is a data error here (see strict_json).
            Err(e) if e.classify() == serde_json::error::Category::Data => Err(
                ApiError::BadRequest(format!("Request body repeats a key: {e}")),
            ),
            Err(e) => Err(ApiError::BadRequest(format!(
                "Request body is not valid JSON (line {}, column {})",
                e.line(),
                e.column()
            ))),
        }
    }
}

/// The `{id}` of a route, as text: a path segment that is not valid UTF-8
/// (`/api/cart/item/%FF`) is a JSON 400 like any other bad id, not axum's
/// plain-text rejection.
pub(crate) struct PathId(pub(crate) String);

impl<S: Send + Sync> FromRequestParts<S> for PathId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> ApiResult<Self> {
        axum::extract::Path::<String>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(id)| PathId(id))
            .map_err(|_| {
                ApiError::BadRequest("The id in the path must be a positive integer".into())
            })
    }
}

/// An optional integer field: absent or null → `None`, any other type → 400.
pub(crate) fn integer_field(body: &Map<String, Value>, name: &str) -> ApiResult<Option<i128>> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        // JSON Schema counts 2.0 as an integer, and so does the document: the
        // strict parser makes a number integral in its text (`2.0`, `2e0`) an
        // integer, and leaves `2.5` or `0.9999999999999999999` a float.
        Some(Value::Number(n)) => n
            .as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from))
            .map(Some)
            .ok_or_else(|| ApiError::BadRequest(format!("{name} must be an integer"))),
        Some(_) => Err(ApiError::BadRequest(format!("{name} must be an integer"))),
    }
}

/// The last `X-Forwarded-For` entry: the one our proxy appended.
fn last_forwarded_for(headers: &axum::http::HeaderMap) -> Option<String> {
    headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .rfind(|v| !v.is_empty())
        .map(str::to_string)
}

use crate::sessions::fields::{
    CART_KEY, SLID_KEY, STARTED_KEY, session_end, slide_due, time_duration,
};

/// The visitor's session: its cart and signed-in user, read once per request.
pub(crate) struct CartSession {
    session: Session,
    cart: Option<CartRef>,
    user: Option<String>,
    /// The record came from this replica's copy: the request's first cart
    /// script checks it.
    served: Option<ServedCopy>,
    /// Where the request came from, for [`CartSession::client`].
    peer: std::net::SocketAddr,
    /// The last `X-Forwarded-For` entry, only when it is trusted.
    forwarded_for: Option<String>,
    state: AppState,
}

impl FromRequestParts<AppState> for CartSession {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Self> {
        let session = Session::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::Internal("session layer missing".into()))?;
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map_or(std::net::SocketAddr::from(([0, 0, 0, 0], 0)), |info| info.0);
        let mut typed = CartSession {
            session,
            cart: None,
            user: None,
            served: None,
            peer,
            forwarded_for: state
                .settings
                .trust_forwarded_for
                .then(|| last_forwarded_for(&parts.headers))
                .flatten(),
            state: state.clone(),
        };
        if typed.enforce_lifetime().await? {
            typed.cart = typed.session.get(CART_KEY).await?;
            typed.user = typed.session.get(SESSION_USER_KEY).await?;
        }
        Ok(typed)
    }
}

impl CartSession {
    /// Ends a session past its absolute lifetime (returning false: nothing of it
    /// is left to read), and otherwise slides its expiry, coarsely (API.md
    /// v1.1): the record and the cookie are rewritten only once their expiry
    /// would move by at least a tenth of the TTL (3 of 30 min), so most requests
    /// write nothing to the session at all. The cart hash slides on every touch
    /// (its scripts), so the two expire within that tenth of each other.
    ///
    /// A record served from a copy is never slid here (copies are served only
    /// while no slide is due): it must not be written before its cart script
    /// has checked it.
    async fn enforce_lifetime(&mut self) -> ApiResult<bool> {
        let ends = self.ends().await?;
        self.served = sessions::served_copy();
        let Some(ends) = ends else {
            return Ok(true);
        };
        let now = OffsetDateTime::now_utc();
        if ends <= now {
            // A copy served as within its lifetime a moment ago is not ended
            // here: the request runs again from the record in Redis.
            if self.served.is_some() {
                return Err(ApiError::SessionStale);
            }
            self.session.flush().await?;
            return Ok(false);
        }
        let slid_ms = self.session.get::<i64>(SLID_KEY).await?.unwrap_or(0);
        if self.served.is_none()
            && slide_due(slid_ms, unix_ms(now), self.state.settings.session_ttl)
        {
            self.slide(now, ends).await?;
        }
        Ok(true)
    }

    /// Moves the record's and the cookie's expiry to the inactivity TTL from now,
    /// never past the absolute lifetime `ends`.
    async fn slide(&self, now: OffsetDateTime, ends: OffsetDateTime) -> ApiResult<()> {
        let inactive = now.saturating_add(time_duration(self.state.settings.session_ttl));
        self.session
            .set_expiry(Some(Expiry::AtDateTime(inactive.min(ends))));
        Ok(self.session.insert(SLID_KEY, unix_ms(now)).await?)
    }

    /// The absolute end of this session (`None` before it started).
    async fn ends(&self) -> ApiResult<Option<OffsetDateTime>> {
        let started = self.session.get::<i64>(STARTED_KEY).await?;
        let max_age = self.state.settings.session_max_age;
        Ok(started.map(|started| session_end(started, max_age)))
    }

    /// The session's cart, if it has one.
    pub(crate) fn cart(&self) -> Option<&CartRef> {
        self.cart.as_ref()
    }

    /// The copy of its record the request was served, for its first cart script.
    pub(crate) fn served(&self) -> Option<&ServedCopy> {
        self.served.as_ref()
    }

    /// The domain's write for a change of this session's cart with `body`
    /// (see [`CartWrite::begin`]), checking the served copy first.
    pub(crate) fn begin(&self, write: &CartWrite, body: &[u8]) -> ApiResult<(Write, KeyHold)> {
        let (mut write, hold) = write.begin(self.cart(), body)?;
        write.session = self.served.clone();
        Ok((write, hold))
    }

    /// Whether the visitor has no session record yet (this request would start one).
    pub(crate) fn is_new(&self) -> bool {
        self.session.id().is_none()
    }

    /// The client address limits count against: the last `X-Forwarded-For`
    /// entry (the one our proxy appended) when trusted, else the peer.
    pub(crate) fn client(&self) -> String {
        self.forwarded_for
            .clone()
            .unwrap_or_else(|| self.peer.ip().to_string())
    }

    /// The signed-in user, if any.
    pub(crate) fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }

    /// TTL and limits of this session's cart.
    pub(crate) fn policy(&self) -> CartPolicy {
        self.state.cart.policy(self.user.is_some())
    }

    /// Remembers the cart the first add created (and starts the session).
    pub(crate) async fn start_cart(&mut self, cart: &CartRef) -> ApiResult<()> {
        sessions::session_changed();
        match self.ends().await? {
            None => self.start().await?,
            // The record is rewritten anyway: with a fresh expiry.
            Some(ends) => self.slide(OffsetDateTime::now_utc(), ends).await?,
        }
        self.session.insert(CART_KEY, cart).await?;
        self.cart = Some(cart.clone());
        Ok(())
    }

    /// A fresh absolute lifetime, counted as a new session.
    async fn start(&self) -> ApiResult<()> {
        self.session
            .insert(STARTED_KEY, OffsetDateTime::now_utc().unix_timestamp())
            .await?;
        metrics::session_created();
        let now = OffsetDateTime::now_utc();
        let ends = session_end(now.unix_timestamp(), self.state.settings.session_max_age);
        self.slide(now, ends).await
    }

    /// Turns this session into a signed-in one: a new session id (the old cookie
    /// no longer reaches it), the user's cart, a fresh absolute lifetime. The
    /// session layer writes the new record when the response goes out, and the
    /// session store tracks it for the account then.
    pub(crate) async fn sign_in(&mut self, username: &str, cart: &CartRef) -> ApiResult<()> {
        sessions::session_changed();
        self.session.cycle_id().await?;
        self.session.insert(SESSION_USER_KEY, username).await?;
        self.session.insert(CART_KEY, cart).await?;
        self.start().await?;
        self.user = Some(username.to_string());
        self.cart = Some(cart.clone());
        Ok(())
    }

    /// Ends the session: the record is deleted and the cookie removed.
    pub(crate) async fn sign_out(&self) -> ApiResult<()> {
        sessions::session_changed();
        Ok(self.session.flush().await?)
    }

    /// Gives the session a cart before the first change to it, and writes the
    /// record now: an acknowledged add is never in a cart no session reaches
    /// (if writing the record fails, the add is not made and the client gets a 503).
    pub(crate) async fn start_new_cart(&mut self, cart: &CartRef) -> ApiResult<()> {
        self.start_cart(cart).await?;
        Ok(self.session.save().await?)
    }
}

fn unix_ms(at: OffsetDateTime) -> i64 {
    (at.unix_timestamp_nanos() / 1_000_000) as i64
}
