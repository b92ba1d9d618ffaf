//! Splits an API page `{"@odata.context":…,"value":[…],"@odata.nextLink":…}` into the raw
//! bytes of each `value` element while the body arrives, so a 10,000-alert page (≈15 MB) is
//! never held whole: only the element being read and the unread rest of the last chunk are.
//!
//! This checks the envelope's structure (braces, brackets, commas, colons, strings) and finds
//! element boundaries; each element is then parsed, and fully validated, by `serde_json`.

/// Elements larger than this are refused (a hostile or broken stream must not grow the buffer
/// without bound); the poller then isolates the alert like any unreadable one.
pub const MAX_ELEMENT: usize = 32 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed page at byte {at}: {what}")]
pub struct SplitError {
    pub at: u64,
    pub what: &'static str,
}

/// Where in the envelope the scanner is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum St {
    /// Before the envelope's `{`.
    Start,
    /// In the envelope: a key or (if `first`) `}`.
    Key {
        first: bool,
    },
    Colon,
    /// The value of the key just read.
    Value,
    /// `,` or `}` after an envelope member.
    AfterMember,
    /// In `value`: an element or (if `first`) `]`.
    Item {
        first: bool,
    },
    /// `,` or `]` after an element.
    AfterItem,
    /// After the envelope's `}`: whitespace only.
    End,
}

/// What a value being skimmed (scanned for its end without parsing) is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    Key,
    Skip,
    Element,
}

/// Scanning state of one value: resumable at any byte, so chunks can split it anywhere.
#[derive(Debug, Clone, Copy)]
struct Skim {
    purpose: Purpose,
    start: usize,
    depth: u32,
    in_str: bool,
    escaped: bool,
    scalar: bool,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Key {
    #[default]
    Other,
    Value,
    NextLink,
}

/// Feed it the body's chunks; take the complete elements; call `finish` at the end.
#[derive(Debug)]
pub struct PageSplitter {
    buf: Vec<u8>,
    /// Next byte of `buf` to scan.
    pos: usize,
    /// Bytes dropped from the front of `buf` so far (for error positions).
    dropped: u64,
    st: St,
    skim: Option<Skim>,
    key: Key,
    /// The envelope has a non-null `@odata.nextLink`.
    pub next_link: bool,
    /// The `value` array was seen.
    saw_value: bool,
    /// Elements returned so far.
    pub items: u64,
}

impl Default for PageSplitter {
    fn default() -> Self {
        Self::new()
    }
}

impl PageSplitter {
    pub fn new() -> PageSplitter {
        PageSplitter {
            buf: Vec::with_capacity(64 * 1024),
            pos: 0,
            dropped: 0,
            st: St::Start,
            skim: None,
            key: Key::Other,
            next_link: false,
            saw_value: false,
            items: 0,
        }
    }

    /// Appends a chunk of the body. Invalidates the slice the last [`Self::next_element`] returned.
    pub fn feed(&mut self, chunk: &[u8]) {
        // Keep only what is still needed: the value being skimmed, else nothing before `pos`.
        let keep = self.skim.map_or(self.pos, |s| s.start);
        if keep > 0 {
            self.buf.drain(..keep);
            self.dropped += keep as u64;
            self.pos -= keep;
            if let Some(s) = &mut self.skim {
                s.start = 0;
            }
        }
        self.buf.extend_from_slice(chunk);
    }

