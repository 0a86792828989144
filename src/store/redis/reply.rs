//! Parsing what the scripts return. A reply in any other shape is
//! [`StoreError::Corrupt`]: stored data or a script this version did not write.

use std::str::FromStr;

use rust_decimal::Decimal;

use crate::{
    cart::{
        change::{Refusal, Version, Written},
        model::{Line, LineId, ProductId},
        rules::{LineOutcome, MergeReport},
    },
    store::{StoreError, StoreResult},
};

pub(super) fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

/// What one unit of a line's `added` is in milliseconds: a stored line keeps
/// whole seconds, a script's reply milliseconds (prelude.lua's `decode_line`).
#[derive(Clone, Copy)]
enum Added {
    Seconds = 1000,
    Millis = 1,
}

/// Parses a line: its product and the rest of a stored value,
/// `line id|quantity|price|added`.
fn parse_line(product: &str, value: &str, added_in: Added) -> StoreResult<Line> {
    let bad = || corrupt(format!("line of product {product}"));
    let mut parts = value.split('|');
    let (Some(id), Some(quantity), Some(price), Some(added), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(bad());
    };
    Ok(Line {
        id: LineId(id.parse().map_err(|_| bad())?),
        product_id: ProductId(product.parse().map_err(|_| bad())?),
        quantity: quantity.parse().map_err(|_| bad())?,
        price: Decimal::from_str(price).map_err(|_| bad())?,
        added_at_ms: added
            .parse::<i64>()
            .map_err(|_| bad())?
            .saturating_mul(added_in as i64),
    })
}

/// The lines of a cart hash read as a flat field/value array, as stored: a
/// line's field is `l:<product id>`, its value `line id|quantity|price|added`.
pub(super) fn parse_lines(fields: &[String]) -> StoreResult<Vec<Line>> {
    fields
        .chunks_exact(2)
        .filter_map(|pair| {
            pair[0]
                .strip_prefix("l:")
                .map(|product| parse_line(product, &pair[1], Added::Seconds))
        })
        .collect()
}

/// The version a cart hash read as a flat field/value array holds: the newest of
/// its recent operations (`Version::NONE` for no cart).
pub(super) fn parse_version(fields: &[String]) -> Version {
    fields
        .chunks_exact(2)
        .find(|pair| pair[0] == "v")
        .and_then(|pair| pair[1].split(' ').next().map(str::to_string))
        .map_or_else(Version::none, Version)
}

/// Parses the line at the start of a change's payload: `id, product, quantity,
/// price, added`.
pub(super) fn parse_line_reply(payload: &[String]) -> StoreResult<Line> {
    match payload {
        [id, product, quantity, price, added, ..] => parse_line(
            product,
            &format!("{id}|{quantity}|{price}|{added}"),
            Added::Millis,
        ),
        _ => Err(corrupt("script reply")),
    }
}

/// A cart script's answer that the session copy it was asked to check is
/// stale (`session_is_current` in `lua/prelude.lua`): it read and wrote nothing.
pub(super) fn is_stale_session(reply: &[String]) -> bool {
    matches!(reply, [only] if only == "stale_session")
}

/// A cart script's answer that the cart hash is another session's
/// (`is_foreign` in `lua/prelude.lua`): it read and wrote nothing.
pub(super) fn is_foreign(reply: &[String]) -> bool {
    matches!(reply, [only] if only == "foreign")
}

/// A cart change's reply, `{status, version, payload…}` or a recorded one
/// answered again, `{'replay', status, version, payload…}` (see `write_gate` in
/// `lua/prelude.lua`), with its outcome parsed by `outcome(status, payload)`;
/// `{'stale_session'}` when the served session copy was stale.
pub(super) fn written<T>(
    reply: &[String],
    outcome: impl FnOnce(&str, &[String]) -> StoreResult<T>,
) -> StoreResult<Written<T>> {
    if is_stale_session(reply) {
        return Ok(Written::Refused(Refusal::SessionStale));
    }
    let replayed = reply.first().is_some_and(|status| status == "replay");
    let body = if replayed { &reply[1..] } else { reply };
    let [status, version, payload @ ..] = body else {
        return Err(corrupt("cart change reply"));
    };
    let version = Version(version.clone());
    Ok(match status.as_str() {
        "foreign" => Written::Foreign,
        "merged" => Written::Refused(Refusal::CartMerged),
        "key_reused" => Written::Refused(Refusal::KeyReused),
        "stale" => Written::Refused(Refusal::PreconditionFailed),
        "claimed" => Written::Refused(Refusal::Claimed),
        "again" => Written::AlreadyApplied { version },
        _ => Written::Decided {
            outcome: outcome(status, payload)?,
            version,
            replayed,
        },
    })
}

/// The outcome of `cart_set_quantity.lua` and `cart_remove.lua`.
pub(super) fn line_outcome(status: &str, payload: &[String]) -> StoreResult<LineOutcome> {
    match status {
        "ok" => Ok(LineOutcome::Done(parse_line_reply(payload)?)),
        "missing" => Ok(LineOutcome::NotInCart),
        _ => Err(corrupt("cart script reply")),
    }
}

fn parse_ids(list: &str) -> StoreResult<Vec<LineId>> {
    list.split(',')
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().map(LineId).map_err(|_| corrupt("line id list")))
        .collect()
}

/// Parses the `{'already'}` or `{'merged', moved, combined, clamped, dropped}`
/// reply of `cart_merge.lua` and `cart_absorb.lua`.
pub(super) fn merge_report(reply: &[String]) -> StoreResult<MergeReport> {
    match reply {
        [status] if status == "already" => Ok(MergeReport::already_merged()),
        [status] if status == "claimed" => Ok(MergeReport {
            claimed: true,
            ..MergeReport::default()
        }),
        // The guest cart's number holds another session's cart: nothing of it is
        // this session's to merge, and it is left untouched.
        [status] if status == "foreign" => Ok(MergeReport::default()),
        [status, moved, combined, clamped, dropped] if status == "merged" => Ok(MergeReport {
            already_merged: false,
            lines_moved: moved.parse().map_err(|_| corrupt("merge reply"))?,
            lines_combined: combined.parse().map_err(|_| corrupt("merge reply"))?,
            clamped: parse_ids(clamped)?,
            dropped: parse_ids(dropped)?,
            claimed: false,
        }),
        _ => Err(corrupt("merge reply")),
    }
}
