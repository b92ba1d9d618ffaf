//! UTC timestamps as Defender writes them: `2023-04-25T22:58:00.4108067Z`, with 0 to 7
//! fractional digits (trailing zeros trimmed). Stored with nanosecond precision, so nothing
//! Defender sends is lost, and ordered, so it can serve as the cursor.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

/// A UTC instant with nanosecond precision.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(OffsetDateTime);

/// A timestamp string that is not RFC 3339 with a zone.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("invalid timestamp {value:?}: expected RFC 3339 like 2023-04-25T22:58:00.4108067Z")]
pub struct TimestampError {
    /// The rejected text, cut to 64 characters so a huge value cannot flood a log line.
    pub value: String,
}

impl Timestamp {
    /// Parses RFC 3339 (`T`, a zone `Z` or `±hh:mm`, 0–9 fractional digits).
    pub fn parse(s: &str) -> Result<Self, TimestampError> {
        let err = || TimestampError {
            value: s.chars().take(64).collect(),
        };
        // RFC 3339 lets a space stand for `T`; RFC 5424 and OData do not, so neither do we.
        if s.as_bytes().get(10) != Some(&b'T') {
            return Err(err());
        }
        let dt = OffsetDateTime::parse(s, &Rfc3339).map_err(|_| err())?;
        Ok(Self(dt.to_offset(UtcOffset::UTC)))
    }

    /// Builds a timestamp from nanoseconds since the Unix epoch.
    pub fn from_unix_nanos(nanos: i128) -> Option<Self> {
        OffsetDateTime::from_unix_timestamp_nanos(nanos)
            .ok()
            .map(Self)
    }

    /// The current time.
    pub fn now() -> Self {
        Self(OffsetDateTime::now_utc())
    }

    /// Nanoseconds since the Unix epoch.
    pub fn unix_nanos(&self) -> i128 {
        self.0.unix_timestamp_nanos()
    }

    /// Milliseconds since the Unix epoch (LEEF `devTime`, CEF `rt`), rounded down.
    pub fn unix_millis(&self) -> i64 {
        // i128 → i64 cannot overflow for any year `time` can represent.
        self.unix_nanos().div_euclid(1_000_000) as i64
    }

    /// The underlying `time` value, for arithmetic.
    pub fn as_offset_date_time(&self) -> OffsetDateTime {
        self.0
    }

    /// `self + d`, saturating at the representable range.
    pub fn saturating_add(&self, d: std::time::Duration) -> Self {
        Self(
            self.0
                .saturating_add(time::Duration::try_from(d).unwrap_or(time::Duration::MAX)),
        )
    }

    /// `self - d`, saturating at the representable range.
    pub fn saturating_sub(&self, d: std::time::Duration) -> Self {
        Self(
            self.0
                .saturating_sub(time::Duration::try_from(d).unwrap_or(time::Duration::MAX)),
        )
    }

    /// The RFC 5424 form (see [`Timestamp::write_rfc5424`]) as bytes, written digit by digit
    /// without `core::fmt`: every message's header carries one. `None` for a year outside
    /// 0000–9999, which RFC 5424 cannot express.
    pub fn rfc5424_bytes(&self) -> Option<[u8; 27]> {
        let d = self.0;
        let year = u32::try_from(d.year()).ok().filter(|y| *y <= 9999)?;
        let mut b = *b"0000-00-00T00:00:00.000000Z";
        put_digits(&mut b[0..4], year);
        put_digits(&mut b[5..7], u32::from(u8::from(d.month())));
        put_digits(&mut b[8..10], u32::from(d.day()));
        put_digits(&mut b[11..13], u32::from(d.hour()));
        put_digits(&mut b[14..16], u32::from(d.minute()));
        put_digits(&mut b[17..19], u32::from(d.second()));
        put_digits(&mut b[20..26], d.nanosecond() / 1_000);
        Some(b)
    }

    /// Writes `YYYY-MM-DDTHH:MM:SS.ffffffZ`: exactly six fractional digits (truncated), the
    /// most RFC 5424 §6.2.3 allows. rsyslog corrupts timestamps with more.
    pub fn write_rfc5424(&self, out: &mut impl fmt::Write) -> fmt::Result {
        if let Some(b) = self.rfc5424_bytes()
            && let Ok(text) = std::str::from_utf8(&b)
        {
            return out.write_str(text);
        }
        let d = self.0;
        write!(
            out,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
            d.year(),
            u8::from(d.month()),
            d.day(),
            d.hour(),
            d.minute(),
            d.second(),
            d.nanosecond() / 1_000
        )
    }

    /// The RFC 5424 form as a `String` (see [`Timestamp::write_rfc5424`]).
    pub fn to_rfc5424(&self) -> String {
        let mut s = String::with_capacity(27);
        // Writing into a String cannot fail.
        let _ = self.write_rfc5424(&mut s);
        s
    }

