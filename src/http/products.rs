//! `/api/products…`: the catalog, from the replica's in-process copy.

use axum::{
    Json,
    extract::{RawQuery, State},
};
use serde_json::{Value, json};

use super::{
    error::{ApiError, ApiResult},
    extract::PathId,
};
use crate::{
    cart::model::{Product, ProductId},
    state::AppState,
};

/// Most products one `GET /api/products` page may ask for.
const MAX_PAGE: usize = 200;

/// `GET /api/products?offset=0&limit=50`, ordered by id.
pub(crate) async fn list_products(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<Value>> {
    let mut offset = 0usize;
    let mut limit = 50usize;
    for (key, value) in query
        .iter()
        .flat_map(|q| url::form_urlencoded::parse(q.as_bytes()))
    {
        let target = match key.as_ref() {
            "offset" => &mut offset,
            "limit" => &mut limit,
            _ => continue,
        };
        *target = value
            .trim()
            .parse()
            .map_err(|_| ApiError::BadRequest(format!("{key} must be a non-negative integer")))?;
    }
    if limit > MAX_PAGE {
        return Err(ApiError::BadRequest(format!(
            "limit must be at most {MAX_PAGE}"
        )));
    }
    let catalog = state.catalog.current().await?;
    let items: Vec<&Product> = catalog.products.iter().skip(offset).take(limit).collect();
    Ok(Json(json!({
        "items": items,
        "total": catalog.products.len(),
        "offset": offset,
        "limit": limit,
    })))
}

/// `GET /api/products/{id}`
pub(crate) async fn get_product(
    State(state): State<AppState>,
    PathId(id): PathId,
) -> ApiResult<Json<Product>> {
    let parsed: i64 = id
        .parse()
        .map_err(|_| ApiError::BadRequest("Product id must be an integer".into()))?;
    let catalog = state.catalog.current().await?;
    catalog
        .by_id(ProductId(parsed))
        .cloned()
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("Product not found: {parsed}")))
}
