//! The Config box: every `HAKMEM_*` knob in one table ([`KNOBS`]), parsed once.
//!
//! Entrances: [`Config::from_env`] (reads the environment without allocating; an invalid value prints one
//! `hakmem: …` line on stderr and keeps the default), [`Config::set`] (one `KEY=VALUE`, for the replayer's
//! `hakmem:KEY=VALUE` specs) and [`crate::init`]. The process-wide configuration is fixed by the first
//! allocation (or by `init`) and never changes afterwards: [`set`] fixes it, [`get`] reads it (from the
//! environment at the first call when nothing was set), so every box reads its knobs from here, downward.
//!
//! Invariants: `1 <= unified_cap[g] <= MAX_CAP`, `1 <= pool_cap <= MAX_CAP`, `1 <= refill_batch <= 256`.

use core::fmt::Write as _;
use core::sync::atomic::{AtomicU8, Ordering};

use crate::os;

const UNSET: u8 = 0;
const BUSY: u8 = 1;
const FIXED: u8 = 2;
static STATE: AtomicU8 = AtomicU8::new(UNSET);
static mut PROCESS: Config = Config::DEFAULT;

/// Fixes the process configuration; false if it was already fixed (by `set`, or by a [`get`] that read the
/// environment).
pub fn set(cfg: Config) -> bool {
    fix(|| cfg)
}

/// Runs `make` and stores its result if the configuration is not fixed yet (else waits until it is).
fn fix(make: impl FnOnce() -> Config) -> bool {
    if STATE
        .compare_exchange(UNSET, BUSY, Ordering::Acquire, Ordering::Acquire)
        .is_err()
    {
        while STATE.load(Ordering::Acquire) != FIXED {
            core::hint::spin_loop();
        }
        return false;
    }
    // SAFETY: BUSY is held: nobody else reads or writes PROCESS until FIXED.
    unsafe { *core::ptr::addr_of_mut!(PROCESS) = make() };
    STATE.store(FIXED, Ordering::Release);
    true
}

/// The process configuration, read from the `HAKMEM_*` environment at the first call if nothing was set.
#[inline]
pub fn get() -> &'static Config {
    if STATE.load(Ordering::Acquire) != FIXED {
        fix_from_env();
    }
    // SAFETY: PROCESS is written only before STATE becomes FIXED, and read only after.
    unsafe { &*core::ptr::addr_of!(PROCESS) }
}

#[cold]
#[inline(never)]
fn fix_from_env() {
    fix(Config::from_env);
}

/// Largest Unified Cache capacity accepted.
pub const MAX_CAP: u32 = 4096;
/// Largest refill batch (the memo's `out[256]` bound).
pub const MAX_BATCH: u32 = 256;

/// All allocator knobs. `Default` gives the documented defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Memo classes C0…C7 served through the Page Box (bit k = Ck). `HAKMEM_TINY_PAGE_BOX_CLASSES`.
    pub page_box_classes: u8,
    /// Unified Cache capacity of each Tiny class, per memo class C0…C7. `HAKMEM_TINY_UNIFIED_Ck`.
    pub unified_cap: [u32; 8],
    /// Unified Cache capacity of each Pool class. `HAKMEM_POOL_UNIFIED`.
    pub pool_cap: u32,
    /// Blocks moved per refill (clamped to half the class capacity, at least 1). `HAKMEM_TINY_REFILL_BATCH`.
    pub refill_batch: u32,
    /// Prefault new SuperSlabs. `HAKMEM_SS_PREFAULT`.
    pub ss_prefault: bool,
    /// Transparent huge pages for SuperSlabs. `HAKMEM_SS_THP`.
    pub ss_thp: bool,
    /// Count refill cycles. `HAKMEM_MEASURE_UNIFIED_CACHE`.
    pub measure_unified_cache: bool,
    /// Print per-box statistics at exit. `HAKMEM_STATS`.
    pub stats: bool,
    /// SuperSlabs a Warm Pool miss takes from the Shared Pool at once. `HAKMEM_WARM_POOL_PREFILL`.
    pub warm_pool_prefill: u32,
    /// Milliseconds a FREE SuperSlab waits before the Release Guard unmaps it. `HAKMEM_RELEASE_DELAY_MS`.
    pub release_delay_ms: u32,
    /// Milliseconds an abandoned SuperSlab waits before its empty slabs are purged. `HAKMEM_PURGE_DELAY_MS`.
    pub purge_delay_ms: u32,
    /// FREE SuperSlabs kept mapped at most (older ones are released at once). `HAKMEM_SS_FREE_KEEP`.
    pub ss_free_keep: u32,
    /// A thread freeing a block of an abandoned SuperSlab adopts it. `HAKMEM_RECLAIM_ON_FREE`.
    pub reclaim_on_free: bool,
    /// MiB of freed Large ranges kept for reuse at most. `HAKMEM_LARGE_RETAIN_MB`.
    pub large_retain_mb: u32,
    /// Transparent huge pages for Large blocks of 2 MiB and more. `HAKMEM_LARGE_THP`.
    pub large_thp: bool,
    /// Heap-misuse checks ([`crate::check`]): 0 off, 1 double and invalid frees (default), 2 also canaries and
    /// write-after-free. `HAKMEM_CHECK`.
    pub check: u8,
    /// When `libhakmem.so` runs a release thread while memory waits to be released: 0 never, 1 only once the
    /// program runs threads of its own (default), 2 always. `HAKMEM_IDLE_RELEASE`.
    pub idle_release: u8,
}

