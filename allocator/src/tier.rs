//! The Tier box: the SuperSlab lifecycle HOT → DRAINING → FREE (→ released by the Release Guard).
//!
//! Entrance: [`set`], which every state change goes through and which counts transitions.
//!
//! - HOT: owned by a thread's Warm Pool.
//! - DRAINING: its owner exited while blocks were live; it waits on the Shared Pool's abandoned list, blocks
//!   coming back by remote frees, until a thread reclaims it (→ HOT) or it empties (→ FREE).
//! - FREE: no slab assigned, `owner == 0`, queued in the Release Guard; taken again (→ HOT) or unmapped.
//!
//! Invariants: `owner != 0 ⇔ tier == HOT`; a FREE SuperSlab has `assigned == 0`;
//! `mapped − released == HOT + DRAINING + FREE` (checked by [`check_counts`]).

use core::sync::atomic::{AtomicU64, Ordering};

use crate::superslab::SuperSlab;

/// Not yet tiered (fresh mapping).
pub const NEW: u8 = 0;
/// Owned by a thread.
pub const HOT: u8 = 1;
/// Abandoned with live blocks.
pub const DRAINING: u8 = 2;
/// Empty, waiting in the Release Guard.
pub const FREE: u8 = 3;
/// Given back to the OS.
pub const RELEASED: u8 = 4;

/// Tier names, by tier value.
pub const NAMES: [&str; 5] = ["new", "hot", "draining", "free", "released"];

/// `TRANSITIONS[from][to]`.
pub static TRANSITIONS: [[AtomicU64; 5]; 5] = [const { [const { AtomicU64::new(0) }; 5] }; 5];

/// Moves `ss` to tier `to`, counting the transition.
///
/// # Safety
/// `ss` is a mapped SuperSlab header.
pub unsafe fn set(ss: *mut SuperSlab, to: u8) {
    // SAFETY: the header is mapped; `tier` is atomic.
    let from = unsafe { (*ss).tier.swap(to, Ordering::Relaxed) };
    TRANSITIONS[from as usize % 5][to as usize % 5].fetch_add(1, Ordering::Relaxed);
}

/// Number of SuperSlabs currently in tier `t` (entries minus exits).
pub fn population(t: usize) -> u64 {
    let into: u64 = (0..5)
        .map(|f| TRANSITIONS[f][t].load(Ordering::Relaxed))
        .sum();
    let out: u64 = (0..5)
        .map(|to| TRANSITIONS[t][to].load(Ordering::Relaxed))
        .sum();
    into.saturating_sub(out)
}

/// Checks `mapped − released == HOT + DRAINING + FREE`. Every transition happens under the Shared Pool lock,
/// which the caller holds.
pub fn check_counts_locked() -> Result<(), &'static str> {
    let mapped: u64 = (1..5)
        .map(|t| TRANSITIONS[NEW as usize][t].load(Ordering::Relaxed))
        .sum();
    let released: u64 = (0..5)
        .map(|f| TRANSITIONS[f][RELEASED as usize].load(Ordering::Relaxed))
        .sum();
    let live = population(HOT as usize) + population(DRAINING as usize) + population(FREE as usize);
    if mapped - released != live {
        return Err("mapped − released != HOT + DRAINING + FREE");
    }
    Ok(())
}
