//! A strict stream-frame parser: RFC 5425 / RFC 6587 octet counting (`MSG-LEN SP MSG`, with
//! `MSG-LEN = NONZERO-DIGIT *DIGIT`, nothing between frames), or LF framing.

use super::StreamFraming;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error(
        "line feed where a frame header was expected (trailing LF after a frame?) at stream byte {at}"
    )]
    TrailingLf { at: u64 },
    #[error(
        "invalid frame header byte {byte:#04x} at stream byte {at} (MSG-LEN must start with 1-9)"
    )]
    BadHeader { byte: u8, at: u64 },
    #[error("MSG-LEN {len} exceeds the limit {max}")]
    Oversize { len: u64, max: usize },
    #[error("MSG-LEN not followed by a space at stream byte {at}")]
    NoSpace { at: u64 },
    #[error("connection ended inside a frame ({0} bytes buffered)")]
    Truncated(usize),
}

/// Incremental parser; feed it bytes as they arrive.
#[derive(Debug)]
pub struct FrameParser {
    framing: StreamFraming,
    max: usize,
    buf: Vec<u8>,
    /// Stream offset of `buf[0]`.
    offset: u64,
}

impl FrameParser {
    pub fn new(framing: StreamFraming, max: usize) -> Self {
        Self {
            framing,
            max,
            buf: Vec::new(),
            offset: 0,
        }
    }

    /// Appends `data`; returns the frames completed, or those plus the first error.
    #[allow(clippy::type_complexity)]
    pub fn push(&mut self, data: &[u8]) -> Result<Vec<Vec<u8>>, (Vec<Vec<u8>>, FrameError)> {
        self.buf.extend_from_slice(data);
        let mut out = Vec::new();
        let mut pos = 0usize;
        let res = loop {
            match self.next(pos) {
                Ok(Some((frame, used))) => {
                    out.push(frame);
                    pos += used;
                }
                Ok(None) => break Ok(()),
                Err(e) => break Err(e),
            }
        };
        self.buf.drain(..pos);
        self.offset += pos as u64;
        match res {
            Ok(()) => Ok(out),
            Err(e) => Err((out, e)),
        }
    }

    /// Error if the stream ended mid-frame.
    pub fn finish(&self) -> Option<FrameError> {
        (!self.buf.is_empty()).then_some(FrameError::Truncated(self.buf.len()))
    }

    fn next(&self, pos: usize) -> Result<Option<(Vec<u8>, usize)>, FrameError> {
        let b = &self.buf[pos..];
        if b.is_empty() {
            return Ok(None);
        }
        let at = self.offset + pos as u64;
        if self.framing == StreamFraming::Lf {
            return Ok(b
                .iter()
                .position(|&c| c == b'\n')
                .map(|i| (b[..i].to_vec(), i + 1)));
        }
        match b[0] {
            b'1'..=b'9' => {}
            b'\n' => return Err(FrameError::TrailingLf { at }),
            byte => return Err(FrameError::BadHeader { byte, at }),
        }
        let digits = b.iter().take_while(|c| c.is_ascii_digit()).count();
        let mut len: u64 = 0;
        for &d in &b[..digits] {
            len = len.saturating_mul(10).saturating_add(u64::from(d - b'0'));
        }
        if len > self.max as u64 {
            return Err(FrameError::Oversize { len, max: self.max });
        }
        if digits == b.len() {
            return Ok(None);
        }
        if b[digits] != b' ' {
            return Err(FrameError::NoSpace {
                at: at + digits as u64,
            });
        }
        let start = digits + 1;
        let end = start + len as usize;
        if b.len() < end {
            return Ok(None);
        }
        Ok(Some((b[start..end].to_vec(), end)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oc() -> FrameParser {
        FrameParser::new(StreamFraming::OctetCounting, 100)
    }

    #[test]
    fn splits_frames_across_reads_by_bytes() {
        let mut p = oc();
        let s = "9 é€😀3 abc".as_bytes();
        let mut got = p.push(&s[..4]).unwrap();
        got.extend(p.push(&s[4..]).unwrap());
        assert_eq!(got, vec!["é€😀".as_bytes().to_vec(), b"abc".to_vec()]);
        assert!(p.finish().is_none());
    }

    #[test]
    fn rejects_trailing_lf_leading_zero_and_oversize() {
        let (ok, e) = oc().push(b"3 abc\n3 def").unwrap_err();
        assert_eq!(ok, vec![b"abc".to_vec()]);
        assert_eq!(e, FrameError::TrailingLf { at: 5 });
        assert!(matches!(
            oc().push(b"03 abc"),
            Err((_, FrameError::BadHeader { .. }))
        ));
        assert!(matches!(
            oc().push(b"101 x"),
            Err((_, FrameError::Oversize { .. }))
        ));
        assert!(matches!(
            oc().push(b"3xabc"),
            Err((_, FrameError::NoSpace { .. }))
        ));
        let mut p = oc();
        p.push(b"5 ab").unwrap();
        assert_eq!(p.finish(), Some(FrameError::Truncated(4)));
    }

    #[test]
    fn lf_mode_splits_on_newlines() {
        let mut p = FrameParser::new(StreamFraming::Lf, 100);
        assert_eq!(p.push(b"a\nb").unwrap(), vec![b"a".to_vec()]);
        assert_eq!(p.push(b"\n").unwrap(), vec![b"b".to_vec()]);
    }
}
