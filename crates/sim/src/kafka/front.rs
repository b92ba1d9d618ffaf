//! A TLS + SASL PLAIN front before one mock broker, standing in for what Event Hubs' Kafka
//! endpoint (or a `SASL_SSL` listener of any Kafka) does before a client reaches the broker.
//!
//! Per connection: TLS (rustls, the sim PKI), then the SASL handshake spoken by the front
//! itself (ApiVersions is forwarded to the broker and its answer patched to list the SASL
//! APIs), and once authenticated the bytes are piped both ways unparsed. Anything else before
//! authentication — a plaintext client, a TLS client without SASL, a wrong password — ends
//! the connection, as a real `SASL_SSL` listener does.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use super::wire::{self, read_frame, write_frame};

/// The accepted credential pairs (username, password). Never logged.
pub(crate) struct Credentials {
    pairs: Vec<(String, String)>,
}

impl Credentials {
    pub(crate) fn new(pairs: Vec<(String, String)>) -> Self {
        Self { pairs }
    }

    fn accepts(&self, user: &[u8], password: &[u8]) -> bool {
        self.pairs
            .iter()
            .any(|(u, p)| u.as_bytes() == user && p.as_bytes() == password)
    }
}

/// What a front saw, for tests that must know the client went through it.
#[derive(Debug, Default)]
pub struct FrontCounters {
    /// Connections that authenticated and were piped to the broker.
    pub(crate) authenticated: AtomicU64,
    /// Connections the front ended before authentication (TLS failure, wrong password, no
    /// SASL, ...); a client that hangs up by itself is not counted.
    pub(crate) refused: AtomicU64,
}

impl FrontCounters {
    pub fn authenticated(&self) -> u64 {
        self.authenticated.load(Ordering::Relaxed)
    }

    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }
}

/// Serves `listener` (already bound, non-blocking) until `cancel`, piping authenticated
/// clients to `broker`.
pub(crate) async fn serve(
    listener: std::net::TcpListener,
    broker: SocketAddr,
    acceptor: TlsAcceptor,
    credentials: Arc<Credentials>,
    counters: Arc<FrontCounters>,
    cancel: CancellationToken,
) {
    let listener = match TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("kafka front for {broker}: listener: {e}");
            return;
        }
    };
    loop {
        let accepted = tokio::select! {
            _ = cancel.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of descriptors and the like: wait a little rather than spin.
                tracing::warn!("kafka front for {broker}: accept: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let (acceptor, credentials, counters, cancel) = (
            acceptor.clone(),
            credentials.clone(),
            counters.clone(),
            cancel.clone(),
        );
        tokio::spawn(async move {
            tokio::select! {
                _ = cancel.cancelled() => {}
                () = connection(stream, broker, acceptor, &credentials, &counters) => {}
            }
        });
    }
}

async fn connection(
    stream: TcpStream,
    broker: SocketAddr,
    acceptor: TlsAcceptor,
    credentials: &Credentials,
    counters: &FrontCounters,
) {
    // Kafka is request/response: without NODELAY, Nagle and delayed ACKs add 40 ms stalls.
    let _ = stream.set_nodelay(true);
    let handshake = tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream)).await;
    let mut client = match handshake {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            // librdkafka drops spare connections (e.g. a bootstrap one once it knows the
            // brokers): the client left, the front refused nothing.
            tracing::debug!("kafka front for {broker}: client left during TLS handshake");
            return;
        }
        Ok(Err(e)) => {
            tracing::debug!("kafka front for {broker}: TLS handshake failed: {e}");
            counters.refused.fetch_add(1, Ordering::Relaxed);
            return;
        }
        Err(_) => {
            tracing::debug!("kafka front for {broker}: TLS handshake timed out");
            counters.refused.fetch_add(1, Ordering::Relaxed);
            return;
        }
    };
    let mut upstream = match TcpStream::connect(broker).await {
        Ok(s) => s,
        Err(e) => {
            // A broker taken down by a test: the client sees a closed connection, as it
            // would from a real cluster.
            tracing::debug!("kafka front: broker {broker} unreachable: {e}");
            return;
        }
    };
    let _ = upstream.set_nodelay(true);
    match authenticate(&mut client, &mut upstream, credentials).await {
        Ok(Outcome::Authenticated) => {
            counters.authenticated.fetch_add(1, Ordering::Relaxed);
        }
        Ok(Outcome::ClientLeft) => {
            tracing::debug!("kafka front for {broker}: client left before authenticating");
            return;
        }
        Ok(Outcome::Refused(why)) => {
            tracing::debug!("kafka front for {broker}: refused: {why}");
            counters.refused.fetch_add(1, Ordering::Relaxed);
            return;
        }
        Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
            tracing::debug!("kafka front for {broker}: malformed handshake: {e}");
            counters.refused.fetch_add(1, Ordering::Relaxed);
            return;
        }
        Err(e) => {
            // Broken pipe, reset: a peer hung up mid-handshake (librdkafka drops spare
            // connections); nothing was refused.
            tracing::debug!("kafka front for {broker}: handshake cut: {e}");
            return;
        }
    }
    // Large buffers: the bulk produce path and fetches move megabytes through here.
    let _ =
        tokio::io::copy_bidirectional_with_sizes(&mut client, &mut upstream, 256 << 10, 256 << 10)
            .await;
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    Authenticated,
    /// The client closed the connection between requests before authenticating.
    ClientLeft,
    /// Why the connection is ended (for the debug log; never contains credentials).
    Refused(&'static str),
}

