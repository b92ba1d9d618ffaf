//! Getting a connected stream: resolve, TCP connect with keepalive, TLS handshake, and the
//! byte-counting wrapper that lets [`super::ack::AckTracker`] compare what we wrote with what
//! the peer acknowledged.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::tls::ClientTls;
use super::{TransportConfig, TransportError, config, tls};

/// A TCP stream that counts the bytes written to the socket (TLS ciphertext included), so a
/// message can be mapped to a socket byte offset and compared with what the peer acknowledged.
#[derive(Debug)]
pub(crate) struct CountingStream {
    pub tcp: TcpStream,
    pub written: u64,
}

impl AsyncRead for CountingStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_read(cx, buf)
    }
}

impl AsyncWrite for CountingStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.tcp).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = r {
            self.written += n as u64;
        }
        r
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }
}

/// A connected stream (plain or TLS) whose underlying socket can be inspected.
pub(crate) trait Wire: AsyncRead + AsyncWrite + Unpin + Send {
    fn socket(&self) -> &CountingStream;
}
impl Wire for CountingStream {
    fn socket(&self) -> &CountingStream {
        self
    }
}
impl Wire for tokio_rustls::client::TlsStream<CountingStream> {
    fn socket(&self) -> &CountingStream {
        self.get_ref().0
    }
}

/// Resolves and connects to one address (trying each resolved IP), with keepalive.
pub(crate) async fn connect_tcp(
    cfg: &TransportConfig,
    address: &str,
) -> Result<CountingStream, TransportError> {
    let (host, port) = config::split_host_port(address, cfg.kind.default_port())?;
    let addrs: Vec<_> = tokio::time::timeout(
        cfg.connect_timeout,
        tokio::net::lookup_host((host.as_str(), port)),
    )
    .await
    .map_err(|_| TransportError::ConnectTimeout {
        address: address.to_string(),
        secs: cfg.connect_timeout.as_secs_f64(),
    })?
    .map_err(|source| TransportError::Resolve {
        address: address.to_string(),
        source,
    })?
    .collect();
    let mut last = None;
    for sa in addrs {
        match tokio::time::timeout(cfg.connect_timeout, TcpStream::connect(sa)).await {
            Ok(Ok(tcp)) => {
                let _ = tcp.set_nodelay(true);
                if let Some(idle) = cfg.keepalive {
                    let ka = socket2::TcpKeepalive::new()
                        .with_time(idle)
                        .with_interval(idle.div_f64(3.0).max(Duration::from_secs(1)))
                        .with_retries(3);
                    let _ = socket2::SockRef::from(&tcp).set_tcp_keepalive(&ka);
                }
                return Ok(CountingStream { tcp, written: 0 });
            }
            Ok(Err(source)) => {
                last = Some(TransportError::Connect {
                    address: address.to_string(),
                    source,
                })
            }
            Err(_) => {
                last = Some(TransportError::ConnectTimeout {
                    address: address.to_string(),
                    secs: cfg.connect_timeout.as_secs_f64(),
                })
            }
        }
    }
    Err(last.unwrap_or_else(|| TransportError::Resolve {
        address: address.to_string(),
        source: io::Error::new(io::ErrorKind::NotFound, "no addresses"),
    }))
}

/// TLS handshake over a connected stream; a failure names the server name and trust anchors.
pub(crate) async fn handshake(
    cfg: &TransportConfig,
    client: &ClientTls,
    address: &str,
    stream: CountingStream,
) -> Result<tokio_rustls::client::TlsStream<CountingStream>, TransportError> {
    let (host, _) = config::split_host_port(address, cfg.kind.default_port())?;
    let name = tls::server_name(&cfg.tls, &host)?;
    let shown = cfg.tls.server_name.clone().unwrap_or(host);
    let fail = |detail: String| TransportError::Handshake {
        address: address.to_string(),
        server_name: shown.clone(),
        trust: client.trust.clone(),
        detail,
    };
    let connector = tokio_rustls::TlsConnector::from(client.config.clone());
    match tokio::time::timeout(cfg.connect_timeout, connector.connect(name, stream)).await {
        Ok(Ok(s)) => Ok(s),
        Ok(Err(e)) => Err(fail(tls::explain(&e))),
        Err(_) => Err(fail(format!(
            "no handshake within {:.1}s",
            cfg.connect_timeout.as_secs_f64()
        ))),
    }
}

/// Whether the collector sent a TLS alert (a refusal we know of, not a bare close).
pub(crate) fn is_tls_alert(e: &io::Error) -> bool {
    e.get_ref()
        .and_then(|i| i.downcast_ref::<rustls::Error>())
        .is_some_and(|r| matches!(r, rustls::Error::AlertReceived(_)))
}
