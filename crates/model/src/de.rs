//! Deserialisation of the alert types in one pass, unknown fields kept.
//!
//! `#[serde(flatten)]` would buffer every object into serde's internal `Content` tree and then
//! deserialise the struct from that copy; at ~40% of the parse time of an alert with evidence
//! that was the largest single cost (benches/parse.rs). These visitors read each key once:
//! known keys go straight to their field, anything else into `extra` as a `Value`.
//! Behaviour matches the derive (JSON objects only, `null` = absent, a known key given twice is
//! an error, the last duplicate of an unknown key wins) except that a known field of an
//! unexpected type is kept as it came instead of failing the alert (crate::repair).

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use serde_json::Value;

use crate::timestamp::Timestamp;

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

/// A decoded field: its typed value, and the original JSON when it had an unexpected type (then
/// kept in `extra` under the field's key, and the alert is marked repaired).
pub(crate) trait Field<T> {
    fn into_parts(self) -> (T, Option<Value>);
}

/// Implements the scalar visitor methods of a lenient field: each builds the original `Value`
/// and hands it to `$odd` (`fn(Value) -> Self`).
macro_rules! odd_scalars {
    ($odd:expr) => {
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
            Ok($odd(Value::Bool(v)))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok($odd(Value::from(v)))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok($odd(Value::from(v)))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            Ok($odd(Value::from(v)))
        }
    };
}

/// Implements `visit_seq` / `visit_map` of a lenient field as "keep the original".
macro_rules! odd_containers {
    ($odd:expr) => {
        fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
            Value::deserialize(de::value::SeqAccessDeserializer::new(seq)).map($odd)
        }
        fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            Value::deserialize(de::value::MapAccessDeserializer::new(map)).map($odd)
        }
    };
}

/// The text a value of an unexpected type shows in a format's field.
fn as_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A text field: a string, or anything else kept as it came and shown as its JSON text.
pub(crate) struct LenientString(Option<String>, Option<Value>);

impl<'de> Deserialize<'de> for LenientString {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        fn odd(v: Value) -> LenientString {
            LenientString(Some(as_text(&v)), Some(v))
        }
        impl<'de> Visitor<'de> for V {
            type Value = LenientString;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<LenientString, E> {
                Ok(LenientString(Some(v.to_owned()), None))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<LenientString, E> {
                Ok(LenientString(Some(v), None))
            }
            fn visit_unit<E: de::Error>(self) -> Result<LenientString, E> {
                Ok(LenientString(None, None))
            }
            odd_scalars!(odd);
            odd_containers!(odd);
        }
        d.deserialize_any(V)
    }
}

impl Field<Option<String>> for LenientString {
    fn into_parts(self) -> (Option<String>, Option<Value>) {
        (self.0, self.1)
    }
}

/// A timestamp field: an RFC 3339 string; anything else (or an unparseable string) is kept as
/// it came and the typed field stays empty.
pub(crate) struct LenientTime(Option<Timestamp>, Option<Value>);

impl<'de> Deserialize<'de> for LenientTime {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        fn odd(v: Value) -> LenientTime {
            LenientTime(None, Some(v))
        }
        impl<'de> Visitor<'de> for V {
            type Value = LenientTime;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a timestamp")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<LenientTime, E> {
                Ok(match Timestamp::parse(v) {
                    Ok(t) => LenientTime(Some(t), None),
                    Err(_) => odd(Value::String(v.to_owned())),
                })
            }
            fn visit_unit<E: de::Error>(self) -> Result<LenientTime, E> {
                Ok(LenientTime(None, None))
            }
            odd_scalars!(odd);
            odd_containers!(odd);
        }
        d.deserialize_any(V)
    }
}

impl Field<Option<Timestamp>> for LenientTime {
    fn into_parts(self) -> (Option<Timestamp>, Option<Value>) {
        (self.0, self.1)
    }
}

/// An integer, a numeric string, or null: Defender documents `incidentId` as a Long. Anything
/// else (a float, text, an out-of-range number) is kept as it came.
pub(crate) struct LenientI64(Option<i64>, Option<Value>);

impl<'de> Deserialize<'de> for LenientI64 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        fn odd(v: Value) -> LenientI64 {
            LenientI64(None, Some(v))
        }
        impl<'de> Visitor<'de> for V {
            type Value = LenientI64;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an integer, a numeric string or null")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<LenientI64, E> {
                Ok(LenientI64(Some(v), None))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<LenientI64, E> {
                Ok(match i64::try_from(v) {
                    Ok(n) => LenientI64(Some(n), None),
                    Err(_) => odd(Value::from(v)),
                })
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<LenientI64, E> {
                Ok(odd(Value::from(v)))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<LenientI64, E> {
                Ok(odd(Value::Bool(v)))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<LenientI64, E> {
                // A numeric string is the documented type in another spelling: not a repair.
                Ok(match s.trim().parse() {
                    Ok(n) => LenientI64(Some(n), None),
                    Err(_) => odd(Value::String(s.to_owned())),
                })
            }
            fn visit_unit<E: de::Error>(self) -> Result<LenientI64, E> {
                Ok(LenientI64(None, None))
            }
            odd_containers!(odd);
        }
        d.deserialize_any(V)
    }
}

impl Field<Option<i64>> for LenientI64 {
    fn into_parts(self) -> (Option<i64>, Option<Value>) {
        (self.0, self.1)
    }
}

/// A list of strings (`mitreTechniques`); a lone string or odd elements are kept as they came
/// and shown as text.
pub(crate) struct LenientStrings(Option<Vec<String>>, Option<Value>);

impl<'de> Deserialize<'de> for LenientStrings {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match Value::deserialize(d)? {
            Value::Null => LenientStrings(None, None),
            Value::Array(items) if items.iter().all(Value::is_string) => {
                LenientStrings(Some(items.into_iter().map(|v| as_text(&v)).collect()), None)
            }
            Value::Array(items) => LenientStrings(
                Some(items.iter().map(as_text).collect()),
                Some(Value::Array(items)),
            ),
            other => LenientStrings(Some(vec![as_text(&other)]), Some(other)),
        })
    }
}

