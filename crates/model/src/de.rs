//! Deserialisation of the alert types in one pass, unknown fields kept.
//!
//! `#[serde(flatten)]` would buffer every object into serde's internal `Content` tree and then
//! deserialise the struct from that copy; at ~40% of the parse time of an alert with evidence
//! that was the largest single cost (benches/parse.rs). These visitors read each key once:
//! known keys go straight to their field, anything else into `extra` as a `Value`.
//! Behaviour matches the derive: JSON objects only, `null` = absent, a known key given twice is
//! an error, the last duplicate of an unknown key wins.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

/// An object key, borrowed from the input when it holds no escapes.
pub(crate) struct Key<'de>(pub Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// An integer, a numeric string, or null: Defender documents `incidentId` as a Long, and one
/// mistyped field must not make a whole alert unforwardable.
pub(crate) struct LenientI64(pub Option<i64>);

impl<'de> Deserialize<'de> for LenientI64 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = LenientI64;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an integer, a numeric string or null")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<LenientI64, E> {
                Ok(LenientI64(Some(v)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<LenientI64, E> {
                i64::try_from(v)
                    .map(|v| LenientI64(Some(v)))
                    .map_err(|_| E::custom(format!("integer {v} out of range")))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<LenientI64, E> {
                s.trim().parse().map(|v| LenientI64(Some(v))).map_err(|_| {
                    E::custom(format!(
                        "expected an integer, got {:?}",
                        s.chars().take(40).collect::<String>()
                    ))
                })
            }
            fn visit_unit<E: de::Error>(self) -> Result<LenientI64, E> {
                Ok(LenientI64(None))
            }
            fn visit_none<E: de::Error>(self) -> Result<LenientI64, E> {
                Ok(LenientI64(None))
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<LenientI64, D::Error> {
                d.deserialize_any(V)
            }
        }
        d.deserialize_option(V)
    }
}

impl From<LenientI64> for Option<i64> {
    fn from(v: LenientI64) -> Self {
        v.0
    }
}

/// `impl Deserialize` for a struct of optional fields plus `extra: Map<String, Value>`.
/// Each field is `name: "jsonKey" => Type`, where `Type` deserialises and converts `Into`
/// the field's type.
macro_rules! deserialize_keeping_unknown {
    ($ty:ident { $($field:ident : $key:literal => $via:ty),* $(,)? }) => {
        impl<'de> ::serde::Deserialize<'de> for $ty {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> ::serde::de::Visitor<'de> for V {
                    type Value = $ty;
                    fn expecting(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                        f.write_str(concat!("a JSON object (", stringify!($ty), ")"))
                    }
                    fn visit_map<A: ::serde::de::MapAccess<'de>>(
                        self,
                        mut map: A,
                    ) -> Result<$ty, A::Error> {
                        let mut out = $ty::default();
                        $(let mut $field = false;)*
                        while let Some($crate::de::Key(key)) = map.next_key()? {
                            match key.as_ref() {
                                $($key => {
                                    if ::std::mem::replace(&mut $field, true) {
                                        return Err(<A::Error as ::serde::de::Error>::duplicate_field($key));
                                    }
                                    out.$field = map.next_value::<$via>()?.into();
                                })*
                                _ => {
                                    let v: ::serde_json::Value = map.next_value()?;
                                    out.extra.insert(key.into_owned(), v);
                                }
                            }
                        }
                        Ok(out)
                    }
                }
                d.deserialize_map(V)
            }
        }
    };
}
pub(crate) use deserialize_keeping_unknown;
