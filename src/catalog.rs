//! The product catalog: stored in Redis, imported from a JSON file, and read by
//! the cart operations from a short-lived in-process copy, so pricing a cart never
//! costs a Redis round trip per line.
//!
//! Each replica revalidates its copy at most every `TROLLEY_CATALOG_REFRESH`
//! with one `GET` of the catalog version, and reloads it only when an import
//! changed that version.

use std::{
    collections::{HashMap, HashSet},
    path::Path,
    str::FromStr,
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};

use rust_decimal::Decimal;
use serde::Deserialize;

use crate::{
    cart::model::{Product, ProductId},
    store::{CatalogStore, StoreResult},
};

/// The demo catalog that ships with trolley (loaded by the embedded store).
pub(crate) const DEMO_CATALOG: &str = include_str!("../deploy/catalog/demo-catalog.json");

/// One catalog version, indexed for the lookups handlers make.
#[derive(Debug)]
pub(crate) struct Snapshot {
    pub(crate) version: u64,
    /// Sorted by id (ids are unique), so found by binary search.
    pub(crate) products: Vec<Product>,
    by_sku: HashMap<String, usize>,
}

impl Snapshot {
    fn new(version: u64, mut products: Vec<Product>) -> Self {
        products.sort_by_key(|p| p.id);
        debug_assert!(products.windows(2).all(|w| w[0].id < w[1].id), "ids unique");
        let by_sku = products
            .iter()
            .enumerate()
            .map(|(i, p)| (p.sku.clone(), i))
            .collect();
        Snapshot {
            version,
            products,
            by_sku,
        }
    }

    pub(crate) fn by_id(&self, id: ProductId) -> Option<&Product> {
        let index = self.products.binary_search_by_key(&id, |p| p.id).ok()?;
        self.products.get(index)
    }

    pub(crate) fn by_sku(&self, sku: &str) -> Option<&Product> {
        self.by_sku.get(sku).map(|&i| &self.products[i])
    }
}

/// A replica's cached copy of the catalog.
pub(crate) struct Catalog {
    store: Arc<dyn CatalogStore>,
    current: RwLock<Option<(Arc<Snapshot>, Instant)>>,
    /// One revalidation at a time; other requests use the copy they have.
    refreshing: tokio::sync::Mutex<()>,
    max_age: Duration,
    /// Stored when the store holds no catalog at all (see `TROLLEY_SEED_DEMO_CATALOG`).
    seed: Option<Vec<Product>>,
}

impl Catalog {
    pub(crate) fn new(
        store: Arc<dyn CatalogStore>,
        max_age: Duration,
        seed: Option<Vec<Product>>,
    ) -> Self {
        Catalog {
            store,
            current: RwLock::new(None),
            refreshing: tokio::sync::Mutex::new(()),
            max_age,
            seed,
        }
    }

    fn cached(&self) -> Option<(Arc<Snapshot>, Instant)> {
        self.current
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    fn set(&self, snapshot: Arc<Snapshot>) {
        *self
            .current
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some((snapshot, Instant::now()));
    }

    /// The catalog, revalidated if the copy is older than the refresh interval.
    pub(crate) async fn current(&self) -> StoreResult<Arc<Snapshot>> {
        let store = self.store.as_ref();
        if let Some((snapshot, checked)) = self.cached() {
            if checked.elapsed() < self.max_age {
                return Ok(snapshot);
            }
            // Someone else is revalidating: the copy we have is fine meanwhile.
            let Ok(_guard) = self.refreshing.try_lock() else {
                return Ok(snapshot);
            };
            return match store.catalog_version().await {
                // Version 0 means Redis holds no catalog (flushed, or a new empty
                // instance): keep serving the copy we have rather than none.
                Ok(version) if version == snapshot.version || version == 0 => {
                    self.set(snapshot.clone());
                    Ok(snapshot)
                }
                Ok(_) => self.reload().await,
                // Prices a few seconds old beat failing every request while
                // Redis blips; the cart operations themselves will answer 503.
                Err(_) => Ok(snapshot),
            };
        }
        let _guard = self.refreshing.lock().await;
        if let Some((snapshot, _)) = self.cached() {
            return Ok(snapshot);
        }
        self.reload().await
    }

    async fn reload(&self) -> StoreResult<Arc<Snapshot>> {
        let store = self.store.as_ref();
        let mut stored = store.load_catalog().await?;
        if let (0, Some(seed)) = (stored.version, &self.seed) {
            // Never overwrites an import: the script writes only into an empty store.
            if store.replace_catalog(seed, true).await? > 0 {
                tracing::info!(
                    products = seed.len(),
                    "stored the demo catalog (no catalog was present)"
                );
            }
            stored = store.load_catalog().await?;
        }
        let snapshot = Arc::new(Snapshot::new(stored.version, stored.products));
        self.set(snapshot.clone());
        Ok(snapshot)
    }
}

/// A product as written in a catalog file. The price may be a JSON number or a
/// string; either way it is read as an exact decimal.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileProduct {
    id: i64,
    sku: String,
    name: String,
    price: serde_json::Value,
    #[serde(default)]
    image: Option<String>,
}

