//! `hakmem info`: a description of a workload or a raw trace, for people (text) and machines (JSON).
//!
//! Entry points: [`Info::from_workload`] (reads only the header's precomputed statistics: constant time),
//! [`Info::from_header`], [`Info::render_text`]. For raw traces the compiler builds the same statistics in
//! memory (`crate::compile`), so both kinds of file describe themselves with the same fields.
//!
//! The JSON (`hakmem info --json`, also embedded by the replayer in result manifests) is this struct
//! serialised with serde; `by_kind` is keyed by the C names of [`CallKind::name`], in table order of
//! [`CallKind::ALL`] when rendered as text. Histograms list only non-empty power-of-two buckets as
//! `{lo, hi, count}` with inclusive bounds.

use crate::compile::{describe_file, CompileError, CompileOptions};
use crate::event::CallKind;
use crate::stats::{bucket_range, kind_index, Stats};
use crate::workload::{has_magic, Header, Workload, WorkloadError, VERSION};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// One non-empty histogram bucket: `count` values in `lo..=hi`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bucket {
    /// Smallest value of the bucket.
    pub lo: u64,
    /// Largest value of the bucket (inclusive).
    pub hi: u64,
    /// Values that fell in it.
    pub count: u64,
}

/// Everything `info` says about a file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Info {
    /// The file described.
    pub file: String,
    /// `"workload"` or `"raw"`.
    pub format: String,
    /// Format version of the file.
    pub format_version: u32,
    /// How the workload was produced (generator command or compiled traces).
    pub source: String,
    /// Threads with at least one op.
    pub threads: u64,
    /// Replayable ops (allocator calls kept by compilation).
    pub ops: u64,
    /// Ops per thread, in stream order.
    pub ops_per_thread: Vec<u64>,
    /// Ops per call kind, keyed by C name (`malloc`, `free`, `calloc`, ...); every kind present.
    pub by_kind: BTreeMap<String, u64>,
    /// Requested sizes of created objects, power-of-two buckets.
    pub size_histogram: Vec<Bucket>,
    /// Object lifetimes in ops (global order), power-of-two buckets.
    pub lifetime_histogram: Vec<Bucket>,
    /// Objects created.
    pub allocations: u64,
    /// Bytes requested by all allocations.
    pub allocated_bytes: u64,
    /// Objects freed or reallocated away.
    pub frees: u64,
    /// Peak requested bytes live at once ("ideal RSS").
    pub peak_live_bytes: u64,
    /// Peak objects live at once.
    pub peak_live_objects: u64,
    /// Objects never freed.
    pub live_objects_at_end: u64,
    /// Their bytes.
    pub live_bytes_at_end: u64,
    /// Frees of objects allocated by another thread.
    pub cross_thread_frees: u64,
    /// Reallocs of objects allocated by another thread.
    pub cross_thread_reallocs: u64,
    /// Frees of pointers allocated before recording began (not replayed).
    pub unknown_frees: u64,
    /// Frees of already freed pointers (not replayed).
    pub double_frees: u64,
    /// Log inversions repaired.
    pub inversions_repaired: u64,
    /// Allocations that failed in the recording (not replayed).
    pub failed_allocs: u64,
    /// `free(NULL)` calls (not replayed).
    pub null_frees: u64,
    /// `realloc(p, 0)` calls that freed (replayed as `free`).
    pub realloc_zero_frees: u64,
    /// Objects whose free was never logged (address reused without a free).
    pub missing_frees: u64,
    /// Size of the replayer's object table.
    pub object_slots: u64,
    /// Of which shared (cross-thread) slots.
    pub shared_slots: u64,
    /// Size of the file in bytes.
    pub file_bytes: u64,
    /// Bytes of op streams per op (workloads), or raw record bytes per event (raw traces).
    pub bytes_per_op: f64,
    /// Compilation and crash-recovery notes.
    pub notes: Vec<String>,
}

fn buckets(h: &[u64]) -> Vec<Bucket> {
    h.iter()
        .enumerate()
        .filter(|(_, c)| **c > 0)
        .map(|(b, c)| {
            let (lo, hi) = bucket_range(b);
            Bucket { lo, hi, count: *c }
        })
        .collect()
}

