//! Frame encoding: RFC 5425 / RFC 6587 octet counting, or LF (explicit opt-in only).

use super::{Framing, TransportError};

/// Appends one frame for `msg` to `out`, or refuses a message the framing cannot carry.
pub fn encode(framing: Framing, msg: &[u8], out: &mut Vec<u8>) -> Result<(), TransportError> {
    if msg.is_empty() {
        return Err(TransportError::EmptyMessage);
    }
    match framing {
        Framing::OctetCounting => {
            // MSG-LEN counts octets of the encoded message (formats.md §0 #1), and nothing
            // follows the frame (a trailing LF breaks syslog-ng, §0 #2).
            out.extend_from_slice(msg.len().to_string().as_bytes());
            out.push(b' ');
            out.extend_from_slice(msg);
        }
        Framing::Lf => {
            if let Some(at) = msg.iter().position(|&b| b == b'\n') {
                return Err(TransportError::NewlineInLfFrame { at });
            }
            out.extend_from_slice(msg);
            out.push(b'\n');
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn octet_count_is_bytes_not_chars() {
        let mut out = Vec::new();
        encode(Framing::OctetCounting, "é€😀".as_bytes(), &mut out).unwrap();
        assert_eq!(out, "9 é€😀".as_bytes());
    }

    #[test]
    fn lf_framing_refuses_embedded_newlines() {
        let mut out = Vec::new();
        assert!(matches!(
            encode(Framing::Lf, b"a\nb", &mut out),
            Err(TransportError::NewlineInLfFrame { at: 1 })
        ));
        encode(Framing::Lf, b"ab", &mut out).unwrap();
        assert_eq!(out, b"ab\n");
        assert!(encode(Framing::OctetCounting, b"", &mut out).is_err());
    }
}
