//! The cart rules in one place: quantity and line limits, and what a login merge does
//! with a product found in both carts.
//!
//! The Redis scripts enforce the same rules atomically inside Redis (they receive the
//! limits and the merge rule as arguments); the embedded store calls these functions.

use clap::ValueEnum;

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

    /// The quantity of a line after adding `added` to `current`, if within the limit.
    pub fn increment(&self, current: u32, added: u32) -> Result<u32, QuantityError> {
        let sum = u64::from(current) + u64::from(added);
        if sum > u64::from(self.max_quantity) {
            Err(QuantityError::AboveMax(self.max_quantity))
        } else {
            Ok(sum as u32)
        }
    }
}

/// What a login does with a product that is in both the guest's and the user's cart.
/// Shops differ: Magento and Shopware add the quantities, commercetools keeps the
/// larger, Vendure lets the guest's replace it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MergeRule {
    /// Quantities add up.
    Sum,
    /// The larger quantity wins.
    Max,
    /// The guest's quantity replaces the user's.
    Guest,
}

impl MergeRule {
    /// The name the merge script receives.
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

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        max_quantity: 99,
        max_lines: 100,
    };

    #[test]
    fn quantities_outside_one_to_max_are_refused() {
        assert_eq!(LIMITS.check_quantity(0), Err(QuantityError::BelowOne));
        assert_eq!(LIMITS.check_quantity(-5), Err(QuantityError::BelowOne));
        assert_eq!(LIMITS.check_quantity(100), Err(QuantityError::AboveMax(99)));
        assert_eq!(LIMITS.check_quantity(99), Ok(99));
        assert_eq!(LIMITS.increment(98, 2), Err(QuantityError::AboveMax(99)));
        assert_eq!(LIMITS.increment(97, 2), Ok(99));
    }

    #[test]
    fn each_merge_rule_is_clamped_to_the_max_quantity() {
        assert_eq!(MergeRule::Sum.combine(60, 50, &LIMITS), (99, true));
        assert_eq!(MergeRule::Sum.combine(2, 3, &LIMITS), (5, false));
        assert_eq!(MergeRule::Max.combine(2, 3, &LIMITS), (3, false));
        assert_eq!(MergeRule::Guest.combine(7, 3, &LIMITS), (3, false));
    }
}