/// The pre-authentication conversation: ApiVersions (forwarded, patched), SaslHandshake
/// (PLAIN), then SaslAuthenticate v0/v1 or, after a v0 handshake, one raw SASL frame.
pub(crate) async fn authenticate<C, B>(
    client: &mut C,
    broker: &mut B,
    credentials: &Credentials,
) -> std::io::Result<Outcome>
where
    C: AsyncRead + AsyncWrite + Unpin,
    B: AsyncRead + AsyncWrite + Unpin,
{
    let mut handshaken = false;
    loop {
        let Some(frame) = read_frame(client, wire::PRE_AUTH_MAX_FRAME).await? else {
            return Ok(Outcome::ClientLeft);
        };
        let (header, mut body) = wire::request_header(&frame)?;
        match (header.api_key, header.api_version) {
            (wire::API_VERSIONS, version) => {
                write_frame(broker, &frame).await?;
                let Some(response) = read_frame(broker, wire::BROKER_MAX_FRAME).await? else {
                    return Ok(Outcome::Refused("broker closed during ApiVersions"));
                };
                if response.get(..4) != Some(&header.correlation_id.to_be_bytes()[..]) {
                    return Ok(Outcome::Refused("broker answered another request"));
                }
                let patched = wire::patch_api_versions(version, &response);
                write_frame(client, patched.as_deref().unwrap_or(&response)).await?;
            }
            (wire::SASL_HANDSHAKE, version @ 0..=1) if !handshaken => {
                let mechanism = body.string()?.unwrap_or_default();
                let plain = mechanism == b"PLAIN";
                write_frame(
                    client,
                    &wire::handshake_response(header.correlation_id, plain),
                )
                .await?;
                if !plain {
                    return Ok(Outcome::Refused("SASL mechanism other than PLAIN"));
                }
                if version == 0 {
                    // KIP-43 v0: the SASL token follows as a bare size-prefixed frame, and the
                    // answer is a bare (empty) frame; on failure the broker just closes.
                    let Some(token) = read_frame(client, wire::PRE_AUTH_MAX_FRAME).await? else {
                        return Ok(Outcome::Refused("closed during SASL"));
                    };
                    if !check(&token, credentials) {
                        return Ok(Outcome::Refused("bad credentials (SASL v0)"));
                    }
                    write_frame(client, &[]).await?;
                    return Ok(Outcome::Authenticated);
                }
                handshaken = true;
            }
            (wire::SASL_AUTHENTICATE, version @ 0..=1) if handshaken => {
                let token = body.bytes()?;
                if check(token, credentials) {
                    let ok = wire::authenticate_response(header.correlation_id, version, None);
                    write_frame(client, &ok).await?;
                    return Ok(Outcome::Authenticated);
                }
                let refused = wire::authenticate_response(
                    header.correlation_id,
                    version,
                    Some((
                        wire::ERR_SASL_AUTHENTICATION_FAILED,
                        wire::AUTH_FAILED_MESSAGE,
                    )),
                );
                write_frame(client, &refused).await?;
                return Ok(Outcome::Refused("bad credentials"));
            }
            _ => return Ok(Outcome::Refused("request before SASL authentication")),
        }
    }
}

