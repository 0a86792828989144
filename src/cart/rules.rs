//! The one reference definition of the cart rules: limits, and what add, set,
//! remove, clear and a login merge do to a cart's lines.
//!
//! These are pure functions over [`CartLines`]. The embedded store calls them
//! inside its critical section; the Redis scripts (`src/store/lua/`, with the
//! shared `prelude.lua`) apply the same rules inside Redis, and the differential
//! property test (`tests/api/rules.rs`) runs random operation sequences against
//! both and against these functions, step by step.

use std::str::FromStr;

use rust_decimal::Decimal;

use super::model::{LINE_SEQ_BITS, Line, LineId, MAX_LINE_SEQ, ProductId};

/// Configured limits of a cart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest quantity of one line.
    pub max_quantity: u32,
    /// Largest number of lines in one cart.
    pub max_lines: u32,
}

/// Why a requested quantity is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuantityError {
    BelowOne,
    AboveMax(u32),
}

impl QuantityError {
    /// The message API.md gives for this refusal.
    pub fn message(self) -> String {
        match self {
            QuantityError::BelowOne => "Quantity must be at least 1".to_string(),
            QuantityError::AboveMax(max) => format!("Quantity must be at most {max}"),
        }
    }
}

impl Limits {
    /// Checks a quantity a client asked for (JSON integers may be any size).
    pub fn check_quantity(&self, requested: i128) -> Result<u32, QuantityError> {
        if requested < 1 {
            Err(QuantityError::BelowOne)
        } else if requested > i128::from(self.max_quantity) {
            Err(QuantityError::AboveMax(self.max_quantity))
        } else {
            // In range 1..=max_quantity, so it fits.
            Ok(requested as u32)
        }
    }
}

/// What a login does with a product that is in both the guest's and the user's cart.
/// Shops differ: Magento and Shopware add the quantities, commercetools keeps the
/// larger, Vendure lets the guest's replace it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MergeRule {
    /// Quantities add up.
    Sum,
    /// The larger quantity wins.
    Max,
    /// The guest's quantity replaces the user's.
    Guest,
}

impl MergeRule {
    pub const ALL: [MergeRule; 3] = [MergeRule::Sum, MergeRule::Max, MergeRule::Guest];

    /// The name the settings and the merge scripts use.
    pub fn as_str(self) -> &'static str {
        match self {
            MergeRule::Sum => "sum",
            MergeRule::Max => "max",
            MergeRule::Guest => "guest",
        }
    }

    /// The merged quantity of a product in both carts, and whether the limit cut it.
    pub fn combine(self, user: u32, guest: u32, limits: &Limits) -> (u32, bool) {
        let wanted = match self {
            MergeRule::Sum => u64::from(user) + u64::from(guest),
            MergeRule::Max => u64::from(user.max(guest)),
            MergeRule::Guest => u64::from(guest),
        };
        let capped = wanted.min(u64::from(limits.max_quantity));
        (capped as u32, capped < wanted)
    }
}

impl FromStr for MergeRule {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        MergeRule::ALL
            .into_iter()
            .find(|rule| rule.as_str() == text)
            .ok_or_else(|| format!("expected sum, max or guest, not {text:?}"))
    }
}

/// A request to add a product to a cart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewItem {
    pub product_id: ProductId,
    pub quantity: u32,
    /// Today's catalog price, frozen into the line if the line is new.
    pub price: Decimal,
    pub now_ms: i64,
}

/// What an add did. (The gate's answers, another session's or a merged
/// cart, are [`Written`](super::change::Written)'s: the rules never see those carts.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddOutcome {
    /// The line as it is now (new, or with its quantity incremented).
    /// `cart`: the whole cart after the add, which a store answers when asked
    /// (the minimal API shows it, read in the same atomic step); the rules
    /// leave it `None`, and the differential property test asks for none.
    Added { line: Line, cart: Option<Vec<Line>> },
    /// The line would pass the max quantity; nothing changed.
    QuantityAboveMax,
    /// A new line would pass the max lines (or the cart's line sequence is used
    /// up); nothing changed.
    CartFull,
}

/// A change of one line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineChange {
    /// Set its quantity (already checked against the limits at the edge).
    SetQuantity(u32),
    Remove,
}

impl LineChange {
    /// The operation's name (`trolley_cart_operations_total`, the scripts).
    pub fn name(self) -> &'static str {
        match self {
            LineChange::SetQuantity(_) => "set_quantity",
            LineChange::Remove => "remove",
        }
    }
}

