//! Files and directories the workbench creates are private by default: mode 0600 for files, 0700 for
//! directories. A raw trace's header holds the recorded program's argv (a `--password=…` too), paths from
//! its environment and heap addresses; workloads and result bundles carry the command lines that made
//! them. `HAKMEM_FILE_MODE` (octal, e.g. `644`) asks for another file mode; directories then get the
//! matching execute bits (`644` → `755`). The process umask still applies on top, as for any `open(2)`.
//!
//! Entry points: [`file_mode`], [`create_file`], [`create_dir_all`].

use std::fs::File;
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

/// The environment variable that overrides the private default.
pub const FILE_MODE_ENV: &str = "HAKMEM_FILE_MODE";

/// Mode of new files: `HAKMEM_FILE_MODE` if it is an octal mode in 0..=0777, else 0600.
pub fn file_mode() -> u32 {
    std::env::var(FILE_MODE_ENV)
        .ok()
        .and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
        .filter(|m| *m <= 0o777)
        .unwrap_or(0o600)
}

/// Mode of new directories: the file mode plus execute where it grants read (0600 → 0700).
pub fn dir_mode() -> u32 {
    let m = file_mode();
    m | ((m & 0o444) >> 2)
}

/// Creates (or truncates) `path` for writing with [`file_mode`] (an existing file keeps its mode).
pub fn create_file(path: &Path) -> io::Result<File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(file_mode())
        .open(path)
}

/// Creates `path` and its missing parents with [`dir_mode`].
pub fn create_dir_all(path: &Path) -> io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(dir_mode())
        .create(path)
}

#[cfg(test)]
mod tests {
    #[test]
    fn directory_modes_follow_file_modes() {
        // The default, without touching the environment of other tests.
        assert_eq!(0o600 | ((0o600 & 0o444) >> 2), 0o700);
        assert_eq!(0o644 | ((0o644 & 0o444) >> 2), 0o755);
    }
}
