//! The three output formats, each a pure function of an alert: no I/O, no clock, no failure.
//!
//! - [`rfc5424`]: RFC 5424 header, structured data with the key fields, MSG = the alert as compact
//!   JSON (lossless) or a one-line summary.
//! - [`leef`]: IBM LEEF 1.0 / 2.0 inside an RFC 5424 message (QRadar).
//! - [`cef`]: ArcSight CEF 0 inside an RFC 5424 message, following Microsoft's Defender→ArcSight
//!   mapping.
//! - `limit`: what is cut, in which order, when a message would exceed `max_message_bytes`.
//! - `text`: escaping and replacement of hostile characters.
//! - `names`: the config / CLI spellings of the choices ([`FormatKind`], [`LeefVersion`], [`MsgBody`]).
//! - [`unreadable`]: the event sent for a page element that cannot be read at all.
//! - [`stream`]: Defender XDR streaming records (one advanced-hunting row per message).
//! - `view`: what the writers need from an alert of either source; `mde` and `graph` say where
//!   each field of an MDE / Graph `alerts_v2` alert goes; [`vendor`]: the LEEF/CEF header
//!   identity.
//!
//! Every message is one line: no raw CR, LF or NUL ever leaves a formatter, and no value can
//! forge a second field or a second event. docs/formats.md maps every field.

pub mod cef;
mod fields;
mod graph;
pub mod leef;
mod limit;
mod mde;
mod names;
pub mod rfc5424;
pub mod stream;
mod text;
pub mod unreadable;
pub mod vendor;
mod view;

use alert_model::stream::{StreamEvent, StreamRecord};
use alert_model::{Alert, AlertRef, GraphAlert, Unreadable};

use view::AlertView;

pub use names::{DEFAULT_LEEF_DELIMITER, FormatKind, UnknownName};

/// The wire format of a destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Rfc5424,
    Leef {
        version: LeefVersion,
        delimiter: char,
    },
    Cef,
}

/// LEEF 1.0 (tab-delimited) or 2.0 (declared delimiter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeefVersion {
    V1,
    V2,
}

/// What RFC 5424 messages carry as MSG.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MsgBody {
    /// The whole alert as compact JSON, unknown fields included: nothing the API sends is lost.
    Json,
    /// A one-line human summary.
    Summary,
}

/// How a destination formats alerts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatOptions {
    pub format: Format,
    /// RFC 5424 HOSTNAME: letters, digits, `.`, `-`, `_` (syslog-ng rejects others).
    pub hostname: String,
    /// Syslog facility 0–23 (default 10, authpriv).
    pub facility: u8,
    /// Private SD-ID `name@PEN` for the RFC 5424 structured data.
    pub sd_id: String,
    pub msg_body: MsgBody,
    /// Hard cap on one message in bytes (before transport framing).
    pub max_message_bytes: usize,
}

/// The smallest cap accepted: RFC 5424 §6.1 makes 480 the size every receiver must take.
pub const MIN_MESSAGE_BYTES: usize = 480;

/// The default SD-ID. 32473 is the documentation PEN (RFC 5612): set `sd_id` to your own
/// organisation's Private Enterprise Number in production (docs/formats.md says why).
pub const DEFAULT_SD_ID: &str = "defender@32473";

impl FormatOptions {
    /// Defaults: facility 10 (authpriv), [`DEFAULT_SD_ID`], JSON body, 8,192-byte cap.
    pub fn new(format: Format, hostname: impl Into<String>) -> Self {
        Self {
            format,
            hostname: hostname.into(),
            facility: 10,
            sd_id: DEFAULT_SD_ID.to_owned(),
            msg_body: MsgBody::Json,
            max_message_bytes: 8192,
        }
    }
}

/// Options that cannot produce valid messages.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    #[error("hostname {0:?}: expected 1–255 letters, digits, '.', '-' or '_'")]
    Hostname(String),
    #[error("facility {0}: expected 0 to 23")]
    Facility(u8),
    #[error(
        "sd_id {0:?}: expected name@PEN, e.g. defender@12345 (1–32 printable ASCII, no space, '=', ']' or '\"')"
    )]
    SdId(String),
    #[error(
        "leef_delimiter {0:?}: must be one printable character other than '=', '|', '\\\\' or a space (or a tab)"
    )]
    Delimiter(char),
    #[error("max_message_bytes {0}: expected at least {MIN_MESSAGE_BYTES}")]
    MaxBytes(usize),
}

/// A validated formatter for one destination.
#[derive(Debug, Clone)]
pub struct Formatter {
    opts: FormatOptions,
}

