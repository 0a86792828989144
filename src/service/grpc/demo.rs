//! The demos' `CartService` (Online Boutique's `hipstershop`, the OpenTelemetry
//! demo's `oteldemo`: the same messages in both packages) on `ext/{user_id}` carts.

use axum::http::Method;
use serde::Deserialize;
use serde_json::json;
use tonic::{Request, Response, Status, metadata::MetadataMap};

use super::json::{Json, cart_path};
use crate::proto::{hipstershop, oteldemo};

/// The demos' `CartService` (the same messages in both packages): carts of
/// `ext/{user_id}`, products by sku first, then by numeric id.
#[derive(Clone)]
pub(super) struct Demo(pub(super) Json);

/// A demo cart as the JSON route reads it.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DemoCartJson {
    cart_id: Option<String>,
    items: Vec<DemoLineJson>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DemoLineJson {
    product_id: u64,
    sku: Option<String>,
    quantity: u32,
}

impl Demo {
    /// The `ext/{user_id}` cart's route.
    fn path(user_id: &str) -> Result<String, Status> {
        cart_path(&format!("ext/{user_id}"))
    }

    /// Adds `quantity` of the product whose sku (or else numeric id) is `product`.
    async fn add(
        &self,
        metadata: &MetadataMap,
        user_id: &str,
        product: &str,
        quantity: i32,
    ) -> Result<(), Status> {
        if quantity < 1 {
            return Err(Status::invalid_argument("Quantity must be at least 1"));
        }
        let path = format!("{}/items", Demo::path(user_id)?);
        let by_sku = json!({"sku": product, "quantity": quantity});
        match self
            .0
            .call(Method::POST, &path, metadata, Some(by_sku))
            .await
        {
            Err(status) if status.code() == tonic::Code::NotFound => {
                let Some(id) = product.parse::<u64>().ok().filter(|id| *id > 0) else {
                    return Err(status);
                };
                let by_id = json!({"productId": id, "quantity": quantity});
                self.0
                    .call(Method::POST, &path, metadata, Some(by_id))
                    .await
                    .map(drop)
            }
            other => other.map(drop),
        }
    }

    /// The cart's items as `(product_id, quantity)`, the product by its sku
    /// (its id in decimal when it has none); `None` when the user has no cart.
    async fn items(
        &self,
        metadata: &MetadataMap,
        user_id: &str,
    ) -> Result<Option<Vec<(String, i32)>>, Status> {
        let cart: DemoCartJson = self
            .0
            .call_as(Method::GET, &Demo::path(user_id)?, metadata, None)
            .await?;
        if cart.cart_id.is_none() {
            return Ok(None);
        }
        Ok(Some(
            cart.items
                .into_iter()
                .map(|line| {
                    let product = line
                        .sku
                        .filter(|sku| !sku.is_empty())
                        .unwrap_or_else(|| line.product_id.to_string());
                    (product, i32::try_from(line.quantity).unwrap_or(i32::MAX))
                })
                .collect(),
        ))
    }

    async fn empty(&self, metadata: &MetadataMap, user_id: &str) -> Result<(), Status> {
        self.0
            .call(Method::DELETE, &Demo::path(user_id)?, metadata, None)
            .await
            .map(drop)
    }
}

/// Implements a demo package's `CartService` on [`Demo`].
macro_rules! demo_cart_service {
    ($package:ident) => {
        #[tonic::async_trait]
        impl $package::cart_service_server::CartService for Demo {
            async fn add_item(
                &self,
                request: Request<$package::AddItemRequest>,
            ) -> Result<Response<$package::Empty>, Status> {
                let message = request.get_ref();
                let item = message.item.clone().unwrap_or_default();
                self.add(
                    request.metadata(),
                    &message.user_id,
                    &item.product_id,
                    item.quantity,
                )
                .await?;
                Ok(Response::new($package::Empty {}))
            }

            async fn get_cart(
                &self,
                request: Request<$package::GetCartRequest>,
            ) -> Result<Response<$package::Cart>, Status> {
                let user_id = &request.get_ref().user_id;
                // No cart: an empty `Cart`, as Online Boutique's own service answers.
                let Some(items) = self.items(request.metadata(), user_id).await? else {
                    return Ok(Response::new($package::Cart::default()));
                };
                Ok(Response::new($package::Cart {
                    user_id: user_id.clone(),
                    items: items
                        .into_iter()
                        .map(|(product_id, quantity)| $package::CartItem {
                            product_id,
                            quantity,
                        })
                        .collect(),
                }))
            }

            async fn empty_cart(
                &self,
                request: Request<$package::EmptyCartRequest>,
            ) -> Result<Response<$package::Empty>, Status> {
                self.empty(request.metadata(), &request.get_ref().user_id)
                    .await?;
                Ok(Response::new($package::Empty {}))
            }
        }
    };
}

demo_cart_service!(hipstershop);
demo_cart_service!(oteldemo);
