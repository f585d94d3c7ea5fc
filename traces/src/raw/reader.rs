//! The raw-trace reader: maps a file, validates it, recovers what a killed writer left, and decodes events
//! lazily per thread.
//!
//! Entry point: [`RawTrace::open`]. Opening reads the preamble (magic and version first), the header, every
//! chunk header, and walks each chunk's record words once (kinds and lengths only) to find where it ends;
//! events are decoded later, lazily, by [`ThreadEvents`] / [`ChunkEvents`].
//!
//! Invariants: every offset is checked against the length of the bytes actually present (the file size at
//! open), so a truncated, bit-flipped or foreign file is an error or a partial recovery, never a panic or an
//! out-of-bounds read. After `open`, each [`ChunkInfo::end`] lies inside the data and covers whole records
//! of valid kinds, so decoding needs no further checks.

use super::header::{RawHeader, WireHeader};
use super::layout::{
    chunk_off, kind, off, word, EndState, CHUNK_HEADER_LEN, CHUNK_TAG, MAGIC, PREAMBLE_LEN, VERSION,
};
use super::RawError;
use crate::event::{Event, Op};
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Bytes behind a trace.
enum Storage {
    Mapped(memmap2::Mmap),
    Owned(Vec<u8>),
}

impl Storage {
    fn bytes(&self) -> &[u8] {
        match self {
            Storage::Mapped(m) => m,
            Storage::Owned(v) => v,
        }
    }

    /// Drops the mapped pages lying wholly inside `offset..offset + len` from this process's memory: a
    /// chunk already scanned or decoded does not stay resident, so reading a trace of any size keeps the
    /// resident set bounded. They are read again from the file if touched. One `madvise` call.
    fn release(&self, offset: usize, len: usize) {
        let Storage::Mapped(m) = self else {
            return;
        };
        // SAFETY: sysconf has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as usize;
        let start = offset.next_multiple_of(page);
        let end = (offset.saturating_add(len)).min(m.len()) / page * page;
        if end > start {
            // SAFETY: the mapping is a read-only view of a file nobody writes any more (the contract of
            // `RawTrace::open`); MADV_DONTNEED only drops the pages from the page tables, and any later
            // access faults them back in from the file with the same contents, so no slice borrowed from
            // the mapping observes a change.
            let _ = unsafe {
                m.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, start, end - start)
            };
        }
    }
}

/// Where the nanoseconds-per-tick factor came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClockSource {
    /// A fit over the (TSC, CLOCK_MONOTONIC) pairs of the header, the chunk headers and the end slot,
    /// spanning at least a millisecond.
    Fit,
    /// The pairs spanned too little (e.g. a one-chunk crashed trace): the header's start-up calibration.
    Calibration,
    /// Nothing usable: one tick is taken as one nanosecond.
    Assumed,
}

/// What the reader found: a clean end or what it recovered from a crash.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Recovery {
    /// The end slot: `Exit` or `Exec` for a clean end, `None` when the writer was killed or crashed.
    pub end: EndState,
    /// Chunks the writer claimed (preamble counter).
    pub chunks_claimed: u64,
    /// Chunks with a complete header that were read.
    pub chunks_read: u64,
    /// Claimed chunks that lie beyond the end of the file (file truncated, or growth failed).
    pub chunks_missing: u64,
    /// Claimed chunks whose header was never completed (the claimer died first) — nothing lost.
    pub chunks_empty: u64,
    /// Chunks that ended in an invalid record or were cut by the end of the file: events up to that point
    /// are kept, the rest is lost.
    pub chunks_damaged: u64,
    /// Events recovered (excluding the format's own TIME/WIDE records).
    pub events: u64,
    /// Events the writer counted as dropped (window exhausted or the file could not grow).
    pub dropped_events: u64,
    /// How timestamps were converted.
    pub clock: ClockSource,
}

impl Recovery {
    /// True when the writer ended cleanly and nothing is missing or damaged.
    pub fn is_clean(&self) -> bool {
        self.end != EndState::None
            && self.chunks_missing == 0
            && self.chunks_damaged == 0
            && self.dropped_events == 0
    }

