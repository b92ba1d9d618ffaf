//! Real collectors on loopback as child processes: rsyslog (gtls driver, optional mutual TLS
//! with `x509/name` + `PermittedPeer`) and syslog-ng (strict RFC 5425 `syslog()` TLS source).
//!
//! Each writes the raw received message (`%rawmsg%` / `${RAWMSG}`) to a file, one record per
//! frame followed by [`RECORD_END`], so tests compare bytes. Processes are killed on drop.
//! Configurations follow what ran on Debian 12 (shared reference toolchain.md §3, formats.md
//! §5.1/§5.2). syslog-ng cannot be installed next to rsyslog, so `.ci/install-deps` extracts
//! its package into [`SYSLOG_NG_ROOT_DEFAULT`] (override with `SYSLOG_NG_ROOT`).

use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::pki::PkiFiles;

/// Written after every received message in the output file.
pub const RECORD_END: &str = "\n#END-OF-FRAME#\n";
/// Where `.ci/install-deps` extracts Debian's `syslog-ng-core`.
pub const SYSLOG_NG_ROOT_DEFAULT: &str = "/opt/defender-syslog-ci/syslog-ng";

#[derive(Debug, thiserror::Error)]
pub enum ExternalError {
    #[error("{0} is not installed (run .ci/install-deps)")]
    Missing(&'static str),
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("{what} failed: {output}")]
    Failed { what: String, output: String },
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ExternalError {
    let what = what.into();
    move |source| ExternalError::Io { what, source }
}

/// `rsyslogd`, if installed.
pub fn rsyslogd() -> Option<PathBuf> {
    ["/usr/sbin/rsyslogd", "/sbin/rsyslogd"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// How to run syslog-ng: the binary plus its library/module directories (extracted package),
/// or a normal install.
#[derive(Debug, Clone)]
pub struct SyslogNgInstall {
    pub binary: PathBuf,
    pub lib_dir: Option<PathBuf>,
    pub module_path: Option<PathBuf>,
}

pub fn syslog_ng() -> Option<SyslogNgInstall> {
    let root = std::env::var_os("SYSLOG_NG_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(SYSLOG_NG_ROOT_DEFAULT));
    let bin = root.join("usr/sbin/syslog-ng");
    if bin.exists() {
        let lib = root.join("usr/lib/syslog-ng");
        let module = std::fs::read_dir(&lib).ok().and_then(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.path())
                .find(|p| p.join("libaffile.so").exists())
        });
        return Some(SyslogNgInstall {
            binary: bin,
            lib_dir: Some(lib),
            module_path: module,
        });
    }
    let sys = PathBuf::from("/usr/sbin/syslog-ng");
    sys.exists().then_some(SyslogNgInstall {
        binary: sys,
        lib_dir: None,
        module_path: None,
    })
}

/// A free loopback port (bound, then released for the child to take).
pub fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A running collector process.
#[derive(Debug)]
pub struct Running {
    child: Child,
    name: &'static str,
    addr: SocketAddr,
    output: PathBuf,
    log: PathBuf,
}

impl Running {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    /// Messages written so far (raw, one per received frame).
    pub fn messages(&self) -> Vec<Vec<u8>> {
        let data = std::fs::read(&self.output).unwrap_or_default();
        let end = RECORD_END.as_bytes();
        let mut out = Vec::new();
        let mut rest: &[u8] = &data;
        while let Some(i) = rest.windows(end.len()).position(|w| w == end) {
            out.push(rest[..i].to_vec());
            rest = &rest[i + end.len()..];
        }
        out
    }

    /// Polls the output file until `n` messages are there (or `timeout`), returns them.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Vec<u8>> {
        let start = Instant::now();
        loop {
            let m = self.messages();
            if m.len() >= n || start.elapsed() > timeout {
                return m;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The collector's own stdout/stderr so far (for diagnosing refusals).
    pub fn log(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.log) {
            let _ = f.read_to_string(&mut s);
        }
        s
    }

    pub fn name(&self) -> &'static str {
        self.name
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(
    name: &'static str,
    mut cmd: Command,
    dir: &Path,
    port: u16,
    output: PathBuf,
) -> Result<Running, ExternalError> {
    let log = dir.join(format!("{name}.log"));
    let logf = std::fs::File::create(&log).map_err(io(log.display().to_string()))?;
    let logf2 = logf.try_clone().map_err(io("log"))?;
    cmd.stdin(Stdio::null())
        .stdout(Stdio::from(logf))
        .stderr(Stdio::from(logf2));
    let child = cmd.spawn().map_err(io(format!("spawn {name}")))?;
    let mut running = Running {
        child,
        name,
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        output,
        log,
    };
    let start = Instant::now();
    loop {
        if TcpStream::connect_timeout(&running.addr, Duration::from_millis(200)).is_ok() {
            return Ok(running);
        }
        if let Ok(Some(status)) = running.child.try_wait() {
            return Err(ExternalError::Failed {
                what: format!("{name} exited ({status}) before listening"),
                output: running.log(),
            });
        }
        if start.elapsed() > Duration::from_secs(30) {
            return Err(ExternalError::Failed {
                what: format!("{name} not listening on {} after 30 s", running.addr),
                output: running.log(),
            });
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// rsyslog with the `gtls` driver. `permitted_peers` empty: server authentication only
/// (`anon`); otherwise `x509/name`, so clients need a certificate from the CA whose name is
/// listed (gtls enforces `PermittedPeer`; ossl 8.2302 does not).
pub fn rsyslog(
    dir: &Path,
    pki: &PkiFiles,
    permitted_peers: &[&str],
) -> Result<Running, ExternalError> {
    let bin = rsyslogd().ok_or(ExternalError::Missing("rsyslogd"))?;
    let port = free_port().map_err(io("free port"))?;
    let work = dir.join("rsyslog-work");
    std::fs::create_dir_all(&work).map_err(io(work.display().to_string()))?;
    let output = dir.join("rsyslog-raw.log");
    let auth = if permitted_peers.is_empty() {
        "StreamDriver.AuthMode=\"anon\"".to_string()
    } else {
        let peers: Vec<String> = permitted_peers.iter().map(|p| format!("\"{p}\"")).collect();
        format!(
            "StreamDriver.AuthMode=\"x509/name\" PermittedPeer=[{}]",
            peers.join(",")
        )
    };
    let conf = format!(
        r#"global(workDirectory="{work}" maxMessageSize="256k"
       parser.escapeControlCharactersOnReceive="off"
       defaultNetstreamDriver="gtls"
       defaultNetstreamDriverCAFile="{ca}"
       defaultNetstreamDriverCertFile="{cert}"
       defaultNetstreamDriverKeyFile="{key}")
module(load="imtcp" StreamDriver.Name="gtls" StreamDriver.Mode="1" {auth})
input(type="imtcp" address="127.0.0.1" port="{port}" ruleset="tls")
template(name="raw" type="string" string="%rawmsg%\n#END-OF-FRAME#\n")
ruleset(name="tls") {{ action(type="omfile" file="{out}" template="raw") }}
"#,
        work = work.display(),
        ca = pki.ca.display(),
        cert = pki.server_cert.display(),
        key = pki.server_key.display(),
        out = output.display(),
    );
    let conf_path = dir.join("rsyslog.conf");
    std::fs::write(&conf_path, conf).map_err(io("rsyslog.conf"))?;
    let check = Command::new(&bin)
        .arg("-N1")
        .arg("-f")
        .arg(&conf_path)
        .output()
        .map_err(io("rsyslogd -N1"))?;
    if !check.status.success() {
        return Err(ExternalError::Failed {
            what: "rsyslogd -N1 (config check)".into(),
            output: String::from_utf8_lossy(&check.stderr).into_owned(),
        });
    }
    let mut cmd = Command::new(&bin);
    cmd.arg("-n")
        .arg("-f")
        .arg(&conf_path)
        .arg("-i")
        .arg(dir.join("rsyslogd.pid"));
    spawn("rsyslogd", cmd, dir, port, output)
}

/// syslog-ng with a strict RFC 5425 `syslog(transport("tls"))` source requiring a client
/// certificate from the CA (`peer-verify(required-trusted)`).
pub fn syslog_ng_tls(dir: &Path, pki: &PkiFiles) -> Result<Running, ExternalError> {
    let inst = syslog_ng().ok_or(ExternalError::Missing("syslog-ng"))?;
    let port = free_port().map_err(io("free port"))?;
    let output = dir.join("syslog-ng-raw.log");
    let conf = format!(
        r#"@version: 3.38
options {{ keep-hostname(yes); log-msg-size(262144); }};
source s_tls {{
  syslog(ip("127.0.0.1") port({port}) transport("tls") flags(store-raw-message)
    tls(key-file("{key}") cert-file("{cert}") ca-file("{ca}") peer-verify(required-trusted)));
}};
destination d_raw {{ file("{out}" template("${{RAWMSG}}\n#END-OF-FRAME#\n")); }};
log {{ source(s_tls); destination(d_raw); }};
"#,
        key = pki.server_key.display(),
        cert = pki.server_cert.display(),
        ca = pki.ca.display(),
        out = output.display(),
    );
    let conf_path = dir.join("syslog-ng.conf");
    std::fs::write(&conf_path, conf).map_err(io("syslog-ng.conf"))?;
    let base = |c: &mut Command| {
        if let Some(lib) = &inst.lib_dir {
            c.env("LD_LIBRARY_PATH", lib);
        }
        if let Some(m) = &inst.module_path {
            c.arg(format!("--module-path={}", m.display()));
        }
        c.arg("-f").arg(&conf_path);
    };
    let mut check = Command::new(&inst.binary);
    base(&mut check);
    let out = check
        .arg("--syntax-only")
        .output()
        .map_err(io("syslog-ng --syntax-only"))?;
    if !out.status.success() {
        return Err(ExternalError::Failed {
            what: "syslog-ng --syntax-only".into(),
            output: format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        });
    }
    let mut cmd = Command::new(&inst.binary);
    base(&mut cmd);
    cmd.args(["-F", "-e", "--no-caps"])
        .arg("-R")
        .arg(dir.join("syslog-ng.persist"))
        .arg("-p")
        .arg(dir.join("syslog-ng.pid"))
        .arg("-c")
        .arg(dir.join("syslog-ng.ctl"));
    spawn("syslog-ng", cmd, dir, port, output)
}
