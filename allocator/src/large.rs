//! Large allocations (above the Pool's 32 KiB, or alignment above 4 KiB): requests up to
//! [`mid::MID_MAX`] with alignment ≤ 4 KiB go to the [`mid`] box (blocks carved from shared 2 MiB chunks,
//! whose chunk mark is also `KIND_LARGE` and whose first word is [`mid::MID_MAGIC`]); the others get one
//! direct mapping each, with a 32-byte header at a 2 MiB-aligned base so that `free` finds it by masking,
//! like a SuperSlab.
//!
//! ```text
//!  align < 2 MiB:  H ── header ── … ── user = H + max(64, align) ── … ── H + map_len      chunk(H) = LARGE
//!  align ≥ 2 MiB:  H ── header ── … ── user = H + 2 MiB (aligned) ── …                  chunk(user) = LARGE_BACK
//! ```
//!
//! Entrances: [`alloc`], [`alloc_zeroed`], [`free`], [`usable`], [`trim`]. Invariant: `header.user == p`
//! and `header.magic == MAGIC` for every live Large block `p` (a pointer into the same chunk that is not
//! `header.user`, or whose header is marked free, is not a live block of ours and is treated as foreign).
//!
//! Freed mappings are kept as free ranges (up to [`CACHE_SLOTS`], together at most
//! `HAKMEM_LARGE_RETAIN_MB`) and reused best-fit: a request takes the smallest free range that fits, split
//! on a chunk boundary when a chunk or more is left over, and a freed block merges with free ranges next to
//! it, so programs that churn through buffers of MiBs at random sizes reuse resident memory (no `mmap` /
//! `munmap` pair, no fresh page faults) the way glibc's heap does above its adaptive mmap threshold, with a
//! bound on the bytes held. Requests of 1 MiB and more are rounded up to whole chunks (address space only:
//! the untouched tail is never resident). Beyond the bound the oldest free bytes are unmapped (from the end
//! of the oldest range); [`trim`] (the Release Guard's tick, also run by the idle release) unmaps ranges free
//! for longer than the release delay. Free ranges keep the chunk marks of the headers they held (the headers
//! say "free"). Reused memory is not zero: [`alloc_zeroed`] clears it; fresh mappings are not cleared.

use core::sync::atomic::{AtomicU64, Ordering};

use crate::{config, mid};

pub use crate::mid::Freed;
use crate::os::{self, CHUNK};
use crate::route::POOL_MAX;

const MAGIC: usize = 0x4841_4b4d_4c41_5247; // "HAKMLARG"
const PAGE: usize = 4096;

#[repr(C)]
struct Header {
    magic: usize,
    map_base: usize,
    map_len: usize,
    user: usize,
}

/// Large blocks allocated.
pub static ALLOCS: AtomicU64 = AtomicU64::new(0);
/// Large blocks freed.
pub static FREES: AtomicU64 = AtomicU64::new(0);
/// Bytes currently mapped for Large blocks.
pub static LIVE_BYTES: AtomicU64 = AtomicU64::new(0);
/// Large requests served from the cache of freed mappings.
pub static CACHE_HITS: AtomicU64 = AtomicU64::new(0);

/// Free ranges kept at most.
pub const CACHE_SLOTS: usize = 64;
/// Requests from this size up get whole chunks (so freed ranges split and merge on chunk boundaries).
const ROUND_TO_CHUNK: usize = 1 << 20;

/// A free range: chunk-aligned `base`, `len` bytes (a multiple of 4 KiB), freed at `since`.
#[derive(Clone, Copy)]
struct Range {
    base: usize,
    len: usize,
    since: u64,
}

/// Guards the cache; taken after the Shared Pool lock when both are held (fork, trim).
pub static CACHE_LOCK: os::SpinLock = os::SpinLock::new();
static mut CACHE: [Range; CACHE_SLOTS] = [Range {
    base: 0,
    len: 0,
    since: 0,
}; CACHE_SLOTS];
static mut CACHE_BYTES: usize = 0;
/// Bytes held in free ranges now.
pub static RETAINED_BYTES: AtomicU64 = AtomicU64::new(0);
/// Reuses that split a larger free range.
pub static SPLITS: AtomicU64 = AtomicU64::new(0);
/// Frees merged with an adjacent free range.
pub static MERGES: AtomicU64 = AtomicU64::new(0);

