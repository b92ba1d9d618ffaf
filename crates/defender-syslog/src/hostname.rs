//! The RFC 5424 HOSTNAME default: this machine's name from gethostname(2), which works inside
//! the packaged unit (`/proc/sys/kernel/hostname` is hidden there by `ProcSubset=pid`), and for
//! `run` only an FQDN lookup bounded in time (a collector host without a reachable resolver must
//! still start, quickly). `check --offline`, `preview` and the other offline paths never look up.
//! A destination's `hostname =` wins over both.

use std::time::Duration;

/// How long `run` waits for the FQDN lookup before using the short name.
pub const FQDN_LOOKUP_BOUND: Duration = Duration::from_secs(1);

/// gethostname(2), or `localhost` when it is empty or not UTF-8.
pub fn short() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// The FQDN of [`short`] when the resolver answers within `bound`, else the short name.
pub fn fqdn(bound: Duration) -> String {
    let short = short();
    if short.contains('.') {
        return short;
    }
    let name = short.clone();
    bounded(&short, bound, move || canonical_name(&name))
}

/// Runs `lookup` on its own thread and waits at most `bound` for it: getaddrinfo(3) cannot be
/// cancelled, so a hung lookup is left behind (it ends with the resolver's own timeout).
fn bounded(
    short: &str,
    bound: Duration,
    lookup: impl FnOnce() -> Option<String> + Send + 'static,
) -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("fqdn-lookup".into())
        .spawn(move || {
            let _ = tx.send(lookup());
        });
    if spawned.is_err() {
        return short.to_owned();
    }
    match rx.recv_timeout(bound) {
        Ok(Some(fqdn)) if fqdn.contains('.') && valid(&fqdn) => fqdn,
        _ => short.to_owned(),
    }
}

/// What the formatter accepts as HOSTNAME (a resolver may answer anything).
fn valid(name: &str) -> bool {
    name.len() <= 255
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

fn canonical_name(short: &str) -> Option<String> {
    let hints = dns_lookup::AddrInfoHints {
        flags: libc::AI_CANONNAME,
        ..Default::default()
    };
    dns_lookup::getaddrinfo(Some(short), None, Some(hints))
        .ok()?
        .find_map(|a| a.ok().and_then(|a| a.canonname))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_is_the_kernel_hostname() {
        // Outside the unit /proc shows the UTS name that gethostname(2) returns.
        let kernel = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        match kernel.trim() {
            "" => assert_eq!(short(), "localhost"),
            k => assert_eq!(short(), k),
        }
    }

    #[test]
    fn a_lookup_that_never_answers_gives_the_short_name() {
        // The lookup blocks until the test ends: only the bound can return.
        let (_hold, wait) = std::sync::mpsc::channel::<()>();
        let got = bounded("collector1", Duration::from_millis(50), move || {
            let _ = wait.recv();
            Some("collector1.example.com".into())
        });
        assert_eq!(got, "collector1");
    }

    #[test]
    fn an_answer_is_used_only_when_it_is_a_valid_fqdn() {
        let got = |answer: Option<&'static str>| {
            bounded("h", Duration::from_secs(30), move || {
                answer.map(str::to_owned)
            })
        };
        assert_eq!(got(Some("h.corp.example")), "h.corp.example");
        assert_eq!(got(Some("h")), "h");
        assert_eq!(got(Some("bad name.example")), "h");
        assert_eq!(got(None), "h");
    }
}
