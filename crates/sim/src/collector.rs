//! In-process syslog receivers on loopback: RFC 5425 TLS (optionally requiring client
//! certificates), TCP (octet counting, or LF for tests of that mode) and UDP.
//!
//! They record every complete frame, parse octet counting strictly (a trailing LF, a leading
//! zero, a missing space or an oversize MSG-LEN is a framing error that closes the connection,
//! like syslog-ng), can stop reading (backpressure tests), be killed and restarted on the same
//! port, and expose counts.
//!
//! ```no_run
//! # async fn f() -> std::io::Result<()> {
//! let pki = sim::pki::TestPki::new().unwrap();
//! let c = sim::collector::start(sim::collector::Options::tls(pki.server_config(true).unwrap())).await?;
//! // … point a transport at c.addr() …
//! assert!(c.wait_for(10, std::time::Duration::from_secs(30)).await);
//! let frames = c.messages();
//! c.stop().await;
//! # Ok(()) }
//! ```

mod frames;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls_pki_types::CertificateDer;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpSocket, TcpStream, UdpSocket};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use frames::{FrameError, FrameParser};

/// What the collector speaks.
#[derive(Debug, Clone)]
pub enum Kind {
    Tls(Arc<rustls::ServerConfig>),
    Tcp,
    Udp,
}

/// How stream frames are delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamFraming {
    /// Strict RFC 5425 / RFC 6587 octet counting.
    OctetCounting,
    /// LF-terminated (RFC 6587 non-transparent framing).
    Lf,
}

#[derive(Debug, Clone)]
pub struct Options {
    pub kind: Kind,
    /// Where to listen (default 127.0.0.1, any free port).
    pub addr: SocketAddr,
    pub framing: StreamFraming,
    /// Largest accepted MSG-LEN (default 1 MiB).
    pub max_frame: usize,
    /// SO_RCVBUF for accepted connections (small values make backpressure appear quickly).
    pub recv_buffer: Option<u32>,
    /// Keep every frame for [`Collector::messages`] (default); false only counts them
    /// (benchmarks, which would otherwise grow without bound).
    pub keep_messages: bool,
}

impl Options {
    fn new(kind: Kind) -> Self {
        Self {
            kind,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            framing: StreamFraming::OctetCounting,
            max_frame: 1024 * 1024,
            recv_buffer: None,
            keep_messages: true,
        }
    }
    pub fn tls(config: Arc<rustls::ServerConfig>) -> Self {
        Self::new(Kind::Tls(config))
    }
    pub fn tcp() -> Self {
        Self::new(Kind::Tcp)
    }
    pub fn udp() -> Self {
        Self::new(Kind::Udp)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ctl {
    Run,
    Pause,
    Kill,
}

#[derive(Debug)]
struct Inner {
    opts: Options,
    messages: Mutex<Vec<Vec<u8>>>,
    errors: Mutex<Vec<String>>,
    chains: Mutex<Vec<Vec<CertificateDer<'static>>>>,
    count: watch::Sender<usize>,
    ctl: watch::Sender<Ctl>,
    accepted: AtomicUsize,
    conns: Mutex<Vec<JoinHandle<()>>>,
    /// Unread kernel bytes per paused connection id.
    queued: Mutex<HashMap<usize, usize>>,
    next_conn: AtomicUsize,
}

/// A running collector. Dropping it kills it.
#[derive(Debug)]
pub struct Collector {
    inner: Arc<Inner>,
    addr: SocketAddr,
    listener: Mutex<Option<JoinHandle<()>>>,
}

/// Binds and starts accepting.
pub async fn start(opts: Options) -> std::io::Result<Collector> {
    let (ctl, _) = watch::channel(Ctl::Run);
    let inner = Arc::new(Inner {
        opts: opts.clone(),
        messages: Mutex::default(),
        errors: Mutex::default(),
        chains: Mutex::default(),
        count: watch::Sender::new(0),
        ctl,
        accepted: AtomicUsize::new(0),
        conns: Mutex::default(),
        queued: Mutex::default(),
        next_conn: AtomicUsize::new(0),
    });
    let (addr, task) = listen(&inner, opts.addr).await?;
    Ok(Collector {
        inner,
        addr,
        listener: Mutex::new(Some(task)),
    })
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

async fn listen(
    inner: &Arc<Inner>,
    addr: SocketAddr,
) -> std::io::Result<(SocketAddr, JoinHandle<()>)> {
    if let Kind::Udp = inner.opts.kind {
        let sock = UdpSocket::bind(addr).await?;
        let local = sock.local_addr()?;
        let inner = inner.clone();
        return Ok((
            local,
            tokio::spawn(async move { udp_loop(inner, sock).await }),
        ));
    }
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    if let Some(n) = inner.opts.recv_buffer {
        socket.set_recv_buffer_size(n)?;
    }
    socket.bind(addr)?;
    let listener: TcpListener = socket.listen(1024)?;
    let local = listener.local_addr()?;
    let inner2 = inner.clone();
    let task = tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            inner2.accepted.fetch_add(1, Relaxed);
            let i = inner2.clone();
            let h = tokio::spawn(async move { serve(i, tcp).await });
            lock(&inner2.conns).push(h);
        }
    });
    Ok((local, task))
}