fn retain_limit() -> usize {
    config::get().large_retain_mb as usize * (1 << 20)
}

/// The best-fitting free range for `len` bytes (the smallest of at least `len`), removed from the cache: the
/// whole range, or, when it is a chunk or more too long, its first `len` rounded up to whole chunks (the
/// rest stays free). Returns the piece's base and length.
fn cache_take(len: usize) -> Option<(usize, usize)> {
    CACHE_LOCK.lock();
    // SAFETY: CACHE_LOCK serialises CACHE and CACHE_BYTES.
    let r = unsafe {
        let cache = &mut *core::ptr::addr_of_mut!(CACHE);
        let best = cache
            .iter_mut()
            .filter(|s| s.base != 0 && s.len >= len)
            .min_by_key(|s| s.len);
        best.map(|slot| {
            let piece = if slot.len - len >= CHUNK {
                (len + CHUNK - 1) & !(CHUNK - 1)
            } else {
                slot.len
            };
            let base = slot.base;
            if piece < slot.len {
                slot.base += piece;
                slot.len -= piece;
                SPLITS.fetch_add(1, Ordering::Relaxed);
            } else {
                slot.base = 0;
            }
            CACHE_BYTES -= piece;
            RETAINED_BYTES.store(CACHE_BYTES as u64, Ordering::Relaxed);
            (base, piece)
        })
    };
    CACHE_LOCK.unlock();
    r
}

/// Keeps a freed range, merged with free neighbours, then gives back (unmaps) the oldest free bytes beyond
/// `HAKMEM_LARGE_RETAIN_MB` — from the end of the oldest range, so a large merged range is only shortened.
/// False if the caller must unmap the range itself (retaining disabled).
fn cache_put(mut base: usize, mut len: usize) -> bool {
    let limit = retain_limit();
    if limit == 0 {
        return false;
    }
    let now = os::now_ns();
    let mut victims = [(0usize, 0usize); CACHE_SLOTS + 1];
    let mut n = 0;
    CACHE_LOCK.lock();
    // SAFETY: CACHE_LOCK serialises CACHE and CACHE_BYTES.
    unsafe {
        let cache = &mut *core::ptr::addr_of_mut!(CACHE);
        for slot in cache.iter_mut() {
            if slot.base != 0 && (slot.base + slot.len == base || base + len == slot.base) {
                base = base.min(slot.base);
                len += slot.len;
                CACHE_BYTES -= slot.len;
                slot.base = 0;
                MERGES.fetch_add(1, Ordering::Relaxed);
            }
        }
        let slot = match cache.iter_mut().find(|s| s.base == 0) {
            Some(s) => s,
            None => {
                // Every slot taken: the oldest range goes.
                let oldest = cache.iter_mut().min_by_key(|s| s.since).unwrap_unchecked();
                victims[n] = (oldest.base, oldest.len);
                n += 1;
                CACHE_BYTES -= oldest.len;
                oldest
            }
        };
        *slot = Range {
            base,
            len,
            since: now,
        };
        CACHE_BYTES += len;
        while CACHE_BYTES > limit && n < victims.len() {
            let Some(oldest) = cache
                .iter_mut()
                .filter(|s| s.base != 0)
                .min_by_key(|s| s.since)
            else {
                break;
            };
            let excess = CACHE_BYTES - limit;
            let keep = oldest.len.saturating_sub(excess) & !(CHUNK - 1);
            victims[n] = (oldest.base + keep, oldest.len - keep);
            n += 1;
            CACHE_BYTES -= oldest.len - keep;
            if keep == 0 {
                oldest.base = 0;
            } else {
                oldest.len = keep;
            }
        }
        RETAINED_BYTES.store(CACHE_BYTES as u64, Ordering::Relaxed);
    }
    CACHE_LOCK.unlock();
    for &(b, l) in &victims[..n] {
        unmap_block(b, l);
    }
    true
}

/// Unmaps free ranges freed at least `delay_ns` ago (called by the Release Guard's tick).
pub fn trim(now: u64, delay_ns: u64) {
    mid::trim(now, delay_ns);
    let mut victims = [(0usize, 0usize); CACHE_SLOTS];
    let mut n = 0;
    CACHE_LOCK.lock();
    // SAFETY: CACHE_LOCK serialises CACHE and CACHE_BYTES.
    unsafe {
        let cache = &mut *core::ptr::addr_of_mut!(CACHE);
        for slot in cache.iter_mut() {
            if slot.base != 0 && now.saturating_sub(slot.since) >= delay_ns {
                victims[n] = (slot.base, slot.len);
                n += 1;
                CACHE_BYTES -= slot.len;
                slot.base = 0;
            }
        }
        RETAINED_BYTES.store(CACHE_BYTES as u64, Ordering::Relaxed);
    }
    CACHE_LOCK.unlock();
    for &(base, len) in &victims[..n] {
        unmap_block(base, len);
    }
}