    /// The next complete element, `Ok(None)` if more bytes are needed (or the page is done).
    pub fn next_element(&mut self) -> Result<Option<&[u8]>, SplitError> {
        loop {
            if let Some(mut s) = self.skim {
                let Some(end) = self.skim_to_end(&mut s)? else {
                    self.skim = Some(s);
                    return Ok(None);
                };
                self.skim = None;
                let range = s.start..end;
                match s.purpose {
                    Purpose::Element => {
                        self.st = St::AfterItem;
                        self.items += 1;
                        return Ok(Some(&self.buf[range]));
                    }
                    Purpose::Key => {
                        self.key = match &self.buf[range] {
                            b"\"value\"" => Key::Value,
                            b"\"@odata.nextLink\"" => Key::NextLink,
                            _ => Key::Other,
                        };
                        self.st = St::Colon;
                    }
                    Purpose::Skip => self.st = St::AfterMember,
                }
                continue;
            }
            let Some(at) = self.buf[self.pos..]
                .iter()
                .position(|b| !b.is_ascii_whitespace())
            else {
                self.pos = self.buf.len();
                return Ok(None);
            };
            self.pos += at;
            let b = self.buf[self.pos];
            let fail = |what| Err(self.error(what));
            match (self.st, b) {
                (St::Start, b'{') => self.st = St::Key { first: true },
                (St::Start, _) => return fail("expected the page object `{`"),
                (St::Key { first: true }, b'}') => self.st = St::End,
                (St::Key { .. }, b'"') => {
                    self.begin(Purpose::Key);
                    continue;
                }
                (St::Key { .. }, _) => return fail("expected a member name"),
                (St::Colon, b':') => self.st = St::Value,
                (St::Colon, _) => return fail("expected `:`"),
                (St::Value, _) if self.key == Key::Value && self.saw_value => {
                    return fail("a second `value` member");
                }
                (St::Value, b'[') if self.key == Key::Value => {
                    self.saw_value = true;
                    self.st = St::Item { first: true };
                }
                (St::Value, _) if self.key == Key::Value => return fail("`value` is not an array"),
                (St::Value, b']' | b'}' | b',' | b':') => return fail("expected a value"),
                (St::Value, _) => {
                    if self.key == Key::NextLink {
                        self.next_link = b != b'n';
                    }
                    self.begin(Purpose::Skip);
                    continue;
                }
                (St::AfterMember, b',') => self.st = St::Key { first: false },
                (St::AfterMember, b'}') => self.st = St::End,
                (St::AfterMember, _) => return fail("expected `,` or `}` after a member"),
                (St::Item { first: true }, b']') => self.st = St::AfterMember,
                (St::Item { .. }, b']' | b'}' | b',' | b':') => return fail("expected an alert"),
                (St::Item { .. }, _) => {
                    self.begin(Purpose::Element);
                    continue;
                }
                (St::AfterItem, b',') => self.st = St::Item { first: false },
                (St::AfterItem, b']') => self.st = St::AfterMember,
                (St::AfterItem, _) => return fail("expected `,` or `]` after an alert"),
                (St::End, _) => return fail("data after the end of the page"),
            }
            self.pos += 1;
        }
    }

    /// The bytes of the element being read when the page broke (what an "unreadable alert"
    /// event can still carry), `None` when the break was outside an element.
    pub fn pending_element(&self) -> Option<&[u8]> {
        let s = self.skim.filter(|s| s.purpose == Purpose::Element)?;
        self.buf.get(s.start..)
    }

    /// Called at the end of the body: the envelope must be complete.
    pub fn finish(&mut self) -> Result<(), SplitError> {
        // A number ends only at the next delimiter; at EOF the envelope is unclosed anyway.
        if self.st != St::End || self.skim.is_some() {
            Err(self.error("the page ends before it is complete"))
        } else if !self.saw_value {
            Err(self.error("the page has no `value` array"))
        } else {
            Ok(())
        }
    }

    fn begin(&mut self, purpose: Purpose) {
        self.skim = Some(Skim {
            purpose,
            start: self.pos,
            depth: 0,
            in_str: false,
            escaped: false,
            scalar: false,
        });
    }

    fn error(&self, what: &'static str) -> SplitError {
        SplitError {
            at: self.dropped + self.pos as u64,
            what,
        }
    }

    /// Scans `s` forward from `pos`; the end offset once the value is complete.
    fn skim_to_end(&mut self, s: &mut Skim) -> Result<Option<usize>, SplitError> {
        let buf = &self.buf;
        let mut i = self.pos;
        let done = loop {
            if s.escaped {
                if i >= buf.len() {
                    break None;
                }
                s.escaped = false;
                i += 1;
            }
            if s.in_str {
                match memchr::memchr2(b'"', b'\\', &buf[i..]) {
                    None => {
                        i = buf.len();
                        break None;
                    }
                    Some(k) if buf[i + k] == b'\\' => {
                        s.escaped = true;
                        i += k + 1;
                    }
                    Some(k) => {
                        s.in_str = false;
                        i += k + 1;
                        if s.depth == 0 {
                            break Some(i);
                        }
                    }
                }
                continue;
            }
            let Some(&b) = buf.get(i) else { break None };
            match b {
                b'"' if !s.scalar => s.in_str = true,
                b'{' | b'[' if !s.scalar => s.depth += 1,
                b'}' | b']' | b',' if s.depth == 0 => {
                    if s.scalar {
                        break Some(i);
                    }
                    self.pos = i;
                    return Err(self.error("expected a value"));
                }
                b'}' | b']' => {
                    s.depth -= 1;
                    if s.depth == 0 {
                        break Some(i + 1);
                    }
                }
                b if b.is_ascii_whitespace() && s.depth == 0 && s.scalar => break Some(i),
                _ if s.depth == 0 => s.scalar = true,
                _ => {}
            }
            i += 1;
        };
        self.pos = done.unwrap_or(i);
        if done.is_none() && self.pos - s.start > MAX_ELEMENT {
            return Err(self.error("one value is larger than 32 MiB"));
        }
        Ok(done)
    }
}

/// Splits a whole body at once (tests and benches).
#[cfg(test)]
pub fn split_all(body: &[u8], chunk: usize) -> Result<(Vec<Vec<u8>>, bool), SplitError> {
    let mut sp = PageSplitter::new();
    let mut out = Vec::new();
    for c in body.chunks(chunk.max(1)) {
        sp.feed(c);
        while let Some(e) = sp.next_element()? {
            out.push(e.to_vec());
        }
    }
    sp.finish()?;
    Ok((out, sp.next_link))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::value::RawValue;

    #[derive(serde::Deserialize)]
    struct Envelope<'a> {
        #[serde(borrow)]
        value: Vec<&'a RawValue>,
        #[serde(rename = "@odata.nextLink", default, borrow)]
        next_link: Option<&'a RawValue>,
    }

