//! Reading alerts from a file or an API response: NDJSON (one alert per line), an API page
//! `{"value":[...]}`, or a bare JSON array. Each alert is parsed on its own, so one bad alert
//! yields one error that names where it is, and every good alert around it is still returned.

use std::fmt;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::alert::Alert;
use crate::source::ApiAlert;

/// Where in the input a problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    /// 1-based line of an NDJSON file.
    Line(usize),
    /// 0-based index into a page's `value` array (or a bare array).
    Item(usize),
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Line(n) => write!(f, "line {n}"),
            Location::Item(i) => write!(f, "value[{i}]"),
        }
    }
}

/// One alert that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{location}: {message}")]
pub struct InputError {
    pub location: Location,
    pub message: String,
}

#[derive(Deserialize)]
pub(crate) struct Page<'a> {
    #[serde(borrow)]
    value: Vec<&'a RawValue>,
}

/// Parses NDJSON, an API page or a bare array into one result per MDE alert.
pub fn parse_alerts(input: &[u8]) -> Vec<Result<Alert, InputError>> {
    parse_alerts_of(input)
}

/// [`parse_alerts`] for either source's alert type (`parse_alerts_of::<GraphAlert>`).
pub fn parse_alerts_of<A: ApiAlert>(input: &[u8]) -> Vec<Result<A, InputError>> {
    let first = input.iter().find(|b| !b.is_ascii_whitespace()).copied();
    if first == Some(b'[') {
        return match serde_json::from_slice::<Vec<&RawValue>>(input) {
            Ok(items) => parse_items(&items),
            Err(e) => vec![Err(InputError {
                location: Location::Item(0),
                message: format!("not a JSON array of alerts: {e}"),
            })],
        };
    }
    if first == Some(b'{')
        && let Ok(page) = serde_json::from_slice::<Page<'_>>(input)
    {
        return parse_items(&page.value);
    }
    parse_ndjson(input)
}

fn parse_items<A: ApiAlert>(items: &[&RawValue]) -> Vec<Result<A, InputError>> {
    items
        .iter()
        .enumerate()
        .map(|(i, raw)| {
            crate::repair::parse_lenient(raw.get().as_bytes()).map_err(|e| InputError {
                location: Location::Item(i),
                message: describe(&e),
            })
        })
        .collect()
}

fn parse_ndjson<A: ApiAlert>(input: &[u8]) -> Vec<Result<A, InputError>> {
    input
        .split(|&b| b == b'\n')
        .enumerate()
        .filter(|(_, line)| line.iter().any(|b| !b.is_ascii_whitespace()))
        .map(|(i, line)| parse_line(line, Location::Line(i + 1)))
        .collect()
}

/// One NDJSON line (its LF or CRLF, if any, is ignored).
pub(crate) fn parse_line<A: ApiAlert>(line: &[u8], location: Location) -> Result<A, InputError> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    crate::repair::parse_lenient(line).map_err(|e| InputError {
        location,
        message: describe(&e),
    })
}

fn describe(e: &serde_json::Error) -> String {
    match e.classify() {
        serde_json::error::Category::Data => format!("not a valid alert: {e}"),
        _ => format!("malformed JSON: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ndjson_reports_the_bad_line_and_keeps_the_rest() {
        let input =
            b"{\"id\":\"a\"}\n\n{\"id\":\n{\"id\":\"c\",\"id\":\"nope\"}\n{\"id\":\"d\"}\r\n";
        let out = parse_alerts(input);
        assert_eq!(out.len(), 4);
        assert_eq!(out[0].as_ref().unwrap().id.as_deref(), Some("a"));
        assert_eq!(out[1].as_ref().unwrap_err().location, Location::Line(3));
        let e = out[2].as_ref().unwrap_err();
        assert_eq!(e.location, Location::Line(4));
        assert!(e.message.contains("duplicate field `id`"), "{e}");
        assert_eq!(out[3].as_ref().unwrap().id.as_deref(), Some("d"));
    }

    #[test]
    fn invalid_utf8_is_decoded_lossily_and_marked() {
        let out = parse_alerts(b"{\"id\":\"\xff\"}\n{\"id\":\"ok\"}\n");
        let a = out[0].as_ref().unwrap();
        assert_eq!(a.id.as_deref(), Some("\u{fffd}"));
        assert_eq!(a.repairs, vec![crate::Repair::InvalidUtf8]);
        assert!(out[1].is_ok());
    }

    #[test]
    fn api_page_and_bare_array() {
        let page = br#"{"@odata.context":"x","value":[{"id":"a"},[5],{"id":"c"}]}"#;
        let out = parse_alerts(page);
        assert_eq!(out.len(), 3);
        assert_eq!(out[1].as_ref().unwrap_err().location, Location::Item(1));
        let arr = parse_alerts(br#" [{"id":"a"}]"#);
        assert_eq!(arr.len(), 1);
        assert!(arr[0].is_ok());
    }

    #[test]
    fn a_single_alert_object_is_ndjson() {
        let out = parse_alerts(br#"{"id":"only","value":"not-a-page"}"#);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].as_ref().unwrap().id.as_deref(), Some("only"));
    }
}
