//! Adapter between the trace crate's workload format and the engine's [`Program`], and the source of the
//! live random-mixed step sequence.
//!
//! Entry points: [`load_program`] (map, decode and validate a `.hkw` before the start barrier) and
//! [`random_mixed_steps`] (the step generator the live bench shares with `hakmem gen random-mixed`, so that
//! live and replayed runs make the same calls).

use crate::engine::RandomMixed;
use crate::program::{check_op, BlockCursor, Blocks, Kind, Op, Program, NO_OBJECT};
use std::path::Path;
use traces::workload::{ReplayOp, Workload};

/// Loads, decodes and validates a workload. Runs in the child: the parent has already checked every
/// stream's checksum ([`inputs`]), so this maps the header only and decodes each stream once; a stream
/// that stops decoding early fails the op-count check and [`Program::validate`] bounds every slot.
/// A workload of more than [`crate::program::decoded_budget_ops`] ops (for a child pinned to `cores`
/// cores, all of them when 0) is replayed in blocks (see [`load_program_with`]).
pub fn load_program(path: &Path, cores: usize) -> anyhow::Result<Program> {
    let online = crate::sysinfo::online_cpus();
    let cores = if cores == 0 { online } else { cores };
    load_program_with(path, crate::program::decoded_budget_ops(cores, online))
}

/// [`load_program`] holding at most about `budget` decoded ops: a longer workload is checked whole here
/// (every op decoded, converted and validated, nothing kept), then only each thread's first block of
/// `budget / threads` ops is kept and [`Program::blocks`] decodes the rest during the replay.
pub fn load_program_with(path: &Path, budget: usize) -> anyhow::Result<Program> {
    use rayon::prelude::*;
    let w = Workload::open_header(path)?;
    let h = w.header();
    if h.total_ops <= budget as u64 {
        let program = decode(&w)?;
        program
            .validate()
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        return Ok(program);
    }
    let block = (budget / h.threads.len().max(1)).max(1);
    let slots = h.object_slots as usize;
    let threads: Result<Vec<Vec<Op>>, String> = (0..h.threads.len())
        .into_par_iter()
        .map(|t| {
            let want = h.threads[t].ops;
            let mut first = Vec::with_capacity(block.min(want as usize));
            let mut n = 0u64;
            let mut ops = w.ops(t);
            while let Some(op) = ops.next() {
                let op = convert(op)
                    .and_then(|op| check_op(&op, slots).map(|()| op))
                    .map_err(|e| format!("thread {t}, op {n}: {e}"))?;
                if first.len() < block {
                    first.push(op);
                }
                n += 1;
                if n & ((1 << 20) - 1) == 0 {
                    // Checked bytes leave the resident set: the harness stays small for any length.
                    ops.release_consumed();
                }
            }
            ops.release_consumed();
            if n != want {
                return Err(format!("thread {t}: decoded {n} ops, header says {want}"));
            }
            Ok(first)
        })
        .collect();
    let threads = threads.map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let totals = h.threads.iter().map(|t| t.ops).collect();
    let own = own_slots(h);
    Ok(Program {
        threads,
        object_slots: slots,
        blocks: Some(std::sync::Arc::new(WorkloadBlocks { w, totals })),
        own,
    })
}

/// The blocks of a long workload, decoded from its mapping (every op was checked by
/// [`load_program_with`], so decoding cannot fail).
#[derive(Debug)]
struct WorkloadBlocks {
    w: Workload,
    totals: Vec<u64>,
}

impl Blocks for WorkloadBlocks {
    fn thread_ops(&self, t: usize) -> u64 {
        self.totals[t]
    }

    fn cursor(&self, t: usize, skip: usize) -> Box<dyn BlockCursor + '_> {
        let mut ops = self.w.ops(t);
        if skip > 0 {
            ops.nth(skip - 1);
        }
        ops.release_consumed();
        Box::new(WorkloadCursor { ops })
    }
}

struct WorkloadCursor<'a> {
    ops: traces::workload::Ops<'a>,
}

impl BlockCursor for WorkloadCursor<'_> {
    fn refill(&mut self, out: &mut Vec<Op>) -> bool {
        out.clear();
        let cap = out.capacity();
        for op in self.ops.by_ref().take(cap) {
            out.push(convert(op).expect("every op was converted once before the barrier"));
        }
        self.ops.release_consumed();
        !out.is_empty()
    }
}