/// Whether free ranges wait to be trimmed.
pub fn retaining() -> bool {
    RETAINED_BYTES.load(Ordering::Relaxed) != 0
}

/// Unmaps a range of ours that no live block uses, clearing the chunk marks of the headers it held.
fn unmap_block(base: usize, len: usize) {
    let mut c = base;
    while c < base + len {
        os::set_chunk_kind(c, os::KIND_NONE);
        c += CHUNK;
    }
    // SAFETY: a free range of ours, no longer reachable (its headers say free, the marks are cleared).
    unsafe { os::unmap(base as *mut u8, len) };
    LIVE_BYTES.fetch_sub(len as u64, Ordering::Relaxed);
}

/// [`alloc`] with the block zeroed (fresh mappings already are; reused ones are cleared).
pub fn alloc_zeroed(size: usize) -> *mut u8 {
    let (p, fresh) = alloc_inner(size, 16, true);
    if !p.is_null() && !fresh {
        // SAFETY: the block has at least `size` writable bytes.
        unsafe { core::ptr::write_bytes(p, 0, size) };
    }
    p
}

/// Maps (or reuses) a Large block of `size` bytes aligned to `align` (a power of two); null on failure
/// (errno ENOMEM). The block's contents are unspecified.
pub fn alloc(size: usize, align: usize) -> *mut u8 {
    alloc_inner(size, align, false).0
}

/// The block and whether it is a fresh (zero) mapping.
///
/// A zeroed request (`calloc`) above the Mid sizes always gets a fresh mapping, without huge pages: the
/// kernel's zero pages cost nothing until touched, where a reused range would need a `memset` of all of it
/// and a huge page would be faulted (and cleared) whole at the first touch. A program that callocs 25 MiB
/// and touches it every 64 KiB (bench/programs/bigbuf) pays for the pages it touches only; the range goes to
/// the free ranges when freed, for later `malloc`s.
fn alloc_inner(size: usize, align: usize, zeroed: bool) -> (*mut u8, bool) {
    let align = align.max(16);
    let fail = || {
        os::set_errno(libc::ENOMEM);
        (core::ptr::null_mut(), true)
    };
    let Some(size_r) = size.max(1).checked_add(PAGE - 1).map(|v| v & !(PAGE - 1)) else {
        return fail();
    };
    if size_r > (1usize << 46) || align > (1usize << 40) {
        return fail();
    }
    if size > POOL_MAX && size <= mid::MID_MAX && align <= PAGE {
        return mid::alloc(size);
    }
    let fresh = true;
    let (base, len, user) = if align < CHUNK {
        let off = align.max(64);
        let mut len = (off + size_r + PAGE - 1) & !(PAGE - 1);
        if len >= ROUND_TO_CHUNK {
            len = (len + CHUNK - 1) & !(CHUNK - 1);
        }
        if let Some((base, clen)) = if zeroed { None } else { cache_take(len) } {
            CACHE_HITS.fetch_add(1, Ordering::Relaxed);
            let h = base as *mut Header;
            // SAFETY: a free range of ours, exclusively ours again.
            unsafe {
                h.write(Header {
                    magic: MAGIC,
                    map_base: base,
                    map_len: clen,
                    user: base + off,
                })
            };
            os::set_chunk_kind(base, os::KIND_LARGE);
            ALLOCS.fetch_add(1, Ordering::Relaxed);
            return ((base + off) as *mut u8, false);
        }
        let base = os::map(len, false);
        if base.is_null() {
            return fail();
        }
        if len >= CHUNK && !zeroed && config::get().large_thp {
            // SAFETY: our fresh mapping.
            unsafe { os::advise_huge(base, len & !(CHUNK - 1)) };
        }
        (base as usize, len, base as usize + off)
    } else {
        let a = os::map_aligned(align + size_r, align, false);
        if a.is_null() {
            return fail();
        }
        let user = a as usize + align;
        let base = user - CHUNK;
        if base > a as usize {
            // SAFETY: the head [a, base) of our fresh mapping is unused.
            unsafe { os::unmap(a, base - a as usize) };
        }
        (base, CHUNK + size_r, user)
    };
    let h = base as *mut Header;
    // SAFETY: the header lies at the start of our fresh mapping.
    unsafe {
        h.write(Header {
            magic: MAGIC,
            map_base: base,
            map_len: len,
            user,
        })
    };
    if user - base >= CHUNK {
        os::set_chunk_kind(user, os::KIND_LARGE_BACK);
    } else {
        os::set_chunk_kind(base, os::KIND_LARGE);
    }
    ALLOCS.fetch_add(1, Ordering::Relaxed);
    LIVE_BYTES.fetch_add(len as u64, Ordering::Relaxed);
    (user as *mut u8, fresh)
}

