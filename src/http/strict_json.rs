//! JSON parsed strictly: an object with the same key twice is refused, not
//! resolved by "last one wins" (a proxy, WAF or audit log that reads the first
//! key would see another request than the one trolley applies); and a number is
//! an integer exactly when its text names one (`2`, `2.0`, `2e0`), never because
//! it rounds to one as a float (`0.9999999999999999999` is no integer).

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value, value::RawValue};

/// A JSON value whose objects never repeat a key.
struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor)
    }
}

/// Visits an object or an array; each member is taken as its raw text and
/// converted by [`value_of`], so a number is judged by what it says.
struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Strict;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object or array")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Strict, A::Error> {
        let mut items = Vec::new();
        while let Some(raw) = seq.next_element::<&RawValue>()? {
            items.push(value_of(raw).map_err(de::Error::custom)?);
        }
        Ok(Strict(Value::Array(items)))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Strict, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let raw = map.next_value::<&RawValue>()?;
            let value = value_of(raw).map_err(de::Error::custom)?;
            if object.insert(key.clone(), value).is_some() {
                return Err(de::Error::custom(format!("duplicate key \"{key}\"")));
            }
        }
        Ok(Strict(Value::Object(object)))
    }
}

/// The value of one JSON text already checked for syntax: objects and arrays
/// strictly, a number integral in its text as an integer (when it fits 64 bits),
/// anything else as serde_json reads it.
fn value_of(raw: &RawValue) -> Result<Value, serde_json::Error> {
    let text = raw.get();
    match text.as_bytes().first() {
        Some(b'{' | b'[') => serde_json::from_str::<Strict>(text).map(|Strict(value)| value),
        Some(b'-' | b'0'..=b'9') => Ok(match exact_integer(text) {
            Some(n) if i64::try_from(n).is_ok() => Value::from(n as i64),
            Some(n) if u64::try_from(n).is_ok() => Value::from(n as u64),
            // A fraction, or an integer past 64 bits: a float, which no
            // integer field takes.
            _ => serde_json::from_str(text)?,
        }),
        _ => serde_json::from_str(text),
    }
}

/// The integer a JSON number's text names exactly (`-12`, `2.0`, `25e-1` is
/// not, `2.5e1` is 25), if it names one within `i128`.
fn exact_integer(text: &str) -> Option<i128> {
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(at) => (&unsigned[..at], unsigned[at + 1..].parse::<i64>().ok()?),
        None => (unsigned, 0),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    // The digits with the point at the end, and the power of ten they carry.
    let digits = format!("{whole}{fraction}");
    let digits = digits.trim_start_matches('0');
    let significant = digits.trim_end_matches('0');
    let scale = exponent
        .checked_sub(i64::try_from(fraction.len()).ok()?)?
        .checked_add(i64::try_from(digits.len() - significant.len()).ok()?)?;
    if significant.is_empty() {
        return Some(0);
    }
    if scale < 0 {
        return None;
    }
    let magnitude = significant
        .parse::<i128>()
        .ok()?
        .checked_mul(10i128.checked_pow(u32::try_from(scale).ok()?)?)?;
    Some(if negative { -magnitude } else { magnitude })
}

/// Parses a body that must be one JSON value with no repeated object key.
pub(crate) fn parse(bytes: &[u8]) -> Result<Value, serde_json::Error> {
    value_of(serde_json::from_slice::<&RawValue>(bytes)?)
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn a_repeated_key_is_refused_at_any_depth() {
        assert!(parse(br#"{"productId": 1, "quantity": 2}"#).is_ok());
        assert!(parse(br#"{"productId": 1, "productId": 2}"#).is_err());
        assert!(parse(br#"{"a": [{"b": 1, "b": 1}]}"#).is_err());
        assert!(parse(br#"{"a": {"b": 1}, "c": {"b": 1}}"#).is_ok());
        assert_eq!(
            parse(br#"{"n": 18446744073709551615}"#).expect("u64")["n"].as_u64(),
            Some(u64::MAX)
        );
    }

    #[test]
    fn a_number_is_an_integer_exactly_when_its_text_names_one() {
        for (text, integer) in [
            ("2", Some(2)),
            ("2.0", Some(2)),
            ("2e0", Some(2)),
            ("2.50E1", Some(25)),
            ("-3", Some(-3)),
            ("-0.0", Some(0)),
            ("1e2", Some(100)),
            ("0.9999999999999999999", None),
            ("1.0000000000000001", None),
            ("25e-1", None),
            ("2.5", None),
            ("123456789012345678901234567890", None),
        ] {
            let body = parse(format!(r#"{{"n": {text}}}"#).as_bytes()).expect(text);
            assert_eq!(body["n"].as_i64(), integer, "{text}");
            assert!(body["n"].is_number(), "{text}");
        }
        assert_eq!(parse(b"[1.50, {\"a\": 7e0}]").expect("nested")[1]["a"], 7);
        // Out of a float's range, as serde_json says.
        assert!(parse(br#"{"n": 1e400}"#).is_err());
    }
}
