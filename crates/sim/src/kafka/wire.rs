//! The few pieces of the Kafka wire protocol the front speaks itself: request/response
//! framing, the request header, the ApiVersions patch and the SASL handshake (KIP-43, KIP-152)
//! with mechanism PLAIN (RFC 4616).
//!
//! Everything after a successful authentication is piped unparsed, so only the pre-auth
//! requests are decoded here.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

pub(crate) const SASL_HANDSHAKE: i16 = 17;
pub(crate) const API_VERSIONS: i16 = 18;
pub(crate) const SASL_AUTHENTICATE: i16 = 36;

const ERR_UNSUPPORTED_SASL_MECHANISM: i16 = 33;
pub(crate) const ERR_SASL_AUTHENTICATION_FAILED: i16 = 58;

/// What a broker says on bad credentials (Kafka's own wording, which Event Hubs clients see).
pub(crate) const AUTH_FAILED_MESSAGE: &str = "Authentication failed during authentication due to invalid credentials with SASL mechanism PLAIN";

/// The largest frame accepted before authentication: SASL frames are tiny, and an
/// unauthenticated peer must not make the front allocate much.
pub(crate) const PRE_AUTH_MAX_FRAME: usize = 64 * 1024;
/// The largest response accepted from the broker during the handshake (ApiVersions).
pub(crate) const BROKER_MAX_FRAME: usize = 1024 * 1024;

/// Reads one size-prefixed frame; `None` at a clean end of stream before a frame started.
pub(crate) async fn read_frame<R: AsyncRead + Unpin>(
    r: &mut R,
    max: usize,
) -> std::io::Result<Option<Vec<u8>>> {
    let mut size = [0u8; 4];
    match r.read_exact(&mut size).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let size = i32::from_be_bytes(size);
    let size = usize::try_from(size)
        .ok()
        .filter(|&s| s <= max)
        .ok_or_else(|| invalid(format!("frame size {size} outside 0..={max}")))?;
    let mut frame = vec![0u8; size];
    r.read_exact(&mut frame).await?;
    Ok(Some(frame))
}

/// Writes one size-prefixed frame and flushes it.
pub(crate) async fn write_frame<W: AsyncWrite + Unpin>(
    w: &mut W,
    frame: &[u8],
) -> std::io::Result<()> {
    let size = i32::try_from(frame.len()).map_err(|_| invalid("frame too large".into()))?;
    w.write_all(&size.to_be_bytes()).await?;
    w.write_all(frame).await?;
    w.flush().await
}

fn invalid(message: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, message)
}

/// A bounds-checked big-endian reader over a frame.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    fn take(&mut self, n: usize) -> std::io::Result<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or_else(|| invalid("truncated Kafka frame".into()))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    pub(crate) fn i16(&mut self) -> std::io::Result<i16> {
        let b = self.take(2)?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    }

    pub(crate) fn i32(&mut self) -> std::io::Result<i32> {
        let b = self.take(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn uvarint(&mut self) -> std::io::Result<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.take(1)?[0];
            value |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(invalid("varint too long".into()))
    }

    /// A nullable STRING (i16 length, -1 = null).
    pub(crate) fn string(&mut self) -> std::io::Result<Option<&'a [u8]>> {
        match self.i16()? {
            -1 => Ok(None),
            n => Ok(Some(self.take(
                usize::try_from(n).map_err(|_| invalid(format!("string length {n}")))?,
            )?)),
        }
    }

    /// BYTES (i32 length).
    pub(crate) fn bytes(&mut self) -> std::io::Result<&'a [u8]> {
        let n = self.i32()?;
        self.take(usize::try_from(n).map_err(|_| invalid(format!("bytes length {n}")))?)
    }

    /// Skips a tagged-field section of a flexible version.
    fn skip_tags(&mut self) -> std::io::Result<()> {
        for _ in 0..self.uvarint()? {
            self.uvarint()?;
            let size = self.uvarint()?;
            self.take(usize::try_from(size).map_err(|_| invalid("tag size".into()))?)?;
        }
        Ok(())
    }

    fn rest(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }
}

/// Request header v1 (every request the front decodes uses it): key, version, correlation
/// id, client id; the reader is left at the request body.
pub(crate) struct RequestHeader {
    pub(crate) api_key: i16,
    pub(crate) api_version: i16,
    pub(crate) correlation_id: i32,
}

pub(crate) fn request_header<'a>(frame: &'a [u8]) -> std::io::Result<(RequestHeader, Reader<'a>)> {
    let mut r = Reader::new(frame);
    let header = RequestHeader {
        api_key: r.i16()?,
        api_version: r.i16()?,
        correlation_id: r.i32()?,
    };
    r.string()?; // client id
    Ok((header, r))
}

