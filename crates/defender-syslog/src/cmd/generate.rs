//! `defender-syslog generate man|completions --out-dir DIR` (hidden; used by packaging).
//!
//! Both outputs come from the clap definitions in `crate::cli`, so they never drift from `--help`:
//! - `man`: `defender-syslog.1` plus one page per visible subcommand (`defender-syslog-check.1`, …),
//!   with FILES, ENVIRONMENT and EXIT STATUS sections that clap cannot know about.
//! - `completions`: `defender-syslog.bash`, `_defender-syslog` (zsh) and `defender-syslog.fish`.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::{Cli, GenerateArgs, GenerateWhat};

const BIN: &str = "defender-syslog";

pub fn run(args: GenerateArgs) -> anyhow::Result<ExitCode> {
    fs::create_dir_all(&args.out_dir)
        .with_context(|| format!("cannot create {}", args.out_dir.display()))?;
    let written = match args.what {
        GenerateWhat::Man => man_pages(&args.out_dir)?,
        GenerateWhat::Completions => completions(&args.out_dir)?,
    };
    for path in written {
        println!("{}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes the main page and one page per visible subcommand (nested ones too, e.g.
/// `defender-syslog-state-reset.1`); returns the paths written.
fn man_pages(out_dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    let mut written = Vec::new();
    let main = clap_mangen::Man::new(cmd.clone());
    let main_path = out_dir.join(main.get_filename());
    let mut page = Vec::new();
    main.render(&mut page)?;
    let page = String::from_utf8(page).context("man page is not UTF-8")?;
    // Our sections go before VERSION, where man pages usually keep FILES and EXIT STATUS.
    let page = match page.find(".SH VERSION") {
        Some(at) => format!("{}{MAIN_PAGE_EXTRA}{}", &page[..at], &page[at..]),
        None => format!("{page}{MAIN_PAGE_EXTRA}"),
    };
    write_file(&main_path, page.as_bytes())?;
    written.push(main_path);
    subcommand_pages(&cmd, out_dir, &mut written)?;
    Ok(written)
}

fn subcommand_pages(
    parent: &clap::Command,
    out_dir: &Path,
    written: &mut Vec<PathBuf>,
) -> anyhow::Result<()> {
    for sub in parent.get_subcommands().filter(|s| !s.is_hide_set()) {
        let man = clap_mangen::Man::new(sub.clone());
        let path = out_dir.join(man.get_filename());
        let mut page = Vec::new();
        man.render(&mut page)?;
        page.extend_from_slice(SEE_ALSO.as_bytes());
        write_file(&path, &page)?;
        written.push(path);
        subcommand_pages(sub, out_dir, written)?;
    }
    Ok(())
}

fn completions(out_dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut cmd = Cli::command();
    [Shell::Bash, Shell::Zsh, Shell::Fish]
        .into_iter()
        .map(|shell| {
            clap_complete::generate_to(shell, &mut cmd, BIN, out_dir).with_context(|| {
                format!("cannot write {shell} completions to {}", out_dir.display())
            })
        })
        .collect()
}

fn write_file(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    let mut file =
        fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(contents)
        .and_then(|()| file.flush())
        .with_context(|| format!("cannot write {}", path.display()))
}

const SEE_ALSO: &str = r#".SH "SEE ALSO"
\fBdefender-syslog\fR(1)
"#;

/// Sections clap knows nothing about: where things live, and what the exit codes mean.
const MAIN_PAGE_EXTRA: &str = r#".SH FILES
.TP
\fI/etc/defender-syslog/config.toml\fR
The configuration file (TOML), readable by group \fBdefender-syslog\fR.
.TP
\fI/etc/defender-syslog/client-secret\fR
The Entra ID client secret. The systemd unit passes it to the daemon as the credential
\fBclient-secret\fR (\fBLoadCredential=\fR), so it can stay readable by root only.
.TP
\fI/var/lib/defender-syslog/\fR
Persisted cursors (the systemd \fBStateDirectory=\fR).
.TP
\fI/usr/lib/systemd/system/defender-syslog.service\fR
The hardened systemd unit.
.SH ENVIRONMENT
.TP
\fBDEFENDER_SYSLOG_CONFIG\fR
The config file, if \fB\-\-config\fR is not given.
.TP
\fBDEFENDER_SYSLOG_\fR\fISECTION\fR\fB__\fR\fIKEY\fR
Overrides one config key, e.g. \fBDEFENDER_SYSLOG_DEFENDER__CLIENT_SECRET\fR.
.TP
\fBCREDENTIALS_DIRECTORY\fR
Set by systemd; the client secret is read from its file \fBclient-secret\fR.
.SH "EXIT STATUS"
.TP
\fB0\fR
Success.
.TP
\fB1\fR
Runtime failure.
.TP
\fB2\fR
Bad usage or bad configuration.
.SH "SEE ALSO"
\fBjournalctl\fR(1), \fBsystemd.exec\fR(5), \fBsystemd-creds\fR(1)
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn man_pages_cover_every_visible_subcommand_and_extra_sections() {
        let dir = tempfile::tempdir().unwrap();
        let written = man_pages(dir.path()).unwrap();
        let names: Vec<String> = written
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        for expected in [
            "defender-syslog.1",
            "defender-syslog-run.1",
            "defender-syslog-check.1",
            "defender-syslog-state-reset.1",
        ] {
            assert!(
                names.iter().any(|n| n == expected),
                "{expected} missing from {names:?}"
            );
        }
        assert!(
            !names.iter().any(|n| n.contains("generate")),
            "hidden command documented: {names:?}"
        );
        let main = fs::read_to_string(dir.path().join("defender-syslog.1")).unwrap();
        assert!(
            main.starts_with(".ie") || main.starts_with(".TH"),
            "not roff: {main:.40}"
        );
        assert!(main.contains(".SH FILES") && main.contains("/etc/defender-syslog/config.toml"));
        let files = main.find(".SH FILES").unwrap();
        assert!(
            main.find(".SH OPTIONS").unwrap() < files,
            "FILES before OPTIONS"
        );
        assert!(
            main.find(".SH VERSION").is_none_or(|v| files < v),
            "FILES after VERSION"
        );
        assert!(main.contains("\\-\\-offline") || main.contains("check"));
    }

    #[test]
    fn generate_stays_out_of_help() {
        let help = Cli::command().render_long_help().to_string();
        assert!(help.contains("check"), "{help}");
        assert!(
            !help.contains("generate"),
            "hidden subcommand shown in --help: {help}"
        );
    }

    #[test]
    fn completions_for_bash_zsh_fish_name_the_subcommands() {
        let dir = tempfile::tempdir().unwrap();
        let written = completions(dir.path()).unwrap();
        assert_eq!(written.len(), 3);
        for (file, needle) in [
            ("defender-syslog.bash", "complete -F"),
            ("_defender-syslog", "#compdef defender-syslog"),
            ("defender-syslog.fish", "complete -c defender-syslog"),
        ] {
            let text = fs::read_to_string(dir.path().join(file)).unwrap();
            assert!(text.contains(needle), "{file} lacks {needle:?}");
            assert!(text.contains("offline"), "{file} lacks `check --offline`");
        }
    }
}