    /// One line for humans, e.g. "clean exit: 1200 events in 3 chunks".
    pub fn summary(&self) -> String {
        let how = match self.end {
            EndState::Exit => "clean exit",
            EndState::Exec => "ended by exec",
            EndState::None => "no end record (killed, crashed or _exit)",
        };
        let mut s = format!(
            "{how}: {} events recovered from {} chunks",
            self.events, self.chunks_read
        );
        if self.chunks_damaged > 0 {
            s += &format!(", {} chunks cut short", self.chunks_damaged);
        }
        if self.chunks_missing > 0 {
            s += &format!(
                ", {} chunks missing past the end of the file",
                self.chunks_missing
            );
        }
        if self.dropped_events > 0 {
            s += &format!(", {} events dropped by the writer", self.dropped_events);
        }
        if self.clock == ClockSource::Assumed {
            s += &format!(", clock from {:?}", self.clock).to_lowercase();
        }
        s
    }
}

/// One chunk as found at open.
#[derive(Clone, Debug)]
pub struct ChunkInfo {
    /// Byte offset of the chunk in the file.
    pub offset: usize,
    /// Byte offset (from the file start) just past its last whole record.
    pub end: usize,
    /// Kernel thread id of the owner.
    pub tid: u32,
    /// Thread serial of the owner.
    pub serial: u32,
    /// The owner's chunk sequence number.
    pub seq: u32,
    /// TSC at the claim.
    pub base_tsc: u64,
    /// CLOCK_MONOTONIC ns at the claim.
    pub base_mono_ns: u64,
    /// Events in the chunk.
    pub events: u64,
}

/// One recorded thread: its chunks in order.
#[derive(Clone, Debug)]
pub struct ThreadInfo {
    /// Serial number, unique in the file (tids may be reused by the kernel; serials are not).
    pub serial: u32,
    /// Kernel thread id.
    pub tid: u32,
    /// Indices into [`RawTrace::chunks`], in write order.
    pub chunks: Vec<usize>,
    /// Events of the thread.
    pub events: u64,
}

/// An opened raw trace.
pub struct RawTrace {
    data: Storage,
    path: PathBuf,
    header: RawHeader,
    chunks: Vec<ChunkInfo>,
    threads: Vec<ThreadInfo>,
    recovery: Recovery,
    /// Nanoseconds per tick, fixed point with 32 fraction bits.
    mult: u64,
    /// Bytes per chunk.
    chunk_size: usize,
}

impl std::fmt::Debug for RawTrace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawTrace")
            .field("path", &self.path)
            .field("header", &self.header)
            .field("threads", &self.threads.len())
            .field("recovery", &self.recovery)
            .finish()
    }
}

#[inline(always)]
fn rd32(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes(b[o..o + 4].try_into().unwrap_or([0; 4]))
}

#[inline(always)]
fn rd64(b: &[u8], o: usize) -> u64 {
    u64::from_le_bytes(b[o..o + 8].try_into().unwrap_or([0; 8]))
}

impl RawTrace {
    /// Opens and validates a raw trace file (memory-mapped).
    ///
    /// Errors: I/O, empty or too short, wrong magic, another format version (the message names both), a
    /// corrupt preamble or header. Damage in the chunk area is not an error: what is readable is recovered
    /// and [`Self::recovery`] says what was lost.
    ///
    /// Contract of the mapping: every length is validated against the file size at open, so any file
    /// content is safe to read. The file must not be *shrunk* by another process while this value lives:
    /// touching a mapped page beyond the new end of file raises SIGBUS (this is true of every mmap reader).
    /// The recorder never shrinks a trace below what it has written, and a finished trace is not written
    /// again.
    pub fn open(path: &Path) -> Result<RawTrace, RawError> {
        let io = |source| RawError::Io {
            path: path.to_path_buf(),
            cause: source,
        };
        let file = std::fs::File::open(path).map_err(io)?;
        let meta = file.metadata().map_err(io)?;
        if meta.is_dir() {
            return Err(RawError::IsDirectory {
                path: path.to_path_buf(),
            });
        }
        if meta.len() < PREAMBLE_LEN as u64 {
            let bytes = std::fs::read(path).map_err(io)?;
            return RawTrace::from_storage(Storage::Owned(bytes), path.to_path_buf());
        }
        // SAFETY: read-only private view; every access is bounds-checked against the length at map time;
        // the documented contract (no concurrent shrinking) excludes SIGBUS.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io)?;
        RawTrace::from_storage(Storage::Mapped(map), path.to_path_buf())
    }

