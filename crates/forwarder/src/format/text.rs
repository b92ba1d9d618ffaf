//! Character handling shared by the formats. LEEF has no escape mechanism, RFC 5424 SD values
//! and CEF have different ones; what they share: no raw control character ever passes.

/// Appends `bytes`. Short pieces (keys, separators, most field values) are copied byte by byte:
/// a `memcpy` call per piece dominated the static musl build's profile (musl's `memcpy` starts
/// every copy with `rep movsq`, slow for a handful of bytes); long ones still use `memcpy`.
#[inline]
pub fn put(out: &mut Vec<u8>, bytes: &[u8]) {
    if bytes.len() <= 32 {
        out.reserve(bytes.len());
        for &b in bytes {
            out.push(b);
        }
    } else {
        out.extend_from_slice(bytes);
    }
}

/// Appends `s`, copying runs of printable ASCII that `special` does not claim in one go and
/// handing every other character (controls, non-ASCII, specials) to `slow`. Nearly every alert
/// field is plain ASCII, so this is a few `memcpy`s instead of a per-character loop.
fn push_with(
    out: &mut Vec<u8>,
    s: &str,
    special: impl Fn(u8) -> bool,
    mut slow: impl FnMut(&mut Vec<u8>, char),
) {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        while i < bytes.len() && (0x20..0x7F).contains(&bytes[i]) && !special(bytes[i]) {
            i += 1;
        }
        put(out, &bytes[start..i]);
        if let Some(c) = s[i..].chars().next() {
            slow(out, c);
            i += c.len_utf8();
        }
    }
}

/// Appends `s` with every control character (C0, DEL, C1) replaced by a space, then `extra`
/// characters replaced by a space too. Used where a format has no escape (LEEF, 5424 header).
pub fn push_replaced(out: &mut Vec<u8>, s: &str, extra: &[char]) {
    push_with(
        out,
        s,
        |b| extra.iter().any(|&c| c == char::from(b)),
        |out, c| {
            if c.is_control() || extra.contains(&c) {
                out.push(b' ');
            } else {
                push_char(out, c);
            }
        },
    );
}

/// RFC 5424 PARAM-VALUE: `"` `\` `]` escaped with a backslash (§6.3.3); control characters
/// become spaces so the message stays one line (the JSON MSG keeps the exact text).
pub fn push_sd_value(out: &mut Vec<u8>, s: &str) {
    push_with(
        out,
        s,
        |b| matches!(b, b'"' | b'\\' | b']'),
        |out, c| match c {
            '"' | '\\' | ']' => {
                out.push(b'\\');
                out.push(c as u8);
            }
            c if c.is_control() => out.push(b' '),
            c => push_char(out, c),
        },
    );
}

/// CEF header field: `\` → `\\`, `|` → `\|`; control characters become spaces.
pub fn push_cef_header(out: &mut Vec<u8>, s: &str) {
    push_with(
        out,
        s,
        |b| matches!(b, b'\\' | b'|'),
        |out, c| match c {
            '\\' | '|' => {
                out.push(b'\\');
                out.push(c as u8);
            }
            c if c.is_control() => out.push(b' '),
            c => push_char(out, c),
        },
    );
}

/// CEF extension value: `\` → `\\`, `=` → `\=`, LF → `\n`, CR → `\r`; other control characters
/// become spaces. Trailing spaces are lost by CEF parsers, so they are dropped here.
pub fn push_cef_ext(out: &mut Vec<u8>, s: &str) {
    let start = out.len();
    push_with(
        out,
        s,
        |b| matches!(b, b'\\' | b'='),
        |out, c| match c {
            '\\' | '=' => {
                out.push(b'\\');
                out.push(c as u8);
            }
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            c if c.is_control() => out.push(b' '),
            c => push_char(out, c),
        },
    );
    while out.len() > start && out.last() == Some(&b' ') {
        out.pop();
    }
}

fn push_char(out: &mut Vec<u8>, c: char) {
    let mut buf = [0u8; 4];
    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
}

/// `s` cut to at most `max` bytes at a char boundary, with `…` marking the cut.
pub fn cut(s: &str, max: usize) -> (std::borrow::Cow<'_, str>, bool) {
    if s.len() <= max {
        return (std::borrow::Cow::Borrowed(s), false);
    }
    const MARK: &str = "…";
    let mut end = max.saturating_sub(MARK.len());
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    (
        std::borrow::Cow::Owned(format!("{}{MARK}", &s[..end])),
        true,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_respects_utf8_and_marks() {
        let (c, was) = cut("ééééé", 6);
        assert!(was);
        assert!(c.len() <= 6, "{c}");
        assert!(c.ends_with('…'));
        assert_eq!(cut("abc", 3).0, "abc");
    }

    #[test]
    fn cef_escapes_are_kept_apart() {
        let mut h = Vec::new();
        push_cef_header(&mut h, "a|b=c\\d\n");
        assert_eq!(h, b"a\\|b=c\\\\d ");
        let mut e = Vec::new();
        push_cef_ext(&mut e, "a|b=c\\d\ne\r\0 ");
        assert_eq!(e, b"a|b\\=c\\\\d\\ne\\r");
    }
}
