//! Workload statistics: computed once when a workload is written (by [`crate::compile`] or [`crate::gen`]),
//! stored in the `.hkw` header, and read back by [`crate::info`] without touching the op streams.
//!
//! Entry points: [`Stats`] (the stored figures), [`Stats::on_alloc`] / [`Stats::on_free`] (the counting
//! primitives, fed in global op order), [`StatsTracker`] (feeds them from [`StoredOp`]s when the caller does
//! not track object sizes itself).
//!
//! Invariants, checked by [`Stats::check_invariants`]:
//! `Σ by_kind == ops`, `Σ size_hist == allocations`, `Σ lifetime_hist == frees_of_known_objects`,
//! `live_objects_at_end == allocations - frees_of_known_objects`, `peak_live_objects >= live_objects_at_end`.

use crate::event::CallKind;
use crate::workload::{ObjRef, StoredOp};
use serde::{Deserialize, Serialize};

/// Number of power-of-two histogram buckets (bucket 0 holds 0, bucket `b >= 1` holds `(2^(b-2), 2^(b-1)]`).
pub const HIST_BUCKETS: usize = 66;

/// Histogram bucket of a value: 0 for 0, 1 for 1, 2 for 2, 3 for 3..=4, 4 for 5..=8, ... (`1 + ceil(log2 v)`).
#[inline]
pub fn bucket_of(v: u64) -> usize {
    if v == 0 {
        0
    } else {
        1 + (64 - (v - 1).leading_zeros()) as usize
    }
}

/// Inclusive value range `(lo, hi)` of histogram bucket `b`.
pub fn bucket_range(b: usize) -> (u64, u64) {
    match b {
        0 => (0, 0),
        1 => (1, 1),
        _ => {
            let hi = if b > 64 { u64::MAX } else { 1u64 << (b - 1) };
            ((1u64 << (b - 2)) + 1, hi)
        }
    }
}

/// The statistics stored in a workload header. All counts are of *replayed* ops unless the field says
/// otherwise; the anomaly counts describe recorded calls that were dropped or repaired.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Replayed ops per kind, indexed like [`CallKind::ALL`].
    pub by_kind: [u64; 10],
    /// Power-of-two histogram of requested sizes (`nmemb * size` for calloc/reallocarray) of every op that
    /// creates an object; see [`bucket_of`].
    pub size_hist: Vec<u64>,
    /// Power-of-two histogram of object lifetimes, in ops of the whole workload (global order) between the
    /// op that created the object and the op that freed or reallocated it.
    pub lifetime_hist: Vec<u64>,
    /// Objects created.
    pub allocations: u64,
    /// Sum of requested bytes of every object created.
    pub allocated_bytes: u64,
    /// Objects freed or reallocated away (consumed).
    pub frees: u64,
    /// Maximum over time of the requested bytes of live objects ("ideal RSS").
    pub peak_live_bytes: u64,
    /// Maximum over time of the number of live objects.
    pub peak_live_objects: u64,
    /// Objects still live at the end of the workload.
    pub live_objects_at_end: u64,
    /// Their requested bytes.
    pub live_bytes_at_end: u64,
    /// Frees (free, free_sized, free_aligned_sized) of an object created by another thread.
    pub cross_thread_frees: u64,
    /// realloc/reallocarray of an object created by another thread.
    pub cross_thread_reallocs: u64,
    /// Recorded frees (or reallocs) of pointers never seen allocated: allocated before recording began.
    /// Not replayed.
    pub unknown_frees: u64,
    /// Recorded frees (or reallocs) of pointers already freed. Not replayed.
    pub double_frees: u64,
    /// Log inversions repaired: an address handed out again before another thread's free (or realloc) of it
    /// was logged; the late free was attributed to the earlier object.
    pub inversions_repaired: u64,
    /// Recorded allocations that returned NULL (and failed reallocs, which leave the old block live).
    /// Not replayed.
    pub failed_allocs: u64,
    /// Recorded `free(NULL)` calls. Not replayed.
    pub null_frees: u64,
    /// Recorded `realloc(p, 0)` calls that freed `p` and returned NULL; replayed as `free`.
    pub realloc_zero_frees: u64,
    /// Objects whose address was handed out again with no free of them ever logged (not even late, see
    /// inversions): their free was missed; they stay live to the end.
    pub missing_frees: u64,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            by_kind: [0; 10],
            size_hist: vec![0; HIST_BUCKETS],
            lifetime_hist: vec![0; HIST_BUCKETS],
            allocations: 0,
            allocated_bytes: 0,
            frees: 0,
            peak_live_bytes: 0,
            peak_live_objects: 0,
            live_objects_at_end: 0,
            live_bytes_at_end: 0,
            cross_thread_frees: 0,
            cross_thread_reallocs: 0,
            unknown_frees: 0,
            double_frees: 0,
            inversions_repaired: 0,
            failed_allocs: 0,
            null_frees: 0,
            realloc_zero_frees: 0,
            missing_frees: 0,
        }
    }
}

