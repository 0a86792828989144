//! [`CatalogStore`] on Redis: the products hash and its version, read and
//! replaced by one script each.

use async_trait::async_trait;
use fred::prelude::*;

use super::{RedisStore, keys, reply::corrupt};
use crate::{
    cart::model::Product,
    store::{CatalogStore, StoreResult, StoredCatalog},
};

#[async_trait]
impl CatalogStore for RedisStore {
    async fn catalog_version(&self) -> StoreResult<u64> {
        let version: Option<u64> = self
            .call(
                "catalog_version",
                self.pool.next().get(keys::CATALOG_VERSION),
            )
            .await?;
        Ok(version.unwrap_or(0))
    }

    async fn load_catalog(&self) -> StoreResult<StoredCatalog> {
        let reply: Vec<String> = self
            .eval(
                "catalog_read",
                &self.scripts.catalog_read,
                vec![keys::CATALOG_PRODUCTS.into(), keys::CATALOG_VERSION.into()],
                Vec::<String>::new(),
            )
            .await?;
        let (version, fields) = reply.split_first().ok_or_else(|| corrupt("catalog"))?;
        let products = fields
            .chunks_exact(2)
            .map(|pair| serde_json::from_str(&pair[1]).map_err(|_| corrupt("catalog product")))
            .collect::<StoreResult<Vec<Product>>>()?;
        Ok(StoredCatalog {
            version: version.parse().map_err(|_| corrupt("catalog version"))?,
            products,
        })
    }

    async fn replace_catalog(&self, products: &[Product], only_if_empty: bool) -> StoreResult<u64> {
        let mut args = Vec::with_capacity(products.len() * 2 + 1);
        args.push(if only_if_empty { "if_empty" } else { "always" }.to_string());
        // Random and never 0 (0 means "no catalog"); below 2^53 so any client
        // reads it exactly.
        let version = rand::random_range(1..(1u64 << 53));
        args.push(version.to_string());
        for product in products {
            args.push(product.id.0.to_string());
            args.push(serde_json::to_string(product).map_err(corrupt)?);
        }
        self.eval(
            "catalog_replace",
            &self.scripts.catalog_replace,
            vec![keys::CATALOG_PRODUCTS.into(), keys::CATALOG_VERSION.into()],
            args,
        )
        .await
    }
}
