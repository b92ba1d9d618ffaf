//! Lenient decoding: an alert with odd but real content is read, repaired where it must be, and
//! marked, never skipped.
//!
//! - bytes that are not UTF-8 are decoded lossily (U+FFFD for each bad sequence);
//! - a lone UTF-16 surrogate escape (`"\ud800"`, a Windows file name) becomes `\ufffd`;
//! - a known field of an unexpected JSON type (`"title": 12345`, `"evidence": {…}`) is kept as it
//!   came in `extra` (so the JSON body shows it unchanged) and, where the field is text, as text
//!   in the typed field (so the formats show it).
//!
//! Each repair is recorded in [`Alert::repairs`]; the formats turn that into a searchable marker.

use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt;

use crate::alert::Alert;
use crate::cursor::{UNREADABLE_KEY_PREFIX, Unreadable, VersionKey};
use crate::source::ApiAlert;
use crate::timestamp::Timestamp;

/// One kind of repair made while reading an alert.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Repair {
    /// Bytes that are not UTF-8 were replaced by U+FFFD.
    InvalidUtf8,
    /// A lone surrogate escape was replaced by U+FFFD.
    LoneSurrogate,
    /// A known field had an unexpected JSON type; its original value is kept in `extra`.
    Type(&'static str),
}

impl fmt::Display for Repair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Repair::InvalidUtf8 => f.write_str("utf8"),
            Repair::LoneSurrogate => f.write_str("surrogate"),
            Repair::Type(key) => write!(f, "type:{key}"),
        }
    }
}

/// The repairs of one alert as one marker value: `surrogate,type:title` (sorted, no spaces, so
/// it is safe in every format and easy to search for).
pub fn marker(repairs: &[Repair]) -> String {
    let mut r: Vec<&Repair> = repairs.iter().collect();
    r.sort();
    r.dedup();
    r.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

thread_local! {
    /// Repairs noted by the visitors of the alert being parsed on this thread (`None` when no
    /// [`parse_alert`] is running: a plain `serde_json::from_str` records nothing).
    static NOTES: RefCell<Option<Vec<Repair>>> = const { RefCell::new(None) };
}

pub(crate) fn note(r: Repair) {
    NOTES.with(|n| {
        if let Some(v) = n.borrow_mut().as_mut()
            && !v.contains(&r)
        {
            v.push(r);
        }
    });
}

/// Parses one MDE alert element leniently (see the module docs); `Err` only for bytes that are
/// not a JSON object at all (a syntax error, a duplicate known field, an array…).
pub fn parse_alert(bytes: &[u8]) -> Result<Alert, serde_json::Error> {
    parse_lenient(bytes)
}

/// [`parse_alert`] for either source's alert type.
pub fn parse_lenient<A: ApiAlert>(bytes: &[u8]) -> Result<A, serde_json::Error> {
    let mut repairs = Vec::new();
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => Cow::Borrowed(t),
        Err(_) => {
            repairs.push(Repair::InvalidUtf8);
            String::from_utf8_lossy(bytes)
        }
    };
    let text = match fix_lone_surrogates(&text) {
        Some(fixed) => {
            repairs.push(Repair::LoneSurrogate);
            Cow::Owned(fixed)
        }
        None => text,
    };
    NOTES.with(|n| *n.borrow_mut() = Some(Vec::new()));
    let parsed = serde_json::from_str::<A>(&text);
    let noted = NOTES.with(|n| n.borrow_mut().take()).unwrap_or_default();
    let mut alert = parsed?;
    repairs.extend(noted);
    alert.set_repairs(repairs);
    Ok(alert)
}