fn check(token: &[u8], credentials: &Credentials) -> bool {
    wire::parse_plain(token).is_some_and(|(user, password)| credentials.accepts(user, password))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt, duplex};

    fn request(key: i16, version: i16, corr: i32, body: &[u8]) -> Vec<u8> {
        let mut f = [key.to_be_bytes(), version.to_be_bytes()].concat();
        f.extend_from_slice(&corr.to_be_bytes());
        f.extend_from_slice(&4i16.to_be_bytes());
        f.extend_from_slice(b"test");
        f.extend_from_slice(body);
        f
    }

    fn string(s: &[u8]) -> Vec<u8> {
        [(s.len() as i16).to_be_bytes().to_vec(), s.to_vec()].concat()
    }

    fn creds() -> Credentials {
        Credentials::new(vec![("user".into(), "secret".into())])
    }

    async fn run(client_says: Vec<Vec<u8>>) -> (std::io::Result<Outcome>, Vec<u8>) {
        let (mut ours, mut theirs) = duplex(1 << 16);
        let (mut broker, _broker_far) = duplex(1 << 16);
        for frame in &client_says {
            write_frame(&mut theirs, frame).await.unwrap();
        }
        theirs.shutdown().await.unwrap();
        let outcome = authenticate(&mut ours, &mut broker, &creds()).await;
        drop(ours);
        let mut answered = Vec::new();
        theirs.read_to_end(&mut answered).await.unwrap();
        (outcome, answered)
    }

    #[tokio::test]
    async fn legacy_v0_handshake_takes_a_bare_token() {
        let (outcome, answered) = run(vec![
            request(17, 0, 1, &string(b"PLAIN")),
            b"\0user\0secret".to_vec(),
        ])
        .await;
        assert_eq!(outcome.unwrap(), Outcome::Authenticated);
        let mut r = wire::Reader::new(&answered);
        let first = r.bytes().unwrap();
        assert_eq!(&first[..6], &[0, 0, 0, 1, 0, 0]);
        assert_eq!(r.bytes().unwrap(), b"", "the bare empty success frame");
    }

    #[tokio::test]
    async fn legacy_v0_with_a_wrong_password_is_closed_without_answer() {
        let (outcome, answered) = run(vec![
            request(17, 0, 1, &string(b"PLAIN")),
            b"\0user\0guess".to_vec(),
        ])
        .await;
        assert_eq!(
            outcome.unwrap(),
            Outcome::Refused("bad credentials (SASL v0)")
        );
        assert_eq!(
            wire::Reader::new(&answered).bytes().unwrap().len(),
            6 + 4 + 7
        );
    }

    #[tokio::test]
    async fn other_mechanisms_get_error_33_and_the_plain_offer() {
        let (outcome, answered) = run(vec![request(17, 1, 4, &string(b"SCRAM-SHA-256"))]).await;
        assert!(matches!(outcome.unwrap(), Outcome::Refused(_)));
        let mut r = wire::Reader::new(&answered);
        let frame = r.bytes().unwrap();
        let mut f = wire::Reader::new(frame);
        assert_eq!(f.i32().unwrap(), 4);
        assert_eq!(f.i16().unwrap(), 33);
        assert_eq!(f.i32().unwrap(), 1);
        assert_eq!(f.string().unwrap(), Some(&b"PLAIN"[..]));
    }

    #[tokio::test]
    async fn requests_before_authentication_end_the_connection() {
        // A Metadata request straight away (a TLS client without SASL).
        let (outcome, answered) = run(vec![request(3, 4, 1, &[0, 0, 0, 0])]).await;
        assert_eq!(
            outcome.unwrap(),
            Outcome::Refused("request before SASL authentication")
        );
        assert!(answered.is_empty());
        // SaslAuthenticate without a handshake first.
        let token = [(12i32).to_be_bytes().to_vec(), b"\0user\0secret".to_vec()].concat();
        let (outcome, _) = run(vec![request(36, 1, 1, &token)]).await;
        assert!(matches!(outcome.unwrap(), Outcome::Refused(_)));
    }

    #[tokio::test]
    async fn oversized_pre_auth_frames_are_an_error_not_an_allocation() {
        let (mut ours, mut theirs) = duplex(64);
        let (mut broker, _far) = duplex(64);
        theirs
            .write_all(&(100_000_000i32).to_be_bytes())
            .await
            .unwrap();
        let err = authenticate(&mut ours, &mut broker, &creds())
            .await
            .unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
    }
}