impl Formatter {
    pub fn new(opts: FormatOptions) -> Result<Self, FormatError> {
        let h = &opts.hostname;
        if h.is_empty()
            || h.len() > 255
            || !h
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        {
            return Err(FormatError::Hostname(h.chars().take(80).collect()));
        }
        if opts.facility > 23 {
            return Err(FormatError::Facility(opts.facility));
        }
        let sd = &opts.sd_id;
        let sd_ok = !sd.is_empty()
            && sd.len() <= 32
            && sd
                .bytes()
                .all(|b| (33..=126).contains(&b) && !b"= ]\"".contains(&b))
            && sd.split_once('@').is_some_and(|(n, pen)| {
                !n.is_empty()
                    && !pen.is_empty()
                    && pen.bytes().all(|b| b.is_ascii_digit() || b == b'.')
                    && !n.contains('@')
            });
        if !sd_ok {
            return Err(FormatError::SdId(sd.chars().take(80).collect()));
        }
        if let Format::Leef { delimiter, .. } = opts.format
            && (delimiter == '='
                || delimiter == '|'
                || delimiter == '\\'
                || delimiter == ' '
                || (delimiter.is_control() && delimiter != '\t'))
        {
            return Err(FormatError::Delimiter(delimiter));
        }
        if opts.max_message_bytes < MIN_MESSAGE_BYTES {
            return Err(FormatError::MaxBytes(opts.max_message_bytes));
        }
        Ok(Self { opts })
    }

    pub fn options(&self) -> &FormatOptions {
        &self.opts
    }

    /// Appends exactly one message for a Defender for Endpoint `alert` to `out`: no framing,
    /// one line, at most `max_message_bytes` bytes. Cuts the least important content first
    /// when it must.
    pub fn format(&self, alert: &Alert, out: &mut Vec<u8>) {
        self.format_view(alert, out);
    }

    /// [`Formatter::format`] for a Microsoft Graph `alerts_v2` alert: the same rules, the
    /// identity fields in the same places (docs/formats.md).
    pub fn format_graph(&self, alert: &GraphAlert, out: &mut Vec<u8>) {
        self.format_view(alert, out);
    }

    /// [`Formatter::format`] or [`Formatter::format_graph`], by the alert's source.
    pub fn format_ref(&self, alert: AlertRef<'_>, out: &mut Vec<u8>) {
        match alert {
            AlertRef::Mde(a) => self.format_view(a, out),
            AlertRef::Graph(a) => self.format_view(a, out),
        }
    }

    fn format_view<A: AlertView>(&self, alert: &A, out: &mut Vec<u8>) {
        let max = self.opts.max_message_bytes;
        let start = out.len();
        self.render(alert, false, true, out);
        if out.len() - start <= max {
            return;
        }
        for level in limit::LEVELS {
            out.truncate(start);
            let cut = alert.cut(level);
            self.render(&cut, true, !level.minimal, out);
            if out.len() - start <= max {
                return;
            }
        }
        // Unreachable with the levels above and a cap ≥ 480 bytes; kept so the cap is a
        // guarantee rather than a hope.
        let mut end = start + max;
        while end > start && !is_char_boundary(out, end) {
            end -= 1;
        }
        out.truncate(end);
    }

    /// Appends one "unreadable alert" event (see [`unreadable`]): same header, cap and
    /// escaping rules as an alert.
    pub fn format_unreadable(&self, u: &Unreadable, out: &mut Vec<u8>) {
        unreadable::write(&self.opts, u, out);
    }

    /// Appends exactly one message for a streamed record (see [`stream`]): the same header,
    /// escaping, cap and truncation guarantees as an alert; the record id in every format.
    pub fn format_record(&self, record: &StreamRecord, out: &mut Vec<u8>) {
        stream::write(&self.opts, record, out);
    }

    /// [`Formatter::format_record`] or [`Formatter::format_unreadable`], by the event.
    pub fn format_stream_event(&self, event: &StreamEvent, out: &mut Vec<u8>) {
        match event {
            StreamEvent::Record(r) => self.format_record(r, out),
            StreamEvent::Unreadable(u) => self.format_unreadable(u, out),
        }
    }

    fn render<A: AlertView>(&self, alert: &A, truncated: bool, body: bool, out: &mut Vec<u8>) {
        match self.opts.format {
            Format::Rfc5424 => rfc5424::write(&self.opts, alert, truncated, body, out),
            Format::Leef { version, delimiter } => {
                rfc5424::write_header(&self.opts, alert, out);
                out.extend_from_slice(b" - ");
                leef::write(version, delimiter, alert, truncated, out);
            }
            Format::Cef => {
                rfc5424::write_header(&self.opts, alert, out);
                out.extend_from_slice(b" - ");
                cef::write(alert, truncated, out);
            }
        }
    }
}

fn is_char_boundary(bytes: &[u8], i: usize) -> bool {
    i >= bytes.len() || (bytes[i] & 0xC0) != 0x80
}