    /// Reads a raw trace from bytes in memory (`name` is used in messages).
    pub fn from_bytes(bytes: Vec<u8>, name: &str) -> Result<RawTrace, RawError> {
        RawTrace::from_storage(Storage::Owned(bytes), PathBuf::from(name))
    }

    fn from_storage(data: Storage, path: PathBuf) -> Result<RawTrace, RawError> {
        let b = data.bytes();
        let corrupt = |what: String| RawError::Corrupt {
            path: path.clone(),
            what,
        };
        if b.is_empty() {
            return Err(RawError::Empty { path });
        }
        if b.len() < 8 || b[..8] != MAGIC {
            if b.len() < 8 && MAGIC.starts_with(b) {
                return Err(RawError::Truncated {
                    path,
                    len: b.len() as u64,
                });
            }
            return Err(RawError::WrongMagic { path });
        }
        if b.len() < 12 {
            return Err(RawError::Truncated {
                path,
                len: b.len() as u64,
            });
        }
        let version = rd32(b, off::VERSION);
        if version != VERSION {
            return Err(RawError::WrongVersion {
                path,
                found: version,
                expected: VERSION,
            });
        }
        if b.len() < PREAMBLE_LEN {
            return Err(RawError::Truncated {
                path,
                len: b.len() as u64,
            });
        }
        let region = rd32(b, off::HEADER_REGION_LEN) as usize;
        let hlen = rd32(b, off::HEADER_LEN) as usize;
        let chunk_size = rd32(b, off::CHUNK_SIZE) as usize;
        if PREAMBLE_LEN + hlen > region || region & 7 != 0 {
            return Err(corrupt(format!(
                "header length {hlen} does not fit its region of {region} bytes"
            )));
        }
        if region > b.len() {
            return Err(RawError::Truncated {
                path,
                len: b.len() as u64,
            });
        }
        if chunk_size & 7 != 0
            || !(super::layout::MIN_CHUNK_SIZE as usize..=super::layout::MAX_CHUNK_SIZE as usize)
                .contains(&chunk_size)
        {
            return Err(corrupt(format!(
                "chunk size {chunk_size} is not a multiple of 8 in 4 KiB..1 GiB"
            )));
        }
        let header: RawHeader = {
            use bincode::Options;
            let wire: WireHeader = super::bincode_options()
                .with_limit(hlen as u64)
                .deserialize(&b[PREAMBLE_LEN..PREAMBLE_LEN + hlen])
                .map_err(|e| corrupt(format!("header does not decode: {e}")))?;
            wire.into()
        };
        let claimed = rd64(b, off::CHUNKS_CLAIMED);
        let end = EndState::from_u32(rd32(b, off::END_STATE));
        let end_pair = (rd64(b, off::END_TSC), rd64(b, off::END_MONO_NS));
        let dropped = rd64(b, off::DROPPED);

        // Chunks present (a trailing partial chunk counts: it is read up to the end of the file).
        let area = b.len() - region;
        let present = area.div_ceil(chunk_size) as u64;
        let n = claimed.min(present) as usize;
        let scanned: Vec<(Option<ChunkInfo>, bool)> = (0..n)
            .into_par_iter()
            .map(|i| {
                let scanned = scan_chunk(b, region + i * chunk_size, chunk_size);
                data.release(region + i * chunk_size, chunk_size);
                scanned
            })
            .collect();
        let mut chunks = Vec::with_capacity(n);
        let (mut empty, mut damaged) = (0u64, 0u64);
        for (c, dmg) in scanned {
            damaged += dmg as u64;
            match c {
                Some(c) => chunks.push(c),
                None => empty += 1,
            }
        }

        let mut by_serial: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
        for (i, c) in chunks.iter().enumerate() {
            by_serial.entry(c.serial).or_default().push(i);
        }
        let threads: Vec<ThreadInfo> = by_serial
            .into_iter()
            .map(|(serial, mut ids)| {
                ids.sort_by_key(|&i| (chunks[i].seq, chunks[i].offset));
                ThreadInfo {
                    serial,
                    tid: chunks[ids[0]].tid,
                    events: ids.iter().map(|&i| chunks[i].events).sum(),
                    chunks: ids,
                }
            })
            .collect();

        // Clock: extreme pairs among header, chunk claims and the end slot.
        let mut pairs: Vec<(u64, u64)> = vec![(header.start_tsc, header.start_mono_ns)];
        pairs.extend(chunks.iter().map(|c| (c.base_tsc, c.base_mono_ns)));
        if end != EndState::None {
            pairs.push(end_pair);
        }
        let lo = pairs
            .iter()
            .min_by_key(|p| p.0)
            .copied()
            .unwrap_or_default();
        let hi = pairs
            .iter()
            .max_by_key(|p| p.0)
            .copied()
            .unwrap_or_default();
        let span_tsc = hi.0.saturating_sub(lo.0);
        let span_ns = hi.1.saturating_sub(lo.1);
        let ms_ticks = (header.tsc_hz / 1000).max(1_000_000);
        let (mult, clock) = if span_tsc >= ms_ticks && span_ns > 0 {
            (
                (((span_ns as u128) << 32) / span_tsc as u128).min(u64::MAX as u128) as u64,
                ClockSource::Fit,
            )
        } else if header.tsc_hz > 0 {
            (
                ((1_000_000_000u128 << 32) / header.tsc_hz as u128).min(u64::MAX as u128) as u64,
                ClockSource::Calibration,
            )
        } else {
            (1 << 32, ClockSource::Assumed)
        };

        let recovery = Recovery {
            end,
            chunks_claimed: claimed,
            chunks_read: chunks.len() as u64,
            chunks_missing: claimed.saturating_sub(present),
            chunks_empty: empty,
            chunks_damaged: damaged,
            events: chunks.iter().map(|c| c.events).sum(),
            dropped_events: dropped,
            clock,
        };
        Ok(RawTrace {
            data,
            path,
            header,
            chunks,
            threads,
            recovery,
            mult,
            chunk_size,
        })
    }