/// Index of a kind in [`Stats::by_kind`].
#[inline]
pub fn kind_index(k: CallKind) -> usize {
    match k {
        CallKind::Malloc => 0,
        CallKind::Free => 1,
        CallKind::Calloc => 2,
        CallKind::Realloc => 3,
        CallKind::Reallocarray => 4,
        CallKind::PosixMemalign => 5,
        CallKind::AlignedAlloc => 6,
        CallKind::Memalign => 7,
        CallKind::Valloc => 8,
        CallKind::Pvalloc => 9,
    }
}

impl Stats {
    /// Total replayed ops.
    pub fn ops(&self) -> u64 {
        self.by_kind.iter().sum()
    }

    /// Counts one replayed op of `kind`.
    #[inline]
    pub fn on_op(&mut self, kind: CallKind) {
        self.by_kind[kind_index(kind)] += 1;
    }

    /// An object of `size` requested bytes came to life. Keeps the live figures in `live_objects_at_end` /
    /// `live_bytes_at_end` (they are "live now" until the end).
    #[inline]
    pub fn on_alloc(&mut self, size: u64) {
        self.allocations += 1;
        self.allocated_bytes = self.allocated_bytes.saturating_add(size);
        self.size_hist[bucket_of(size)] += 1;
        self.live_objects_at_end += 1;
        self.live_bytes_at_end = self.live_bytes_at_end.saturating_add(size);
        if self.live_objects_at_end > self.peak_live_objects {
            self.peak_live_objects = self.live_objects_at_end;
        }
        if self.live_bytes_at_end > self.peak_live_bytes {
            self.peak_live_bytes = self.live_bytes_at_end;
        }
    }

    /// An object of `size` bytes that lived `lifetime` ops died.
    #[inline]
    pub fn on_free(&mut self, size: u64, lifetime: u64) {
        self.frees += 1;
        self.lifetime_hist[bucket_of(lifetime)] += 1;
        self.live_objects_at_end -= 1;
        self.live_bytes_at_end = self.live_bytes_at_end.saturating_sub(size);
    }

    /// Adds `other` into `self` as if the two workloads ran side by side with their peaks coinciding
    /// (used when several processes' traces are compiled into one workload; peaks are summed, an upper
    /// bound of the true combined peak).
    pub fn merge(&mut self, other: &Stats) {
        for (a, b) in self.by_kind.iter_mut().zip(other.by_kind) {
            *a += b;
        }
        for (a, b) in self.size_hist.iter_mut().zip(&other.size_hist) {
            *a += b;
        }
        for (a, b) in self.lifetime_hist.iter_mut().zip(&other.lifetime_hist) {
            *a += b;
        }
        self.allocations += other.allocations;
        self.allocated_bytes = self.allocated_bytes.saturating_add(other.allocated_bytes);
        self.frees += other.frees;
        self.peak_live_bytes = self.peak_live_bytes.saturating_add(other.peak_live_bytes);
        self.peak_live_objects += other.peak_live_objects;
        self.live_objects_at_end += other.live_objects_at_end;
        self.live_bytes_at_end = self
            .live_bytes_at_end
            .saturating_add(other.live_bytes_at_end);
        self.cross_thread_frees += other.cross_thread_frees;
        self.cross_thread_reallocs += other.cross_thread_reallocs;
        self.unknown_frees += other.unknown_frees;
        self.double_frees += other.double_frees;
        self.inversions_repaired += other.inversions_repaired;
        self.failed_allocs += other.failed_allocs;
        self.null_frees += other.null_frees;
        self.realloc_zero_frees += other.realloc_zero_frees;
        self.missing_frees += other.missing_frees;
    }

    /// Checks the invariants of the module docs; `Err` names the first one broken.
    pub fn check_invariants(&self) -> Result<(), String> {
        if self.size_hist.len() != HIST_BUCKETS || self.lifetime_hist.len() != HIST_BUCKETS {
            return Err(format!("histograms must have {HIST_BUCKETS} buckets"));
        }
        let sizes: u64 = self.size_hist.iter().sum();
        if sizes != self.allocations {
            return Err(format!(
                "size histogram holds {sizes} objects, allocations = {}",
                self.allocations
            ));
        }
        let lifetimes: u64 = self.lifetime_hist.iter().sum();
        if lifetimes != self.frees {
            return Err(format!(
                "lifetime histogram holds {lifetimes} objects, frees = {}",
                self.frees
            ));
        }
        if self.allocations.checked_sub(self.frees) != Some(self.live_objects_at_end) {
            return Err(format!(
                "live at end {} != allocations {} - frees {}",
                self.live_objects_at_end, self.allocations, self.frees
            ));
        }
        if self.peak_live_objects < self.live_objects_at_end {
            return Err("peak live objects below live objects at end".into());
        }
        Ok(())
    }
}