fn header(p: usize, kind: u8) -> Option<*mut Header> {
    let chunk = p & !(CHUNK - 1);
    let h = match kind {
        os::KIND_LARGE => chunk,
        os::KIND_LARGE_BACK => chunk.checked_sub(CHUNK)?,
        _ => return None,
    } as *mut Header;
    // SAFETY: the chunk map says a Large header of ours is mapped at `h`.
    let ok = unsafe { (*h).magic == MAGIC && (*h).user == p };
    ok.then_some(h)
}

/// The Large mapping whose header governs the chunk of `p`, as the Check box sees it.
pub struct LargeInfo {
    /// Mapping base (the header).
    pub base: usize,
    /// Mapping length.
    pub len: usize,
    /// The block handed out.
    pub user: usize,
    /// False once freed (the mapping waits in the cache).
    pub live: bool,
}

/// Describes the Large mapping of the chunk of `p` (chunk mark `kind`), live or cached; `None` if the header
/// there is neither.
pub fn inspect(p: usize, kind: u8) -> Option<LargeInfo> {
    let chunk = p & !(CHUNK - 1);
    let h = match kind {
        os::KIND_LARGE => chunk,
        os::KIND_LARGE_BACK => chunk.checked_sub(CHUNK)?,
        _ => return None,
    } as *const Header;
    // SAFETY: the chunk map says a Large header of ours (live, or of a cached mapping) is mapped at `h`.
    let hd = unsafe { h.read_volatile() };
    (hd.map_base == h as usize && (hd.magic == MAGIC || hd.magic == 0)).then_some(LargeInfo {
        base: hd.map_base,
        len: hd.map_len,
        user: hd.user,
        live: hd.magic == MAGIC,
    })
}

/// Unmaps (or keeps for reuse) the Large block `p`, or frees the Mid block; [`Freed::NotOurs`] if `p` is not
/// one of ours (foreign pointer in a shared chunk), [`Freed::Waiting`] when its range was kept for reuse (the
/// caller wakes the idle release, which trims it after the delay).
///
/// # Safety
/// If `p` is ours it is live and not used afterwards.
pub unsafe fn free(p: *mut u8, kind: u8) -> Freed {
    if kind == os::KIND_LARGE && mid::is_mid(p as usize) {
        // SAFETY: forwarded contract.
        return unsafe { mid::free(p as usize) };
    }
    let Some(h) = header(p as usize, kind) else {
        return Freed::NotOurs;
    };
    // SAFETY: `h` is the validated header of our live mapping; the mark is cleared before the unmap.
    unsafe {
        let (base, len) = ((*h).map_base, (*h).map_len);
        (*h).magic = 0;
        FREES.fetch_add(1, Ordering::Relaxed);
        if kind == os::KIND_LARGE_BACK {
            os::set_chunk_kind(p as usize, os::KIND_NONE);
            os::unmap(base as *mut u8, len);
            LIVE_BYTES.fetch_sub(len as u64, Ordering::Relaxed);
        } else if cache_put(base, len) {
            return Freed::Waiting;
        } else {
            unmap_block(base, len);
        }
    }
    Freed::Done
}

/// Usable bytes of the Large block `p`, `None` if it is not ours.
pub fn usable(p: *mut u8, kind: u8) -> Option<usize> {
    if kind == os::KIND_LARGE && mid::is_mid(p as usize) {
        return mid::usable(p as usize);
    }
    let h = header(p as usize, kind)?;
    // SAFETY: validated header.
    unsafe { Some((*h).map_base + (*h).map_len - p as usize) }
}