impl Field<Option<Vec<String>>> for LenientStrings {
    fn into_parts(self) -> (Option<Vec<String>>, Option<Value>) {
        (self.0, self.1)
    }
}

/// A nested object (`relatedUser`); anything else is kept as it came.
pub(crate) struct LenientObject<T>(Option<T>, Option<Value>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for LenientObject<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = LenientObject<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                T::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(|t| LenientObject(Some(t), None))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                Value::deserialize(de::value::SeqAccessDeserializer::new(seq))
                    .map(|v| LenientObject(None, Some(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(LenientObject(None, Some(Value::String(v.to_owned()))))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(LenientObject(None, None))
            }
            odd_scalars!(|v| LenientObject(None, Some(v)));
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

impl<T> Field<Option<T>> for LenientObject<T> {
    fn into_parts(self) -> (Option<T>, Option<Value>) {
        (self.0, self.1)
    }
}

/// One element of a list of objects: the object, or the original of anything else.
enum Item<T> {
    Ok(T),
    Odd(Value),
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Item<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match LenientObject::<T>::deserialize(d)? {
            LenientObject(Some(t), _) => Item::Ok(t),
            LenientObject(None, odd) => Item::Odd(odd.unwrap_or(Value::Null)),
        })
    }
}

/// A list of objects (`evidence`, `comments`, `loggedOnUsers`). A lone object is read as a
/// one-element list; odd elements or another type are kept as they came (the readable objects
/// still feed the formats' fields).
pub(crate) struct LenientList<T>(Option<Vec<T>>, Option<Value>);

impl<'de, T: de::DeserializeOwned + serde::Serialize> Deserialize<'de> for LenientList<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: de::DeserializeOwned + serde::Serialize> Visitor<'de> for V<T> {
            type Value = LenientList<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array of objects")
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut good = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
                let mut odd: Vec<(usize, Value)> = Vec::new();
                let mut n = 0;
                while let Some(item) = seq.next_element::<Item<T>>()? {
                    match item {
                        Item::Ok(t) => good.push(t),
                        Item::Odd(v) => odd.push((n, v)),
                    }
                    n += 1;
                }
                if odd.is_empty() {
                    return Ok(LenientList(Some(good), None));
                }
                // Rebuild the list as it came, in order, for the lossless JSON body.
                let mut original = Vec::with_capacity(n);
                let (mut g, mut o) = (good.iter(), odd.into_iter().peekable());
                for i in 0..n {
                    if o.peek().is_some_and(|(at, _)| *at == i) {
                        original.extend(o.next().map(|(_, v)| v));
                    } else if let Some(t) = g.next() {
                        original.push(serde_json::to_value(t).unwrap_or(Value::Null));
                    }
                }
                Ok(LenientList(Some(good), Some(Value::Array(original))))
            }
            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                let v = Value::deserialize(de::value::MapAccessDeserializer::new(map))?;
                let one = T::deserialize(&v).ok();
                Ok(LenientList(one.map(|t| vec![t]), Some(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(LenientList(None, Some(Value::String(v.to_owned()))))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(LenientList(None, None))
            }
            odd_scalars!(|v| LenientList(None, Some(v)));
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

impl<T> Field<Option<Vec<T>>> for LenientList<T> {
    fn into_parts(self) -> (Option<Vec<T>>, Option<Value>) {
        (self.0, self.1)
    }
}

/// Declares a struct of optional fields plus `extra: Map<String, Value>` (unknown fields, kept
/// and serialised back after the named ones) and its one-pass lenient `Deserialize`, from one
/// list: `pub name: Option<T> = "jsonKey" => Via,` where `Via` deserialises leniently and
/// implements [`Field`] for `Option<T>`. The JSON key is both the serialised name and the key
/// read, so a field can no longer be declared in one place and forgotten in the other.
/// Fields after `extra { … }` are plain (not read, e.g. `repairs`) and must say how serde treats
/// them.
macro_rules! lenient_struct {
    (
        $(#[$meta:meta])*
        pub struct $ty:ident {
            $($(#[$fmeta:meta])* pub $field:ident : $fty:ty = $key:literal => $via:ty,)*
        }
        $(extra { $($(#[$ometa:meta])* pub $ofield:ident : $oty:ty,)* })?
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Default, PartialEq, ::serde::Serialize)]
        pub struct $ty {
            $(
                $(#[$fmeta])*
                #[serde(rename = $key, skip_serializing_if = "Option::is_none")]
                pub $field: $fty,
            )*
            /// Fields this model does not name, kept verbatim; also the original of a known
            /// field that came with an unexpected type (crate::repair).
            #[serde(flatten)]
            pub extra: ::serde_json::Map<String, ::serde_json::Value>,
            $($($(#[$ometa])* pub $ofield: $oty,)*)?
        }

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
                                    let (v, odd) = $crate::de::Field::into_parts(map.next_value::<$via>()?);
                                    out.$field = v;
                                    if let Some(original) = odd {
                                        // Kept as it came: `extra` is serialised after the
                                        // typed fields, so `write_json` shows this.
                                        $crate::repair::note($crate::repair::Repair::Type($key));
                                        out.extra.insert(key.into_owned(), original);
                                    }
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
pub(crate) use lenient_struct;
