//! `trolley.cart.v1.CartService`: each call on its JSON route of the service port.

use axum::http::Method;
use serde::Deserialize;
use serde_json::{Value, json, value::RawValue};
use tonic::{Request, Response, Status, metadata::MetadataMap};

use super::json::{Json, cart_path, claim_path, money};
use crate::proto::trolley::cart::v1 as pb;

/// A line as the JSON routes write it.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LineJson {
    id: u64,
    product_id: u64,
    sku: Option<String>,
    quantity: u32,
    price: Box<RawValue>,
    added_at: String,
    product_name: Option<String>,
    product_image: Option<String>,
    product_price: Option<Box<RawValue>>,
}

impl From<LineJson> for pb::Line {
    fn from(line: LineJson) -> Self {
        pb::Line {
            id: line.id,
            product_id: line.product_id,
            sku: line.sku.unwrap_or_default(),
            quantity: line.quantity,
            price: money(&line.price),
            added_at: line.added_at,
            product_name: line.product_name.unwrap_or_default(),
            product_image: line.product_image.unwrap_or_default(),
            product_price: line.product_price.as_deref().map(money).unwrap_or_default(),
        }
    }
}

fn lines(items: Vec<LineJson>) -> Vec<pb::Line> {
    items.into_iter().map(pb::Line::from).collect()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ClaimRefJson {
    claim_id: String,
    until: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CartJson {
    owner: String,
    cart_id: Option<String>,
    version: String,
    items: Vec<LineJson>,
    total: Box<RawValue>,
    item_count: u32,
    checkout: Option<ClaimRefJson>,
}

#[derive(Deserialize)]
struct ChangedJson {
    line: Option<LineJson>,
    version: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WarningJson {
    line_id: u64,
    product_id: u64,
    kind: String,
    price: Option<Box<RawValue>>,
    product_price: Option<Box<RawValue>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ClaimJson {
    claim_id: String,
    until: String,
    version: String,
    items: Vec<LineJson>,
    total: Box<RawValue>,
    item_count: u32,
    warnings: Vec<WarningJson>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CompletedJson {
    order_id: String,
    claim_id: String,
    items: Vec<LineJson>,
    total: Box<RawValue>,
    item_count: u32,
}

#[derive(Deserialize)]
struct ReleasedJson {
    released: bool,
}

/// `trolley.cart.v1.CartService`.
pub(super) struct Trolley(pub(super) Json);

impl Trolley {
    async fn changed(
        &self,
        method: Method,
        path: &str,
        metadata: &MetadataMap,
        body: Option<Value>,
    ) -> Result<(Option<pb::Line>, String), Status> {
        let changed: ChangedJson = self.0.call_as(method, path, metadata, body).await?;
        Ok((changed.line.map(pb::Line::from), changed.version))
    }
}

#[tonic::async_trait]
impl pb::cart_service_server::CartService for Trolley {
    async fn get_cart(
        &self,
        request: Request<pb::GetCartRequest>,
    ) -> Result<Response<pb::Cart>, Status> {
        let path = cart_path(&request.get_ref().owner)?;
        let cart: CartJson = self
            .0
            .call_as(Method::GET, &path, request.metadata(), None)
            .await?;
        Ok(Response::new(pb::Cart {
            owner: cart.owner,
            cart_id: cart.cart_id.unwrap_or_default(),
            version: cart.version,
            items: lines(cart.items),
            total: money(&cart.total),
            item_count: cart.item_count,
            checkout: cart.checkout.map(|claim| pb::ClaimRef {
                claim_id: claim.claim_id,
                until: claim.until,
            }),
        }))
    }

    async fn add_item(
        &self,
        request: Request<pb::AddItemRequest>,
    ) -> Result<Response<pb::LineChanged>, Status> {
        let message = request.get_ref();
        let path = format!("{}/items", cart_path(&message.owner)?);
        let mut body = match &message.product {
            Some(pb::add_item_request::Product::ProductId(id)) => json!({"productId": id}),
            Some(pb::add_item_request::Product::Sku(sku)) => json!({"sku": sku}),
            None => json!({}),
        };
        if message.quantity > 0 {
            body["quantity"] = json!(message.quantity);
        }
        let (line, version) = self
            .changed(Method::POST, &path, request.metadata(), Some(body))
            .await?;
        Ok(Response::new(pb::LineChanged { line, version }))
    }

    async fn set_quantity(
        &self,
        request: Request<pb::SetQuantityRequest>,
    ) -> Result<Response<pb::LineChanged>, Status> {
        let message = request.get_ref();
        let path = format!(
            "{}/items/{}?quantity={}",
            cart_path(&message.owner)?,
            message.line_id,
            message.quantity
        );
        let (line, version) = self
            .changed(Method::PUT, &path, request.metadata(), None)
            .await?;
        Ok(Response::new(pb::LineChanged { line, version }))
    }

    async fn remove_item(
        &self,
        request: Request<pb::RemoveItemRequest>,
    ) -> Result<Response<pb::Changed>, Status> {
        let message = request.get_ref();
        let path = format!("{}/items/{}", cart_path(&message.owner)?, message.line_id);
        let (_, version) = self
            .changed(Method::DELETE, &path, request.metadata(), None)
            .await?;
        Ok(Response::new(pb::Changed { version }))
    }

    async fn clear_cart(
        &self,
        request: Request<pb::ClearCartRequest>,
    ) -> Result<Response<pb::Changed>, Status> {
        let path = cart_path(&request.get_ref().owner)?;
        let (_, version) = self
            .changed(Method::DELETE, &path, request.metadata(), None)
            .await?;
        Ok(Response::new(pb::Changed { version }))
    }

    async fn checkout(
        &self,
        request: Request<pb::CheckoutRequest>,
    ) -> Result<Response<pb::Claim>, Status> {
        let message = request.get_ref();
        let path = format!("{}/checkout", cart_path(&message.owner)?);
        let body = (!message.ttl.is_empty()).then(|| json!({"ttl": message.ttl}));
        let claim: ClaimJson = self
            .0
            .call_as(Method::POST, &path, request.metadata(), body)
            .await?;
        Ok(Response::new(pb::Claim {
            claim_id: claim.claim_id,
            until: claim.until,
            version: claim.version,
            items: lines(claim.items),
            total: money(&claim.total),
            item_count: claim.item_count,
            warnings: claim
                .warnings
                .into_iter()
                .map(|warning| pb::Warning {
                    line_id: warning.line_id,
                    product_id: warning.product_id,
                    kind: warning.kind,
                    price: warning.price.as_deref().map(money).unwrap_or_default(),
                    product_price: warning
                        .product_price
                        .as_deref()
                        .map(money)
                        .unwrap_or_default(),
                })
                .collect(),
        }))
    }

    async fn complete_checkout(
        &self,
        request: Request<pb::CompleteCheckoutRequest>,
    ) -> Result<Response<pb::Completed>, Status> {
        let message = request.get_ref();
        let path = claim_path(&message.owner, &message.claim_id, "complete")?;
        let body = json!({"orderId": message.order_id});
        let completed: CompletedJson = self
            .0
            .call_as(Method::POST, &path, request.metadata(), Some(body))
            .await?;
        Ok(Response::new(pb::Completed {
            order_id: completed.order_id,
            claim_id: completed.claim_id,
            items: lines(completed.items),
            total: money(&completed.total),
            item_count: completed.item_count,
        }))
    }

    async fn release_checkout(
        &self,
        request: Request<pb::ReleaseCheckoutRequest>,
    ) -> Result<Response<pb::Released>, Status> {
        let message = request.get_ref();
        let path = claim_path(&message.owner, &message.claim_id, "release")?;
        let released: ReleasedJson = self
            .0
            .call_as(Method::POST, &path, request.metadata(), None)
            .await?;
        Ok(Response::new(pb::Released {
            released: released.released,
        }))
    }
}