/// What a change to one line did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineOutcome {
    /// The line after the change (for a removal: the line that was removed).
    Done(Line),
    /// The line is not in this cart; nothing changed.
    NotInCart,
}

/// What a login merge did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MergeReport {
    /// The guest cart was merged by an earlier login already: nothing was done now.
    pub already_merged: bool,
    /// Guest lines moved into the user's cart with their id, price and `addedAt`.
    pub lines_moved: u32,
    /// Guest lines whose product was in the user's cart already.
    pub lines_combined: u32,
    /// User-cart lines whose merged quantity was cut to the max quantity.
    pub clamped: Vec<LineId>,
    /// Guest lines that did not fit under the max lines and were dropped.
    pub dropped: Vec<LineId>,
    /// A checkout claim holds the user's cart and the guest cart has lines:
    /// nothing was merged, the guest cart is as it was.
    pub claimed: bool,
}

impl MergeReport {
    /// The report of a merge an earlier login did already: nothing done now.
    pub fn already_merged() -> MergeReport {
        MergeReport {
            already_merged: true,
            ..MergeReport::default()
        }
    }
}

/// A cart's lines and its line sequence (the last per-cart number a line id used;
/// it never goes back, so a line id is never reused).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CartLines {
    pub seq: u64,
    pub lines: Vec<Line>,
}

impl CartLines {
    fn position(&self, id: LineId) -> Option<usize> {
        self.lines.iter().position(|line| line.id == id)
    }

    fn position_of_product(&self, product: ProductId) -> Option<usize> {
        self.lines
            .iter()
            .position(|line| line.product_id == product)
    }
}

/// Adds a product to cart number `cart_no`: a product already in the cart has its
/// line incremented (same id, price frozen), within the max quantity; a new
/// product gets a new line while the cart is under the max lines.
pub fn add(cart: &mut CartLines, cart_no: u64, item: &NewItem, limits: &Limits) -> AddOutcome {
    if let Some(index) = cart.position_of_product(item.product_id) {
        let line = &mut cart.lines[index];
        let sum = u64::from(line.quantity) + u64::from(item.quantity);
        if sum > u64::from(limits.max_quantity) {
            return AddOutcome::QuantityAboveMax;
        }
        line.quantity = sum as u32;
        return AddOutcome::Added {
            line: line.clone(),
            cart: None,
        };
    }
    if item.quantity > limits.max_quantity {
        return AddOutcome::QuantityAboveMax;
    }
    if cart.lines.len() >= limits.max_lines as usize || cart.seq >= MAX_LINE_SEQ {
        return AddOutcome::CartFull;
    }
    cart.seq += 1;
    let line = Line {
        id: LineId((cart_no << LINE_SEQ_BITS) | cart.seq),
        product_id: item.product_id,
        quantity: item.quantity,
        price: item.price,
        // To the whole second: all the API shows, and what the Redis line
        // encoding keeps (3 bytes a line less than milliseconds).
        added_at_ms: item.now_ms - item.now_ms.rem_euclid(1000),
    };
    cart.lines.push(line.clone());
    AddOutcome::Added { line, cart: None }
}

/// Sets a line's quantity, or removes it.
pub fn change_line(cart: &mut CartLines, id: LineId, change: LineChange) -> LineOutcome {
    let Some(index) = cart.position(id) else {
        return LineOutcome::NotInCart;
    };
    match change {
        LineChange::SetQuantity(quantity) => {
            cart.lines[index].quantity = quantity;
            LineOutcome::Done(cart.lines[index].clone())
        }
        LineChange::Remove => LineOutcome::Done(cart.lines.remove(index)),
    }
}

/// Removes every line; the sequence stays, so line ids are never reused.
pub fn clear(cart: &mut CartLines) {
    cart.lines.clear();
}