/// Decodes every thread's [`ReplayOp`]s into engine [`Op`]s (threads in parallel).
pub fn decode(w: &Workload) -> anyhow::Result<Program> {
    use rayon::prelude::*;
    let h = w.header();
    let threads: Result<Vec<Vec<Op>>, String> = (0..h.threads.len())
        .into_par_iter()
        .map(|t| {
            // Fallible: a workload larger than this machine's memory is an error sample that says so,
            // not an abort inside the allocator.
            let mut ops = Vec::new();
            let n = h.threads[t].ops;
            ops.try_reserve_exact(usize::try_from(n).unwrap_or(usize::MAX))
                .map_err(|_| {
                    format!(
                        "thread {t}: cannot allocate {:.1} GiB to decode its {n} ops",
                        n as f64 * std::mem::size_of::<Op>() as f64 / (1u64 << 30) as f64
                    )
                })?;
            let mut it = w.ops(t);
            for (i, op) in it.by_ref().enumerate() {
                ops.push(convert(op).map_err(|e| format!("thread {t}, op {i}: {e}"))?);
            }
            // The stream's mapped pages are not read again: they leave the resident set.
            it.release_consumed();
            if ops.len() as u64 != h.threads[t].ops {
                return Err(format!(
                    "thread {t}: decoded {} ops, header says {}",
                    ops.len(),
                    h.threads[t].ops
                ));
            }
            Ok(ops)
        })
        .collect();
    let threads = threads.map_err(|e| anyhow::anyhow!("{}: {e}", w.path().display()))?;
    Ok(Program {
        threads,
        object_slots: h.object_slots as usize,
        blocks: None,
        own: own_slots(h),
    })
}

/// Each thread's local slots (`[local_base, local_base + local_slots)`): only that thread touches them.
fn own_slots(h: &traces::workload::Header) -> Vec<std::ops::Range<usize>> {
    h.threads
        .iter()
        .map(|t| t.local_base as usize..t.local_base as usize + t.local_slots as usize)
        .collect()
}

fn align32(align: u64) -> Result<u32, String> {
    u32::try_from(align)
        .map_err(|_| format!("alignment {align} is beyond what the replayer supports"))
}

/// One workload op in the engine's representation. `reallocarray` replays as `realloc` of the product
/// (a recorded success never overflows), `free_sized` / `free_aligned_sized` as `free`.
fn convert(op: ReplayOp) -> Result<Op, String> {
    let mk = Op::new;
    Ok(match op {
        ReplayOp::Malloc { obj, size } => mk(Kind::Malloc, obj, size, 0, NO_OBJECT, false),
        ReplayOp::Calloc { obj, nmemb, size } => match u32::try_from(nmemb) {
            Ok(n) => mk(Kind::Calloc, obj, size, n, NO_OBJECT, false),
            Err(_) => mk(
                Kind::Calloc,
                obj,
                nmemb.saturating_mul(size),
                1,
                NO_OBJECT,
                false,
            ),
        },
        ReplayOp::Realloc {
            old,
            new,
            size,
            sync,
        } => mk(Kind::Realloc, new, size, 0, old.unwrap_or(NO_OBJECT), sync),
        ReplayOp::ReallocArray {
            old,
            new,
            nmemb,
            size,
            sync,
        } => mk(
            Kind::Realloc,
            new,
            nmemb.saturating_mul(size),
            0,
            old.unwrap_or(NO_OBJECT),
            sync,
        ),
        ReplayOp::Free { obj, sync }
        | ReplayOp::FreeSized { obj, sync, .. }
        | ReplayOp::FreeAlignedSized { obj, sync, .. } => {
            mk(Kind::Free, obj, 0, 0, NO_OBJECT, sync)
        }
        ReplayOp::PosixMemalign { obj, align, size } => mk(
            Kind::PosixMemalign,
            obj,
            size,
            align32(align)?,
            NO_OBJECT,
            false,
        ),
        ReplayOp::AlignedAlloc { obj, align, size } => mk(
            Kind::AlignedAlloc,
            obj,
            size,
            align32(align)?,
            NO_OBJECT,
            false,
        ),
        ReplayOp::Memalign { obj, align, size } => {
            mk(Kind::Memalign, obj, size, align32(align)?, NO_OBJECT, false)
        }
        ReplayOp::Valloc { obj, size } => mk(Kind::Valloc, obj, size, 0, NO_OBJECT, false),
        ReplayOp::Pvalloc { obj, size } => mk(Kind::Pvalloc, obj, size, 0, NO_OBJECT, false),
    })
}

/// The `(slot, size)` steps of random-mixed with parameters `p`: `traces::gen::RandomMixed`, the generator
/// `hakmem gen random-mixed` writes workloads with, so the live loop makes the same calls.
pub fn random_mixed_steps(p: &RandomMixed) -> impl FnMut() -> (u32, u32) {
    let mut g = traces::gen::RandomMixed::new(p.seed, p.ws, p.min as u64, p.max as u64);
    move || {
        let (slot, size) = g.next();
        (slot, size as u32)
    }
}

/// Calls the live random-mixed loop makes: its steps plus the frees of the blocks left at the end.
pub fn random_mixed_ops(p: &RandomMixed) -> u64 {
    let mut step = random_mixed_steps(p);
    let mut live = vec![false; p.ws.max(1) as usize];
    for _ in 0..p.iters {
        let (slot, _) = step();
        live[slot as usize] ^= true;
    }
    p.iters + live.iter().filter(|&&l| l).count() as u64
}