/// Why a file could not be described. Displays as `<path>: <cause>`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InfoError {
    /// The file looks like a workload but is not a valid one.
    #[error(transparent)]
    Workload(#[from] WorkloadError),
    /// The file is not a workload and not a readable raw trace.
    #[error(transparent)]
    Raw(#[from] CompileError),
    /// The compiled raw trace cannot be described (too many slots).
    #[error("{path}: {cause}")]
    Other {
        /// The file.
        path: String,
        /// The cause.
        cause: String,
    },
}

/// Describes `path`: a workload from its header (statistics precomputed; the streams are only
/// checksummed, at memory speed), a raw trace by compiling it without keeping the streams.
/// The kind is told by the file's magic; anything that is not a workload is handed to the raw reader,
/// whose errors name both formats' expectations.
pub fn describe(path: &Path) -> Result<Info, InfoError> {
    let mut magic = [0u8; 8];
    let is_workload = std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic))
        .map(|_| has_magic(&magic))
        .unwrap_or(false);
    if is_workload {
        let w = Workload::open_header(path)?;
        w.verify_checksums()?;
        return Ok(Info::from_workload(&w));
    }
    if let Ok(meta) = std::fs::metadata(path) {
        if meta.is_file() && meta.len() > 0 && meta.len() < 8 {
            // Too short for either format: say so in workload terms (the likelier intent).
            return Err(Workload::open_header(path).unwrap_err().into());
        }
    }
    Info::from_raw(path, &CompileOptions::default()).map_err(|e| match e {
        InfoError::Raw(CompileError::Raw(crate::raw::RawError::WrongMagic { .. })) => {
            InfoError::Other {
                path: path.display().to_string(),
                cause: "neither a workload (.hkw) nor a raw trace (unknown magic bytes)".into(),
            }
        }
        e => e,
    })
}

impl Info {
    /// The description of a raw trace: compiled without keeping the streams, so its figures are exactly those of the
    /// workload `hakmem compile` would write; notes carry the reader's recovery summary.
    /// `bytes_per_op` is the raw trace's record bytes per event.
    pub fn from_raw(path: &Path, opts: &CompileOptions) -> Result<Info, InfoError> {
        let c = describe_file(path, opts)?;
        let h = c.workload.header().map_err(|cause| InfoError::Other {
            path: path.display().to_string(),
            cause,
        })?;
        let file_bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        let mut info = Info::from_header(&h, &path.display().to_string(), file_bytes);
        info.format = "raw".into();
        info.format_version = crate::raw::layout::VERSION;
        info.source = format!("raw trace, {} events", c.events);
        info.bytes_per_op = if c.events == 0 {
            0.0
        } else {
            c.raw_record_bytes as f64 / c.events as f64
        };
        Ok(info)
    }

    /// The description of a mapped workload (header only; no stream is read).
    pub fn from_workload(w: &Workload) -> Info {
        let mut info = Self::from_header(w.header(), &w.path().display().to_string(), w.file_len());
        let stream_bytes: u64 = w.header().threads.iter().map(|t| t.len).sum();
        info.bytes_per_op = if info.ops == 0 {
            0.0
        } else {
            stream_bytes as f64 / info.ops as f64
        };
        info
    }

