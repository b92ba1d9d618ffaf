//! RFC 5424 §6, strictly: header fields PRINTUSASCII with their length caps, TIMESTAMP with at
//! most six fractional digits and a mandatory offset, SD-ELEMENTs with `"` `\` `]` escaped.

use super::{ParseError, err, reject_controls};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdElement {
    pub id: String,
    pub params: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub facility: u8,
    pub severity: u8,
    pub timestamp: Option<String>,
    pub hostname: Option<String>,
    pub app_name: Option<String>,
    pub procid: Option<String>,
    pub msgid: Option<String>,
    pub sd: Vec<SdElement>,
    pub msg: Option<String>,
}

impl Message {
    /// The value of `param` in the SD-ELEMENT `id`.
    pub fn sd_param(&self, id: &str, param: &str) -> Option<&str> {
        self.sd
            .iter()
            .find(|e| e.id == id)?
            .params
            .iter()
            .find(|(k, _)| k == param)
            .map(|(_, v)| v.as_str())
    }
}

pub fn parse(s: &str) -> Result<Message, ParseError> {
    reject_controls(s)?;
    let b = s.as_bytes();
    if b.first() != Some(&b'<') {
        return err(0, "expected '<' starting PRI");
    }
    let close = match s.find('>') {
        Some(i) if (2..=4).contains(&i) => i,
        _ => return err(0, "PRI must be 1-3 digits in <>"),
    };
    let pri_s = &s[1..close];
    if !pri_s.bytes().all(|c| c.is_ascii_digit()) || (pri_s.len() > 1 && pri_s.starts_with('0')) {
        return err(1, "PRI must be digits without leading zero");
    }
    let pri: u16 = pri_s.parse().map_err(|_| ParseError {
        at: 1,
        what: "bad PRI".into(),
    })?;
    if pri > 191 {
        return err(1, "PRI above 191");
    }
    let rest = &s[close + 1..];
    let mut pos = close + 1;
    let mut fields = rest.splitn(7, ' ');
    let mut next = |name: &str, max: usize| -> Result<Option<String>, ParseError> {
        let f = fields.next().ok_or(ParseError {
            at: pos,
            what: format!("missing {name}"),
        })?;
        let at = pos;
        pos += f.len() + 1;
        if f.is_empty() || f.len() > max || !f.bytes().all(|c| (33..=126).contains(&c)) {
            return err(
                at,
                format!("{name} must be 1-{max} printable ASCII characters"),
            );
        }
        Ok((f != "-").then(|| f.to_owned()))
    };
    if next("VERSION", 3)?.as_deref() != Some("1") {
        return err(close + 1, "VERSION must be 1");
    }
    let timestamp = next("TIMESTAMP", 64)?;
    if let Some(t) = &timestamp {
        check_timestamp(t).map_err(|what| ParseError {
            at: close + 3,
            what,
        })?;
    }
    let hostname = next("HOSTNAME", 255)?;
    let app_name = next("APP-NAME", 48)?;
    let procid = next("PROCID", 128)?;
    let msgid = next("MSGID", 32)?;
    let sd_start = pos;
    let tail = fields.next().ok_or(ParseError {
        at: pos,
        what: "missing STRUCTURED-DATA".into(),
    })?;
    let (sd, after) = parse_sd(tail, sd_start)?;
    let msg = match after {
        "" => None,
        m => match m.strip_prefix(' ') {
            Some(m) => Some(m.strip_prefix('\u{feff}').unwrap_or(m).to_owned()),
            None => {
                return err(
                    sd_start + tail.len() - m.len(),
                    "expected SP between STRUCTURED-DATA and MSG",
                );
            }
        },
    };
    Ok(Message {
        facility: (pri / 8) as u8,
        severity: (pri % 8) as u8,
        timestamp,
        hostname,
        app_name,
        procid,
        msgid,
        sd,
        msg,
    })
}

fn check_timestamp(t: &str) -> Result<(), String> {
    let b = t.as_bytes();
    let ok_date = b.len() >= 20
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18]
            .iter()
            .all(|&i| b[i].is_ascii_digit());
    if !ok_date {
        return Err(format!("TIMESTAMP {t:?} is not FULL-DATE \"T\" FULL-TIME"));
    }
    let mut rest = &t[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if !(1..=6).contains(&digits) {
            return Err(format!("TIMESTAMP {t:?} must have 1-6 fractional digits"));
        }
        rest = &frac[digits..];
    }
    let offset_ok = rest == "Z"
        || (rest.len() == 6
            && (rest.starts_with('+') || rest.starts_with('-'))
            && rest.as_bytes()[3] == b':');
    if !offset_ok {
        return Err(format!("TIMESTAMP {t:?} needs an offset (Z or ±hh:mm)"));
    }
    Ok(())
}

