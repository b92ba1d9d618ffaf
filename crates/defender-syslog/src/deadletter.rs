//! The dead-letter file: every element forwarded as an "unreadable alert" event is also kept,
//! whole (up to `Unreadable::MAX_RAW`), in `<state_dir>/<destination>.dead-letter.jsonl`, one
//! JSON object per line, so it can be inspected or reported to Microsoft. Bounded: when the file
//! would pass [`MAX_BYTES`] it is rotated to `….jsonl.1` (one old file is kept).

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::PathBuf;

use alert_model::{Timestamp, Unreadable};

/// Size at which the file is rotated; with the one rotated file, at most twice this on disk.
pub const MAX_BYTES: u64 = 4 * 1024 * 1024;

#[derive(Debug, Clone)]
pub struct DeadLetter {
    path: PathBuf,
}

impl DeadLetter {
    pub fn new(dir: impl Into<PathBuf>, destination: &str) -> Self {
        Self {
            path: dir.into().join(format!("{destination}.dead-letter.jsonl")),
        }
    }

    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// Appends one line for `u`, rotating first if the file would grow past [`MAX_BYTES`].
    pub fn append(&self, destination: &str, u: &Unreadable) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(&serde_json::json!({
            "time": Timestamp::now(),
            "destination": destination,
            "id": u.id,
            "lastUpdateTime": u.last_update_time,
            "error": u.error,
            "rawBytes": u.raw_len,
            "raw": u.raw,
        }))
        .map_err(std::io::Error::other)?;
        line.push(b'\n');
        let size = fs::metadata(&self.path).map(|m| m.len()).unwrap_or(0);
        if size > 0 && size + line.len() as u64 > MAX_BYTES {
            let mut old = self.path.clone().into_os_string();
            old.push(".1");
            fs::rename(&self.path, old)?;
        }
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .open(&self.path)?;
        f.write_all(&line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_appended_and_the_file_is_rotated_at_the_cap() {
        let dir = tempfile::tempdir().unwrap();
        let dl = DeadLetter::new(dir.path(), "siem");
        let t = Timestamp::parse("2026-01-01T00:00:00Z").unwrap();
        let u = alert_model::unreadable(br#"{"id":"da1","broken":tru}"#, "value[0]: x".into(), t);
        dl.append("siem", &u).unwrap();
        let text = fs::read_to_string(dl.path()).unwrap();
        let v: serde_json::Value = serde_json::from_str(text.trim_end()).unwrap();
        assert_eq!(v["id"], "da1");
        assert_eq!(v["raw"], r#"{"id":"da1","broken":tru}"#);
        let big = alert_model::unreadable(&vec![b'x'; Unreadable::MAX_RAW], "e".into(), t);
        for _ in 0..(MAX_BYTES / Unreadable::MAX_RAW as u64 + 5) {
            dl.append("siem", &big).unwrap();
        }
        let rotated = dir.path().join("siem.dead-letter.jsonl.1");
        assert!(fs::metadata(dl.path()).unwrap().len() <= MAX_BYTES);
        assert!(fs::metadata(&rotated).unwrap().len() <= MAX_BYTES);
    }
}