impl Default for Config {
    fn default() -> Self {
        Config::DEFAULT
    }
}

impl Config {
    /// The documented defaults (see [`KNOBS`]).
    pub const DEFAULT: Config = Config {
        page_box_classes: 0xff,
        unified_cap: [128, 2048, 128, 128, 128, 64, 64, 256],
        pool_cap: 16,
        refill_batch: 128,
        ss_prefault: false,
        ss_thp: true,
        measure_unified_cache: false,
        stats: false,
        warm_pool_prefill: 2,
        release_delay_ms: 100,
        purge_delay_ms: 100,
        ss_free_keep: 2,
        reclaim_on_free: false,
        large_retain_mb: 48,
        large_thp: true,
        check: 1,
        idle_release: 1,
    };
}

/// One documented knob.
#[derive(Clone, Copy, Debug)]
pub struct Knob {
    /// Environment name.
    pub name: &'static str,
    /// Default value, as text.
    pub default: &'static str,
    /// What it does.
    pub doc: &'static str,
}

/// Every knob, its default and meaning: the single table the README documents.
pub static KNOBS: &[Knob] = &[
    Knob { name: "HAKMEM_TINY_PAGE_BOX_CLASSES", default: "0-7", doc: "memo classes C0..C7 refilled through the Page Box (`5,6,7`, `5+6+7`, `5-7`, `all`; `none` = every class refills by the Warm Pool scan)" },
    Knob { name: "HAKMEM_TINY_UNIFIED_C0", default: "128", doc: "Unified Cache capacity (blocks) of the 8 B class" },
    Knob { name: "HAKMEM_TINY_UNIFIED_C1", default: "2048", doc: "Unified Cache capacity of the 16 B class (32 KiB: programs that free whole structures of two-pointer nodes, docs/experiments/bintrees.md)" },
    Knob { name: "HAKMEM_TINY_UNIFIED_C2", default: "128", doc: "Unified Cache capacity of the 32 B class" },
    Knob { name: "HAKMEM_TINY_UNIFIED_C3", default: "128", doc: "Unified Cache capacity of each class in 33..64 B" },
    Knob { name: "HAKMEM_TINY_UNIFIED_C4", default: "128", doc: "Unified Cache capacity of each class in 65..128 B" },
    Knob { name: "HAKMEM_TINY_UNIFIED_C5", default: "64", doc: "Unified Cache capacity of each class in 129..256 B" },
    Knob { name: "HAKMEM_TINY_UNIFIED_C6", default: "64", doc: "Unified Cache capacity of each class in 257..512 B" },
    Knob { name: "HAKMEM_TINY_UNIFIED_C7", default: "256", doc: "Unified Cache capacity of each class in 513..1024 B" },
    Knob { name: "HAKMEM_POOL_UNIFIED", default: "16", doc: "Unified Cache capacity of each Pool class (1025 B..32 KiB)" },
    Knob { name: "HAKMEM_TINY_REFILL_BATCH", default: "128", doc: "blocks per Unified Cache refill, 1..256, clamped per class to half its capacity (docs/experiments/page-box.md)" },
    Knob { name: "HAKMEM_SS_PREFAULT", default: "0", doc: "1 = prefault every new 2 MiB SuperSlab (MAP_POPULATE-like)" },
    Knob { name: "HAKMEM_SS_THP", default: "1", doc: "1 = ask for transparent huge pages (MADV_HUGEPAGE) on the new SuperSlabs of a thread that owns 4 or more: one TLB entry per 2 MiB for large heaps touched at random (docs/experiments/real-programs.md)" },
    Knob { name: "HAKMEM_MEASURE_UNIFIED_CACHE", default: "0", doc: "1 = count refill cycles (rdtsc) in the unified_cache statistics" },
    Knob { name: "HAKMEM_STATS", default: "0", doc: "1 = print per-box statistics on stderr at exit" },
    Knob { name: "HAKMEM_WARM_POOL_PREFILL", default: "2", doc: "SuperSlabs taken from the Shared Pool per Warm Pool miss when FREE ones are waiting (1..64)" },
    Knob { name: "HAKMEM_RELEASE_DELAY_MS", default: "100", doc: "milliseconds a FREE SuperSlab waits before the Release Guard unmaps it" },
    Knob { name: "HAKMEM_PURGE_DELAY_MS", default: "100", doc: "milliseconds an exited thread's SuperSlab waits before the pages of its empty slabs are purged (0 = at the next release tick; a thread started meanwhile reclaims it without faulting them in again)" },
    Knob { name: "HAKMEM_SS_FREE_KEEP", default: "2", doc: "FREE SuperSlabs kept mapped at most while they wait (0 = unmap at once)" },
    Knob { name: "HAKMEM_LARGE_RETAIN_MB", default: "48", doc: "MiB of freed Large blocks (above 256 KiB) kept mapped for best-fit reuse at most (0 = unmap every free)" },
    Knob { name: "HAKMEM_LARGE_THP", default: "1", doc: "1 = ask for transparent huge pages (MADV_HUGEPAGE) on Large blocks of 2 MiB and more: one fault per 2 MiB instead of 512" },
    Knob { name: "HAKMEM_IDLE_RELEASE", default: "1", doc: "when libhakmem.so runs a release thread while freed memory waits for its release delay: 0 never, 1 only once the program runs threads of its own (a thread of ours would switch glibc out of its single-threaded mode: stdio then locks every call), 2 always; the thread exits when nothing waits; never in-process" },
    Knob { name: "HAKMEM_RECLAIM_ON_FREE", default: "0", doc: "1 = a thread freeing a block of an exited thread's SuperSlab adopts that SuperSlab (else abandoned SuperSlabs are reclaimed only by threads that need a new one)" },
    Knob { name: "HAKMEM_CHECK", default: "1", doc: "heap-misuse checks: 0 = off; 1 = every double free and every free/realloc of a pointer that is not a live block start aborts with one stderr line; 2 = also canaries (one-byte overflow/underflow at free), write-after-free on reuse and encoded free-list links (a forged link aborts: 'malloc(): corrupted free list') (docs/experiments/misuse.md)" },
];

