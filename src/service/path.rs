//! The service routes' path segments, parsed into the domain's types: a
//! malformed owner, line or claim id is a JSON 400 before anything is read.

use std::collections::HashMap;

use axum::{
    extract::{FromRequestParts, Path},
    http::request::Parts,
};

use crate::{
    cart::{claim::ClaimId, model::LineId, owner::Owner},
    http::error::{ApiError, ApiResult},
};

/// What the path names: the owner, and the line or claim when the route has one.
pub(super) struct Named {
    pub(super) owner: Owner,
    pub(super) line: Option<LineId>,
    pub(super) claim: Option<ClaimId>,
}

impl<S: Send + Sync> FromRequestParts<S> for Named {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> ApiResult<Self> {
        let Path(segments) = Path::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::BadRequest("The path is not valid UTF-8".into()))?;
        let segment = |name: &str| segments.get(name).map(String::as_str).unwrap_or_default();
        let owner = Owner::parse(segment("kind"), segment("id")).ok_or_else(|| {
            ApiError::BadRequest(
                "The owner must be user/{username}, guest/{cartId} or ext/{id} (1 to 128 visible ASCII characters)"
                    .into(),
            )
        })?;
        let line = match segments.get("line") {
            Some(text) => Some(LineId::parse(text).ok_or_else(|| {
                ApiError::BadRequest("Cart item id must be a positive integer".into())
            })?),
            None => None,
        };
        let claim = match segments.get("claim") {
            Some(text) => Some(
                ClaimId::parse(text)
                    .ok_or_else(|| ApiError::BadRequest("The claim id is malformed".into()))?,
            ),
            None => None,
        };
        Ok(Named { owner, line, claim })
    }
}