/// Describes each workload for the manifest and the plan; an unreadable one becomes an `Err` reason
/// (its samples are recorded as failed, the others still run).
pub fn inputs(paths: &[std::path::PathBuf]) -> Vec<crate::session::Input> {
    let mut names: Vec<String> = Vec::new();
    paths
        .iter()
        .map(|p| {
            let stem = p
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| p.display().to_string());
            let mut name = stem.clone();
            let mut n = 2;
            while names.contains(&name) {
                name = format!("{stem}#{n}");
                n += 1;
            }
            names.push(name.clone());
            let mut info = reports::model::WorkloadInfo {
                name,
                path: p.display().to_string(),
                ..Default::default()
            };
            let source =
                describe(p, &mut info).map(|()| crate::child::Source::Workload { path: p.clone() });
            crate::session::Input {
                info,
                source: source.map_err(|e| {
                    // The trace crate's errors already start with the path: say it once.
                    let path = p.display().to_string();
                    let msg = format!("{e:#}");
                    let cause = msg.strip_prefix(&format!("{path}: ")).unwrap_or(&msg);
                    format!("workload {path}: {cause}")
                }),
            }
        })
        .collect()
}

/// What a file given in place of a workload or a bundle is, when it is the wrong kind: a raw trace, a
/// workload, a directory. `None` when it is none of those (or unreadable: the caller's own open says why).
pub fn sniff_kind(path: &Path) -> Option<&'static str> {
    use std::io::Read;
    if path.is_dir() {
        return Some("directory");
    }
    let mut head = [0u8; 8];
    let n = std::fs::File::open(path)
        .and_then(|mut f| f.read(&mut head))
        .ok()?;
    if n == 8 && head == traces::raw::layout::MAGIC {
        Some("raw trace")
    } else if traces::workload::has_magic(&head[..n]) {
        Some("workload")
    } else {
        None
    }
}

fn describe(path: &Path, info: &mut reports::model::WorkloadInfo) -> anyhow::Result<()> {
    use anyhow::Context;
    match sniff_kind(path) {
        Some("raw trace") => anyhow::bail!(
            "a raw trace, not a workload: run `hakmem compile {} -o OUT.hkw` first",
            path.display()
        ),
        Some("directory") => anyhow::bail!(
            "a directory, not a workload (.hkw from `hakmem compile` or `hakmem gen`)"
        ),
        _ => {}
    }
    let w = Workload::open(path)?;
    let h = w.header();
    info.threads = h.threads.len() as u32;
    info.ops = h.total_ops;
    info.peak_live_bytes = h.stats.peak_live_bytes;
    info.profile = serde_json::to_value(traces::info::Info::from_workload(&w)).unwrap_or_default();
    info.hash = format!(
        "sha256:{}",
        crate::sysinfo::sha256_file(path).context("cannot read")?
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{replay, Options, Touch};

    /// A multi-threaded workload with cross-thread frees (sync points), written to a temporary file.
    fn workload(name: &str) -> std::path::PathBuf {
        let w = traces::gen::threads(&traces::gen::ThreadsParams {
            threads: 3,
            iters: 20_000,
            remote: 0.2,
            ..Default::default()
        })
        .unwrap();
        let dir = std::env::temp_dir().join(format!("hakmem-blocks-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(name);
        w.write(&p).unwrap();
        p
    }

    /// Every thread's whole op sequence as the replay loop sees it: the first block, then each refill.
    fn sequences(p: &Program) -> Vec<Vec<Op>> {
        (0..p.threads.len())
            .map(|t| {
                let mut all = p.threads[t].clone();
                if let Some(b) = &p.blocks {
                    let mut c = b.cursor(t, all.len());
                    let mut buf = Vec::with_capacity(p.threads[t].len());
                    while c.refill(&mut buf) {
                        assert!(buf.len() <= p.threads[t].len());
                        all.extend_from_slice(&buf);
                    }
                }
                all
            })
            .collect()
    }

    #[test]
    fn block_decoding_yields_the_same_op_sequence_as_decoding_everything() {
        let path = workload("seq.hkw");
        let whole = load_program(&path, 0).unwrap();
        assert!(whole.blocks.is_none());
        let total = whole.total_ops();
        for budget in [1usize, 7, 1000, total as usize - 1] {
            let p = load_program_with(&path, budget).unwrap();
            assert!(p.blocks.is_some(), "budget {budget}");
            let held: usize = p.threads.iter().map(|t| t.len()).sum();
            assert!(
                held <= budget.max(p.threads.len()),
                "budget {budget}: {held} held"
            );
            assert_eq!(p.total_ops(), total);
            assert_eq!(sequences(&p), whole.threads, "budget {budget}");
        }
    }

    #[test]
    fn a_workload_replayed_in_blocks_runs_every_op_with_its_sync_points() {
        let path = workload("run.hkw");
        let p = load_program_with(&path, 1000).unwrap();
        let opts = Options {
            touch: Touch::Line,
            check: true,
            latency_every: 16,
            warmup: true,
            pace_ns: 0,
            walk: 0,
        };
        let o = replay::<crate::backend::System>(&p, opts);
        assert_eq!(o.ops, p.total_ops());
        assert_eq!(
            (o.alloc_failures, o.violation_count),
            (0, 0),
            "{:?}",
            o.violations
        );
        assert!(o.latency_ns.contains_key("malloc"));
    }
}