/// Why a knob was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// No such knob.
    #[error("unknown HAKMEM knob `{0}` (known: HAKMEM_TINY_PAGE_BOX_CLASSES, HAKMEM_TINY_UNIFIED_C0..C7, HAKMEM_POOL_UNIFIED, HAKMEM_TINY_REFILL_BATCH, HAKMEM_SS_PREFAULT, HAKMEM_SS_THP, HAKMEM_MEASURE_UNIFIED_CACHE, HAKMEM_STATS, HAKMEM_WARM_POOL_PREFILL, HAKMEM_RELEASE_DELAY_MS, HAKMEM_PURGE_DELAY_MS, HAKMEM_SS_FREE_KEEP, HAKMEM_RECLAIM_ON_FREE, HAKMEM_LARGE_RETAIN_MB, HAKMEM_LARGE_THP, HAKMEM_IDLE_RELEASE, HAKMEM_CHECK)")]
    UnknownKey(String),
    /// The value does not parse or is out of range.
    #[error("invalid value `{value}` for {key}: {reason}")]
    BadValue {
        /// The knob.
        key: String,
        /// The refused value.
        value: String,
        /// What was expected.
        reason: &'static str,
    },
}

/// A non-allocating parse failure (used on the preload path).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum KnobErr {
    Unknown,
    Bad(&'static str),
}