impl Collector {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `127.0.0.1:port`, as a transport address.
    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    /// Every complete frame received so far (MSG only, no MSG-LEN), in arrival order.
    pub fn messages(&self) -> Vec<Vec<u8>> {
        lock(&self.inner.messages).clone()
    }

    pub fn count(&self) -> usize {
        *self.inner.count.borrow()
    }

    /// Framing and handshake errors (each closed its connection).
    pub fn errors(&self) -> Vec<String> {
        lock(&self.inner.errors).clone()
    }

    /// Certificate chains presented by TLS clients, one per accepted connection that sent one.
    pub fn client_chains(&self) -> Vec<Vec<CertificateDer<'static>>> {
        lock(&self.inner.chains).clone()
    }

    /// Connections accepted (TCP/TLS), including failed handshakes.
    pub fn accepted(&self) -> usize {
        self.inner.accepted.load(Relaxed)
    }

    /// Waits until at least `n` frames arrived; false on timeout.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> bool {
        let mut rx = self.inner.count.subscribe();
        tokio::time::timeout(timeout, rx.wait_for(|c| *c >= n))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Stops reading from every connection (the kernel buffers fill, then the sender blocks).
    pub fn pause_reading(&self) {
        self.inner.ctl.send_replace(Ctl::Pause);
    }

    pub fn resume_reading(&self) {
        self.inner.ctl.send_replace(Ctl::Run);
    }

    /// Bytes waiting unread in the kernel for the open connections (ciphertext for TLS).
    /// Meaningful while paused.
    pub fn queued_bytes(&self) -> usize {
        lock(&self.inner.queued).values().sum()
    }

    /// Kills the collector: stops listening, records the frames already in its connections'
    /// buffers (peeked, so a paused collector does not open its TCP window), then resets every
    /// connection. While paused with a full window this loses nothing the kernel acknowledged;
    /// while reading, bytes arriving between that last look and the reset are lost, exactly as
    /// with a crashed real collector.
    pub async fn stop(&self) {
        let listener = lock(&self.listener).take();
        if let Some(t) = listener {
            t.abort();
            let _ = t.await;
        }
        self.inner.ctl.send_replace(Ctl::Kill);
        let conns: Vec<_> = lock(&self.inner.conns).drain(..).collect();
        for c in conns {
            let _ = c.await;
        }
    }

    /// Listens again on the same address (after [`Collector::stop`]), reading normally.
    pub async fn restart(&self) -> std::io::Result<()> {
        self.inner.ctl.send_replace(Ctl::Run);
        let (_, task) = listen(&self.inner, self.addr).await?;
        *lock(&self.listener) = Some(task);
        Ok(())
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        if let Some(t) = lock(&self.listener).take() {
            t.abort();
        }
        self.inner.ctl.send_replace(Ctl::Kill);
    }
}

impl Inner {
    fn record(&self, frames: Vec<Vec<u8>>) {
        if frames.is_empty() {
            return;
        }
        if self.opts.keep_messages {
            let n = {
                let mut m = lock(&self.messages);
                m.extend(frames);
                m.len()
            };
            self.count.send_replace(n);
        } else {
            self.count.send_modify(|c| *c += frames.len());
        }
    }
    fn error(&self, e: String) {
        tracing::debug!(error = %e, "collector: connection error");
        lock(&self.errors).push(e);
    }
}

async fn serve(inner: Arc<Inner>, tcp: TcpStream) {
    match inner.opts.kind.clone() {
        Kind::Tls(cfg) => {
            let acceptor = tokio_rustls::TlsAcceptor::from(cfg);
            let mut ctl = inner.ctl.subscribe();
            let tls = tokio::select! {
                r = acceptor.accept(tcp) => r,
                _ = ctl.wait_for(|c| *c == Ctl::Kill) => return,
            };
            match tls {
                Ok(s) => {
                    if let Some(chain) = s.get_ref().1.peer_certificates() {
                        lock(&inner.chains).push(chain.to_vec());
                    }
                    read_loop(inner, Stream::Tls(Box::new(s))).await;
                }
                Err(e) => inner.error(format!("handshake: {e}")),
            }
        }
        _ => read_loop(inner, Stream::Tcp(tcp)).await,
    }
}

