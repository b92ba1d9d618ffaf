//! Strict parsers written from the specifications (shared/reference/formats.md §1, §3, §4),
//! not from our formatters, so tests can check what we send independently. Strict means:
//! anything a lenient receiver would have to guess about (an unescaped `=` in a CEF value, a raw
//! control character, a duplicate key, an unknown escape) is an error, not a best effort.

pub mod cef;
pub mod leef;
pub mod rfc5424;

/// A parse failure and where (byte offset into the input).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at byte {at}: {what}")]
pub struct ParseError {
    pub at: usize,
    pub what: String,
}

pub(crate) fn err<T>(at: usize, what: impl Into<String>) -> Result<T, ParseError> {
    Err(ParseError {
        at,
        what: what.into(),
    })
}

/// Raw CR, LF and NUL are never valid inside one event.
pub(crate) fn reject_controls(s: &str) -> Result<(), ParseError> {
    match s.bytes().position(|b| b == b'\r' || b == b'\n' || b == 0) {
        Some(at) => err(at, "raw CR, LF or NUL inside an event"),
        None => Ok(()),
    }
}