/// The ApiVersions response with SaslHandshake v0-1 and SaslAuthenticate v0-1 added when the
/// broker (librdkafka's mock) does not list them; `None` when nothing needs changing or the
/// response is an error or not understood (then it is passed on as it is).
///
/// `response` is the frame without its size: correlation id (response header v0, always, for
/// ApiVersions) then the body, whose v3+ form is flexible (compact array, tagged fields).
pub(crate) fn patch_api_versions(request_version: i16, response: &[u8]) -> Option<Vec<u8>> {
    let flexible = request_version >= 3;
    let mut r = Reader::new(response);
    let head = r.take(4 + 2).ok()?;
    if head[4..6] != [0, 0] {
        return None;
    }
    let count = if flexible {
        usize::try_from(r.uvarint().ok()?.checked_sub(1)?).ok()?
    } else {
        usize::try_from(r.i32().ok()?).ok()?
    };
    let entries_start = r.pos;
    let mut present = (false, false);
    for _ in 0..count {
        let key = r.i16().ok()?;
        r.take(4).ok()?;
        if flexible {
            r.skip_tags().ok()?;
        }
        present.0 |= key == SASL_HANDSHAKE;
        present.1 |= key == SASL_AUTHENTICATE;
    }
    let entries = &response[entries_start..r.pos];
    let rest = r.rest();
    let added: Vec<i16> = [(present.0, SASL_HANDSHAKE), (present.1, SASL_AUTHENTICATE)]
        .into_iter()
        .filter(|(there, _)| !there)
        .map(|(_, key)| key)
        .collect();
    if added.is_empty() {
        return None;
    }
    let total = count + added.len();
    let mut out = Vec::with_capacity(response.len() + 16);
    out.extend_from_slice(head);
    if flexible {
        // A compact array length is count + 1; brokers list far fewer than 127 APIs, so one
        // varint byte is enough (checked, not assumed).
        out.push(u8::try_from(total + 1).ok().filter(|&b| b < 0x80)?);
    } else {
        out.extend_from_slice(&i32::try_from(total).ok()?.to_be_bytes());
    }
    out.extend_from_slice(entries);
    for key in added {
        out.extend_from_slice(&key.to_be_bytes());
        out.extend_from_slice(&0i16.to_be_bytes());
        out.extend_from_slice(&1i16.to_be_bytes());
        if flexible {
            out.push(0);
        }
    }
    out.extend_from_slice(rest);
    Some(out)
}

/// SaslHandshake response: error, then the mechanisms the front offers (PLAIN only).
pub(crate) fn handshake_response(correlation_id: i32, mechanism_ok: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(16);
    out.extend_from_slice(&correlation_id.to_be_bytes());
    let err = if mechanism_ok {
        0
    } else {
        ERR_UNSUPPORTED_SASL_MECHANISM
    };
    out.extend_from_slice(&err.to_be_bytes());
    out.extend_from_slice(&1i32.to_be_bytes());
    put_string(&mut out, "PLAIN");
    out
}

/// SaslAuthenticate response v0/v1: error, message (null on success), empty auth bytes, and
/// for v1 a session lifetime of 0 (no re-authentication).
pub(crate) fn authenticate_response(
    correlation_id: i32,
    version: i16,
    error: Option<(i16, &str)>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(32);
    out.extend_from_slice(&correlation_id.to_be_bytes());
    match error {
        None => {
            out.extend_from_slice(&0i16.to_be_bytes());
            out.extend_from_slice(&(-1i16).to_be_bytes());
        }
        Some((code, message)) => {
            out.extend_from_slice(&code.to_be_bytes());
            put_string(&mut out, message);
        }
    }
    out.extend_from_slice(&0i32.to_be_bytes());
    if version >= 1 {
        out.extend_from_slice(&0i64.to_be_bytes());
    }
    out
}

fn put_string(out: &mut Vec<u8>, s: &str) {
    // Only the front's own short constants are written here.
    let len = i16::try_from(s.len()).unwrap_or(i16::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&s.as_bytes()[..len as usize]);
}

