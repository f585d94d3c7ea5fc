//! Raw trace format: what the recorder writes, one file per process.
//!
//! - [`layout`]: the byte layout (diagrams) and constants;
//! - [`writer`]: the allocation-free writer on caller-provided mapped memory (used inside malloc hooks);
//! - [`header`]: the bincode header (`RawHeader`, and `HeaderRef` which serialises without allocating);
//! - [`reader`]: [`RawTrace::open`], validation, crash recovery, lazy per-thread decoding to
//!   [`crate::event::Event`];
//! - [`builder`]: [`RawTraceBuilder`], a std writer of real files through the same encoder.

pub mod builder;
pub mod header;
pub mod layout;
pub mod reader;
pub mod writer;

pub use builder::{BuilderSpec, RawTraceBuilder};
pub use header::{HeaderRef, RawHeader};
pub use layout::EndState;
pub use reader::{
    ChunkEvents, ChunkInfo, ClockSource, RawTrace, Recovery, ThreadEvents, ThreadInfo,
};

use std::path::PathBuf;

/// Errors reading or writing a raw trace. Every message names the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RawError {
    /// The file could not be opened, read, written or mapped.
    #[error("{}: {cause}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause (in the message, not chained as a source, so that it is printed once).
        cause: std::io::Error,
    },
    /// A directory was given where a trace file was expected.
    #[error("{}: is a directory, not a raw trace", path.display())]
    IsDirectory {
        /// The path.
        path: PathBuf,
    },
    /// The file is empty.
    #[error("{}: empty file, not a raw trace", path.display())]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// The file ends before its preamble or header does.
    #[error("{}: truncated raw trace ({len} bytes, shorter than its header)", path.display())]
    Truncated {
        /// The file.
        path: PathBuf,
        /// Its length.
        len: u64,
    },
    /// The file does not start with the raw-trace magic.
    #[error("{}: not a HAKMEM raw trace (bad magic)", path.display())]
    WrongMagic {
        /// The file.
        path: PathBuf,
    },
    /// The file is a raw trace of another format version.
    #[error("{}: raw trace format version {found}, but this build reads version {expected}", path.display())]
    WrongVersion {
        /// The file.
        path: PathBuf,
        /// Version in the file.
        found: u32,
        /// Version this build reads.
        expected: u32,
    },
    /// The preamble or header is inconsistent.
    #[error("{}: corrupt raw trace: {what}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
}

/// The bincode options of the header: fixed-width integers, little-endian, trailing bytes allowed (the
/// region is zero-padded).
pub(crate) fn bincode_options() -> impl bincode::Options + Copy {
    use bincode::Options;
    bincode::DefaultOptions::new()
        .with_fixint_encoding()
        .with_little_endian()
        .allow_trailing_bytes()
}

#[cfg(test)]
mod tests;
