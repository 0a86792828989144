//! App extractors: JSON bodies with our error format, and the cart session.

use axum::{
    body::Bytes,
    extract::{FromRequest, FromRequestParts, Request},
    http::{header, request::Parts},
};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use serde_json::{Map, Value};
use time::OffsetDateTime;
use tower_sessions::{Session, session::Expiry};

use crate::{
    app::AppState,
    cart::model::CartRef,
    error::{ApiError, ApiResult},
    metrics,
    store::CartPolicy,
};

/// A request body that must be a JSON object.
///
/// Checks, in order: content type (415), size (413, the body limit layer),
/// JSON syntax (400), object shape (400). Field validation belongs to the handler,
/// which knows the field messages API.md gives.
pub struct JsonObject(pub Map<String, Value>);

impl<S: Send + Sync> FromRequest<S> for JsonObject {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> ApiResult<Self> {
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
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::PayloadTooLarge
                } else {
                    ApiError::BadRequest("Could not read the request body".into())
                }
            })?;
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(object)) => Ok(JsonObject(object)),
            Ok(_) => Err(ApiError::BadRequest(
                "Request body must be a JSON object".into(),
            )),
            Err(e) => Err(ApiError::BadRequest(format!(
                "Request body is not valid JSON (line {}, column {})",
                e.line(),
                e.column()
            ))),
        }
    }
}

// What trolley keeps in a session record: small facts only. The cart itself lives
// in its own Redis hash, because the session store rewrites whole records (last
// writer wins) and would lose concurrent cart changes.
const CART_KEY: &str = "cart";
const USER_KEY: &str = "user";
const STARTED_KEY: &str = "started";

/// The visitor's session as the cart sees it.
pub struct CartSession {
    session: Session,
    state: AppState,
}

impl FromRequestParts<AppState> for CartSession {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Self> {
        let session = Session::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::Internal("session layer missing".into()))?;
        let cart_session = CartSession {
            session,
            state: state.clone(),
        };
        cart_session.enforce_lifetime().await?;
        Ok(cart_session)
    }
}

impl CartSession {
    /// Ends a session past its absolute lifetime, and otherwise sets the expiry
    /// the response writes to the cookie and the record: the inactivity TTL from
    /// now, but never past the absolute lifetime.
    async fn enforce_lifetime(&self) -> ApiResult<()> {
        let Some(started) = self.session.get::<i64>(STARTED_KEY).await? else {
            return Ok(());
        };
        let settings = &self.state.settings;
        let now = OffsetDateTime::now_utc();
        let ends = OffsetDateTime::from_unix_timestamp(started)
            .unwrap_or(now)
            .saturating_add(time_duration(settings.session_max_age));
        if ends <= now {
            self.session.flush().await?;
            return Ok(());
        }
        if let Some(user) = self.session.get::<String>(USER_KEY).await?
            && !self.state.store.user_still_exists(&user).await?
        {
            self.session.flush().await?;
            return Ok(());
        }
        let inactive = now.saturating_add(time_duration(settings.session_ttl));
        self.session
            .set_expiry(Some(Expiry::AtDateTime(inactive.min(ends))));
        Ok(())
    }

    /// The session's cart, if it has one.
    pub async fn cart(&self) -> ApiResult<Option<CartRef>> {
        Ok(self.session.get(CART_KEY).await?)
    }

    /// The signed-in user, if any.
    pub async fn user(&self) -> ApiResult<Option<String>> {
        Ok(self.session.get(USER_KEY).await?)
    }

    /// The session's cart, creating one (and the session) on the first write.
    pub async fn cart_or_create(&self) -> ApiResult<CartRef> {
        if let Some(cart) = self.cart().await? {
            return Ok(cart);
        }
        let cart = CartRef {
            no: self.state.store.allocate_cart_no().await?,
            id: new_cart_id(),
        };
        self.start_if_new().await?;
        self.session.insert(CART_KEY, &cart).await?;
        Ok(cart)
    }

    /// TTL and limits for this session's cart: a signed-in user's cart lives longer.
    pub async fn policy(&self) -> ApiResult<CartPolicy> {
        let settings = &self.state.settings;
        let ttl = if self.user().await?.is_some() {
            settings.user_cart_ttl
        } else {
            settings.session_ttl
        };
        Ok(CartPolicy {
            ttl,
            limits: settings.limits(),
        })
    }

    async fn start_if_new(&self) -> ApiResult<()> {
        if self.session.get::<i64>(STARTED_KEY).await?.is_none() {
            self.session
                .insert(STARTED_KEY, OffsetDateTime::now_utc().unix_timestamp())
                .await?;
            metrics::session_created();
            self.enforce_lifetime().await?;
        }
        Ok(())
    }

    /// Turns this session into a signed-in one: a new session id (the old cookie
    /// no longer reaches it), the user's cart, a fresh absolute lifetime. The
    /// record is written now, so the caller can track its id.
    pub async fn sign_in(&self, username: &str, cart: &CartRef) -> ApiResult<String> {
        self.session.cycle_id().await?;
        self.session
            .insert(STARTED_KEY, OffsetDateTime::now_utc().unix_timestamp())
            .await?;
        self.session.insert(USER_KEY, username).await?;
        self.session.insert(CART_KEY, cart).await?;
        metrics::session_created();
        self.enforce_lifetime().await?;
        self.session.save().await?;
        self.session
            .id()
            .map(|id| id.to_string())
            .ok_or_else(|| ApiError::Internal("session without id after save".into()))
    }

    /// Ends the session: the record is deleted and the cookie removed.
    pub async fn sign_out(&self) -> ApiResult<()> {
        Ok(self.session.flush().await?)
    }
}

/// A cart's public id: 128 random bits, URL-safe.
pub fn new_cart_id() -> String {
    let bits: u128 = rand::random();
    format!("c{}", URL_SAFE_NO_PAD.encode(bits.to_le_bytes()))
}

fn time_duration(duration: std::time::Duration) -> time::Duration {
    time::Duration::try_from(duration).unwrap_or(time::Duration::MAX)
}