    /// Writes Defender's own form: up to seven fractional digits (100 ns ticks), trailing zeros
    /// trimmed, `Z`. This is also the form used in OData `$filter` literals. Sub-tick
    /// nanoseconds (which Defender never produces) are written as nine digits so that
    /// `parse(display(t)) == t` always holds.
    pub fn write_defender(&self, out: &mut impl fmt::Write) -> fmt::Result {
        let d = self.0;
        write!(
            out,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            d.year(),
            u8::from(d.month()),
            d.day(),
            d.hour(),
            d.minute(),
            d.second()
        )?;
        let ns = d.nanosecond();
        if ns != 0 {
            let mut digits = if ns.is_multiple_of(100) {
                format!("{:07}", ns / 100)
            } else {
                format!("{ns:09}")
            };
            while digits.ends_with('0') {
                digits.pop();
            }
            write!(out, ".{digits}")?;
        }
        out.write_char('Z')
    }
}

/// Fills `out` with the decimal digits of `v`, zero-padded (the high digits of a larger `v` are
/// dropped; callers pass values that fit).
fn put_digits(out: &mut [u8], mut v: u32) {
    for slot in out.iter_mut().rev() {
        *slot = b'0' + (v % 10) as u8;
        v /= 10;
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_defender(f)
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({self})")
    }
}

impl FromStr for Timestamp {
    type Err = TimestampError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl From<OffsetDateTime> for Timestamp {
    fn from(dt: OffsetDateTime) -> Self {
        Self(dt.to_offset(UtcOffset::UTC))
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Timestamp;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an RFC 3339 timestamp string")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Timestamp, E> {
                Timestamp::parse(v).map_err(E::custom)
            }
        }
        d.deserialize_str(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_zero_to_seven_fraction_digits() {
        for (input, nanos) in [
            ("2023-04-25T22:52:11Z", 0),
            ("2023-04-25T22:58:00.2Z", 200_000_000),
            ("2023-04-19T18:28:28.84Z", 840_000_000),
            ("2023-04-25T22:58:00.4108067Z", 410_806_700),
        ] {
            let t = Timestamp::parse(input).unwrap();
            assert_eq!(t.as_offset_date_time().nanosecond(), nanos, "{input}");
            assert_eq!(t.to_string(), input, "round trip keeps Defender's form");
        }
    }

    #[test]
    fn rfc5424_has_six_digits_truncated() {
        let t = Timestamp::parse("2023-04-25T22:58:00.4108067Z").unwrap();
        assert_eq!(t.to_rfc5424(), "2023-04-25T22:58:00.410806Z");
        let t = Timestamp::parse("2023-04-25T22:52:11Z").unwrap();
        assert_eq!(t.to_rfc5424(), "2023-04-25T22:52:11.000000Z");
    }

    #[test]
    fn offsets_are_normalised_to_utc() {
        let t = Timestamp::parse("2023-04-25T23:58:00+01:00").unwrap();
        assert_eq!(t.to_string(), "2023-04-25T22:58:00Z");
    }

    #[test]
    fn garbage_is_rejected_with_the_value() {
        let e = Timestamp::parse("yesterday").unwrap_err();
        assert!(e.to_string().contains("yesterday"));
        assert!(Timestamp::parse("2023-04-25 22:58:00Z").is_err());
        assert!(
            Timestamp::parse("2023-04-25T22:58:00").is_err(),
            "zone is mandatory"
        );
    }

    #[test]
    fn millis() {
        let t = Timestamp::parse("1970-01-01T00:00:01.9999999Z").unwrap();
        assert_eq!(t.unix_millis(), 1999);
    }

    proptest! {
        /// The digit-by-digit RFC 5424 form equals the `core::fmt` one it replaces.
        #[test]
        fn rfc5424_bytes_match_fmt(nanos in 0i128..253_402_300_799_999_999_999i128) {
            let t = Timestamp::from_unix_nanos(nanos).unwrap();
            let d = t.as_offset_date_time();
            let by_fmt = format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
                d.year(), u8::from(d.month()), d.day(), d.hour(), d.minute(), d.second(),
                d.nanosecond() / 1_000
            );
            let bytes = t.rfc5424_bytes().unwrap();
            prop_assert_eq!(std::str::from_utf8(&bytes).unwrap(), by_fmt.as_str());
            prop_assert_eq!(t.to_rfc5424(), by_fmt);
        }

        #[test]
        fn display_parse_round_trip(nanos in -62_000_000_000i128 * 1_000_000_000..253_000_000_000i128 * 1_000_000_000) {
            let t = Timestamp::from_unix_nanos(nanos).unwrap();
            prop_assert_eq!(Timestamp::parse(&t.to_string()).unwrap(), t);
        }
    }
}
