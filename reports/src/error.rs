//! Typed errors of the reports library. Every variant names the file involved and the likely cause, so the
//! CLI can print it as one `error: …` line.

use std::path::PathBuf;

/// An error while reading a result bundle or writing an export.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    /// The bundle path does not exist.
    #[error("bundle {path}: no such file or directory (give the directory `hakmem replay` wrote)")]
    MissingBundle {
        /// The path given.
        path: PathBuf,
    },
    /// A file of the bundle could not be read.
    #[error("{path}: {cause}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        // Not `source`: the message already says it, and a source would be printed twice by `{:#}`.
        cause: std::io::Error,
    },
    /// `manifest.json` is not a manifest.
    #[error("{path}: not a valid bundle manifest: {reason}")]
    BadManifest {
        /// The manifest file.
        path: PathBuf,
        /// What the parser said.
        reason: String,
    },
    /// The bundle was written by a newer (or unknown) format version.
    #[error(
        "{path}: bundle format version {found} is not supported (this hakmem reads version {supported}; \
         use the hakmem that wrote it, or a newer one)"
    )]
    UnsupportedVersion {
        /// The manifest file.
        path: PathBuf,
        /// Version in the file.
        found: u32,
        /// Version this library reads.
        supported: u32,
    },
    /// An export could not be written.
    #[error("cannot write {path}: {cause}")]
    Write {
        /// The destination (`-` for stdout).
        path: PathBuf,
        /// The cause.
        // Not `source`: the message already says it, and a source would be printed twice by `{:#}`.
        cause: std::io::Error,
    },
}