    /// What serde_json makes of the whole page: the reference the splitter must match.
    fn reference(body: &[u8]) -> Option<(Vec<Vec<u8>>, bool)> {
        let env: Envelope<'_> = serde_json::from_slice(body).ok()?;
        Some((
            env.value
                .iter()
                .map(|r| r.get().as_bytes().to_vec())
                .collect(),
            env.next_link.is_some_and(|l| l.get() != "null"),
        ))
    }

    const PAGE: &str = r#"{"@odata.context":"https://api.securitycenter.microsoft.com/api/$metadata#Alerts","value":[{"id":"da1","title":"a \"quoted\" ]} title\\","evidence":[{"a":[1,2,{"b":null}]}],"n":-1.5e3},{"id":"da2","x":true} , {"id":"da3"}],"@odata.nextLink":"https://x/api/alerts?$skip=3"}"#;

    #[test]
    fn elements_match_serde_at_every_chunk_size() {
        let want = reference(PAGE.as_bytes()).unwrap();
        assert!(want.1);
        for chunk in 1..PAGE.len() + 1 {
            assert_eq!(
                split_all(PAGE.as_bytes(), chunk).unwrap(),
                want,
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn envelope_variants() {
        for body in [
            r#"{"value":[]}"#,
            r#"  {"value" : [ ] , "@odata.nextLink" : null }  "#,
            r#"{"@odata.count":3,"value":[{"id":"a"}],"other":{"value":[1]}}"#,
            r#"{"value":[1, "s", null, {"id":"b"}]}"#,
        ] {
            let got = split_all(body.as_bytes(), 3).unwrap();
            assert_eq!(got, reference(body.as_bytes()).unwrap(), "{body}");
        }
    }

    #[test]
    fn broken_pages_are_errors_not_short_pages() {
        for body in [
            "",
            "[]",
            r#"{"value":[{"id":"a"}"#,
            r#"{"value":[{"id":"a"},]}"#,
            r#"{"value":[{"id":"a"} {"id":"b"}]}"#,
            r#"{"value":[{"id":"a"}]"#,
            r#"{"value":[{"id":"a"}]}x"#,
            r#"{"value" [1]}"#,
            r#"{"value":[,]}"#,
            r#"{"value":[{"id":"a\"}]}"#,
            "{}",
            r#"{"value":null}"#,
            r#"{"value":[],"value":[]}"#,
        ] {
            assert!(split_all(body.as_bytes(), 2).is_err(), "{body}");
            assert!(split_all(body.as_bytes(), 1000).is_err(), "{body}");
        }
    }

    #[test]
    fn an_oversize_element_is_refused() {
        let mut sp = PageSplitter::new();
        sp.feed(b"{\"value\":[{\"t\":\"");
        let block = vec![b'x'; 1024 * 1024];
        let mut refused = false;
        for _ in 0..40 {
            sp.feed(&block);
            if sp.next_element().is_err() {
                refused = true;
                break;
            }
        }
        assert!(refused);
    }

    proptest! {
        /// Any page serde_json accepts splits into the same elements, whatever the chunking;
        /// any truncation of it is an error.
        #[test]
        fn matches_serde_for_generated_pages(
            items in proptest::collection::vec(arb_json(), 0..6),
            ws in "[ \n\t]{0,2}",
            chunk in 1usize..64,
            cut in any::<prop::sample::Index>(),
        ) {
            let values: Vec<String> = items.iter().map(|v| v.to_string()).collect();
            let body = format!("{{\"a\":{{\"value\":[]}},{ws}\"value\"{ws}:{ws}[{ws}{}{ws}]{ws}}}", values.join(&format!("{ws},{ws}")));
            let want = reference(body.as_bytes()).unwrap();
            prop_assert_eq!(split_all(body.as_bytes(), chunk).unwrap(), want);
            let cut = cut.index(body.len());
            prop_assert!(split_all(&body.as_bytes()[..cut], chunk).is_err());
        }
    }

    fn arb_json() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            "[\\PC\"\\\\\\]\\[{}]{0,12}".prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
                proptest::collection::btree_map("[a-z\"\\]]{0,4}", inner, 0..4)
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }
}
