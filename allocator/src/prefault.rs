//! The Prefault box: how new SuperSlabs are backed — transparent huge pages asked for (`HAKMEM_SS_THP=1`,
//! the default), and optionally populated at mapping time (`HAKMEM_SS_PREFAULT=1`), off by
//! default. Only the 2 MiB SuperSlab itself is populated (`MADV_POPULATE_WRITE`), never the alignment slack of
//! the mapping — the memo's "4 MB MAP_POPULATE" problem.
//!
//! Entrance: [`map_superslab`]. Invariant: `PREFAULTED_BYTES == superslabs mapped with prefault × 2 MiB`.

use core::sync::atomic::{AtomicU64, Ordering};

use crate::os;

/// Bytes prefaulted.
pub static PREFAULTED_BYTES: AtomicU64 = AtomicU64::new(0);

/// Maps one SuperSlab-sized, SuperSlab-aligned region, prefaulted when `prefault` is set, with transparent
/// huge pages asked for when `thp` is set (before the first touch, so the first fault can be a huge page).
pub fn map_superslab(prefault: bool, thp: bool) -> *mut u8 {
    let p = os::map(os::CHUNK, false);
    if !p.is_null() && thp {
        // SAFETY: our fresh mapping of one chunk.
        unsafe { os::advise_huge(p, os::CHUNK) };
    }
    if !p.is_null() && prefault {
        os::populate_range(p as usize, os::CHUNK);
        PREFAULTED_BYTES.fetch_add(os::CHUNK as u64, Ordering::Relaxed);
    }
    p
}
