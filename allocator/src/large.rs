//! Large allocations (above the Pool's 32 KiB, or alignment above 4 KiB): one direct mapping each, with a
//! 32-byte header at a 2 MiB-aligned base so that `free` finds it by masking, like a SuperSlab.
//!
//! ```text
//!  align < 2 MiB:  H ── header ── … ── user = H + max(64, align) ── … ── H + map_len      chunk(H) = LARGE
//!  align ≥ 2 MiB:  H ── header ── … ── user = H + 2 MiB (aligned) ── …                  chunk(user) = LARGE_BACK
//! ```
//!
//! Entrances: [`alloc`], [`free`], [`usable`]. Invariant: `header.user == p` for every live Large block `p`
//! (a pointer into the same chunk that is not `header.user` is not ours, and is treated as foreign).

use core::sync::atomic::{AtomicU64, Ordering};

use crate::os::{self, CHUNK};

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

/// Maps a Large block of `size` bytes aligned to `align` (a power of two); null on failure (errno ENOMEM).
pub fn alloc(size: usize, align: usize) -> *mut u8 {
    let align = align.max(16);
    let fail = || {
        os::set_errno(libc::ENOMEM);
        core::ptr::null_mut()
    };
    let Some(size_r) = size.max(1).checked_add(PAGE - 1).map(|v| v & !(PAGE - 1)) else {
        return fail();
    };
    if size_r > (1usize << 46) || align > (1usize << 40) {
        return fail();
    }
    let (base, len, user) = if align < CHUNK {
        let off = align.max(64);
        let len = (off + size_r + PAGE - 1) & !(PAGE - 1);
        let base = os::map(len, false);
        if base.is_null() {
            return fail();
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
    user as *mut u8
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

/// Unmaps the Large block `p`; false if `p` is not one of ours (foreign pointer in a shared chunk).
///
/// # Safety
/// If `p` is ours it is live and not used afterwards.
pub unsafe fn free(p: *mut u8, kind: u8) -> bool {
    let Some(h) = header(p as usize, kind) else {
        return false;
    };
    // SAFETY: `h` is the validated header of our live mapping; the mark is cleared before the unmap.
    unsafe {
        let (base, len) = ((*h).map_base, (*h).map_len);
        (*h).magic = 0;
        if kind == os::KIND_LARGE_BACK {
            os::set_chunk_kind(p as usize, os::KIND_NONE);
        } else {
            os::set_chunk_kind(base, os::KIND_NONE);
        }
        os::unmap(base as *mut u8, len);
        LIVE_BYTES.fetch_sub(len as u64, Ordering::Relaxed);
    }
    FREES.fetch_add(1, Ordering::Relaxed);
    true
}

/// Usable bytes of the Large block `p`, `None` if it is not ours.
pub fn usable(p: *mut u8, kind: u8) -> Option<usize> {
    let h = header(p as usize, kind)?;
    // SAFETY: validated header.
    unsafe { Some((*h).map_base + (*h).map_len - p as usize) }
}