/// Replaces every `\uXXXX` escape that is a lone surrogate with `\ufffd`; `None` when there is
/// none (the common case costs one scan for backslashes). Outside strings a backslash is a
/// syntax error anyway, so escapes need no string tracking: `\\` is skipped as a pair.
pub fn fix_lone_surrogates(text: &str) -> Option<String> {
    let b = text.as_bytes();
    // Fast path (nearly every alert): no `\uD8xx`–`\uDFxx` escape at all, found with SIMD.
    let surrogate_like = |at: usize| {
        matches!(b.get(at + 2), Some(b'd' | b'D'))
            && matches!(b.get(at + 3), Some(b'8'..=b'9' | b'a'..=b'f' | b'A'..=b'F'))
    };
    if !memchr::memmem::find_iter(b, b"\\u").any(surrogate_like) {
        return None;
    }
    let hex = |at: usize| -> Option<u16> {
        let s = text.get(at..at + 4)?;
        u16::from_str_radix(s, 16).ok()
    };
    let is_u_escape = |at: usize| b.get(at) == Some(&b'\\') && b.get(at + 1) == Some(&b'u');
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut i = 0;
    while let Some(k) = b[i..].iter().position(|&c| c == b'\\') {
        i += k;
        if b.get(i + 1) != Some(&b'u') {
            i += 2;
            continue;
        }
        let Some(unit) = hex(i + 2) else {
            i += 2;
            continue;
        };
        let lone = match unit {
            0xD800..=0xDBFF => {
                let low = is_u_escape(i + 6)
                    .then(|| hex(i + 8))
                    .flatten()
                    .filter(|l| (0xDC00..=0xDFFF).contains(l));
                if low.is_some() {
                    i += 12;
                    continue;
                }
                true
            }
            0xDC00..=0xDFFF => true,
            _ => false,
        };
        if lone {
            let o = out.get_or_insert_with(|| String::with_capacity(text.len()));
            o.push_str(&text[copied..i]);
            o.push_str("\\ufffd");
            copied = i + 6;
        }
        i += 6;
    }
    let mut o = out?;
    o.push_str(&text[copied..]);
    Some(o)
}

/// Builds the [`Unreadable`] event of an element that [`parse_alert`] refused: id and
/// `lastUpdateTime` recovered from the raw bytes where they can be, the raw text cut to
/// [`Unreadable::MAX_RAW`]. `fallback_time` keys it in the dedup set when no time is readable.
pub fn unreadable(bytes: &[u8], error: String, fallback_time: Timestamp) -> Unreadable {
    unreadable_of::<Alert>(bytes, error, fallback_time)
}

/// [`unreadable`] for an element of source `A`'s API: the time is recovered from
/// [`ApiAlert::UPDATE_TIME_KEY`].
pub fn unreadable_of<A: ApiAlert>(
    bytes: &[u8],
    error: String,
    fallback_time: Timestamp,
) -> Unreadable {
    let text = String::from_utf8_lossy(bytes);
    let id = recover_string_field(&text, "id");
    let last_update_time =
        recover_string_field(&text, A::UPDATE_TIME_KEY).and_then(|t| Timestamp::parse(&t).ok());
    let tag = match &id {
        Some(id) => id.clone(),
        None => {
            use std::hash::{DefaultHasher, Hash, Hasher};
            let mut h = DefaultHasher::new();
            bytes.hash(&mut h);
            format!("#{:016x}", h.finish())
        }
    };
    let key = VersionKey {
        id: format!("{UNREADABLE_KEY_PREFIX}{tag}"),
        last_update_time: last_update_time.unwrap_or(fallback_time),
    };
    let mut end = text.len().min(Unreadable::MAX_RAW);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    Unreadable {
        id,
        last_update_time,
        error,
        raw: text[..end].to_owned(),
        raw_len: bytes.len(),
        key,
    }
}