/// A product of Online Boutique's `products.json` (the microservices demo's
/// catalog), so trolley replaces the demo's cart service unchanged: its `id`
/// becomes the sku, its position in the file (1, 2, …) the numeric id, and its
/// price `units + nanos / 10^9`, exactly.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct BoutiqueProduct {
    id: String,
    name: String,
    #[serde(default)]
    picture: Option<String>,
    price_usd: BoutiqueMoney,
}

/// `google.type.Money` as Online Boutique writes it.
#[derive(serde::Deserialize)]
struct BoutiqueMoney {
    units: i64,
    nanos: i32,
}

impl BoutiqueProduct {
    fn into_file_product(self, position: usize) -> Result<FileProduct, String> {
        let BoutiqueMoney { units, nanos } = self.price_usd;
        if units < 0 || !(0..1_000_000_000).contains(&nanos) {
            return Err("priceUsd must be a non-negative amount (nanos 0 to 999999999)".into());
        }
        let price = Decimal::from(units) + Decimal::new(i64::from(nanos), 9);
        Ok(FileProduct {
            id: i64::try_from(position).map_err(|_| "too many products".to_string())?,
            sku: self.id,
            name: self.name,
            price: serde_json::Value::String(price.normalize().to_string()),
            image: self.picture,
        })
    }
}

/// Reads and validates a catalog file: a JSON array of products (or an object with
/// a `products` array), in trolley's format or Online Boutique's
/// ([`BoutiqueProduct`], told apart by its `priceUsd`). Every problem names the
/// entry it is in; nothing is returned unless every entry is valid.
pub(crate) fn parse_file(path: &Path) -> Result<Vec<Product>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    parse_catalog(&text)
}

/// See [`parse_file`].
pub(crate) fn parse_catalog(text: &str) -> Result<Vec<Product>, String> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
    let entries = match value {
        serde_json::Value::Array(entries) => entries,
        serde_json::Value::Object(mut object) => match object.remove("products") {
            Some(serde_json::Value::Array(entries)) => entries,
            _ => return Err("expected a JSON array of products or {\"products\": [...]}".into()),
        },
        _ => return Err("expected a JSON array of products or {\"products\": [...]}".into()),
    };
    if entries.is_empty() {
        return Err("the catalog has no products".into());
    }
    let mut products = Vec::with_capacity(entries.len());
    let mut ids = HashSet::new();
    let mut skus = HashSet::new();
    for (index, entry) in entries.into_iter().enumerate() {
        let position = index + 1;
        let label = match entry.get("id") {
            Some(id) => format!("entry {position} (id {id})"),
            None => format!("entry {position}"),
        };
        let raw: FileProduct = if entry.get("priceUsd").is_some() {
            serde_json::from_value::<BoutiqueProduct>(entry)
                .map_err(|e| e.to_string())
                .and_then(|boutique| boutique.into_file_product(position))
                .map_err(|e| format!("{label}: {e}"))?
        } else {
            serde_json::from_value(entry).map_err(|e| format!("{label}: {e}"))?
        };
        let product = validate(raw).map_err(|e| format!("{label}: {e}"))?;
        if !ids.insert(product.id) {
            return Err(format!("{label}: duplicate id"));
        }
        if !skus.insert(product.sku.clone()) {
            return Err(format!("{label}: duplicate sku {:?}", product.sku));
        }
        products.push(product);
    }
    Ok(products)
}

