//! Persisted cursors: one JSON file per destination in the state directory, holding the
//! [`ResumePoint`] the pipeline committed after the transport reported delivery.
//!
//! Writes are atomic (temp file in the same directory, fsync, rename, fsync the directory), so a
//! `kill -9` or power loss leaves either the old or the new cursor, never a torn one. A file that
//! cannot be read is an error with the recovery command, never a silent restart from scratch.
//!
//! A file records the source (`graph` / `mde`) its cursor belongs to: the watermark and the
//! delivered keys of one API mean nothing to the other, so a config whose source differs is
//! refused ([`StateError::SourceSwitched`]) with the command to start over.

use std::fs::{self, File, OpenOptions};
use std::path::PathBuf;

use alert_model::{ResumePoint, Timestamp};
use fetcher::Source;
use serde::{Deserialize, Serialize};

/// Version of the file layout; bumped on incompatible changes.
const LAYOUT_VERSION: u32 = 1;

/// What is on disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateFile {
    pub version: u32,
    pub destination: String,
    /// The API the cursor belongs to. Files written before sources were recorded have none:
    /// they are `mde`, the only source there was.
    #[serde(default = "legacy_source", with = "source_name")]
    pub source: Source,
    /// When this cursor was committed.
    pub updated: Timestamp,
    pub resume: ResumePoint,
}

fn legacy_source() -> Source {
    Source::Mde
}

