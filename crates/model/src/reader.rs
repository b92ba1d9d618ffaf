//! Reading alerts from a file or pipe without holding all of it. NDJSON, the form a large export
//! takes, is read line by line into one reused buffer, so memory does not grow with the file. An
//! API page or a bare array is read whole and parsed with [`parse_alerts`]: a page holds at most
//! 10,000 alerts. Both paths give the same results, with the same locations, as
//! [`parse_alerts`] on the whole input.

use std::io::BufRead;

use crate::alert::Alert;
use crate::input::{InputError, Location, Page, parse_alerts_of, parse_line};
use crate::source::ApiAlert;

/// An iterator of alerts (or located errors) read from `R`. An I/O error ends it with one error.
/// `A` is the source's alert type: [`Alert`] (the default) or [`crate::GraphAlert`].
#[derive(Debug)]
pub struct AlertReader<R, A = Alert> {
    inner: R,
    mode: Mode<A>,
    /// 1-based number of the line in `buf` (NDJSON).
    line: usize,
    buf: Vec<u8>,
}

#[derive(Debug)]
enum Mode<A> {
    Lines,
    /// The first line, already read, still to be returned.
    FirstLine,
    Whole(std::vec::IntoIter<Result<A, InputError>>),
    Done,
}

impl<R: BufRead> AlertReader<R> {
    /// Reads up to the first non-blank line to tell NDJSON from a page or an array.
    pub fn new(inner: R) -> std::io::Result<AlertReader<R>> {
        Self::new_of(inner)
    }
}

impl<R: BufRead, A: ApiAlert> AlertReader<R, A> {
    /// [`AlertReader::new`] for either source's alert type.
    pub fn new_of(mut inner: R) -> std::io::Result<AlertReader<R, A>> {
        let mut seen = Vec::new();
        let mut line = 0usize;
        let mut buf = Vec::new();
        loop {
            buf.clear();
            if inner.read_until(b'\n', &mut buf)? == 0 {
                break;
            }
            line += 1;
            seen.extend_from_slice(&buf);
            if !is_blank(&buf) {
                break;
            }
        }
        if looks_like_ndjson(&buf) {
            return Ok(AlertReader {
                inner,
                mode: Mode::FirstLine,
                line,
                buf,
            });
        }
        // A page, an array, a pretty-printed object, or garbage: whole-input rules decide.
        inner.read_to_end(&mut seen)?;
        Ok(AlertReader {
            inner,
            mode: Mode::Whole(parse_alerts_of(&seen).into_iter()),
            line: 0,
            buf: Vec::new(),
        })
    }
}

/// An NDJSON first line is one complete JSON object that is not itself an API page.
fn looks_like_ndjson(line: &[u8]) -> bool {
    let trimmed = line.trim_ascii_start();
    trimmed.first() == Some(&b'{')
        && serde_json::from_slice::<serde::de::IgnoredAny>(line).is_ok()
        && serde_json::from_slice::<Page<'_>>(line).is_err()
}

fn is_blank(line: &[u8]) -> bool {
    line.iter().all(u8::is_ascii_whitespace)
}

impl<R: BufRead, A: ApiAlert> Iterator for AlertReader<R, A> {
    type Item = Result<A, InputError>;

    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.mode {
            Mode::Done => None,
            Mode::Whole(items) => items.next(),
            Mode::FirstLine => {
                self.mode = Mode::Lines;
                Some(parse_line(&self.buf, Location::Line(self.line)))
            }
            Mode::Lines => loop {
                self.buf.clear();
                match self.inner.read_until(b'\n', &mut self.buf) {
                    Ok(0) => {
                        self.mode = Mode::Done;
                        return None;
                    }
                    Ok(_) => {
                        self.line += 1;
                        if !is_blank(&self.buf) {
                            return Some(parse_line(&self.buf, Location::Line(self.line)));
                        }
                    }
                    Err(e) => {
                        self.mode = Mode::Done;
                        return Some(Err(InputError {
                            location: Location::Line(self.line + 1),
                            message: format!("read error: {e}"),
                        }));
                    }
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Results = Vec<Result<Alert, InputError>>;

    fn both(input: &[u8]) -> (Results, Results) {
        let streamed = AlertReader::new(std::io::Cursor::new(input))
            .unwrap()
            .collect();
        (streamed, crate::parse_alerts(input))
    }

    #[test]
    fn streaming_matches_whole_input_parsing() {
        let inputs: [&[u8]; 9] = [
            b"{\"id\":\"a\"}\n\n{\"id\":\n{\"id\":\"c\",\"lastUpdateTime\":\"nope\"}\n{\"id\":\"d\"}\r\n",
            b"\n\n  \n{\"id\":\"a\"}\n{\"id\":\"b\"}",
            b"{\"value\":[{\"id\":\"a\"},{\"id\":\"b\"}]}",
            b"{\n  \"value\": [\n    {\"id\": \"a\"}\n  ]\n}\n",
            b"[{\"id\":\"a\"},{\"id\":1}]",
            b"not json\n{\"id\":\"b\"}\n",
            b"{\"id\":\"a\"}\n\xff\xfe\n{\"id\":\"c\"}",
            b"",
            b"{\"value\":[{\"id\":\"a\"}]}\n{\"id\":\"b\"}\n",
        ];
        for input in inputs {
            let (streamed, whole) = both(input);
            assert_eq!(streamed, whole, "{}", String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn ndjson_is_read_line_by_line() {
        let mut input = Vec::new();
        for i in 0..1000 {
            input.extend_from_slice(format!("{{\"id\":\"a{i}\"}}\n").as_bytes());
        }
        let mut r = AlertReader::new(std::io::BufReader::with_capacity(
            64,
            std::io::Cursor::new(&input),
        ))
        .unwrap();
        assert!(matches!(r.mode, Mode::FirstLine));
        assert_eq!(r.next().unwrap().unwrap().id.as_deref(), Some("a0"));
        assert_eq!(r.count(), 999);
    }
}