/// Merges a guest cart's lines into a user's cart at login.
///
/// Guest lines are taken oldest first (addedAt, then id). A product in both carts
/// is combined by the rule and capped at the max quantity (the user line is
/// reported as clamped); a new product moves with its id, frozen price and
/// addedAt while the user's cart is under the max lines; the others are dropped
/// and reported.
pub fn merge(
    user: &mut CartLines,
    guest: &[Line],
    rule: MergeRule,
    limits: &Limits,
) -> MergeReport {
    let mut guest = guest.to_vec();
    Line::sort(&mut guest);
    let mut report = MergeReport::default();
    for line in guest {
        if let Some(index) = user.position_of_product(line.product_id) {
            let existing = &mut user.lines[index];
            let (quantity, clamped) = rule.combine(existing.quantity, line.quantity, limits);
            existing.quantity = quantity;
            if clamped {
                report.clamped.push(existing.id);
            }
            report.lines_combined += 1;
        } else if user.lines.len() < limits.max_lines as usize {
            user.lines.push(line);
            report.lines_moved += 1;
        } else {
            report.dropped.push(line.id);
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        max_quantity: 99,
        max_lines: 100,
    };

    fn item(product: i64, quantity: u32) -> NewItem {
        NewItem {
            product_id: ProductId(product),
            quantity,
            price: Decimal::new(150, 2),
            now_ms: product,
        }
    }

    #[test]
    fn quantities_outside_one_to_max_are_refused() {
        assert_eq!(LIMITS.check_quantity(0), Err(QuantityError::BelowOne));
        assert_eq!(LIMITS.check_quantity(-5), Err(QuantityError::BelowOne));
        assert_eq!(LIMITS.check_quantity(100), Err(QuantityError::AboveMax(99)));
        assert_eq!(LIMITS.check_quantity(99), Ok(99));
    }

    #[test]
    fn adding_an_existing_product_increments_its_line_within_the_max() {
        let mut cart = CartLines::default();
        let AddOutcome::Added { line: first, .. } = add(&mut cart, 7, &item(1, 97), &LIMITS) else {
            panic!("first add");
        };
        assert_eq!(first.id.cart_no(), 7);
        assert_eq!(
            add(&mut cart, 7, &item(1, 3), &LIMITS),
            AddOutcome::QuantityAboveMax
        );
        let AddOutcome::Added { line: second, .. } = add(&mut cart, 7, &item(1, 2), &LIMITS) else {
            panic!("second add");
        };
        assert_eq!((second.id, second.quantity), (first.id, 99));
    }

    #[test]
    fn a_new_line_past_the_max_lines_is_refused_and_cleared_ids_are_not_reused() {
        let limits = Limits {
            max_quantity: 99,
            max_lines: 1,
        };
        let mut cart = CartLines::default();
        assert!(matches!(
            add(&mut cart, 1, &item(1, 1), &limits),
            AddOutcome::Added { .. }
        ));
        assert_eq!(
            add(&mut cart, 1, &item(2, 1), &limits),
            AddOutcome::CartFull
        );
        clear(&mut cart);
        let AddOutcome::Added { line, .. } = add(&mut cart, 1, &item(2, 1), &limits) else {
            panic!("add after clear");
        };
        assert_eq!(line.id, LineId((1 << LINE_SEQ_BITS) | 2));
    }

    #[test]
    fn each_merge_rule_is_clamped_to_the_max_quantity() {
        assert_eq!(MergeRule::Sum.combine(60, 50, &LIMITS), (99, true));
        assert_eq!(MergeRule::Sum.combine(2, 3, &LIMITS), (5, false));
        assert_eq!(MergeRule::Max.combine(2, 3, &LIMITS), (3, false));
        assert_eq!(MergeRule::Guest.combine(7, 3, &LIMITS), (3, false));
        for rule in MergeRule::ALL {
            assert_eq!(rule.as_str().parse::<MergeRule>(), Ok(rule));
        }
        assert!("average".parse::<MergeRule>().is_err());
    }

    #[test]
    fn a_merge_moves_new_products_combines_shared_ones_and_drops_what_does_not_fit() {
        let limits = Limits {
            max_quantity: 5,
            max_lines: 2,
        };
        let mut user = CartLines::default();
        add(&mut user, 1, &item(1, 4), &limits);
        let mut guest = CartLines::default();
        for (product, quantity) in [(1, 3), (2, 1), (3, 1)] {
            add(&mut guest, 2, &item(product, quantity), &LIMITS);
        }
        let report = merge(&mut user, &guest.lines, MergeRule::Sum, &limits);
        assert_eq!((report.lines_moved, report.lines_combined), (1, 1));
        assert_eq!(report.clamped, vec![user.lines[0].id]);
        assert_eq!(report.dropped, vec![guest.lines[2].id]);
        assert_eq!(user.lines[0].quantity, 5);
        assert_eq!(user.lines[1], guest.lines[1]);
    }
}
