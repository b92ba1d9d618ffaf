//! What the kernel says about a process: CPU time from `/proc/<pid>/stat`, peak RSS from
//! `/proc/<pid>/status` (`VmHWM`), and the clock tick that converts the former.

use std::process::Command;

/// Clock ticks per second (`getconf CLK_TCK`; 100 on every Linux this runs on).
pub fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// utime + stime of `pid` in seconds (None once the process is gone).
pub fn cpu_seconds(pid: &str, ticks: f64) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces; the fields after its closing ')' are fixed.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After ')' field 0 is state (stat field 3): utime is stat field 14, stime 15.
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    Some((utime + stime) / ticks)
}

/// cutime + cstime of this process: CPU of children already waited for.
pub fn children_cpu_seconds(ticks: f64) -> f64 {
    let Some(stat) = std::fs::read_to_string("/proc/self/stat").ok() else {
        return 0.0;
    };
    let Some(close) = stat.rfind(')') else {
        return 0.0;
    };
    let f: Vec<&str> = stat[close + 2..].split_whitespace().collect();
    let get = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (get(13) + get(14)) / ticks
}

/// A `/proc/<pid>/status` field in KiB (`VmHWM:`, `VmRSS:`).
pub fn status_kib(pid: &str, field: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
}

/// Sum of `field` (`bytes_received`, `bytes_sent`) over the TCP sockets whose local port is
/// `port`, as `ss -ti` reports them (the TLS bytes on the wire, counted by the kernel).
pub fn tcp_bytes(port: u16, field: &str) -> u64 {
    let Ok(out) = Command::new("ss")
        .args(["-tinHa", &format!("( sport = :{port} )")])
        .output()
    else {
        return 0;
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let key = format!("{field}:");
    text.split_whitespace()
        .filter_map(|w| w.strip_prefix(key.as_str()))
        .filter_map(|v| v.parse::<u64>().ok())
        .sum()
}