    /// Checks what `open` established (for tests and debug builds):
    /// - every chunk lies in the data: `offset + 64 <= end <= min(offset + chunk_size, len)`, `end - offset`
    ///   a multiple of 8;
    /// - every chunk belongs to exactly one thread, whose chunks are in `seq` order;
    /// - `Σ thread.events == Σ chunk.events == recovery.events`.
    pub fn check_invariants(&self) -> Result<(), String> {
        let len = self.data.bytes().len();
        for (i, c) in self.chunks.iter().enumerate() {
            let hi = (c.offset + self.chunk_size).min(len);
            if !(c.offset + CHUNK_HEADER_LEN <= c.end && c.end <= hi && (c.end - c.offset) % 8 == 0)
            {
                return Err(format!(
                    "chunk {i} at {} ends at {} (limit {hi})",
                    c.offset, c.end
                ));
            }
        }
        let mut owner = vec![0u32; self.chunks.len()];
        for t in &self.threads {
            for w in t.chunks.windows(2) {
                if self.chunks[w[0]].seq > self.chunks[w[1]].seq {
                    return Err(format!("thread {} chunks out of order", t.serial));
                }
            }
            for &c in &t.chunks {
                owner[c] += 1;
            }
        }
        if owner.iter().any(|&n| n != 1) {
            return Err("a chunk belongs to no thread or to several".into());
        }
        let by_thread: u64 = self.threads.iter().map(|t| t.events).sum();
        let by_chunk: u64 = self.chunks.iter().map(|c| c.events).sum();
        if by_thread != by_chunk || by_chunk != self.recovery.events {
            return Err(format!(
                "event counts disagree: {by_thread} / {by_chunk} / {}",
                self.recovery.events
            ));
        }
        Ok(())
    }

    /// The file this trace was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The decoded header.
    pub fn header(&self) -> &RawHeader {
        &self.header
    }

    /// How the recording ended and what was recovered.
    pub fn recovery(&self) -> &Recovery {
        &self.recovery
    }

    /// Recorded threads, by serial number (first seen first).
    pub fn threads(&self) -> &[ThreadInfo] {
        &self.threads
    }

    /// All readable chunks in file order.
    pub fn chunks(&self) -> &[ChunkInfo] {
        &self.chunks
    }

    /// Total events recovered.
    pub fn event_count(&self) -> u64 {
        self.recovery.events
    }

