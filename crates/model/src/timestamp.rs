//! UTC timestamps as Defender writes them: `2023-04-25T22:58:00.4108067Z`, with 0 to 7
//! fractional digits (MDE trims trailing zeros; Graph sometimes keeps them, `…00.7000000Z`).
//! Stored with nanosecond precision, so nothing Defender sends is lost, and ordered, so it can
//! serve as the cursor. A parsed timestamp also remembers how many fractional digits its text
//! had and writes exactly that many back: the RFC 5424 JSON body must be a lossless copy of the
//! alert. That count is presentation only: equality, order and hash are the instant's.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

/// A UTC instant with nanosecond precision.
#[derive(Clone, Copy)]
pub struct Timestamp {
    at: OffsetDateTime,
    /// The number of fractional digits of the parsed text (0–9), `None` for a time built by code
    /// (`now()`, arithmetic), which is written in the trimmed form.
    digits: Option<u8>,
}

// Equal instants are equal whatever their text had: dedup keys, the cursor and the state file
// compare instants, and `…00.7Z` and `…00.7000000Z` are one version.
impl PartialEq for Timestamp {
    fn eq(&self, other: &Self) -> bool {
        self.at == other.at
    }
}

impl Eq for Timestamp {}

impl PartialOrd for Timestamp {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Timestamp {
    fn cmp(&self, other: &Self) -> Ordering {
        self.at.cmp(&other.at)
    }
}

impl Hash for Timestamp {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.at.hash(state);
    }
}

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
        // The fraction starts at byte 19 (`YYYY-MM-DDTHH:MM:SS` was just parsed). Beyond nine
        // digits `time` ignores the rest; nine are what can be written back.
        let digits = match s.as_bytes().split_at_checked(20) {
            Some((head, fraction)) if head.ends_with(b".") => fraction
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .count()
                .min(9) as u8,
            _ => 0,
        };
        Ok(Self {
            at: dt.to_offset(UtcOffset::UTC),
            digits: Some(digits),
        })
    }

    /// A time built by code: written in the trimmed form.
    fn built(at: OffsetDateTime) -> Self {
        Self { at, digits: None }
    }

    /// Builds a timestamp from nanoseconds since the Unix epoch.
    pub fn from_unix_nanos(nanos: i128) -> Option<Self> {
        OffsetDateTime::from_unix_timestamp_nanos(nanos)
            .ok()
            .map(Self::built)
    }

    /// The current time.
    pub fn now() -> Self {
        Self::built(OffsetDateTime::now_utc())
    }

    /// Nanoseconds since the Unix epoch.
    pub fn unix_nanos(&self) -> i128 {
        self.at.unix_timestamp_nanos()
    }

    /// Milliseconds since the Unix epoch (LEEF `devTime`, CEF `rt`), rounded down.
    pub fn unix_millis(&self) -> i64 {
        // i128 → i64 cannot overflow for any year `time` can represent.
        self.unix_nanos().div_euclid(1_000_000) as i64
    }

    /// The underlying `time` value, for arithmetic.
    pub fn as_offset_date_time(&self) -> OffsetDateTime {
        self.at
    }

    /// `self + d`, saturating at the representable range.
    pub fn saturating_add(&self, d: std::time::Duration) -> Self {
        Self::built(
            self.at
                .saturating_add(time::Duration::try_from(d).unwrap_or(time::Duration::MAX)),
        )
    }

    /// `self - d`, saturating at the representable range.
    pub fn saturating_sub(&self, d: std::time::Duration) -> Self {
        Self::built(
            self.at
                .saturating_sub(time::Duration::try_from(d).unwrap_or(time::Duration::MAX)),
        )
    }

    /// The RFC 5424 form (see [`Timestamp::write_rfc5424`]) as bytes, written digit by digit
    /// without `core::fmt`: every message's header carries one. `None` for a year outside
    /// 0000–9999, which RFC 5424 cannot express.
    pub fn rfc5424_bytes(&self) -> Option<[u8; 27]> {
        let d = self.at;
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
        let d = self.at;
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

    /// Writes Defender's own form, `Z` for the zone. A parsed time is written with as many
    /// fractional digits as its text had (`…00.7000000Z` stays so), a time built by code with up
    /// to seven (100 ns ticks), trailing zeros trimmed. This is also the form used in OData
    /// `$filter` literals (Graph and MDE accept 0–7 digits; only Defender's own times are
    /// written with more). Sub-tick nanoseconds are written as nine digits so that
    /// `parse(display(t)) == t` always holds.
    pub fn write_defender(&self, out: &mut impl fmt::Write) -> fmt::Result {
        let d = self.at;
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
        let mut nine = [b'0'; 9];
        put_digits(&mut nine, ns);
        let significant = |max: usize| {
            nine[..max]
                .iter()
                .rposition(|&b| b != b'0')
                .map_or(0, |i| i + 1)
        };
        let digits = match self.digits {
            // A leap second (`:60`) parses as …59.999999999: more than its text's digits hold.
            Some(n) if ns.is_multiple_of(10u32.pow(9 - u32::from(n))) => usize::from(n),
            _ if ns.is_multiple_of(100) => significant(7),
            _ => significant(9),
        };
        if digits > 0 {
            out.write_char('.')?;
            for &b in &nine[..digits] {
                out.write_char(char::from(b))?;
            }
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
        Self::built(dt.to_offset(UtcOffset::UTC))
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

    /// The bug: Graph's `…00.7000000Z` came out of the RFC 5424 JSON body as `…00.7Z`.
    #[test]
    fn trailing_zeros_of_a_parsed_time_are_kept() {
        for input in [
            "2024-01-01T00:00:00.7000000Z",
            "2024-01-01T00:00:00.0000000Z",
            "2024-01-01T00:00:00.000Z",
            "2024-01-01T00:00:00.120Z",
            "2024-01-01T00:00:00.123456789Z",
        ] {
            let t = Timestamp::parse(input).unwrap();
            assert_eq!(t.to_string(), input);
            assert_eq!(serde_json::to_string(&t).unwrap(), format!("\"{input}\""));
        }
    }

    #[test]
    fn times_built_by_code_are_trimmed() {
        let t = Timestamp::parse("2024-01-01T00:00:00.7000000Z").unwrap();
        let later = t.saturating_add(std::time::Duration::from_millis(100));
        assert_eq!(later.to_string(), "2024-01-01T00:00:00.8Z");
        assert_eq!(
            t.saturating_sub(std::time::Duration::ZERO).to_string(),
            "2024-01-01T00:00:00.7Z"
        );
        let epoch = Timestamp::from_unix_nanos(1_500_000_000).unwrap();
        assert_eq!(epoch.to_string(), "1970-01-01T00:00:01.5Z");
        let odt = Timestamp::from(t.as_offset_date_time());
        assert_eq!(odt.to_string(), "2024-01-01T00:00:00.7Z");
    }

    #[test]
    fn a_leap_second_and_overlong_fractions_still_round_trip() {
        // `:60` is read as the last nanosecond before it: its text's 0 digits cannot hold that.
        let t = Timestamp::parse("2016-12-31T23:59:60Z").unwrap();
        assert_eq!(t.to_string(), "2016-12-31T23:59:59.999999999Z");
        assert_eq!(Timestamp::parse(&t.to_string()).unwrap(), t);
        // Beyond nanoseconds nothing is kept; nine digits are written back.
        let t = Timestamp::parse("2024-01-01T00:00:00.1234567891Z").unwrap();
        assert_eq!(t.to_string(), "2024-01-01T00:00:00.123456789Z");
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

        /// Any RFC 3339 UTC text with 0–9 fractional digits is written back as it came, by
        /// Display and by Serialize.
        #[test]
        fn parse_then_serialise_is_the_text(
            secs in -62_135_596_800i64..253_402_300_799,
            fraction in proptest::option::of("[0-9]{1,9}"),
        ) {
            let d = OffsetDateTime::from_unix_timestamp(secs).unwrap();
            let s = format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{}Z",
                d.year(), u8::from(d.month()), d.day(), d.hour(), d.minute(), d.second(),
                fraction.map(|f| format!(".{f}")).unwrap_or_default()
            );
            let t = Timestamp::parse(&s).unwrap();
            prop_assert_eq!(t.to_string(), s.clone());
            prop_assert_eq!(serde_json::to_string(&t).unwrap(), format!("\"{s}\""));
            let back: Timestamp = serde_json::from_str(&format!("\"{s}\"")).unwrap();
            prop_assert_eq!(back.to_string(), s);
        }

        /// The digit count is presentation: one instant written with 0–9 digits is one value
        /// (equal, same hash, same order), so dedup keys and the cursor are unaffected.
        #[test]
        fn equal_instants_with_different_digits_are_one_value(
            secs in 0i64..4_102_444_800,
            ticks in 0u32..10_000_000,
            extra_zeros in 0usize..=2,
        ) {
            use std::hash::BuildHasher;
            let d = OffsetDateTime::from_unix_timestamp(secs).unwrap();
            let base = format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
                d.year(), u8::from(d.month()), d.day(), d.hour(), d.minute(), d.second()
            );
            let seven = format!("{ticks:07}");
            let trimmed = seven.trim_end_matches('0');
            let short = if trimmed.is_empty() { base.clone() } else { format!("{base}.{trimmed}") };
            let long = format!("{base}.{seven}{}", "0".repeat(extra_zeros));
            let a = Timestamp::parse(&format!("{short}Z")).unwrap();
            let b = Timestamp::parse(&format!("{long}Z")).unwrap();
            prop_assert_eq!(a, b);
            prop_assert_eq!(a.cmp(&b), Ordering::Equal);
            let h = std::collections::hash_map::RandomState::new();
            prop_assert_eq!(h.hash_one(a), h.hash_one(b));
            prop_assert_eq!(a.to_string(), format!("{short}Z"));
            prop_assert_eq!(b.to_string(), format!("{long}Z"));
        }

        #[test]
        fn display_parse_round_trip(nanos in -62_000_000_000i128 * 1_000_000_000..253_000_000_000i128 * 1_000_000_000) {
            let t = Timestamp::from_unix_nanos(nanos).unwrap();
            prop_assert_eq!(Timestamp::parse(&t.to_string()).unwrap(), t);
        }
    }
}
