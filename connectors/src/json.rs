//! JSON bodies straight into [`Value`]s, as `serde_json::from_slice::<Value>` parses them
//! (same values, same key order, a repeated key keeps its first position and its last value),
//! with two allocations fewer per object entry: object keys are interned for the body (the
//! hundred objects of a list share one `Name` per key instead of allocating a `String` and then
//! an `Arc<str>` for each), and each object is allocated at the size of the last object at its
//! depth (lists of objects have one shape) instead of growing.

use std::collections::HashSet;
use std::fmt;

use indexmap::IndexMap;
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::{Name, Value};

/// At most this many distinct keys are interned per body (beyond, keys are allocated as usual,
/// so a body that is a map keyed by ids does not grow the table without bound).
const MAX_INTERNED: usize = 512;

/// Parses a JSON document (the whole slice: trailing characters other than whitespace are an
/// error, as with `serde_json::from_slice`).
pub fn from_slice(bytes: &[u8]) -> serde_json::Result<Value> {
    let mut state = State::default();
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = ValueSeed {
        state: &mut state,
        depth: 0,
    }
    .deserialize(&mut de)?;
    de.end()?;
    Ok(value)
}

#[derive(Default)]
struct State {
    names: HashSet<Name>,
    /// The size of the last object seen at each depth.
    sizes: Vec<usize>,
}

impl State {
    fn name(&mut self, key: &str) -> Name {
        if let Some(name) = self.names.get(key) {
            return name.clone();
        }
        let name = Name::new(key);
        if self.names.len() < MAX_INTERNED {
            self.names.insert(name.clone());
        }
        name
    }
}

struct ValueSeed<'s> {
    state: &'s mut State,
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any valid value")
    }

    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Boolean(v))
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(ValueSeed {
            state: &mut *self.state,
            depth: self.depth + 1,
        })? {
            items.push(item);
        }
        Ok(Value::List(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let depth = self.depth;
        let state = self.state;
        let size = state.sizes.get(depth).copied().unwrap_or(0);
        let mut map: IndexMap<Name, Value> = IndexMap::with_capacity(size);
        while let Some(key) = access.next_key_seed(KeySeed { state: &mut *state })? {
            let value = access.next_value_seed(ValueSeed {
                state: &mut *state,
                depth: depth + 1,
            })?;
            map.insert(key, value);
        }
        if state.sizes.len() <= depth {
            state.sizes.resize(depth + 1, 0);
        }
        if let Some(slot) = state.sizes.get_mut(depth) {
            *slot = map.len();
        }
        Ok(Value::Object(map))
    }
}

struct KeySeed<'s> {
    state: &'s mut State,
}

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = Name;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Name, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_> {
    type Value = Name;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Name, E> {
        Ok(self.state.name(v))
    }

    fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Name, E> {
        std::str::from_utf8(v)
            .map(|s| self.state.name(s))
            .map_err(|_| E::custom("an object key is not UTF-8"))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    #[test]
    fn parses_like_serde_json() {
        for text in [
            r#"[{"userId":1,"id":1,"title":"a\"b\u00e9","body":"x"},{"userId":2,"id":2,"title":"c","body":"y","extra":[1,2.5,-3,true,null,{}]}]"#,
            r#"{"a":1,"b":{"c":[{"d":"e"},{"d":"f","g":1e400}]},"a":2}"#,
            r#"  "text"  "#,
            "18446744073709551615",
            "-9223372036854775808",
            "0.1",
            "[]",
            "{}",
            "null",
        ] {
            let expected: Result<Value, _> = serde_json::from_slice(text.as_bytes());
            let actual = from_slice(text.as_bytes());
            match (expected, actual) {
                (Ok(e), Ok(a)) => {
                    assert_eq!(e, a, "{text}");
                    assert_eq!(e.to_string(), a.to_string(), "{text}");
                }
                (Err(_), Err(_)) => {}
                (e, a) => panic!("{text}: {e:?} vs {a:?}"),
            }
        }
        for bad in ["", "[1,", "{\"a\"}", "[1] x", "{1:2}", "nul"] {
            assert!(from_slice(bad.as_bytes()).is_err(), "{bad}");
            assert!(
                serde_json::from_slice::<Value>(bad.as_bytes()).is_err(),
                "{bad}"
            );
        }
    }
}
