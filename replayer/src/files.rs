//! Checks on the paths a command will write, made before any work starts, so that a bad `-o` fails in
//! milliseconds with one `error:` line instead of after minutes of generating or replaying.
//!
//! Entry points: [`check_output_file`], [`check_output_dir`].

use anyhow::Context;
use std::path::Path;

/// `path` can be created or replaced as a file: its directory exists and is writable, and `path` is not a
/// directory. `option` names the flag in the message.
pub fn check_output_file(path: &Path, option: &str) -> anyhow::Result<()> {
    if path.is_dir() {
        anyhow::bail!(
            "{option} {}: is a directory, expected a file",
            path.display()
        );
    }
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let meta = std::fs::metadata(parent).with_context(|| {
        format!(
            "{option} {}: cannot use {}",
            path.display(),
            parent.display()
        )
    })?;
    if !meta.is_dir() {
        anyhow::bail!(
            "{option} {}: {} is not a directory",
            path.display(),
            parent.display()
        );
    }
    probe(parent).with_context(|| {
        format!(
            "{option} {}: cannot write into {}",
            path.display(),
            parent.display()
        )
    })
}

/// `dir` exists as a writable directory or can be created (its nearest existing ancestor is a writable
/// directory). Creates nothing.
pub fn check_output_dir(dir: &Path, option: &str) -> anyhow::Result<()> {
    let mut cur = dir;
    loop {
        match std::fs::metadata(cur) {
            Ok(m) if m.is_dir() => {
                return probe(cur).with_context(|| {
                    format!(
                        "{option} {}: cannot write into {}",
                        dir.display(),
                        cur.display()
                    )
                })
            }
            Ok(_) => anyhow::bail!(
                "{option} {}: {} is not a directory",
                dir.display(),
                cur.display()
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(e).with_context(|| {
                    format!("{option} {}: cannot use {}", dir.display(), cur.display())
                })
            }
        }
        cur = match cur.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
    }
}

/// Creates and removes a probe file in `dir` (write permission, read-only file systems, quotas of zero).
fn probe(dir: &Path) -> std::io::Result<()> {
    let p = dir.join(format!(".hakmem-probe-{}", std::process::id()));
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&p)?;
    std::fs::remove_file(&p)
}
