//! The store's Lua scripts (in `src/store/lua/`), each loaded once and run by SHA
//! (re-loaded on NOSCRIPT, e.g. after a Redis restart or a failover).
//!
//! Every cart script is prepended with `prelude.lua` and the constants it needs,
//! generated here from the Rust ones, so the line-id layout is defined once.

use fred::types::scripts::Script;

use crate::cart::{
    change::RECENT_OPS,
    model::{LINE_SEQ_BITS, MAX_LINE_SEQ},
};

const PRELUDE: &str = include_str!("../lua/prelude.lua");

/// The constants the prelude uses, from `cart::model`.
fn prelude_constants() -> String {
    format!(
        "local LINE_ID_FACTOR = {}\nlocal MAX_LINE_SEQ = {MAX_LINE_SEQ}\nlocal RECENT_OPS = {RECENT_OPS}\n",
        1u64 << LINE_SEQ_BITS
    )
}

/// A cart script: the constants, the prelude, then the script itself.
fn cart_script(body: &str) -> Script {
    Script::from_lua(format!("{}{PRELUDE}{body}", prelude_constants()))
}

pub(super) struct Scripts {
    pub(super) cart_add: Script,
    pub(super) cart_set_quantity: Script,
    pub(super) cart_remove: Script,
    pub(super) cart_clear: Script,
    pub(super) cart_merge: Script,
    pub(super) cart_seal: Script,
    pub(super) cart_absorb: Script,
    pub(super) cart_seal_done: Script,
    pub(super) cart_unseal: Script,
    pub(super) cart_claim: Script,
    pub(super) cart_claim_end: Script,
    pub(super) cart_claim_read: Script,
    pub(super) ext_cart: Script,
    pub(super) cart_seq: Script,
    pub(super) line_owner: Script,
    pub(super) user_cart: Script,
    pub(super) count_in_window: Script,
    pub(super) login_attempt_begin: Script,
    pub(super) login_attempt_end: Script,
    pub(super) catalog_replace: Script,
    pub(super) catalog_read: Script,
}

impl Scripts {
    pub(super) fn new() -> Self {
        Scripts {
            cart_add: cart_script(include_str!("../lua/cart_add.lua")),
            cart_set_quantity: cart_script(include_str!("../lua/cart_set_quantity.lua")),
            cart_remove: cart_script(include_str!("../lua/cart_remove.lua")),
            cart_clear: cart_script(include_str!("../lua/cart_clear.lua")),
            cart_merge: cart_script(include_str!("../lua/cart_merge.lua")),
            cart_seal: cart_script(include_str!("../lua/cart_seal.lua")),
            cart_absorb: cart_script(include_str!("../lua/cart_absorb.lua")),
            cart_seal_done: cart_script(include_str!("../lua/cart_seal_done.lua")),
            cart_unseal: Script::from_lua(include_str!("../lua/cart_unseal.lua")),
            cart_claim: cart_script(include_str!("../lua/cart_claim.lua")),
            cart_claim_end: cart_script(include_str!("../lua/cart_claim_end.lua")),
            cart_claim_read: cart_script(include_str!("../lua/cart_claim_read.lua")),
            ext_cart: Script::from_lua(include_str!("../lua/ext_cart.lua")),
            cart_seq: Script::from_lua(include_str!("../lua/cart_seq.lua")),
            line_owner: Script::from_lua(include_str!("../lua/line_owner.lua")),
            user_cart: Script::from_lua(include_str!("../lua/user_cart.lua")),
            count_in_window: Script::from_lua(include_str!("../lua/count_in_window.lua")),
            login_attempt_begin: Script::from_lua(include_str!("../lua/login_attempt_begin.lua")),
            login_attempt_end: Script::from_lua(include_str!("../lua/login_attempt_end.lua")),
            catalog_replace: Script::from_lua(include_str!("../lua/catalog_replace.lua")),
            catalog_read: Script::from_lua(include_str!("../lua/catalog_read.lua")),
        }
    }

    pub(super) fn all(&self) -> [&Script; 21] {
        [
            &self.cart_add,
            &self.cart_set_quantity,
            &self.cart_remove,
            &self.cart_clear,
            &self.cart_merge,
            &self.cart_seal,
            &self.cart_absorb,
            &self.cart_seal_done,
            &self.cart_unseal,
            &self.cart_claim,
            &self.cart_claim_end,
            &self.cart_claim_read,
            &self.ext_cart,
            &self.cart_seq,
            &self.line_owner,
            &self.user_cart,
            &self.count_in_window,
            &self.login_attempt_begin,
            &self.login_attempt_end,
            &self.catalog_replace,
            &self.catalog_read,
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prelude_constants_are_the_rust_ones() {
        let constants = prelude_constants();
        assert!(
            constants.contains("LINE_ID_FACTOR = 1048576\n"),
            "{constants}"
        );
        assert!(
            constants.contains("MAX_LINE_SEQ = 1048575\n"),
            "{constants}"
        );
        assert!(constants.contains("RECENT_OPS = 3\n"), "{constants}");
    }
}
