//! The raw-trace header: who was recorded and how to read its clock.
//!
//! Entry points: [`RawHeader`] (decoded, owned) and [`HeaderRef`] (the writer's borrowed form, which
//! serialises without allocating: strings are byte slices, argv is one NUL-separated buffer).
//! Both have the same bincode encoding (fixint, little-endian): a byte string is a `u64` length then the
//! bytes, exactly like a `Vec<u8>`.

use serde::ser::{SerializeSeq, SerializeStruct};
use serde::{Deserialize, Serialize, Serializer};

/// Decoded header of a raw trace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawHeader {
    /// Process id of the recorded process.
    pub pid: u32,
    /// Its parent's pid.
    pub ppid: u32,
    /// `/proc/self/exe` at the start (lossy UTF-8).
    pub executable: String,
    /// The command line (lossy UTF-8; may be cut at `argv_truncated`).
    pub argv: Vec<String>,
    /// True when the command line was longer than the recorder keeps.
    pub argv_truncated: bool,
    /// TSC read at the start of recording.
    pub start_tsc: u64,
    /// CLOCK_MONOTONIC (ns) read together with `start_tsc`; event timestamps count from here.
    pub start_mono_ns: u64,
    /// CLOCK_REALTIME at the start, ns since the Unix epoch.
    pub start_unix_ns: u64,
    /// TSC frequency measured at the start (a short calibration); the reader prefers a fit over the
    /// (TSC, ns) pairs stored in chunk headers and the end slot when they span long enough.
    pub tsc_hz: u64,
    /// Page size of the recording machine.
    pub page_size: u32,
    /// Pid of the process this one was forked from without exec (0 when it was not).
    pub forked_from: u32,
}

/// The writer's view of a [`RawHeader`]: borrowed bytes, serialised without allocation.
#[derive(Clone, Copy, Debug)]
pub struct HeaderRef<'a> {
    /// See [`RawHeader::pid`].
    pub pid: u32,
    /// See [`RawHeader::ppid`].
    pub ppid: u32,
    /// Executable path bytes.
    pub executable: &'a [u8],
    /// Command line as NUL-separated (and NUL-terminated) bytes, like `/proc/self/cmdline`.
    pub argv_nul: &'a [u8],
    /// See [`RawHeader::argv_truncated`].
    pub argv_truncated: bool,
    /// See [`RawHeader::start_tsc`].
    pub start_tsc: u64,
    /// See [`RawHeader::start_mono_ns`].
    pub start_mono_ns: u64,
    /// See [`RawHeader::start_unix_ns`].
    pub start_unix_ns: u64,
    /// See [`RawHeader::tsc_hz`].
    pub tsc_hz: u64,
    /// See [`RawHeader::page_size`].
    pub page_size: u32,
    /// See [`RawHeader::forked_from`].
    pub forked_from: u32,
}

/// A byte string serialised like `Vec<u8>`.
struct Bytes<'a>(&'a [u8]);

impl Serialize for Bytes<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(self.0)
    }
}

/// NUL-separated strings serialised like `Vec<Vec<u8>>`.
struct NulList<'a>(&'a [u8]);

impl NulList<'_> {
    fn parts(&self) -> impl Iterator<Item = &[u8]> {
        let b = self.0.strip_suffix(&[0]).unwrap_or(self.0);
        let empty = b.is_empty();
        b.split(|&c| c == 0).filter(move |_| !empty)
    }
}

impl Serialize for NulList<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.parts().count()))?;
        for p in self.parts() {
            seq.serialize_element(&Bytes(p))?;
        }
        seq.end()
    }
}

impl Serialize for HeaderRef<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("RawHeader", 11)?;
        st.serialize_field("pid", &self.pid)?;
        st.serialize_field("ppid", &self.ppid)?;
        st.serialize_field("executable", &Bytes(self.executable))?;
        st.serialize_field("argv", &NulList(self.argv_nul))?;
        st.serialize_field("argv_truncated", &self.argv_truncated)?;
        st.serialize_field("start_tsc", &self.start_tsc)?;
        st.serialize_field("start_mono_ns", &self.start_mono_ns)?;
        st.serialize_field("start_unix_ns", &self.start_unix_ns)?;
        st.serialize_field("tsc_hz", &self.tsc_hz)?;
        st.serialize_field("page_size", &self.page_size)?;
        st.serialize_field("forked_from", &self.forked_from)?;
        st.end()
    }
}

/// The wire form the reader decodes (byte strings, converted to lossy UTF-8 afterwards).
#[derive(Deserialize)]
pub(crate) struct WireHeader {
    pid: u32,
    ppid: u32,
    executable: Vec<u8>,
    argv: Vec<Vec<u8>>,
    argv_truncated: bool,
    start_tsc: u64,
    start_mono_ns: u64,
    start_unix_ns: u64,
    tsc_hz: u64,
    page_size: u32,
    forked_from: u32,
}

impl From<WireHeader> for RawHeader {
    fn from(w: WireHeader) -> RawHeader {
        RawHeader {
            pid: w.pid,
            ppid: w.ppid,
            executable: String::from_utf8_lossy(&w.executable).into_owned(),
            argv: w
                .argv
                .iter()
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect(),
            argv_truncated: w.argv_truncated,
            start_tsc: w.start_tsc,
            start_mono_ns: w.start_mono_ns,
            start_unix_ns: w.start_unix_ns,
            tsc_hz: w.tsc_hz,
            page_size: w.page_size,
            forked_from: w.forked_from,
        }
    }
}