    /// The description built from a workload header (also used for raw traces).
    pub fn from_header(h: &Header, file: &str, file_bytes: u64) -> Info {
        let s: &Stats = &h.stats;
        let by_kind = CallKind::ALL
            .iter()
            .map(|k| (k.name().to_string(), s.by_kind[kind_index(*k)]))
            .collect();
        Info {
            file: file.to_string(),
            format: "workload".into(),
            format_version: VERSION,
            source: h.source.clone(),
            threads: h.threads.len() as u64,
            ops: h.total_ops,
            ops_per_thread: h.ops_per_thread(),
            by_kind,
            size_histogram: buckets(&s.size_hist),
            lifetime_histogram: buckets(&s.lifetime_hist),
            allocations: s.allocations,
            allocated_bytes: s.allocated_bytes,
            frees: s.frees,
            peak_live_bytes: s.peak_live_bytes,
            peak_live_objects: s.peak_live_objects,
            live_objects_at_end: s.live_objects_at_end,
            live_bytes_at_end: s.live_bytes_at_end,
            cross_thread_frees: s.cross_thread_frees,
            cross_thread_reallocs: s.cross_thread_reallocs,
            unknown_frees: s.unknown_frees,
            double_frees: s.double_frees,
            inversions_repaired: s.inversions_repaired,
            failed_allocs: s.failed_allocs,
            null_frees: s.null_frees,
            realloc_zero_frees: s.realloc_zero_frees,
            missing_frees: s.missing_frees,
            object_slots: h.object_slots as u64,
            shared_slots: h.shared_slots as u64,
            file_bytes,
            bytes_per_op: 0.0,
            notes: h.notes.clone(),
        }
    }

    /// The human-readable description `hakmem info` prints.
    pub fn render_text(&self) -> String {
        let mut o = String::new();
        let _ = writeln!(
            o,
            "{} ({} format v{}, {} bytes)",
            self.file, self.format, self.format_version, self.file_bytes
        );
        if !self.source.is_empty() {
            let _ = writeln!(o, "  source          {}", self.source);
        }
        let _ = writeln!(o, "  threads         {}", self.threads);
        let per: Vec<String> = self.ops_per_thread.iter().map(|n| n.to_string()).collect();
        let _ = writeln!(
            o,
            "  ops             {}  (per thread: {})",
            self.ops,
            per.join(" ")
        );
        if self.bytes_per_op > 0.0 {
            let what = if self.format == "raw" {
                "raw record bytes per event"
            } else {
                "op-stream bytes per op, as `gen` and `compile` print"
            };
            let _ = writeln!(o, "  bytes/op        {:.2}  ({what})", self.bytes_per_op);
        }
        let _ = writeln!(o, "  by kind");
        for k in CallKind::ALL {
            let n = self.by_kind.get(k.name()).copied().unwrap_or(0);
            if n > 0 {
                let _ = writeln!(o, "    {:<16}{n}", k.name());
            }
        }
        let _ = writeln!(
            o,
            "  objects         {} allocated ({} bytes), {} freed, {} live at end ({} bytes)",
            self.allocations,
            self.allocated_bytes,
            self.frees,
            self.live_objects_at_end,
            self.live_bytes_at_end
        );
        let _ = writeln!(
            o,
            "  peak live       {} bytes, {} objects (ideal RSS)",
            self.peak_live_bytes, self.peak_live_objects
        );
        let _ = writeln!(
            o,
            "  cross-thread    {} frees, {} reallocs",
            self.cross_thread_frees, self.cross_thread_reallocs
        );
        let _ = writeln!(
            o,
            "  anomalies       {} unknown frees, {} double frees, {} inversions repaired, {} failed allocs, {} free(NULL), {} realloc(p,0), {} missing frees",
            self.unknown_frees, self.double_frees, self.inversions_repaired, self.failed_allocs, self.null_frees,
            self.realloc_zero_frees,
            self.missing_frees
        );
        let _ = writeln!(
            o,
            "  object slots    {} ({} shared)",
            self.object_slots, self.shared_slots
        );
        render_hist(&mut o, "sizes (bytes)", &self.size_histogram);
        render_hist(&mut o, "lifetimes (ops)", &self.lifetime_histogram);
        for n in &self.notes {
            let _ = writeln!(o, "  note: {n}");
        }
        o
    }
}

fn render_hist(o: &mut String, title: &str, h: &[Bucket]) {
    if h.is_empty() {
        return;
    }
    let _ = writeln!(o, "  {title}");
    let max = h.iter().map(|b| b.count).max().unwrap_or(1).max(1);
    for b in h {
        let bar = "#".repeat(((b.count as f64 / max as f64) * 40.0).ceil() as usize);
        let range = if b.lo == b.hi {
            format!("{}", b.lo)
        } else {
            format!("{}..={}", b.lo, b.hi)
        };
        let _ = writeln!(o, "    {range:>24} {:>12} {bar}", b.count);
    }
}
