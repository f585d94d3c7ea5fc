//! The HAKMEM backend: the linked-in `hakmem-allocator` crate (never installed as `#[global_allocator]`:
//! the harness itself uses the C library), configured from a spec's knobs before its first allocation,
//! and its per-box statistics.
//!
//! Entry points: [`Hakmem`] (the [`Allocator`]), [`knob_names`], [`validate`] (parent side),
//! [`configure`] (child side, before the first HAKMEM allocation), [`run`], [`box_stats`].

use crate::backend::{AlignedKind, Allocator};
use crate::child::Job;
use crate::engine::{Options, Outcome};
use crate::program::Program;
use hakmem_allocator::{Config, KNOBS};
use std::collections::BTreeMap;

/// HAKMEM called directly through its C-semantics functions.
pub struct Hakmem;

impl Allocator for Hakmem {
    const NAME: &'static str = "hakmem";

    #[inline(always)]
    unsafe fn malloc(size: usize) -> *mut u8 {
        // SAFETY: C malloc semantics; configured by `configure` before the first call.
        unsafe { hakmem_allocator::malloc(size) }
    }
    #[inline(always)]
    unsafe fn calloc(nmemb: usize, size: usize) -> *mut u8 {
        // SAFETY: C calloc semantics.
        unsafe { hakmem_allocator::calloc(nmemb, size) }
    }
    #[inline(always)]
    unsafe fn realloc(p: *mut u8, size: usize) -> *mut u8 {
        // SAFETY: the caller guarantees `p` is null or a live HAKMEM block.
        unsafe { hakmem_allocator::realloc(p, size) }
    }
    #[inline(always)]
    unsafe fn free(p: *mut u8) {
        // SAFETY: the caller guarantees `p` is null or a live HAKMEM block, freed once.
        unsafe { hakmem_allocator::free(p) }
    }
    #[inline(always)]
    unsafe fn aligned(kind: AlignedKind, align: usize, size: usize) -> *mut u8 {
        let page = 4096;
        let (align, size) = match kind {
            AlignedKind::Valloc => (page, size),
            AlignedKind::Pvalloc => (page, size.div_ceil(page).max(1) * page),
            _ => (align.max(std::mem::size_of::<usize>()), size),
        };
        // SAFETY: power-of-two alignment (Program::validate).
        unsafe { hakmem_allocator::aligned_alloc(align, size) }
    }
    #[inline(always)]
    unsafe fn usable_size(p: *mut u8) -> usize {
        // SAFETY: the caller guarantees `p` is a live HAKMEM block.
        unsafe { hakmem_allocator::usable_size(p) }
    }
}

/// Names of the HAKMEM knobs a spec may set.
pub fn knob_names() -> Vec<&'static str> {
    KNOBS.iter().map(|k| k.name).collect()
}

/// The misuse-check level (`HAKMEM_CHECK`) a HAKMEM child configured with `knobs` runs at (the environment's
/// value or the default, unless a knob sets it), for provenance.
pub fn check_level(knobs: &[(String, String)]) -> u8 {
    let mut c = Config::from_env();
    for (k, v) in knobs {
        let _ = c.set(k, v);
    }
    c.check
}

/// Checks that every knob value parses (in the parent, so a bad value stops the run before any child).
pub fn validate(label: &str, knobs: &[(String, String)]) -> anyhow::Result<()> {
    let mut c = Config::default();
    for (k, v) in knobs {
        c.set(k, v)
            .map_err(|e| anyhow::anyhow!("allocator spec `{label}`: {e}"))?;
    }
    Ok(())
}

/// Applies `knobs` on top of the environment's `HAKMEM_*` configuration and initialises HAKMEM.
pub fn configure(knobs: &[(String, String)]) -> anyhow::Result<()> {
    let mut c = Config::from_env();
    for (k, v) in knobs {
        c.set(k, v).map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    hakmem_allocator::init(c).map_err(|e| anyhow::anyhow!("{e}"))
}

/// Runs a job through HAKMEM.
pub fn run(job: &Job, program: Option<&Program>, opts: Options) -> Outcome {
    crate::child::run_on::<Hakmem>(job, program, opts)
}

/// HAKMEM's per-box counters.
pub fn box_stats() -> BTreeMap<String, BTreeMap<String, u64>> {
    hakmem_allocator::stats::snapshot()
}

/// The per-box statistics of a `libhakmem.so` preloaded into this process (a `preload:` child whose
/// library exports `hakmem_stats_snapshot`), found with `dlsym`: the same counters as [`box_stats`] gives
/// for the linked-in allocator. Empty when no loaded library exports the symbol (another allocator, or
/// an older libhakmem.so).
pub fn preloaded_box_stats() -> BTreeMap<String, BTreeMap<String, u64>> {
    type Snapshot = unsafe extern "C" fn(*mut u8, usize) -> usize;
    // SAFETY: dlsym with a NUL-terminated name; RTLD_DEFAULT searches the global scope (LD_PRELOAD first).
    let sym = unsafe { libc::dlsym(libc::RTLD_DEFAULT, c"hakmem_stats_snapshot".as_ptr()) };
    if sym.is_null() {
        return BTreeMap::new();
    }
    // SAFETY: libhakmem.so exports the symbol with exactly this signature (allocator/preload/src/lib.rs).
    let snapshot: Snapshot = unsafe { std::mem::transmute::<*mut libc::c_void, Snapshot>(sym) };
    let mut buf = vec![0u8; 64 << 10];
    loop {
        // SAFETY: `buf` is valid for writes of its length.
        let need = unsafe { snapshot(buf.as_mut_ptr(), buf.len()) };
        if need <= buf.len() {
            buf.truncate(need);
            break;
        }
        buf = vec![0u8; need + 4096];
    }
    parse_stats_lines(&String::from_utf8_lossy(&buf))
}

/// Parses `box\tcounter\tvalue` lines (malformed lines are skipped).
pub fn parse_stats_lines(text: &str) -> BTreeMap<String, BTreeMap<String, u64>> {
    let mut out: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    for line in text.lines() {
        let mut it = line.split('\t');
        if let (Some(b), Some(k), Some(v), None) = (it.next(), it.next(), it.next(), it.next()) {
            if let Ok(v) = v.parse() {
                out.entry(b.to_string())
                    .or_default()
                    .insert(k.to_string(), v);
            }
        }
    }
    out
}