/// The string value of `key` among the top-level members of a (possibly broken) JSON object:
/// everything before the break is still well formed, and Defender puts `id` first.
pub fn recover_string_field(text: &str, key: &str) -> Option<String> {
    let b = text.as_bytes();
    let string_end = |start: usize| -> Option<usize> {
        let mut i = start + 1;
        while i < b.len() {
            match b[i] {
                b'\\' => i += 2,
                b'"' => return Some(i + 1),
                _ => i += 1,
            }
        }
        None
    };
    let skip_ws = |mut i: usize| {
        while b.get(i).is_some_and(u8::is_ascii_whitespace) {
            i += 1;
        }
        i
    };
    let mut depth = 0u32;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'{' | b'[' => depth += 1,
            b'}' | b']' => depth = depth.saturating_sub(1),
            b'"' => {
                let end = string_end(i)?;
                let colon = skip_ws(end);
                if depth == 1
                    && b.get(colon) == Some(&b':')
                    && serde_json::from_str::<String>(&text[i..end])
                        .ok()
                        .as_deref()
                        == Some(key)
                {
                    let v = skip_ws(colon + 1);
                    if b.get(v) != Some(&b'"') {
                        return None;
                    }
                    return serde_json::from_str(&text[v..string_end(v)?]).ok();
                }
                i = end;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn lone_surrogates_become_replacement_characters() {
        let cases = [
            (r#""a\ud800b""#, Some(r#""a\ufffdb""#)),
            (r#""\udc00""#, Some(r#""\ufffd""#)),
            (r#""\ud83d\ude00""#, None),
            (r#""\ud83d\ud83d\ude00""#, Some(r#""\ufffd\ud83d\ude00""#)),
            (r#""\\ud800""#, None),
            (r#""\ud800"#, Some(r#""\ufffd"#)),
            (r#""\u12""#, None),
            ("no escapes", None),
        ];
        for (input, want) in cases {
            assert_eq!(fix_lone_surrogates(input).as_deref(), want, "{input}");
        }
    }

    #[test]
    fn odd_alerts_parse_with_their_repairs() {
        let a = parse_alert(b"{\"id\":\"x\",\"title\":\"C:\\\\f\\ud800.exe\"}").unwrap();
        assert_eq!(a.title.as_deref(), Some("C:\\f\u{fffd}.exe"));
        assert_eq!(a.repairs, vec![Repair::LoneSurrogate]);
        let a = parse_alert(b"{\"id\":\"x\",\"title\":\"caf\xe9\"}").unwrap();
        assert_eq!(a.title.as_deref(), Some("caf\u{fffd}"));
        assert_eq!(marker(&a.repairs), "utf8");
        let a = parse_alert(br#"{"id":"x","title":12345,"evidence":{"sha1":"ab"}}"#).unwrap();
        assert_eq!(a.title.as_deref(), Some("12345"));
        assert_eq!(a.extra["title"], serde_json::json!(12345));
        assert_eq!(marker(&a.repairs), "type:evidence,type:title");
        let clean = parse_alert(br#"{"id":"x","title":"t"}"#).unwrap();
        assert!(clean.repairs.is_empty());
        assert!(parse_alert(br#"{"id":"x","broken":tru}"#).is_err());
    }

    #[test]
    fn unreadable_elements_keep_what_can_be_recovered() {
        let t = Timestamp::parse("2026-01-01T00:00:00Z").unwrap();
        let raw = br#"{"evidence":[{"id":"no"}],"i\u0064":"da1","lastUpdateTime":"2026-11-20T08:14:05.3966667Z","broken":tru}"#;
        let u = unreadable(raw, "value[3]: expected value".into(), t);
        assert_eq!(u.id.as_deref(), Some("da1"));
        assert_eq!(
            u.last_update_time.map(|t| t.to_string()).as_deref(),
            Some("2026-11-20T08:14:05.3966667Z")
        );
        assert_eq!(u.key.id, "!unreadable:da1");
        assert_eq!(u.raw.as_bytes(), raw);
        let anon = unreadable(b"{\"title\":\"x\"", "cut".into(), t);
        assert_eq!((anon.id, anon.key.last_update_time), (None, t));
        assert!(anon.key.id.starts_with("!unreadable:#"));
        let big = vec![b'x'; Unreadable::MAX_RAW + 10];
        let u = unreadable(&big, "e".into(), t);
        assert_eq!((u.raw.len(), u.raw_len), (Unreadable::MAX_RAW, big.len()));
    }

    proptest! {
        /// Every valid character survives; each lone surrogate becomes exactly one U+FFFD.
        #[test]
        fn repair_keeps_every_valid_character(
            parts in proptest::collection::vec(("\\PC{0,6}", prop::option::of(0xD800u16..0xE000)), 0..8),
        ) {
            let mut json = String::from("\"");
            let mut want = String::new();
            for (text, unit) in &parts {
                let quoted = serde_json::to_string(text).unwrap();
                json.push_str(&quoted[1..quoted.len() - 1]);
                want.push_str(text);
                // A separator after each unit, so two generated units never form a valid pair.
                if let Some(u) = unit {
                    json.push_str(&format!("\\u{u:04x}-"));
                    want.push_str("\u{fffd}-");
                }
            }
            json.push('"');
            let fixed = fix_lone_surrogates(&json).unwrap_or(json.clone());
            let got: String = serde_json::from_str(&fixed).unwrap();
            prop_assert_eq!(got, want);
        }
    }
}
