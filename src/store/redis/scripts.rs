//! The store's Lua: one Redis Functions library, loaded with `FUNCTION LOAD` on
//! every primary when trolley connects, and again when a primary answers that a
//! function is not found (a Redis restarted with its data lost, a Cluster node
//! added). Replicas get it by replication, so a promoted one has it.
//!
//! The library is the constants `prelude.lua` needs (generated here from the
//! Rust ones, so the line-id layout is defined once), the prelude, then each
//! script of `src/store/lua/` as a function of `(KEYS, ARGV)`. Loaded once, its
//! prelude is defined once per Redis, not on every call as a prepended text would
//! be. Its name and its functions' names end in a digest of its text, so two
//! versions of trolley side by side (a rolling deploy) each call their own.

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

/// A function of the library, by the name `FCALL` takes.
pub(super) struct Function(pub(super) String);

/// The library's text and its functions' name suffix, for these scripts
/// (name, Lua body).
fn library(scripts: &[(&str, &str)]) -> (String, String) {
    let mut body = format!("{}{PRELUDE}\n", prelude_constants());
    for (name, lua) in scripts {
        body.push_str(&format!(
            "redis.register_function('{name}_@', function(KEYS, ARGV)\n{lua}\nend)\n"
        ));
    }
    let suffix = fred::util::sha1_hash(&body)[..12].to_string();
    let text = format!(
        "#!lua name=trolley_{suffix}\n{}",
        body.replace("_@'", &format!("_{suffix}'"))
    );
    (text, suffix)
}

macro_rules! scripts {
    ($($name:ident),* $(,)?) => {
        pub(super) struct Scripts {
            /// The library's text, for `FUNCTION LOAD`.
            pub(super) library: String,
            $(pub(super) $name: Function,)*
        }

        impl Scripts {
            pub(super) fn new() -> Self {
                let (library, suffix) = library(&[$(
                    (stringify!($name), include_str!(concat!("../lua/", stringify!($name), ".lua"))),
                )*]);
                Scripts {
                    library,
                    $($name: Function(format!(concat!(stringify!($name), "_{}"), suffix)),)*
                }
            }
        }
    };
}

scripts!(
    cart_read,
    cart_add,
    cart_set_quantity,
    cart_remove,
    cart_clear,
    cart_merge,
    cart_seal,
    cart_absorb,
    cart_seal_done,
    cart_unseal,
    cart_claim,
    cart_claim_end,
    cart_claim_read,
    ext_cart,
    cart_seq,
    line_owner,
    user_cart,
    count_in_window,
    login_attempt_begin,
    login_attempt_end,
    catalog_replace,
    catalog_read,
);

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

    #[test]
    fn the_library_and_its_functions_are_named_by_its_text() {
        let scripts = Scripts::new();
        let suffix = scripts.cart_add.0.strip_prefix("cart_add_").unwrap();
        assert_eq!(suffix.len(), 12);
        assert!(
            scripts
                .library
                .starts_with(&format!("#!lua name=trolley_{suffix}\n"))
        );
        assert!(
            scripts
                .library
                .contains(&format!("redis.register_function('cart_add_{suffix}', "))
        );
        let (_, other) = library(&[("cart_add", "return 1")]);
        assert_ne!(other, suffix);
    }
}
