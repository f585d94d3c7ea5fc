//! A std-based convenience writer of real raw trace files, through the same encoder and chunk logic as the
//! recorder ([`super::writer`]). For tests, synthetic traces and the compile benchmark.
//!
//! Entry point: [`RawTraceBuilder::create`], then [`RawTraceBuilder::push`] per event, then
//! [`RawTraceBuilder::finish`]. The builder's clock is synthetic: one TSC tick is one nanosecond and the
//! trace starts at 0, so the reader gives back exactly the `ts_ns` pushed (per thread, non-decreasing).

use super::header::HeaderRef;
use super::layout::EndState;
use super::writer::{ChunkCursor, SharedTrace};
use super::RawError;
use crate::event::Op;
use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};

/// What to write in the header of a built trace.
#[derive(Clone, Debug)]
pub struct BuilderSpec {
    /// Recorded pid.
    pub pid: u32,
    /// Parent pid.
    pub ppid: u32,
    /// Executable path.
    pub executable: String,
    /// Command line.
    pub argv: Vec<String>,
    /// Bytes per chunk (multiple of 8, at least 4096).
    pub chunk_size: u32,
}

impl Default for BuilderSpec {
    fn default() -> Self {
        BuilderSpec {
            pid: 1,
            ppid: 0,
            executable: "synthetic".into(),
            argv: vec!["synthetic".into()],
            chunk_size: 1 << 20,
        }
    }
}

struct ThreadState {
    serial: u32,
    seq: u32,
    cursor: ChunkCursor,
}

/// Writes a raw trace file event by event.
pub struct RawTraceBuilder {
    path: PathBuf,
    file: File,
    map: memmap2::MmapRaw,
    shared: SharedTrace,
    threads: HashMap<u32, ThreadState>,
    last_ns: u64,
}

/// Virtual window mapped over the file (the file itself grows in steps).
const WINDOW: usize = 1 << 38;

impl RawTraceBuilder {
    /// Creates (truncating) `path` and writes the preamble and header.
    pub fn create(path: &Path, spec: &BuilderSpec) -> Result<RawTraceBuilder, RawError> {
        let io = |source| RawError::Io {
            path: path.to_path_buf(),
            cause: source,
        };
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .map_err(io)?;
        let map = memmap2::MmapOptions::new()
            .len(WINDOW)
            .map_raw(&file)
            .map_err(io)?;
        let mut argv_nul = Vec::new();
        for a in &spec.argv {
            argv_nul.extend_from_slice(a.as_bytes());
            argv_nul.push(0);
        }
        let header = HeaderRef {
            pid: spec.pid,
            ppid: spec.ppid,
            executable: spec.executable.as_bytes(),
            argv_nul: &argv_nul,
            argv_truncated: false,
            start_tsc: 0,
            start_mono_ns: 0,
            start_unix_ns: 0,
            tsc_hz: 1_000_000_000,
            page_size: 4096,
            forked_from: 0,
        };
        // SAFETY: `map` is a fresh shared writable mapping of the just-truncated (empty) file, WINDOW bytes
        // long, kept alive in the returned value next to `shared`, and only used through `shared`.
        let shared = unsafe {
            SharedTrace::init(
                map.as_mut_ptr(),
                WINDOW,
                &header,
                spec.chunk_size,
                4096,
                |n| file.set_len(n).is_ok(),
            )
        }
        .map_err(|e| RawError::Corrupt {
            path: path.to_path_buf(),
            what: format!("cannot start the trace: {e:?}"),
        })?;
        Ok(RawTraceBuilder {
            path: path.to_path_buf(),
            file,
            map,
            shared,
            threads: HashMap::new(),
            last_ns: 0,
        })
    }

    /// Appends `op` made by thread `tid` at `ts_ns` (synthetic ns; keep them non-decreasing per thread).
    pub fn push(&mut self, tid: u32, ts_ns: u64, op: Op) -> Result<(), RawError> {
        self.last_ns = self.last_ns.max(ts_ns);
        let shared = &self.shared;
        let st = self.threads.entry(tid).or_insert_with(|| ThreadState {
            serial: shared.next_thread_serial(),
            seq: 0,
            cursor: ChunkCursor::EMPTY,
        });
        // SAFETY: the cursor is EMPTY or was claimed from `shared`, whose mapping `self.map` is alive; the
        // builder is the only writer.
        if unsafe { st.cursor.push(ts_ns, &op) } {
            return Ok(());
        }
        shared.release_chunk(&st.cursor);
        let file = &self.file;
        let cursor = shared
            .claim_chunk(tid, st.serial, st.seq, ts_ns, ts_ns, |n| {
                file.set_len(n).is_ok()
            })
            .ok_or_else(|| RawError::Io {
                path: self.path.clone(),
                cause: std::io::Error::other("trace file cannot grow"),
            })?;
        st.seq += 1;
        st.cursor = cursor;
        // SAFETY: as above; a fresh chunk has room for any single event.
        let ok = unsafe { st.cursor.push(ts_ns, &op) };
        debug_assert!(ok);
        Ok(())
    }

    /// Writes the end slot (`EndState::None` leaves the trace looking like a killed writer's), trims the
    /// file to what was claimed, and returns its path.
    pub fn finish(self, end: EndState) -> Result<PathBuf, RawError> {
        if end != EndState::None {
            self.shared.write_end(end, self.last_ns, self.last_ns);
        }
        let file = &self.file;
        self.shared.trim(|n| file.set_len(n).is_ok());
        self.map.flush().map_err(|source| RawError::Io {
            path: self.path.clone(),
            cause: source,
        })?;
        Ok(self.path)
    }
}