fn validate(raw: FileProduct) -> Result<Product, String> {
    if raw.id < 1 {
        return Err("id must be a positive integer".into());
    }
    let sku = raw.sku.trim().to_string();
    if sku.is_empty() || sku.len() > 64 || !sku.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("sku must be 1 to 64 printable ASCII characters without spaces".into());
    }
    let name = raw.name.trim().to_string();
    if name.is_empty() || name.chars().count() > 200 {
        return Err("name must be 1 to 200 characters".into());
    }
    let price_text = match &raw.price {
        // Without arbitrary precision serde_json holds numbers as f64; its
        // shortest round-trip text is the literal for any price of up to 15
        // significant digits, which is then read as an exact decimal.
        serde_json::Value::Number(n) => n.to_string(),
        serde_json::Value::String(s) => s.clone(),
        _ => return Err("price must be a number".into()),
    };
    let price = Decimal::from_str(&price_text)
        .or_else(|_| Decimal::from_scientific(&price_text))
        .map_err(|_| format!("price {price_text} is not a decimal number"))?;
    if price.is_sign_negative() {
        return Err("price must not be negative".into());
    }
    if price.scale() > 4 {
        return Err("price has more than 4 decimal places".into());
    }
    let image = raw
        .image
        .unwrap_or_else(|| format!("/images/products/{}.jpg", raw.id));
    Ok(Product {
        id: ProductId(raw.id),
        sku,
        name,
        price: price.normalize(),
        image,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_catalog_is_valid_and_holds_the_products_the_contract_names() {
        let products = parse_catalog(DEMO_CATALOG).expect("demo catalog");
        assert!(products.len() >= 120);
        let headset = products.iter().find(|p| p.id == ProductId(42)).expect("42");
        assert_eq!(headset.name, "Bluetooth audio headset");
        assert_eq!(headset.price.to_string(), "149.99");
        assert_eq!(headset.image, "/images/products/42.jpg");
        assert!(products.iter().any(|p| p.sku == "apple"));
        assert!(products.iter().any(|p| p.sku == "banana"));
    }

    #[test]
    fn a_bad_entry_is_named_and_rejects_the_whole_file() {
        let text = r#"[{"id": 1, "sku": "a", "name": "A", "price": 1.5},
                       {"id": 2, "sku": "b", "name": "B", "price": -1}]"#;
        let error = parse_catalog(text).unwrap_err();
        assert!(error.contains("entry 2 (id 2)"), "{error}");
        assert!(error.contains("negative"), "{error}");
        let duplicate = r#"[{"id": 1, "sku": "a", "name": "A", "price": 1},
                            {"id": 1, "sku": "b", "name": "B", "price": 2}]"#;
        assert!(
            parse_catalog(duplicate)
                .unwrap_err()
                .contains("duplicate id")
        );
    }

    #[test]
    fn online_boutiques_products_json_is_read_with_exact_prices() {
        let text = r#"{"products": [
            {"id": "OLJCESPC7Z", "name": "Sunglasses", "description": "Aviators.",
             "picture": "/static/img/products/sunglasses.jpg",
             "priceUsd": {"currencyCode": "USD", "units": 19, "nanos": 990000000},
             "categories": ["accessories"]},
            {"id": "66VCHSJNUP", "name": "Tank Top", "picture": "/static/img/products/tank-top.jpg",
             "priceUsd": {"currencyCode": "USD", "units": 18, "nanos": 0}}]}"#;
        let products = parse_catalog(text).expect("boutique catalog");
        assert_eq!(products[0].id, ProductId(1));
        assert_eq!(products[0].sku, "OLJCESPC7Z");
        assert_eq!(products[0].price.to_string(), "19.99");
        assert_eq!(products[0].image, "/static/img/products/sunglasses.jpg");
        assert_eq!(products[1].id, ProductId(2));
        assert_eq!(products[1].price.to_string(), "18");
        let negative = r#"[{"id": "X", "name": "X", "priceUsd": {"units": -1, "nanos": 0}}]"#;
        assert!(parse_catalog(negative).unwrap_err().contains("entry 1"));
    }

    #[test]
    fn prices_are_read_as_exact_decimals() {
        let text = r#"[{"id": 1, "sku": "a", "name": "A", "price": 0.1},
                       {"id": 2, "sku": "b", "name": "B", "price": "149.99"}]"#;
        let products = parse_catalog(text).unwrap();
        assert_eq!(products[0].price.to_string(), "0.1");
        assert_eq!(products[1].price.to_string(), "149.99");
    }
}
