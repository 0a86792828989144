//! [`CatalogStore`] in memory.

use async_trait::async_trait;

use super::MemoryStore;
use crate::{
    cart::model::Product,
    store::{CatalogStore, StoreResult, StoredCatalog},
};

#[async_trait]
impl CatalogStore for MemoryStore {
    async fn catalog_version(&self) -> StoreResult<u64> {
        Ok(self.state().catalog.version)
    }

    async fn load_catalog(&self) -> StoreResult<StoredCatalog> {
        Ok(self.state().catalog.clone())
    }

    async fn replace_catalog(&self, products: &[Product], only_if_empty: bool) -> StoreResult<u64> {
        let mut state = self.state();
        if only_if_empty && state.catalog.version > 0 {
            return Ok(0);
        }
        state.catalog = StoredCatalog {
            version: state.catalog.version + 1,
            products: products.to_vec(),
        };
        Ok(state.catalog.version)
    }
}