enum Stream {
    Tcp(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

impl Stream {
    fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Tcp(t) => t,
            Stream::Tls(s) => s.get_ref().0,
        }
    }
    async fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Tcp(t) => t.read(buf).await,
            Stream::Tls(s) => s.read(buf).await,
        }
    }
}

async fn peek_all(tcp: &TcpStream) -> Vec<u8> {
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = match tokio::time::timeout(Duration::from_millis(20), tcp.peek(&mut buf)).await {
            Ok(Ok(n)) => n,
            _ => 0,
        };
        if n < buf.len() {
            buf.truncate(n);
            return buf;
        }
        buf.resize(buf.len() * 2, 0);
    }
}

async fn read_loop(inner: Arc<Inner>, mut stream: Stream) {
    let mut parser = FrameParser::new(inner.opts.framing, inner.opts.max_frame);
    let mut ctl = inner.ctl.subscribe();
    let mut buf = vec![0u8; 64 * 1024];
    let id = inner.next_conn.fetch_add(1, Relaxed);
    loop {
        let state = *ctl.borrow_and_update();
        match state {
            Ctl::Kill => break,
            Ctl::Pause => {
                let q = peek_all(stream.tcp()).await.len();
                lock(&inner.queued).insert(id, q);
                let _ = tokio::time::timeout(Duration::from_millis(50), ctl.changed()).await;
                if *ctl.borrow() == Ctl::Run {
                    lock(&inner.queued).remove(&id);
                }
                continue;
            }
            Ctl::Run => {}
        }
        let r = tokio::select! {
            r = stream.read(&mut buf) => r,
            _ = ctl.changed() => continue,
        };
        match r {
            Ok(0) => {
                if let Some(e) = parser.finish() {
                    inner.error(e.to_string());
                }
                return;
            }
            Ok(n) => match parser.push(&buf[..n]) {
                Ok(frames) => inner.record(frames),
                Err((frames, e)) => {
                    inner.record(frames);
                    inner.error(e.to_string());
                    return; // like syslog-ng: a framing error closes the connection
                }
            },
            Err(e) => {
                inner.error(format!("read: {e}"));
                return;
            }
        }
    }
    // Killed: take what the kernel (and rustls) already hold, then reset the connection.
    lock(&inner.queued).remove(&id);
    let tcp = match stream {
        Stream::Tcp(tcp) => {
            let data = peek_all(&tcp).await;
            if let Ok(frames) = parser.push(&data) {
                inner.record(frames);
            }
            tcp
        }
        Stream::Tls(s) => {
            let (tcp, mut conn) = s.into_inner();
            let data = peek_all(&tcp).await;
            let mut rd: &[u8] = &data;
            let mut plain = Vec::new();
            loop {
                let mut chunk = vec![0u8; 64 * 1024];
                match std::io::Read::read(&mut conn.reader(), &mut chunk) {
                    Ok(n) if n > 0 => plain.extend_from_slice(&chunk[..n]),
                    _ => {
                        if rd.is_empty() {
                            break;
                        }
                        match conn.read_tls(&mut rd) {
                            Ok(0) | Err(_) => break,
                            Ok(_) => {
                                if conn.process_new_packets().is_err() {
                                    break;
                                }
                            }
                        }
                    }
                }
            }
            if let Ok(frames) = parser.push(&plain) {
                inner.record(frames);
            }
            tcp
        }
    };
    #[allow(deprecated)] // set_zero_linger is newer than our minimum tokio
    let _ = tcp.set_linger(Some(Duration::ZERO));
    drop(tcp);
}

async fn udp_loop(inner: Arc<Inner>, sock: UdpSocket) {
    let mut buf = vec![0u8; 65_536];
    let mut ctl = inner.ctl.subscribe();
    loop {
        if *ctl.borrow_and_update() == Ctl::Kill {
            return;
        }
        tokio::select! {
            r = sock.recv(&mut buf) => match r {
                Ok(n) => inner.record(vec![buf[..n].to_vec()]),
                Err(e) => inner.error(format!("udp: {e}")),
            },
            _ = ctl.changed() => {}
        }
    }
}
