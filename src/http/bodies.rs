//! The PerfShop API's response bodies (camelCase), with their OpenAPI schemas.

use axum::Json;
use rust_decimal::Decimal;
use serde::Serialize;
use utoipa::ToSchema;

use crate::cart::{
    model::{Line, format_timestamp, money},
    ops::{CartView, PricedLine},
};

/// `GET /api/cart` (and the login's `cart`).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Cart)]
pub(crate) struct CartBody {
    /// Opaque and unguessable; null before the first add.
    cart_id: Option<String>,
    /// In the order the lines were first added.
    items: Vec<CartItemBody>,
    #[serde(serialize_with = "money::serialize")]
    #[schema(value_type = f64, example = 299.98)]
    total: Decimal,
    /// Number of distinct lines.
    #[schema(minimum = 0)]
    item_count: usize,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = CartItem)]
pub(crate) struct CartItemBody {
    #[schema(minimum = 1, example = 1048577)]
    id: u64,
    #[schema(example = 42)]
    product_id: i64,
    sku: Option<String>,
    #[schema(minimum = 1)]
    quantity: u32,
    /// Frozen when the product was first added.
    #[serde(serialize_with = "money::serialize")]
    #[schema(value_type = f64, example = 149.99)]
    price: Decimal,
    #[schema(format = DateTime, example = "2026-04-08T10:30:00Z")]
    added_at: String,
    product_name: Option<String>,
    product_image: Option<String>,
    /// The catalog's price now.
    #[serde(serialize_with = "money::serialize_option")]
    #[schema(value_type = Option<f64>)]
    product_price: Option<Decimal>,
}

/// The line as add and update return it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = CartLine)]
pub(crate) struct LineBody {
    #[schema(minimum = 1, example = 1048577)]
    id: u64,
    #[schema(example = 42)]
    product_id: i64,
    #[schema(minimum = 1)]
    quantity: u32,
    #[serde(serialize_with = "money::serialize")]
    #[schema(value_type = f64, example = 149.99)]
    price: Decimal,
    #[schema(format = DateTime)]
    added_at: String,
}

/// `{"success": true, "message": …, "cartItem": …}`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LineChanged {
    success: bool,
    message: &'static str,
    cart_item: LineBody,
}

/// `{"success": true, "message": …}`.
#[derive(Serialize, ToSchema)]
pub(crate) struct Done {
    success: bool,
    message: &'static str,
}

impl LineChanged {
    pub(crate) fn new(message: &'static str, line: LineBody) -> Json<LineChanged> {
        Json(LineChanged {
            success: true,
            message,
            cart_item: line,
        })
    }
}

impl Done {
    pub(crate) fn new(message: &'static str) -> Json<Done> {
        Json(Done {
            success: true,
            message,
        })
    }
}

impl From<&Line> for LineBody {
    fn from(line: &Line) -> Self {
        LineBody {
            id: line.id.0,
            product_id: line.product_id.0,
            quantity: line.quantity,
            price: line.price,
            added_at: format_timestamp(line.added_at_ms),
        }
    }
}

impl From<CartView> for CartBody {
    fn from(view: CartView) -> Self {
        let item_count = view.lines.len();
        CartBody {
            cart_id: view.cart_id,
            items: item_bodies(view.lines),
            total: view.total,
            item_count,
        }
    }
}

/// Lines in the `GET /api/cart` item shape (the service API's `line` too).
pub(crate) fn item_bodies(lines: Vec<PricedLine>) -> Vec<CartItemBody> {
    lines.into_iter().map(CartItemBody::from).collect()
}

impl From<PricedLine> for CartItemBody {
    fn from(priced: PricedLine) -> Self {
        // The line is consumed: its product's strings move into the body
        // instead of being copied again.
        let (sku, name, image, price_now) = match priced.product {
            Some(product) => (
                Some(product.sku),
                Some(product.name),
                Some(product.image),
                Some(product.price),
            ),
            None => (None, None, None, None),
        };
        CartItemBody {
            id: priced.line.id.0,
            product_id: priced.line.product_id.0,
            sku,
            quantity: priced.line.quantity,
            price: priced.line.price,
            added_at: format_timestamp(priced.line.added_at_ms),
            product_name: name,
            product_image: image,
            product_price: price_now,
        }
    }
}
