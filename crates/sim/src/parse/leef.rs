//! IBM LEEF 1.0 / 2.0 (formats.md §3): `LEEF:1.0|Vendor|Product|Version|EventID|attrs` with TAB
//! between attributes, or `LEEF:2.0|…|EventID|Delimiter|attrs`. LEEF has no escapes, so a value
//! simply ends at the next delimiter; strictly, a value must not contain `|`, and keys must be
//! single alphanumeric words, unique.

use super::{ParseError, err, reject_controls};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeefEvent {
    pub version: String,
    pub vendor: String,
    pub product: String,
    pub product_version: String,
    pub event_id: String,
    pub delimiter: char,
    pub attributes: Vec<(String, String)>,
}

impl LeefEvent {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

pub fn parse(s: &str) -> Result<LeefEvent, ParseError> {
    reject_controls(s)?;
    let (version, body, nfields) = if let Some(b) = s.strip_prefix("LEEF:1.0|") {
        ("1.0", b, 4)
    } else if let Some(b) = s.strip_prefix("LEEF:2.0|") {
        ("2.0", b, 5)
    } else {
        return err(0, "expected 'LEEF:1.0|' or 'LEEF:2.0|'");
    };
    let base = 9;
    let parts: Vec<&str> = body.splitn(nfields + 1, '|').collect();
    if parts.len() != nfields + 1 {
        return err(
            s.len(),
            format!("LEEF {version} needs {nfields} header fields after the version"),
        );
    }
    for (i, p) in parts[..4].iter().enumerate() {
        if p.is_empty() && i != 2 {
            return err(base, "empty vendor, product or event id");
        }
    }
    if parts[3].chars().count() > 255 {
        return err(base, "EventID longer than 255 characters");
    }
    let delimiter = if version == "1.0" {
        '\t'
    } else {
        parse_delimiter(parts[4], base)?
    };
    let attrs_text = parts[nfields];
    let mut attributes: Vec<(String, String)> = Vec::new();
    if !attrs_text.is_empty() {
        for a in attrs_text.split(delimiter) {
            let Some((k, v)) = a.split_once('=') else {
                return err(
                    base,
                    format!(
                        "attribute {:?} has no '='",
                        a.chars().take(40).collect::<String>()
                    ),
                );
            };
            if k.is_empty() || !k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                return err(base, format!("invalid key {k:?}"));
            }
            if v.contains('|') {
                return err(base, format!("value of {k} contains '|'"));
            }
            if attributes.iter().any(|(x, _)| x == k) {
                return err(base, format!("duplicate key {k:?}"));
            }
            attributes.push((k.to_owned(), v.to_owned()));
        }
    }
    Ok(LeefEvent {
        version: version.to_owned(),
        vendor: parts[0].to_owned(),
        product: parts[1].to_owned(),
        product_version: parts[2].to_owned(),
        event_id: parts[3].to_owned(),
        delimiter,
        attributes,
    })
}

/// One literal character, or `x`/`0x` followed by 1–4 hex digits.
fn parse_delimiter(d: &str, at: usize) -> Result<char, ParseError> {
    let hex = d.strip_prefix("0x").or_else(|| d.strip_prefix('x'));
    if let Some(h) = hex.filter(|h| !h.is_empty()) {
        if h.len() > 4 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
            return err(at, format!("bad hex delimiter {d:?}"));
        }
        let n = u32::from_str_radix(h, 16).map_err(|_| ParseError {
            at,
            what: "bad hex".into(),
        })?;
        return char::from_u32(n).ok_or(ParseError {
            at,
            what: format!("delimiter {d:?} is not a character"),
        });
    }
    let mut it = d.chars();
    match (it.next(), it.next()) {
        (Some(c), None) => Ok(c),
        _ => err(
            at,
            format!("delimiter {d:?} must be one character or x/0x + hex"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guide_examples() {
        let e = parse("LEEF:2.0|Lancope|StealthWatch|1.0|41|^|src=10.0.1.8^dst=10.0.0.5^sev=5^srcPort=81^dstPort=21").unwrap();
        assert_eq!(e.delimiter, '^');
        assert_eq!(e.get("dstPort"), Some("21"));
        let e = parse(
            "LEEF:1.0|Microsoft|MSExchange|4.0 SP1|15345|src=10.50.1.1\tdst=2.10.20.20\tsev=5",
        )
        .unwrap();
        assert_eq!(e.get("dst"), Some("2.10.20.20"));
        let e = parse("LEEF:2.0|V|P|1|e|x09|a=1\tb=x=y").unwrap();
        assert_eq!(e.get("b"), Some("x=y"));
        assert_eq!(
            parse("LEEF:2.0|V|P|1|e|0x5E|a=1^b=2")
                .unwrap()
                .attributes
                .len(),
            2
        );
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "LEEF:3.0|V|P|1|e|a=1",
            "LEEF:2.0|V|P|1|e|^^|a=1",
            "LEEF:2.0|V|P|1|e|^|a=1^a=2",
            "LEEF:2.0|V|P|1|e|^|a=1^b",
            "LEEF:2.0|V|P|1|e|^|a=1^b=x|y",
            "LEEF:1.0|V|P|1|e|a=1\nb=2",
            "LEEF:1.0|V|P|1",
            "LEEF:2.0|V|P|1|e|^|bad key=1",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }
}
