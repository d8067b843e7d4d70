//! Duplicate-key detection for JSON text that is relayed verbatim.
//!
//! JSON parsers disagree about an object with the same key twice: serde rejects a duplicate
//! known field, `serde_json::Value` and a browser's `JSON.parse` keep the last one. A frame like
//! `{"type":"offer","sdp":"v=0","type":"partner_left"}` would reach a JavaScript client as a
//! forged `partner_left`. Frames the server passes on byte for byte (the simple room protocol)
//! are therefore checked here first, at every depth, with keys compared after unescaping
//! (`"ty\u0070e"` is `"type"`).

use std::collections::HashSet;
use std::fmt;

use serde::Deserializer;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};

use crate::codec::DecodeError;

/// Check that no object in `text` (a JSON document) has the same key twice.
pub fn check_unique_keys(text: &str) -> Result<(), DecodeError> {
    let mut de = serde_json::Deserializer::from_str(text);
    de.deserialize_any(UniqueVisitor).map_err(|e| DecodeError::Malformed(e.to_string()))?;
    de.end().map_err(|e| DecodeError::Malformed(e.to_string()))
}

/// Walks any JSON value, failing on the first object with a repeated key.
struct UniqueVisitor;

impl<'de> DeserializeSeed<'de> for UniqueVisitor {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for UniqueVisitor {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(UniqueVisitor)?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key) {
                return Err(de::Error::custom("an object has the same key twice"));
            }
            map.next_value_seed(UniqueVisitor)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_formed_frames_pass() {
        for text in [
            r#"{"type":"offer","offer":{"type":"offer","sdp":"v=0"},"room":"r"}"#,
            r#"{"type":"candidate","candidate":{"candidate":"c","sdpMid":"0","sdpMLineIndex":0}}"#,
            r#"{"a":[{"x":1},{"x":2}],"b":null,"c":true,"d":-1.5}"#,
        ] {
            assert_eq!(check_unique_keys(text), Ok(()), "{text}");
        }
    }

    #[test]
    fn a_repeated_key_at_any_depth_is_refused() {
        for text in [
            r#"{"type":"offer","sdp":"v=0","type":"partner_left","reason":"skipped"}"#,
            r#"{"type":"offer","offer":{"sdp":"a","sdp":"b"}}"#,
            r#"{"type":"candidate","x":[{"k":1,"k":2}]}"#,
            r#"{"type":"offer","ty\u0070e":"chat"}"#,
        ] {
            assert!(matches!(check_unique_keys(text), Err(DecodeError::Malformed(_))), "{text}");
        }
    }

    #[test]
    fn trailing_garbage_is_refused() {
        assert!(check_unique_keys(r#"{"a":1} {"a":2}"#).is_err());
    }
}
