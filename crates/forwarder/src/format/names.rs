//! The spellings of the format choices in the config file and on the command line. The binary's
//! config and CLI parse through these, so the forwarder's enums are the only set there is.

use std::fmt;
use std::str::FromStr;

use super::{Format, LeefVersion, MsgBody};

/// A format without its LEEF parameters: what `format =` / `--format` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormatKind {
    Rfc5424,
    Leef,
    Cef,
}

/// An unknown name; says which names there are.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected one of {}, got {got:?}", expected.join(", "))]
pub struct UnknownName {
    pub got: String,
    pub expected: &'static [&'static str],
}

macro_rules! names {
    ($ty:ty, $($variant:path => $name:literal),+ $(,)?) => {
        impl $ty {
            /// Every accepted name, in the order documented.
            pub const NAMES: &'static [&'static str] = &[$($name),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($variant => $name,)+
                }
            }
        }

        impl FromStr for $ty {
            type Err = UnknownName;
            /// Case-insensitive, surrounding whitespace ignored.
            fn from_str(s: &str) -> Result<Self, UnknownName> {
                let t = s.trim();
                $(if t.eq_ignore_ascii_case($name) { return Ok($variant); })+
                Err(UnknownName { got: s.to_owned(), expected: Self::NAMES })
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

names!(FormatKind, FormatKind::Rfc5424 => "rfc5424", FormatKind::Leef => "leef", FormatKind::Cef => "cef");
names!(LeefVersion, LeefVersion::V1 => "1.0", LeefVersion::V2 => "2.0");
names!(MsgBody, MsgBody::Json => "json", MsgBody::Summary => "summary");

/// The LEEF 2.0 attribute delimiter when none is configured.
pub const DEFAULT_LEEF_DELIMITER: char = '^';

impl Format {
    /// The format named `kind`, with LEEF's version and delimiter (ignored for the others).
    pub fn from_kind(kind: FormatKind, version: LeefVersion, delimiter: char) -> Format {
        match kind {
            FormatKind::Rfc5424 => Format::Rfc5424,
            FormatKind::Cef => Format::Cef,
            FormatKind::Leef => Format::Leef { version, delimiter },
        }
    }

    pub fn kind(&self) -> FormatKind {
        match self {
            Format::Rfc5424 => FormatKind::Rfc5424,
            Format::Leef { .. } => FormatKind::Leef,
            Format::Cef => FormatKind::Cef,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_errors_list_the_choices() {
        for n in FormatKind::NAMES {
            assert_eq!(n.parse::<FormatKind>().unwrap().as_str(), *n);
        }
        for n in LeefVersion::NAMES {
            assert_eq!(n.parse::<LeefVersion>().unwrap().to_string(), *n);
        }
        assert_eq!(" CEF ".parse::<FormatKind>(), Ok(FormatKind::Cef));
        assert_eq!("Summary".parse::<MsgBody>(), Ok(MsgBody::Summary));
        let e = "cfe".parse::<FormatKind>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "expected one of rfc5424, leef, cef, got \"cfe\""
        );
        assert!("3.0".parse::<LeefVersion>().is_err());
        let f = Format::from_kind(FormatKind::Leef, LeefVersion::V1, '\t');
        assert_eq!(
            f,
            Format::Leef {
                version: LeefVersion::V1,
                delimiter: '\t'
            }
        );
        assert_eq!(f.kind(), FormatKind::Leef);
    }
}
