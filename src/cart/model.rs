//! The cart's vocabulary: ids, quantities, money, lines and carts, parsed at the edge
//! so the rest of the program works with values that are already valid.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize, Serializer};

/// A catalog product's id: a positive integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ProductId(pub i64);

/// A cart line's id, unique across all carts.
///
/// It is composed of the owning cart's number and a per-cart sequence
/// (`cart_no << LINE_SEQ_BITS | seq`), so the cart that created a line can be found
/// from the id alone, with one read in that cart's own Redis slot. It stays below
/// 2^53, so JavaScript clients read it exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct LineId(pub u64);

/// Bits of a line id taken by the per-cart sequence (a cart may create 2^20 - 1 lines).
pub const LINE_SEQ_BITS: u32 = 20;
/// The largest per-cart line sequence.
pub const MAX_LINE_SEQ: u64 = (1 << LINE_SEQ_BITS) - 1;
/// The largest cart number, so that every line id stays below 2^53.
pub const MAX_CART_NO: u64 = (1 << (53 - LINE_SEQ_BITS)) - 1;

impl LineId {
    /// Parses a path segment: a positive integer that a line id could be.
    pub fn parse(text: &str) -> Option<LineId> {
        let n: u64 = text.parse().ok()?;
        (n > 0 && n < (1 << 53)).then_some(LineId(n))
    }

    /// The number of the cart that created this line.
    pub fn cart_no(self) -> u64 {
        self.0 >> LINE_SEQ_BITS
    }
}

/// Which cart a session uses: its number (the Redis key) and its public, unguessable id.
///
/// Kept in the session record as the pair `[no, id]`: a record is rewritten on
/// every slide, and the field names would cost every session 6 bytes of Redis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "(u64, String)", into = "(u64, String)")]
pub struct CartRef {
    pub no: u64,
    pub id: String,
}

impl From<(u64, String)> for CartRef {
    fn from((no, id): (u64, String)) -> CartRef {
        CartRef { no, id }
    }
}

impl From<CartRef> for (u64, String) {
    fn from(cart: CartRef) -> (u64, String) {
        (cart.no, cart.id)
    }
}

impl CartRef {
    /// A cart with number `no` and a fresh public id: 64 random bits, URL-safe.
    /// The number is the key; the id only tells this cart from another one
    /// under the same number (handed out again after Redis lost its counter),
    /// and 64 bits keep that apart while costing each cart and session 11
    /// bytes less than 128 would.
    pub fn new(no: u64) -> CartRef {
        use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
        let bits: u64 = rand::random();
        CartRef {
            no,
            id: format!("c{}", URL_SAFE_NO_PAD.encode(bits.to_le_bytes())),
        }
    }
}

/// How a client names the product to add.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProductRef {
    Id(ProductId),
    Sku(String),
}

/// One line of a cart, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub id: LineId,
    pub product_id: ProductId,
    pub quantity: u32,
    /// The product's price when it was first added; it never changes afterwards.
    pub price: Decimal,
    /// Milliseconds since the Unix epoch of the first add.
    pub added_at_ms: i64,
}

impl Line {
    /// Lines are listed in the order they were first added; the id breaks ties.
    pub fn sort(lines: &mut [Line]) {
        lines.sort_by_key(|line| (line.added_at_ms, line.id));
    }

    pub fn subtotal(&self) -> Decimal {
        self.price * Decimal::from(self.quantity)
    }
}

/// A catalog product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"id": 42, "sku": "BT-HEADSET", "name": "Bluetooth audio headset", "price": 149.99, "image": "/images/products/42.jpg"}))]
pub struct Product {
    #[schema(value_type = i64, minimum = 1)]
    pub id: ProductId,
    pub sku: String,
    pub name: String,
    #[serde(serialize_with = "money::serialize")]
    #[schema(value_type = f64)]
    pub price: Decimal,
    pub image: String,
}

/// Sum of price × quantity over the lines.
pub fn total(lines: &[Line]) -> Decimal {
    lines.iter().map(Line::subtotal).sum()
}

/// Money as a JSON number with exact digits.
///
/// `serde_json` would otherwise go through `f64` (`299.97999999999996`); writing the
/// decimal's own text as a raw JSON number keeps `299.98` exact, without turning on
/// `arbitrary_precision` for the whole program.
pub mod money {
    use super::*;

    pub fn serialize<S: Serializer>(value: &Decimal, serializer: S) -> Result<S::Ok, S::Error> {
        let text = value.normalize().to_string();
        let raw =
            serde_json::value::RawValue::from_string(text).map_err(serde::ser::Error::custom)?;
        raw.serialize(serializer)
    }

    pub fn serialize_option<S: Serializer>(
        value: &Option<Decimal>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(value) => serialize(value, serializer),
            None => serializer.serialize_none(),
        }
    }
}

/// `addedAt` text: RFC 3339 in UTC with second precision, as API.md shows it.
pub fn format_timestamp(ms: i64) -> String {
    let at = time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    at.format(&format).unwrap_or_default()
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn a_cart_ref_is_kept_as_a_pair() {
        let cart = CartRef::new(7);
        assert_eq!(cart.id.len(), 12, "{}", cart.id);
        let stored = serde_json::to_value(&cart).unwrap();
        assert_eq!(stored, serde_json::json!([7, cart.id]));
        assert_eq!(serde_json::from_value::<CartRef>(stored).unwrap(), cart);
    }

    #[test]
    fn money_is_written_with_exact_digits() {
        #[derive(Serialize)]
        struct Wrapper {
            #[serde(serialize_with = "money::serialize")]
            total: Decimal,
        }
        let total = Decimal::from_str("149.99").unwrap() * Decimal::from(2);
        let json = serde_json::to_string(&Wrapper { total }).unwrap();
        assert_eq!(json, r#"{"total":299.98}"#);
        let half = Decimal::from_str("0.50").unwrap();
        assert_eq!(
            serde_json::to_string(&Wrapper { total: half }).unwrap(),
            r#"{"total":0.5}"#
        );
    }

    #[test]
    fn a_line_id_names_the_cart_that_created_it() {
        let id = LineId((7 << LINE_SEQ_BITS) | 3);
        assert_eq!(id.cart_no(), 7);
    }

    #[test]
    fn line_ids_in_paths_must_be_positive_integers() {
        assert_eq!(LineId::parse("12"), Some(LineId(12)));
        for bad in ["0", "-1", "abc", "1.5", "", "99999999999999999999"] {
            assert_eq!(LineId::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn timestamps_are_rfc3339_utc_seconds() {
        assert_eq!(format_timestamp(1_775_644_200_123), "2026-04-08T10:30:00Z");
    }
}
