//! `/api/products…`: the catalog, from the replica's in-process copy.

use axum::{
    Json,
    extract::{RawQuery, State},
};
use serde::Serialize;
use utoipa::ToSchema;

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

/// A page of the catalog.
#[derive(Serialize, ToSchema)]
#[schema(as = ProductPage)]
pub(crate) struct ProductPage {
    items: Vec<Product>,
    /// Products in the catalog.
    total: usize,
    offset: usize,
    limit: usize,
}

#[utoipa::path(get, path = "/api/products", tag = "catalog",
    params(
        ("offset" = Option<i32>, Query, nullable = false, minimum = 0, description = "products to skip (default 0)"),
        ("limit" = Option<i32>, Query, nullable = false, minimum = 0, maximum = 200, description = "products per page (default 50)")
    ),
    responses(
        (status = 200, description = "Products ordered by id", body = ProductPage),
        (status = 400, description = "Bad offset or limit", body = crate::http::openapi::ErrorDoc),
        (status = 503, description = "Cart storage unavailable", body = crate::http::openapi::ErrorDoc)))]
/// `GET /api/products?offset=0&limit=50`, ordered by id.
pub(crate) async fn list_products(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<ProductPage>> {
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
        // Within 0..=i32::MAX, as the document says: a larger offset is a 400,
        // not an empty page for an offset nobody can mean.
        *target = value
            .trim()
            .parse::<i32>()
            .ok()
            .and_then(|n| usize::try_from(n).ok())
            .ok_or(())
            .map_err(|_| ApiError::BadRequest(format!("{key} must be a non-negative integer")))?;
    }
    if limit > MAX_PAGE {
        return Err(ApiError::BadRequest(format!(
            "limit must be at most {MAX_PAGE}"
        )));
    }
    let catalog = state.catalog.current().await?;
    let items: Vec<Product> = catalog
        .products
        .iter()
        .skip(offset)
        .take(limit)
        .cloned()
        .collect();
    Ok(Json(ProductPage {
        items,
        total: catalog.products.len(),
        offset,
        limit,
    }))
}

#[utoipa::path(get, path = "/api/products/{id}", tag = "catalog",
    params(("id" = i64, Path, description = "the product id")),
    responses(
        (status = 200, description = "One product", body = Product),
        (status = 400, description = "Bad id", body = crate::http::openapi::ErrorDoc),
        (status = 404, description = "Product not found", body = crate::http::openapi::ErrorDoc),
        (status = 503, description = "Cart storage unavailable", body = crate::http::openapi::ErrorDoc)))]
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