/// Splits a PLAIN message `authzid NUL authcid NUL passwd` into (authcid, passwd); an authzid,
/// if any, must equal the authcid (we do not act on behalf of others).
pub(crate) fn parse_plain(token: &[u8]) -> Option<(&[u8], &[u8])> {
    let mut parts = token.split(|&b| b == 0);
    let authzid = parts.next()?;
    let user = parts.next()?;
    let password = parts.next()?;
    if parts.next().is_some() || user.is_empty() || !(authzid.is_empty() || authzid == user) {
        return None;
    }
    Some((user, password))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(key: i16, min: i16, max: i16) -> Vec<u8> {
        [key.to_be_bytes(), min.to_be_bytes(), max.to_be_bytes()].concat()
    }

    fn keys(response: &[u8], flexible: bool) -> Vec<(i16, i16, i16)> {
        let mut r = Reader::new(response);
        r.take(6).unwrap();
        let n = if flexible {
            r.uvarint().unwrap() as usize - 1
        } else {
            r.i32().unwrap() as usize
        };
        (0..n)
            .map(|_| {
                let e = (r.i16().unwrap(), r.i16().unwrap(), r.i16().unwrap());
                if flexible {
                    r.skip_tags().unwrap();
                }
                e
            })
            .collect()
    }

    #[test]
    fn api_versions_v1_gets_both_sasl_apis_and_keeps_the_throttle_time() {
        let mut resp = [7i32.to_be_bytes().to_vec(), 0i16.to_be_bytes().to_vec()].concat();
        resp.extend_from_slice(&2i32.to_be_bytes());
        resp.extend(entry(0, 0, 9));
        resp.extend(entry(18, 0, 2));
        resp.extend_from_slice(&1234i32.to_be_bytes());
        let patched = patch_api_versions(1, &resp).unwrap();
        assert_eq!(&patched[..4], &7i32.to_be_bytes());
        assert_eq!(
            keys(&patched, false),
            vec![(0, 0, 9), (18, 0, 2), (17, 0, 1), (36, 0, 1)]
        );
        assert_eq!(&patched[patched.len() - 4..], &1234i32.to_be_bytes());
    }

    #[test]
    fn api_versions_v3_flexible_form_is_patched_with_tagged_fields() {
        let mut resp = [9i32.to_be_bytes().to_vec(), 0i16.to_be_bytes().to_vec()].concat();
        resp.push(3); // two entries
        resp.extend(entry(1, 0, 12));
        resp.push(0);
        resp.extend(entry(36, 0, 2)); // SaslAuthenticate already there: keep it, add only 17
        resp.push(0);
        resp.extend_from_slice(&0i32.to_be_bytes());
        resp.push(0);
        let patched = patch_api_versions(3, &resp).unwrap();
        assert_eq!(
            keys(&patched, true),
            vec![(1, 0, 12), (36, 0, 2), (17, 0, 1)]
        );
        assert_eq!(&patched[patched.len() - 5..], &[0, 0, 0, 0, 0]);
    }

    #[test]
    fn api_versions_error_complete_or_garbled_is_left_alone() {
        let mut err = [1i32.to_be_bytes().to_vec(), 35i16.to_be_bytes().to_vec()].concat();
        err.extend_from_slice(&0i32.to_be_bytes());
        assert_eq!(patch_api_versions(0, &err), None);
        let mut full = [1i32.to_be_bytes().to_vec(), 0i16.to_be_bytes().to_vec()].concat();
        full.extend_from_slice(&2i32.to_be_bytes());
        full.extend(entry(17, 0, 1));
        full.extend(entry(36, 0, 2));
        assert_eq!(patch_api_versions(0, &full), None);
        let mut short = [1i32.to_be_bytes().to_vec(), 0i16.to_be_bytes().to_vec()].concat();
        short.extend_from_slice(&5i32.to_be_bytes());
        short.extend(entry(0, 0, 9));
        assert_eq!(patch_api_versions(0, &short), None);
    }

    #[test]
    fn plain_tokens_are_split_and_odd_ones_refused() {
        assert_eq!(
            parse_plain(b"\0$ConnectionString\0Endpoint=sb://x/;a=b"),
            Some((&b"$ConnectionString"[..], &b"Endpoint=sb://x/;a=b"[..]))
        );
        assert_eq!(parse_plain(b"u\0u\0p"), Some((&b"u"[..], &b"p"[..])));
        assert_eq!(parse_plain(b"other\0u\0p"), None);
        assert_eq!(parse_plain(b"\0\0p"), None);
        assert_eq!(parse_plain(b"\0u\0p\0extra"), None);
        assert_eq!(parse_plain(b"\0u"), None);
    }

    #[test]
    fn authenticate_responses_carry_the_error_and_the_v1_lifetime() {
        let ok = authenticate_response(5, 1, None);
        let mut r = Reader::new(&ok);
        assert_eq!(r.i32().unwrap(), 5);
        assert_eq!(r.i16().unwrap(), 0);
        assert_eq!(r.string().unwrap(), None);
        assert_eq!(r.bytes().unwrap(), b"");
        assert_eq!(r.rest(), &0i64.to_be_bytes());
        let bad = authenticate_response(6, 0, Some((58, AUTH_FAILED_MESSAGE)));
        let mut r = Reader::new(&bad);
        assert_eq!(r.i32().unwrap(), 6);
        assert_eq!(r.i16().unwrap(), 58);
        assert_eq!(r.string().unwrap(), Some(AUTH_FAILED_MESSAGE.as_bytes()));
        assert_eq!(r.bytes().unwrap(), b"");
        assert!(r.rest().is_empty());
    }
}