    /// Size of the trace in bytes.
    pub fn file_len(&self) -> u64 {
        self.data.bytes().len() as u64
    }

    /// Bytes taken by event records (chunk headers and unused chunk tails excluded).
    pub fn record_bytes(&self) -> u64 {
        self.chunks
            .iter()
            .map(|c| (c.end - c.offset - CHUNK_HEADER_LEN) as u64)
            .sum()
    }

    /// Decodes the events of thread `index` (into [`Self::threads`]) in the order it made them. Timestamps
    /// are made non-decreasing within the thread (chunk anchors may disagree by a few ns).
    pub fn thread_events(&self, index: usize) -> ThreadEvents<'_> {
        ThreadEvents {
            trace: self,
            chunks: &self.threads[index].chunks,
            next_chunk: 0,
            cur: None,
            last_ns: 0,
        }
    }

    /// Decodes the events of one chunk (index into [`Self::chunks`]).
    ///
    /// Timestamps use one linear map for the whole file, `ns = (tsc − start_tsc) × slope`, so that events
    /// of different threads keep the order of their TSC reads (the TSC is invariant and synchronised
    /// across cores); the chunk anchors only serve to fit the slope.
    pub fn chunk_events(&self, index: usize) -> ChunkEvents<'_> {
        let c = &self.chunks[index];
        ChunkEvents {
            bytes: &self.data.bytes()[..c.end],
            pos: c.offset + CHUNK_HEADER_LEN,
            tid: c.tid,
            start_tsc: self.header.start_tsc,
            tsc: c.base_tsc,
            mult: self.mult,
            wide: None,
            last_ptr: 0,
        }
    }

    /// Every event, ordered by timestamp (ties keep per-thread order). Collects into memory: for tests and
    /// small traces; large consumers iterate per thread.
    pub fn events_by_time(&self) -> Vec<Event> {
        let mut v: Vec<Event> = (0..self.threads.len())
            .flat_map(|t| self.thread_events(t))
            .collect();
        v.sort_by_key(|e| e.ts_ns);
        v
    }
}

/// Walks a chunk's record words (kinds and lengths only). Returns the chunk (None when its header was
/// never completed) and whether it was cut short by an invalid record or the end of the data.
fn scan_chunk(b: &[u8], offset: usize, chunk_size: usize) -> (Option<ChunkInfo>, bool) {
    let limit = (offset + chunk_size).min(b.len());
    if limit < offset + CHUNK_HEADER_LEN || rd32(b, offset + chunk_off::TAG) != CHUNK_TAG {
        return (None, limit < offset + chunk_size);
    }
    let mut pos = offset + CHUNK_HEADER_LEN;
    let mut events = 0u64;
    let mut damaged = limit < offset + chunk_size;
    while pos + 8 <= limit {
        let w = rd64(b, pos);
        if w == 0 {
            damaged = false;
            break;
        }
        let k = w >> word::KIND_SHIFT;
        if k == 0 || k > kind::MAX {
            damaged = true;
            break;
        }
        let len = 8 * (1 + kind::PAYLOAD[k as usize] as usize);
        if pos + len > limit {
            damaged = true;
            break;
        }
        events += (k != kind::TIME && k != kind::WIDE) as u64;
        pos += len;
    }
    let info = ChunkInfo {
        offset,
        end: pos,
        tid: rd32(b, offset + chunk_off::TID),
        serial: rd32(b, offset + chunk_off::SERIAL),
        seq: rd32(b, offset + chunk_off::SEQ),
        base_tsc: rd64(b, offset + chunk_off::BASE_TSC),
        base_mono_ns: rd64(b, offset + chunk_off::BASE_MONO_NS),
        events,
    };
    (Some(info), damaged)
}

/// Lazily decodes one chunk's events. Cost per event: one match on the kind and a 128-bit multiply.
pub struct ChunkEvents<'a> {
    bytes: &'a [u8],
    pos: usize,
    tid: u32,
    start_tsc: u64,
    tsc: u64,
    mult: u64,
    wide: Option<u64>,
    last_ptr: u64,
}

