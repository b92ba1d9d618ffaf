//! Configuration: the TOML file, then `DEFENDER_SYSLOG_<SECTION>__<KEY>` environment variables,
//! then secrets from files or systemd credentials. Parsed into [`raw`] types, then validated into
//! [`Config`]; every error is one line naming the file, the key and what was expected.

#[cfg(test)]
mod agreement;
mod raw;
mod streaming;
mod validate;

use std::fmt;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format as _, Toml};

pub use validate::{Config, Input, STREAMING};

/// Where the config is read from when neither `--config` nor `$DEFENDER_SYSLOG_CONFIG` is set.
pub const DEFAULT_PATH: &str = "/etc/defender-syslog/config.toml";

/// Environment variables with this prefix override file keys.
const ENV_PREFIX: &str = "DEFENDER_SYSLOG_";

/// A config problem: exit code 2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    /// The key, e.g. `destination[1].format`; empty for whole-file problems.
    pub key: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            write!(f, "{}: {}", self.file.display(), self.message)
        } else {
            write!(f, "{}: {}: {}", self.file.display(), self.key, self.message)
        }
    }
}

impl std::error::Error for ConfigError {}

/// The config path to use: `--config`, else `$DEFENDER_SYSLOG_CONFIG` (clap reads both), else the default.
pub fn path_or_default(config: Option<&Path>) -> PathBuf {
    config.map_or_else(|| PathBuf::from(DEFAULT_PATH), Path::to_path_buf)
}

/// Reads, merges and validates the config at `path`; HOSTNAME defaults to gethostname(2) (no
/// lookup: this is what `check --offline` runs).
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    load_with_hostname(path, &crate::hostname::short())
}

/// [`load`] with `default_host` as the HOSTNAME of destinations without `hostname =`.
pub fn load_with_hostname(path: &Path, default_host: &str) -> Result<Config, ConfigError> {
    let err = |key: &str, message: String| ConfigError {
        file: path.to_path_buf(),
        key: key.to_owned(),
        message,
    };
    // figment's `Toml::file` silently ignores a missing file; a daemon must not run on defaults.
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() => {}
        Ok(_) => return Err(err("", "not a regular file".into())),
        Err(e) => return Err(err("", format!("cannot read config file: {e}"))),
    }
    if let Err(e) = std::fs::File::open(path) {
        return Err(err("", format!("cannot read config file: {e}")));
    }
    let figment = Figment::new()
        .merge(Toml::file_exact(path))
        .merge(env_provider());
    let raw: raw::RawConfig = figment.extract().map_err(|e| from_figment(path, e))?;
    validate::validate(path, raw, default_host)
}

fn env_provider() -> Env {
    // `DEFENDER_SYSLOG_CONFIG` names the file; it is not a key inside it.
    Env::prefixed(ENV_PREFIX)
        .split("__")
        .filter(|k| k.as_str() != "config")
}

/// Turns figment's multi-part error into our one-line form: file, key, what was expected.
fn from_figment(path: &Path, e: figment::Error) -> ConfigError {
    let e = e
        .into_iter()
        .next()
        .unwrap_or_else(|| figment::Error::from("invalid config".to_owned()));
    let mut key = display_key(&e.path);
    let mut message = e.kind.to_string();
    if let figment::error::Kind::UnknownField(field, expected) = &e.kind {
        if !key.ends_with(field.as_str()) {
            key = if key.is_empty() {
                field.clone()
            } else {
                format!("{key}.{field}")
            };
        }
        message = format!("unknown key; expected one of: {}", expected.join(", "));
    }
    if let figment::error::Kind::MissingField(field) = &e.kind
        && !key.ends_with(field.as_ref())
    {
        key = if key.is_empty() {
            field.to_string()
        } else {
            format!("{key}.{field}")
        };
        message = "missing".into();
    }
    let from_env = e
        .metadata
        .as_ref()
        .is_some_and(|m| m.name.to_lowercase().contains("environment"));
    let file = if from_env {
        PathBuf::from(format!("{} (environment {ENV_PREFIX}…)", path.display()))
    } else {
        path.to_path_buf()
    };
    ConfigError {
        file,
        key,
        message: message.replace('\n', " "),
    }
}

/// `["destination", "1", "format"]` → `destination[1].format`.
fn display_key(path: &[String]) -> String {
    let mut out = String::new();
    for part in path {
        if part.chars().all(|c| c.is_ascii_digit()) && !out.is_empty() {
            out.push('[');
            out.push_str(part);
            out.push(']');
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(part);
        }
    }
    out
}