/// Computes [`Stats`] from [`StoredOp`]s pushed in global order (the order a sequential schedule of the
/// workload would run them), tracking each object's size and birth itself. Used by the generators and by
/// tests; memory is one entry per slot ever used.
#[derive(Default)]
pub struct StatsTracker {
    stats: Stats,
    /// Op index in global order.
    clock: u64,
    /// `(thread, local slot)` → (size, birth); indexed `[thread][slot]`.
    local: Vec<Vec<(u64, u64)>>,
    /// shared slot → (size, birth, creator thread).
    shared: Vec<(u64, u64, u32)>,
}

impl StatsTracker {
    /// An empty tracker.
    pub fn new() -> Self {
        Self::default()
    }

    /// The `(size, birth)` entry of local slot `i` of `thread`, grown on demand.
    #[inline]
    fn local_entry(&mut self, thread: usize, i: u32) -> &mut (u64, u64) {
        if self.local.len() <= thread {
            self.local.resize_with(thread + 1, Vec::new);
        }
        let v = &mut self.local[thread];
        if v.len() <= i as usize {
            v.resize(i as usize + 1, (0, 0));
        }
        &mut v[i as usize]
    }

    fn create(&mut self, thread: usize, r: ObjRef, size: u64) {
        let now = self.clock;
        match r {
            ObjRef::Shared(i) => {
                if self.shared.len() <= i as usize {
                    self.shared.resize(i as usize + 1, (0, 0, 0));
                }
                self.shared[i as usize] = (size, now, thread as u32);
            }
            ObjRef::Local(i) => *self.local_entry(thread, i) = (size, now),
        }
        self.stats.on_alloc(size);
    }

    /// Consumes object `r`; returns whether it was created by another thread.
    fn consume(&mut self, thread: usize, r: ObjRef) -> bool {
        let now = self.clock;
        let (size, birth, cross) = match r {
            ObjRef::Shared(i) => {
                let (s, b, t) =
                    self.shared
                        .get(i as usize)
                        .copied()
                        .unwrap_or((0, now, thread as u32));
                (s, b, t as usize != thread)
            }
            ObjRef::Local(i) => {
                let (s, b) = *self.local_entry(thread, i);
                (s, b, false)
            }
        };
        self.stats.on_free(size, now.saturating_sub(birth));
        cross
    }

    /// Accounts one op of `thread`, in global order.
    pub fn push(&mut self, thread: usize, op: &StoredOp) {
        self.stats.on_op(op.kind());
        match *op {
            StoredOp::Malloc { obj, size }
            | StoredOp::Valloc { obj, size }
            | StoredOp::Pvalloc { obj, size } => self.create(thread, obj, size),
            StoredOp::Calloc { obj, nmemb, size } => {
                self.create(thread, obj, nmemb.saturating_mul(size))
            }
            StoredOp::PosixMemalign { obj, size, .. }
            | StoredOp::AlignedAlloc { obj, size, .. }
            | StoredOp::Memalign { obj, size, .. } => self.create(thread, obj, size),
            StoredOp::Realloc { old, new, size } => {
                if let Some(old) = old {
                    if self.consume(thread, old) {
                        self.stats.cross_thread_reallocs += 1;
                    }
                }
                self.create(thread, new, size)
            }
            StoredOp::ReallocArray {
                old,
                new,
                nmemb,
                size,
            } => {
                if let Some(old) = old {
                    if self.consume(thread, old) {
                        self.stats.cross_thread_reallocs += 1;
                    }
                }
                self.create(thread, new, nmemb.saturating_mul(size))
            }
            StoredOp::Free { obj }
            | StoredOp::FreeSized { obj, .. }
            | StoredOp::FreeAlignedSized { obj, .. } => {
                if self.consume(thread, obj) {
                    self.stats.cross_thread_frees += 1;
                }
            }
        }
        self.clock += 1;
    }

    /// The statistics so far.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Mutable access, to add the anomaly counts a generator or compiler knows.
    pub fn stats_mut(&mut self) -> &mut Stats {
        &mut self.stats
    }

    /// The final statistics.
    pub fn finish(self) -> Stats {
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_powers_of_two() {
        assert_eq!(bucket_of(0), 0);
        assert_eq!(bucket_of(1), 1);
        assert_eq!(bucket_of(2), 2);
        assert_eq!(bucket_of(3), 3);
        assert_eq!(bucket_of(4), 3);
        assert_eq!(bucket_of(5), 4);
        assert_eq!(bucket_of(1024), 11);
        assert_eq!(bucket_of(1025), 12);
        assert_eq!(bucket_of(u64::MAX), 65);
        for v in [0u64, 1, 2, 3, 4, 5, 8, 9, 1000, 1 << 40, u64::MAX] {
            let (lo, hi) = bucket_range(bucket_of(v));
            assert!(lo <= v && v <= hi, "{v} not in {lo}..={hi}");
        }
    }
}
