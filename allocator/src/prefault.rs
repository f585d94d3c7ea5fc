//! The Prefault box: optionally populate new SuperSlabs at mapping time (`HAKMEM_SS_PREFAULT=1`), off by
//! default. Only the 2 MiB SuperSlab itself is populated (`MADV_POPULATE_WRITE`), never the alignment slack of
//! the mapping — the memo's "4 MB MAP_POPULATE" problem.
//!
//! Entrance: [`map_superslab`]. Invariant: `PREFAULTED_BYTES == superslabs mapped with prefault × 2 MiB`.

use core::sync::atomic::{AtomicU64, Ordering};

use crate::os;

/// Bytes prefaulted.
pub static PREFAULTED_BYTES: AtomicU64 = AtomicU64::new(0);

/// Maps one SuperSlab-sized, SuperSlab-aligned region, prefaulted when `prefault` is set.
pub fn map_superslab(prefault: bool) -> *mut u8 {
    let p = os::map(os::CHUNK, prefault);
    if !p.is_null() && prefault {
        PREFAULTED_BYTES.fetch_add(os::CHUNK as u64, Ordering::Relaxed);
    }
    p
}
