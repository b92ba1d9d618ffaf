//! ArcSight CEF (formats.md §4): `CEF:Version|Vendor|Product|Version|ClassID|Name|Severity|Ext`.
//! Header: `\|` and `\\` are the only escapes. Extension: `key=value` pairs separated by spaces;
//! `\\`, `\=`, `\n`, `\r` are the only escapes, and an unescaped `=` inside a value is an error
//! (a lenient parser would have to guess where the next key starts).

use super::{ParseError, err, reject_controls};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CefEvent {
    pub version: String,
    pub vendor: String,
    pub product: String,
    pub device_version: String,
    pub class_id: String,
    pub name: String,
    pub severity: String,
    pub extensions: Vec<(String, String)>,
}

impl CefEvent {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.extensions
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Parses a CEF payload; text before `CEF:` (a syslog header) is not accepted here.
pub fn parse(s: &str) -> Result<CefEvent, ParseError> {
    reject_controls(s)?;
    let Some(body) = s.strip_prefix("CEF:") else {
        return err(0, "expected 'CEF:'");
    };
    let mut header = Vec::with_capacity(7);
    let mut cur = String::new();
    let mut iter = body.char_indices();
    let mut ext_start = None;
    while let Some((i, c)) = iter.next() {
        match c {
            '\\' => match iter.next() {
                Some((_, n @ ('\\' | '|'))) => cur.push(n),
                Some((j, n)) => return err(4 + j, format!("invalid header escape '\\{n}'")),
                None => return err(4 + i, "dangling '\\' in header"),
            },
            '|' => {
                header.push(std::mem::take(&mut cur));
                if header.len() == 7 {
                    ext_start = Some(i + 1);
                    break;
                }
            }
            c => cur.push(c),
        }
    }
    let Some(ext_start) = ext_start else {
        return err(
            s.len(),
            format!("CEF needs 7 header fields, found {}", header.len()),
        );
    };
    let mut h = header.into_iter();
    let mut f = || h.next().unwrap_or_default();
    let event = CefEvent {
        version: f(),
        vendor: f(),
        product: f(),
        device_version: f(),
        class_id: f(),
        name: f(),
        severity: f(),
        extensions: parse_extension(&body[ext_start..], 4 + ext_start)?,
    };
    if event.version != "0" && event.version != "1" {
        return err(4, format!("version {:?} is not 0 or 1", event.version));
    }
    let sev_ok = event.severity.parse::<u8>().is_ok_and(|n| n <= 10)
        || ["Unknown", "Low", "Medium", "High", "Very-High"].contains(&event.severity.as_str());
    if !sev_ok {
        return err(
            4,
            format!(
                "severity {:?} is not 0-10 or Unknown/Low/Medium/High/Very-High",
                event.severity
            ),
        );
    }
    for (name, v, cap) in [
        ("vendor", &event.vendor, 63),
        ("product", &event.product, 63),
        ("device version", &event.device_version, 31),
        ("class id", &event.class_id, 1023),
        ("name", &event.name, 512),
    ] {
        if v.chars().count() > cap {
            return err(4, format!("{name} longer than {cap} characters"));
        }
    }
    Ok(event)
}

fn valid_key(k: &str) -> bool {
    !k.is_empty() && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn parse_extension(s: &str, base: usize) -> Result<Vec<(String, String)>, ParseError> {
    let mut out: Vec<(String, String)> = Vec::new();
    if s.is_empty() {
        return Ok(out);
    }
    let Some(eq) = s.find('=') else {
        return err(base, "extension without '='");
    };
    let mut key = s[..eq].to_owned();
    if !valid_key(&key) {
        return err(base, format!("invalid key {key:?}"));
    }
    let mut i = eq + 1;
    // Raw value text since the last key, and the decoded value; `spaces` are raw offsets of
    // unescaped spaces, where the next key may begin.
    let mut value = String::new();
    let mut last_space: Option<(usize, usize)> = None; // (raw index, decoded length)
    let b = s.as_bytes();
    let push = |out: &mut Vec<(String, String)>,
                k: String,
                v: String,
                at: usize|
     -> Result<(), ParseError> {
        if out.iter().any(|(x, _)| *x == k) {
            return err(at, format!("duplicate key {k:?}"));
        }
        out.push((k, v));
        Ok(())
    };
    while i < b.len() {
        let c = s[i..].chars().next().unwrap_or(' ');
        match c {
            '\\' => {
                let n = s[i + 1..].chars().next();
                match n {
                    Some('\\') => value.push('\\'),
                    Some('=') => value.push('='),
                    Some('n') => value.push('\n'),
                    Some('r') => value.push('\r'),
                    Some(n) => return err(base + i, format!("invalid extension escape '\\{n}'")),
                    None => return err(base + i, "dangling '\\'"),
                }
                i += 2;
            }
            '=' => {
                // The key is the token after the last unescaped space.
                let Some((sp, decoded_len)) = last_space else {
                    return err(base + i, "unescaped '=' inside a value");
                };
                let next_key = &s[sp + 1..i];
                if !valid_key(next_key) {
                    return err(
                        base + i,
                        format!("unescaped '=' inside a value (after {next_key:?})"),
                    );
                }
                value.truncate(decoded_len);
                push(
                    &mut out,
                    std::mem::replace(&mut key, next_key.to_owned()),
                    std::mem::take(&mut value),
                    base + i,
                )?;
                last_space = None;
                i += 1;
            }
            ' ' => {
                last_space = Some((i, value.len()));
                value.push(' ');
                i += 1;
            }
            c => {
                value.push(c);
                i += c.len_utf8();
            }
        }
    }
    push(&mut out, key, value, base + s.len())?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_examples() {
        let e = parse(r"CEF:0|security|threatmanager|1.0|100|detected a \| in message|10|src=10.0.0.1 act=blocked a | dst=1.1.1.1").unwrap();
        assert_eq!(e.name, "detected a | in message");
        assert_eq!(e.get("act"), Some("blocked a |"));
        assert_eq!(e.get("dst"), Some("1.1.1.1"));
    }

    #[test]
    fn extension_escapes_and_spaces() {
        let e = parse(r"CEF:0|V|P|1|c|n|5|filePath=/a/my file.txt msg=a\=b\\c\nd cs1=x").unwrap();
        assert_eq!(e.get("filePath"), Some("/a/my file.txt"));
        assert_eq!(e.get("msg"), Some("a=b\\c\nd"));
        assert_eq!(e.get("cs1"), Some("x"));
        let e = parse("CEF:0|V|P|1|c|n|Unknown|").unwrap();
        assert!(e.extensions.is_empty());
    }

    #[test]
    fn rejects_ambiguity() {
        for bad in [
            r"CEF:0|V|P|1|c|n|5|msg=a=b",
            r"CEF:0|V|P|1|c|n|5|msg=a \| b",
            r"CEF:0|V|P|1|c|n|5|a=1 a=2",
            r"CEF:0|V|P|1|c|n|11|a=1",
            r"CEF:0|V|P|1|c|n|5",
            r"CEF:0|V|P\=|1|c|n|5|a=1",
            "CEF:0|V|P|1|c|n|5|msg=a\nb",
            r"CEF:2|V|P|1|c|n|5|a=1",
            r"CEF:0|V|P|1|c|n|5|=1",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }
}