/// A [`Source`] as its config name.
mod source_name {
    use fetcher::Source;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(source: &Source, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(source.name())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Source, D::Error> {
        let name = String::deserialize(d)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

/// [`StateFile`] borrowed, for writing without copying the delivered keys.
#[derive(Serialize)]
struct StateFileRef<'a> {
    version: u32,
    destination: &'a str,
    #[serde(with = "source_name")]
    source: Source,
    updated: Timestamp,
    resume: &'a ResumePoint,
}

/// Counts what would be written (for "bytes needed").
struct ByteCount(u64);

impl std::io::Write for ByteCount {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A state problem, always naming the file and how to recover.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error(
        "state file {path} is unreadable ({reason}); nothing was forwarded from a guessed position. \
         Inspect it, then choose where to restart: `defender-syslog state reset --destination {destination} --since <TIME>`"
    )]
    Corrupt {
        path: PathBuf,
        destination: String,
        reason: String,
    },
    #[error("cannot write state file {path} ({needed} bytes needed): {source}")]
    Write {
        path: PathBuf,
        /// Size of the file that could not be written.
        needed: u64,
        source: std::io::Error,
    },
    #[error(
        "destination {destination}: the state file {path} holds a cursor of source {recorded}, but the config says \
         source = \"{configured}\"; a cursor of one source is never applied to the other, so nothing was started. \
         To start over with {configured}, run `{reset}` (or set source = \"{recorded}\" back)"
    )]
    SourceSwitched {
        path: PathBuf,
        destination: String,
        recorded: Source,
        configured: Source,
        /// The command that starts this destination over with the configured source.
        reset: String,
    },
    #[error("cannot use state directory {path}: {source}")]
    Directory {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The state directory, and the source whose cursors it writes.
#[derive(Debug, Clone)]
pub struct StateStore {
    dir: PathBuf,
    source: Source,
}

impl StateStore {
    pub fn new(dir: impl Into<PathBuf>, source: Source) -> Self {
        Self {
            dir: dir.into(),
            source,
        }
    }

    /// The state directory of `cfg`, for the source it configures.
    pub fn of(cfg: &crate::config::Config) -> Self {
        // The streaming source keeps no cursor file (Kafka holds its offsets); its store only
        // holds the dead-letter file, so the source it would record does not matter.
        let source = cfg
            .alerts()
            .map(|a| a.client.0.source())
            .unwrap_or_default();
        Self::new(&cfg.state_dir, source)
    }

    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    /// Creates the directory (mode 0700) if needed and checks it is writable.
    pub fn ensure_dir(&self) -> Result<(), StateError> {
        let err = |source| StateError::Directory {
            path: self.dir.clone(),
            source,
        };
        if !self.dir.exists() {
            use std::os::unix::fs::DirBuilderExt;
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&self.dir)
                .map_err(err)?;
        }
        let probe = self.dir.join(".write-test");
        File::create(&probe).map_err(err)?;
        fs::remove_file(&probe).map_err(err)
    }

    /// The file of `destination` (names are validated to `[A-Za-z0-9._-]`).
    pub fn path(&self, destination: &str) -> PathBuf {
        self.dir.join(format!("{destination}.cursor.json"))
    }

    /// `Ok(None)` when there is no file yet (first start).
    pub fn load(&self, destination: &str) -> Result<Option<StateFile>, StateError> {
        let path = self.path(destination);
        let corrupt = |reason: String| StateError::Corrupt {
            path: path.clone(),
            destination: destination.to_owned(),
            reason,
        };
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(corrupt(e.to_string())),
        };
        let file: StateFile = serde_json::from_slice(&bytes)
            .map_err(|e| corrupt(format!("not a valid state file: {e}")))?;
        if file.version != LAYOUT_VERSION {
            return Err(corrupt(format!(
                "layout version {} is not {LAYOUT_VERSION}",
                file.version
            )));
        }
        if file.destination != destination {
            return Err(corrupt(format!(
                "it belongs to destination {:?}",
                file.destination
            )));
        }
        Ok(Some(file))
    }

    /// [`Self::load`] for starting `destination`: a cursor of another source is refused.
    pub fn load_to_resume(&self, destination: &str) -> Result<Option<StateFile>, StateError> {
        let Some(file) = self.load(destination)? else {
            return Ok(None);
        };
        if file.source == self.source {
            return Ok(Some(file));
        }
        // Where the old source had got to: the new one starts there (no flood of old alerts).
        let since = file
            .resume
            .watermark
            .map(|w| format!(" --since {w}"))
            .unwrap_or_default();
        Err(StateError::SourceSwitched {
            path: self.path(destination),
            destination: destination.to_owned(),
            recorded: file.source,
            configured: self.source,
            reset: format!("defender-syslog state reset --destination {destination}{since}"),
        })
    }

    /// Checks every destination's file can be resumed with this source.
    pub fn check_sources<'a>(
        &self,
        destinations: impl IntoIterator<Item = &'a str>,
    ) -> Result<(), StateError> {
        for d in destinations {
            // Other problems (a corrupt file) are reported where the file is used.
            if let Err(e @ StateError::SourceSwitched { .. }) = self.load_to_resume(d) {
                return Err(e);
            }
        }
        Ok(())
    }

    /// Atomically replaces the cursor of `destination`. On failure (a full or read-only
    /// filesystem) the temp file is removed and the old file is untouched.
    pub fn save(&self, destination: &str, resume: &ResumePoint) -> Result<(), StateError> {
        let file = StateFileRef {
            version: LAYOUT_VERSION,
            destination,
            source: self.source,
            updated: Timestamp::now(),
            resume,
        };
        let path = self.path(destination);
        let tmp = self.dir.join(format!(".{destination}.cursor.json.tmp"));
        self.write_atomically(&file, &tmp, &path).map_err(|source| {
            // A partial temp file would only take space that the next attempt needs.
            let _ = fs::remove_file(&tmp);
            let mut count = ByteCount(0);
            let _ = serde_json::to_writer_pretty(&mut count, &file);
            StateError::Write {
                path: path.clone(),
                needed: count.0,
                source,
            }
        })
    }

    fn write_atomically(
        &self,
        file: &StateFileRef<'_>,
        tmp: &std::path::Path,
        path: &std::path::Path,
    ) -> std::io::Result<()> {
        {
            use std::os::unix::fs::OpenOptionsExt;
            let f = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(tmp)?;
            // Streamed: thousands of delivered keys are never one big string in memory.
            let mut w = std::io::BufWriter::new(f);
            serde_json::to_writer_pretty(&mut w, file).map_err(std::io::Error::other)?;
            let f = w.into_inner().map_err(|e| e.into_error())?;
            f.sync_all()?;
        }
        fs::rename(tmp, path)?;
        // The rename is durable only once the directory entry is.
        File::open(&self.dir).and_then(|d| d.sync_all())
    }

    /// Every destination with a state file, sorted.
    pub fn list(&self) -> Result<Vec<String>, StateError> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(StateError::Directory {
                    path: self.dir.clone(),
                    source,
                });
            }
        };
        let mut names: Vec<String> = entries
            .filter_map(Result::ok)
            .filter_map(|e| {
                e.file_name()
                    .to_str()?
                    .strip_suffix(".cursor.json")
                    .map(str::to_owned)
            })
            .filter(|n| !n.starts_with('.'))
            .collect();
        names.sort();
        Ok(names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alert_model::VersionKey;

    fn ts(s: &str) -> Timestamp {
        Timestamp::parse(s).unwrap()
    }

    #[test]
    fn save_then_load_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::new(dir.path(), Source::Mde);
        assert!(
            store.load("siem").unwrap().is_none(),
            "no file = first start"
        );
        let resume = ResumePoint {
            watermark: Some(ts("2026-11-20T08:14:05.3966667Z")),
            delivered: vec![VersionKey {
                id: "a".into(),
                last_update_time: ts("2026-11-20T08:14:05.3966667Z"),
            }],
        };
        store.save("siem", &resume).unwrap();
        let back = store.load("siem").unwrap().unwrap();
        assert_eq!(back.resume, resume);
        assert_eq!(store.list().unwrap(), vec!["siem".to_string()]);
        assert!(!dir.path().join(".siem.cursor.json.tmp").exists());
    }

    #[test]
    fn a_failed_save_leaves_the_old_file_and_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::new(dir.path(), Source::Mde);
        let old = ResumePoint {
            watermark: Some(ts("2026-11-20T08:14:05Z")),
            delivered: vec![],
        };
        store.save("siem", &old).unwrap();
        // The temp file leads to /dev/full: every write fails with ENOSPC, as on a full disk.
        let tmp = dir.path().join(".siem.cursor.json.tmp");
        std::os::unix::fs::symlink("/dev/full", &tmp).unwrap();
        let newer = ResumePoint {
            watermark: Some(ts("2026-11-20T09:00:00Z")),
            delivered: vec![],
        };
        let e = store.save("siem", &newer).unwrap_err();
        let StateError::Write { needed, .. } = &e else {
            panic!("{e}")
        };
        assert!(*needed > 50, "{e}");
        assert!(e.to_string().contains("No space left on device"), "{e}");
        assert!(!tmp.exists(), "the temp entry is cleaned up");
        assert_eq!(store.load("siem").unwrap().unwrap().resume, old);
        store.save("siem", &newer).unwrap();
        assert_eq!(store.load("siem").unwrap().unwrap().resume, newer);
    }

    #[test]
    fn corrupt_file_is_an_error_naming_the_recovery() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::new(dir.path(), Source::Mde);
        fs::write(store.path("siem"), b"{\"version\":1,\"destin").unwrap();
        let e = store.load("siem").unwrap_err().to_string();
        assert!(e.contains("state reset --destination siem --since"), "{e}");
    }

    #[test]
    fn a_file_of_another_destination_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::new(dir.path(), Source::Mde);
        store.save("a", &ResumePoint::default()).unwrap();
        fs::copy(store.path("a"), store.path("b")).unwrap();
        assert!(store.load("b").is_err());
    }

    #[test]
    fn the_source_is_recorded_and_a_file_without_one_is_mde() {
        let dir = tempfile::tempdir().unwrap();
        let graph = StateStore::new(dir.path(), Source::Graph);
        graph.save("siem", &ResumePoint::default()).unwrap();
        let text = fs::read_to_string(graph.path("siem")).unwrap();
        assert!(text.contains("\"source\": \"graph\""), "{text}");
        assert_eq!(graph.load("siem").unwrap().unwrap().source, Source::Graph);
        // Written by 0.1.0 before this change: no `source` key.
        fs::write(
            graph.path("old"),
            br#"{"version":1,"destination":"old","updated":"2026-11-20T08:00:00Z",
                "resume":{"watermark":"2026-11-20T07:00:00Z","delivered":[]}}"#,
        )
        .unwrap();
        assert_eq!(graph.load("old").unwrap().unwrap().source, Source::Mde);
        fs::write(
            graph.path("odd"),
            br#"{"version":1,"destination":"odd","source":"eventhub","updated":"2026-11-20T08:00:00Z",
                "resume":{"watermark":null,"delivered":[]}}"#,
        )
        .unwrap();
        let e = graph.load("odd").unwrap_err().to_string();
        assert!(e.contains("unknown source \"eventhub\""), "{e}");
    }

    #[test]
    fn a_cursor_of_the_other_source_is_refused_with_the_reset_command() {
        let dir = tempfile::tempdir().unwrap();
        let mde = StateStore::new(dir.path(), Source::Mde);
        let resume = ResumePoint {
            watermark: Some(ts("2026-11-20T08:14:05Z")),
            delivered: vec![],
        };
        mde.save("siem", &resume).unwrap();
        assert!(mde.load_to_resume("siem").unwrap().is_some());
        let graph = StateStore::new(dir.path(), Source::Graph);
        let e = graph.load_to_resume("siem").unwrap_err();
        assert!(matches!(e, StateError::SourceSwitched { .. }), "{e}");
        let e = e.to_string();
        for part in [
            "destination siem",
            "source mde",
            "source = \"graph\"",
            "`defender-syslog state reset --destination siem --since 2026-11-20T08:14:05Z`",
        ] {
            assert!(e.contains(part), "{part:?} missing in: {e}");
        }
        assert!(graph.check_sources(["siem"]).is_err());
        assert!(graph.load_to_resume("none").unwrap().is_none());
        // After a reset by the graph store the file is graph's.
        graph.save("siem", &resume).unwrap();
        graph.check_sources(["siem"]).unwrap();
        assert!(mde.load_to_resume("siem").is_err());
    }
}