fn parse_u32(v: &[u8], lo: u32, hi: u32, reason: &'static str) -> Result<u32, KnobErr> {
    let v = trim(v);
    if v.is_empty() || v.len() > 9 {
        return Err(KnobErr::Bad(reason));
    }
    let mut n: u32 = 0;
    for &b in v {
        if !b.is_ascii_digit() {
            return Err(KnobErr::Bad(reason));
        }
        n = n * 10 + (b - b'0') as u32;
    }
    if n < lo || n > hi {
        return Err(KnobErr::Bad(reason));
    }
    Ok(n)
}

fn parse_bool(v: &[u8]) -> Result<bool, KnobErr> {
    match trim(v) {
        b"1" | b"true" | b"yes" | b"on" => Ok(true),
        b"0" | b"false" | b"no" | b"off" | b"" => Ok(false),
        _ => Err(KnobErr::Bad("expected 0 or 1")),
    }
}

fn trim(v: &[u8]) -> &[u8] {
    let mut s = v;
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// Parses a class list: `none`, `all`, `7`, `5,6,7`, `5+6+7`, `5-7` (memo classes 0..7). `+` and ranges exist
/// because the workbench's `hakmem:KEY=VALUE,…` specs use commas between knobs.
fn parse_classes(v: &[u8]) -> Result<u8, KnobErr> {
    const REASON: &str =
        "expected memo classes 0..7 as a list like `5,6,7` or `0-7`, or `none` / `all`";
    let v = trim(v);
    match v {
        b"" | b"none" => return Ok(0),
        b"all" => return Ok(0xff),
        _ => {}
    }
    let mut mask = 0u8;
    for part in v
        .split(|&b| matches!(b, b',' | b'+' | b';' | b' '))
        .filter(|p| !p.is_empty())
    {
        let part = trim(part);
        let part = part
            .strip_prefix(b"C")
            .or_else(|| part.strip_prefix(b"c"))
            .unwrap_or(part);
        if let Some(dash) = part.iter().position(|&b| b == b'-') {
            let a = parse_u32(&part[..dash], 0, 7, REASON).map_err(|_| KnobErr::Bad(REASON))?;
            let b = parse_u32(&part[dash + 1..], 0, 7, REASON).map_err(|_| KnobErr::Bad(REASON))?;
            if a > b {
                return Err(KnobErr::Bad(REASON));
            }
            for k in a..=b {
                mask |= 1 << k;
            }
        } else {
            let k = parse_u32(part, 0, 7, REASON)?;
            mask |= 1 << k;
        }
    }
    Ok(mask)
}

fn strip_prefix(key: &[u8]) -> &[u8] {
    key.strip_prefix(b"HAKMEM_").unwrap_or(key)
}

impl Config {
    fn set_bytes(&mut self, key: &[u8], value: &[u8]) -> Result<(), KnobErr> {
        const CAP: &str = "expected a capacity 1..4096";
        match strip_prefix(key) {
            b"TINY_PAGE_BOX_CLASSES" => self.page_box_classes = parse_classes(value)?,
            b"POOL_UNIFIED" => self.pool_cap = parse_u32(value, 1, MAX_CAP, CAP)?,
            b"TINY_REFILL_BATCH" => {
                self.refill_batch = parse_u32(value, 1, MAX_BATCH, "expected a batch size 1..256")?
            }
            b"SS_PREFAULT" => self.ss_prefault = parse_bool(value)?,
            b"SS_THP" => self.ss_thp = parse_bool(value)?,
            b"MEASURE_UNIFIED_CACHE" => self.measure_unified_cache = parse_bool(value)?,
            b"STATS" => self.stats = parse_bool(value)?,
            b"WARM_POOL_PREFILL" => {
                self.warm_pool_prefill =
                    parse_u32(value, 1, 64, "expected a SuperSlab count 1..64")?
            }
            b"RELEASE_DELAY_MS" => {
                self.release_delay_ms =
                    parse_u32(value, 0, 3_600_000, "expected milliseconds 0..3600000")?
            }
            b"PURGE_DELAY_MS" => {
                self.purge_delay_ms =
                    parse_u32(value, 0, 3_600_000, "expected milliseconds 0..3600000")?
            }
            b"LARGE_RETAIN_MB" => {
                self.large_retain_mb = parse_u32(value, 0, 1 << 20, "expected MiB 0..1048576")?
            }
            b"LARGE_THP" => self.large_thp = parse_bool(value)?,
            b"IDLE_RELEASE" => {
                self.idle_release = parse_u32(value, 0, 2, "expected 0, 1 or 2")? as u8
            }
            b"RECLAIM_ON_FREE" => self.reclaim_on_free = parse_bool(value)?,
            b"SS_FREE_KEEP" => {
                self.ss_free_keep = parse_u32(value, 0, 1024, "expected a count 0..1024")?
            }
            b"CHECK" => {
                self.check = parse_u32(value, 0, 2, "expected a check level 0, 1 or 2")? as u8
            }
            k => match k.strip_prefix(b"TINY_UNIFIED_C") {
                Some([d]) if (b'0'..=b'7').contains(d) => {
                    self.unified_cap[(d - b'0') as usize] = parse_u32(value, 1, MAX_CAP, CAP)?
                }
                _ => return Err(KnobErr::Unknown),
            },
        }
        Ok(())
    }

    /// Sets one knob by name (`HAKMEM_TINY_UNIFIED_C7` or `TINY_UNIFIED_C7`) from its text value.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        self.set_bytes(key.trim().as_bytes(), value.as_bytes())
            .map_err(|e| match e {
                KnobErr::Unknown => ConfigError::UnknownKey(key.to_string()),
                KnobErr::Bad(reason) => ConfigError::BadValue {
                    key: key.to_string(),
                    value: value.to_string(),
                    reason,
                },
            })
    }

    /// The defaults overridden by the `HAKMEM_*` environment. Never allocates: an invalid value is reported as
    /// one line on stderr and the default kept.
    pub fn from_env() -> Config {
        let mut cfg = Config::default();
        for knob in KNOBS {
            let mut name = [0u8; 64];
            let n = knob.name.len().min(63);
            name[..n].copy_from_slice(&knob.name.as_bytes()[..n]);
            let Ok(cname) = core::ffi::CStr::from_bytes_until_nul(&name) else {
                continue;
            };
            let Some(value) = os::getenv(cname) else {
                continue;
            };
            if let Err(KnobErr::Bad(reason)) = cfg.set_bytes(knob.name.as_bytes(), value) {
                let mut msg = os::StackBuf::<512>::new();
                let shown =
                    core::str::from_utf8(&value[..value.len().min(64)]).unwrap_or("<non-UTF-8>");
                let _ = writeln!(
                    msg,
                    "hakmem: ignoring {}={:?}: {}; using the default {}",
                    knob.name, shown, reason, knob.default
                );
                os::write_stderr(msg.as_bytes());
            }
        }
        cfg
    }

    /// Checks the invariants of the module docs.
    pub fn check_invariants(&self) -> Result<(), &'static str> {
        if self.unified_cap.iter().any(|&c| c == 0 || c > MAX_CAP)
            || self.pool_cap == 0
            || self.pool_cap > MAX_CAP
        {
            return Err("capacity out of range");
        }
        if self.refill_batch == 0 || self.refill_batch > MAX_BATCH {
            return Err("refill batch out of range");
        }
        if self.check > 2 {
            return Err("check level out of range");
        }
        Ok(())
    }

    /// Whether memo class `group` (0..7) refills through the Page Box.
    pub fn page_box_enabled(&self, group: usize) -> bool {
        self.page_box_classes & (1 << group) != 0
    }
}