fn sd_name(s: &str, at: usize) -> Result<(), ParseError> {
    if s.is_empty()
        || s.len() > 32
        || !s
            .bytes()
            .all(|c| (33..=126).contains(&c) && !b"= ]\"".contains(&c))
    {
        return err(
            at,
            format!("SD name {s:?} must be 1-32 printable ASCII, no '=', SP, ']' or '\"'"),
        );
    }
    Ok(())
}

/// Returns the elements and what follows them.
fn parse_sd(s: &str, base: usize) -> Result<(Vec<SdElement>, &str), ParseError> {
    if let Some(rest) = s.strip_prefix('-') {
        return Ok((Vec::new(), rest));
    }
    let mut out: Vec<SdElement> = Vec::new();
    let mut i = 0;
    let b = s.as_bytes();
    while i < b.len() && b[i] == b'[' {
        i += 1;
        let id_end = s[i..].find([' ', ']']).map(|n| i + n).ok_or(ParseError {
            at: base + i,
            what: "unterminated SD-ELEMENT".into(),
        })?;
        let id = &s[i..id_end];
        sd_name(id, base + i)?;
        if out.iter().any(|e| e.id == id) {
            return err(base + i, format!("SD-ID {id:?} appears twice"));
        }
        i = id_end;
        let mut params = Vec::new();
        while b.get(i) == Some(&b' ') {
            i += 1;
            let eq = s[i..].find('=').map(|n| i + n).ok_or(ParseError {
                at: base + i,
                what: "SD-PARAM without '='".into(),
            })?;
            let name = &s[i..eq];
            sd_name(name, base + i)?;
            i = eq + 1;
            if b.get(i) != Some(&b'"') {
                return err(base + i, "PARAM-VALUE must start with '\"'");
            }
            i += 1;
            let mut value = String::new();
            loop {
                let Some(c) = s[i..].chars().next() else {
                    return err(base + i, "unterminated PARAM-VALUE");
                };
                match c {
                    '\\' => {
                        let n = s[i + 1..].chars().next().ok_or(ParseError {
                            at: base + i,
                            what: "dangling '\\'".into(),
                        })?;
                        if matches!(n, '"' | '\\' | ']') {
                            value.push(n);
                        } else {
                            // RFC 5424 §6.3.3: any other backslash is kept literally.
                            value.push('\\');
                            value.push(n);
                        }
                        i += 1 + n.len_utf8();
                    }
                    '"' => {
                        i += 1;
                        break;
                    }
                    ']' => return err(base + i, "unescaped ']' in PARAM-VALUE"),
                    c => {
                        value.push(c);
                        i += c.len_utf8();
                    }
                }
            }
            params.push((name.to_owned(), value));
        }
        if b.get(i) != Some(&b']') {
            return err(base + i, "expected ']' closing SD-ELEMENT");
        }
        i += 1;
        out.push(SdElement {
            id: id.to_owned(),
            params,
        });
    }
    if out.is_empty() {
        return err(base, "STRUCTURED-DATA must be '-' or start with '['");
    }
    Ok((out, &s[i..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_examples() {
        let m = parse(r#"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"] An application event log entry..."#).unwrap();
        assert_eq!((m.facility, m.severity), (20, 5));
        assert_eq!(m.sd_param("exampleSDID@32473", "eventID"), Some("1011"));
        assert_eq!(m.msg.as_deref(), Some("An application event log entry..."));
        let m = parse(
            r#"<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time"#,
        )
        .unwrap();
        assert!(m.sd.is_empty());
        let m = parse(r#"<0>1 - - - - - [a@1 x="q\"\\\]\n"][b@1]"#).unwrap();
        assert_eq!(m.sd_param("a@1", "x"), Some("q\"\\]\\n"));
        assert_eq!(m.msg, None);
    }

    #[test]
    fn rejects_what_rfc_5424_forbids() {
        for bad in [
            "<192>1 - - - - - -",
            "<01>1 - - - - - -",
            "<1>2 - - - - - -",
            "<1>1 2003-10-11T22:14:15.0000003Z h a p m -",
            "<1>1 2003-10-11T22:14:15Z h a p m [a@1 x=\"]\"]",
            "<1>1 2003-10-11T22:14:15 h a p m -",
            "<1>1 - h a p m [a@1][a@1]",
            "<1>1 - h a p m - line\nbreak",
            "<1>1 - h a p 012345678901234567890123456789012 -",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }
}