impl Iterator for ChunkEvents<'_> {
    type Item = Event;

    #[inline]
    fn next(&mut self) -> Option<Event> {
        let b = self.bytes;
        loop {
            if self.pos + 8 > b.len() {
                return None;
            }
            let w = rd64(b, self.pos);
            let k = w >> word::KIND_SHIFT;
            let dt = (w >> word::DT_SHIFT) & word::DT_MAX;
            let a = w & word::A_MASK;
            let p = self.pos + 8;
            let pw = |i: usize| rd64(b, p + 8 * i);
            self.pos = p + 8 * kind::PAYLOAD.get(k as usize).copied().unwrap_or(0) as usize;
            self.tsc = self.tsc.wrapping_add(dt);
            let size = self.wide.take().unwrap_or(a);
            let op = match k {
                kind::TIME => {
                    self.tsc = self.tsc.wrapping_add(a << 16);
                    continue;
                }
                kind::WIDE => {
                    self.wide = Some(pw(0));
                    continue;
                }
                kind::MALLOC8 => {
                    let pd = (((a as i64) << 37) >> 37) << 4;
                    self.last_ptr = self.last_ptr.wrapping_add(pd as u64);
                    Op::Malloc {
                        size: a >> 27,
                        ptr: self.last_ptr,
                    }
                }
                kind::MALLOC => {
                    self.last_ptr = pw(0);
                    Op::Malloc {
                        size,
                        ptr: self.last_ptr,
                    }
                }
                kind::FREE16 => Op::Free { ptr: a << 4 },
                kind::FREE => Op::Free { ptr: pw(0) },
                kind::CALLOC => Op::Calloc {
                    nmemb: pw(1),
                    size,
                    ptr: pw(0),
                },
                kind::REALLOC => Op::Realloc {
                    old: pw(0),
                    size,
                    new: pw(1),
                },
                kind::REALLOCARRAY => Op::ReallocArray {
                    old: pw(0),
                    nmemb: pw(2),
                    size,
                    new: pw(1),
                },
                kind::POSIX_MEMALIGN => Op::PosixMemalign {
                    align: pw(1),
                    size,
                    ptr: pw(0),
                    ret: pw(2) as u32,
                },
                kind::ALIGNED_ALLOC => Op::AlignedAlloc {
                    align: pw(1),
                    size,
                    ptr: pw(0),
                },
                kind::MEMALIGN => Op::Memalign {
                    align: pw(1),
                    size,
                    ptr: pw(0),
                },
                kind::VALLOC => Op::Valloc { size, ptr: pw(0) },
                kind::PVALLOC => Op::Pvalloc { size, ptr: pw(0) },
                kind::FREE_SIZED => Op::FreeSized { ptr: pw(0), size },
                kind::FREE_ALIGNED_SIZED => Op::FreeAlignedSized {
                    ptr: pw(0),
                    align: pw(1),
                    size,
                },
                kind::THREAD_START => Op::ThreadStart,
                kind::THREAD_EXIT => Op::ThreadExit,
                kind::FORK => Op::Fork {
                    child_pid: a as u32,
                },
                kind::EXEC => Op::Exec,
                _ => return None,
            };
            let ticks = self.tsc.saturating_sub(self.start_tsc);
            let ns = ((ticks as u128 * self.mult as u128) >> 32).min(u64::MAX as u128) as u64;
            return Some(Event {
                ts_ns: ns,
                tid: self.tid,
                op,
            });
        }
    }
}

/// Lazily decodes one thread's events across its chunks (timestamps made non-decreasing).
pub struct ThreadEvents<'a> {
    trace: &'a RawTrace,
    chunks: &'a [usize],
    next_chunk: usize,
    cur: Option<ChunkEvents<'a>>,
    last_ns: u64,
}

impl Iterator for ThreadEvents<'_> {
    type Item = Event;

    #[inline]
    fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(c) = &mut self.cur {
                if let Some(mut e) = c.next() {
                    if e.ts_ns < self.last_ns {
                        e.ts_ns = self.last_ns;
                    }
                    self.last_ns = e.ts_ns;
                    return Some(e);
                }
            }
            if self.next_chunk > 0 {
                let done = &self.trace.chunks[self.chunks[self.next_chunk - 1]];
                self.trace.data.release(done.offset, self.trace.chunk_size);
            }
            let &i = self.chunks.get(self.next_chunk)?;
            self.next_chunk += 1;
            self.cur = Some(self.trace.chunk_events(i));
        }
    }
}
