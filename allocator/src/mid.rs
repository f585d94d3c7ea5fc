//! The Mid box: blocks above the Pool's 32 KiB up to [`MID_MAX`] (256 KiB), carved from dedicated 2 MiB
//! chunks, one size class per chunk, so that programs holding thousands of such blocks (e.g. `sort`'s 32–64 KiB
//! buffers) pay one `mmap` per chunk instead of one `mmap` / `munmap` pair and fresh page faults per block.
//!
//! ```text
//!  base ─┬─ MidChunk header (magic, class, free list, carve, used, list links) ── 4 KiB
//!        ├─ block 0 (block_size) ├─ block 1 … ├─ block capacity-1 ├─ tail slack
//!  base + 2 MiB                       (chunk map: KIND_LARGE, first word MID_MAGIC instead of a Large header)
//! ```
//!
//! Classes: four per power of two — 40, 48, 56, 64, 80 … 256 KiB — all multiples of 8 KiB, so every block is
//! 4 KiB aligned. Each class has a lock, a doubly linked list of its chunks that have room, and a list of up to
//! [`EMPTY_KEEP`] empty chunks kept for reuse (newest reused first; beyond that the oldest is unmapped at once).
//! Empty chunks are unmapped by [`trim`] (the Release Guard's tick, which a free that empties a chunk also
//! requests at most twice per release delay) once empty for longer than `HAKMEM_RELEASE_DELAY_MS` — so a
//! program that frees everything gets the memory back, and one that frees and reallocates does not remap.
//!
//! Entrances: [`alloc`], [`free`], [`usable`], [`is_mid`], [`trim`] — reached only through the [`crate::large`]
//! box (Mid chunks carry the `KIND_LARGE` chunk mark, told apart by their first word), so the Gatekeeper's
//! fast paths are untouched.
//!
//! Invariants (per chunk, under its class lock): `used + |free| + (end - carve) / block_size == capacity`;
//! every block on `free` lies in `[start, carve)` at a multiple of `block_size` from `start`; a full chunk
//! (`used == capacity`) is in no list, an empty one (`used == 0`) is in its class's `empty` list (or unmapped), every
//! other chunk is in its class's `avail` list. Blocks never carved are zero (the chunk is a fresh anonymous
//! mapping and `carve` never moves back).

use core::ptr::null_mut;
use core::sync::atomic::{AtomicU64, Ordering};

use crate::config;
use crate::os::SpinLock;
use crate::os::{self, CHUNK};
use crate::route::POOL_MAX;

/// Largest Mid request.
pub const MID_MAX: usize = 256 << 10;
/// Number of Mid classes.
pub const NUM_MID: usize = 12;
/// Marks a Mid chunk header (first word of the chunk, where a Large header has its own magic).
pub const MID_MAGIC: usize = 0x4841_4b4d_4d49_4443; // "HAKMMIDC"
const HEADER: usize = 4096;

/// Mid blocks handed out.
pub static ALLOCS: AtomicU64 = AtomicU64::new(0);
/// Mid blocks freed.
pub static FREES: AtomicU64 = AtomicU64::new(0);
/// Mid chunks mapped.
pub static CHUNKS_MAPPED: AtomicU64 = AtomicU64::new(0);
/// Mid chunks unmapped.
pub static CHUNKS_RELEASED: AtomicU64 = AtomicU64::new(0);

/// A free block: its first word links to the next.
#[repr(C)]
struct Block {
    next: *mut Block,
}

/// The header at the base of a Mid chunk.
#[repr(C)]
struct MidChunk {
    magic: usize,
    class: usize,
    block_size: usize,
    free: *mut Block,
    carve: usize,
    end: usize,
    used: usize,
    capacity: usize,
    next: *mut MidChunk,
    prev: *mut MidChunk,
    in_avail: bool,
    since: u64,
}

struct ClassState {
    avail: *mut MidChunk,
    /// Empty chunks, newest first (linked through `next` / `prev`).
    empty: *mut MidChunk,
    /// The oldest empty chunk.
    empty_tail: *mut MidChunk,
    n_empty: usize,
}

/// Empty chunks kept per class at most (beyond that the oldest is unmapped at once).
pub const EMPTY_KEEP: usize = 8;
static LAST_TICK: AtomicU64 = AtomicU64::new(0);

/// The per-class locks; taken after the Shared Pool lock and the Large cache lock when those are held.
pub static LOCKS: [SpinLock; NUM_MID] = [const { SpinLock::new() }; NUM_MID];
static mut CLASSES: [ClassState; NUM_MID] = [const {
    ClassState {
        avail: null_mut(),
        empty: null_mut(),
        empty_tail: null_mut(),
        n_empty: 0,
    }
}; NUM_MID];

/// Block size of Mid class `c`.
pub const fn block_size(c: usize) -> usize {
    let k = 15 + c / 4;
    (1 << k) + ((c % 4 + 1) << (k - 2))
}

/// Mid class of a request `POOL_MAX < size <= MID_MAX`.
#[inline]
pub fn class_of(size: usize) -> usize {
    debug_assert!(size > POOL_MAX && size <= MID_MAX);
    let s = size - 1;
    let k = (usize::BITS - 1 - s.leading_zeros()) as usize;
    let idx = (s - (1 << k)) >> (k - 2);
    (k - 15) * 4 + idx
}

fn state(c: usize) -> *mut ClassState {
    // SAFETY: only the address is taken; callers hold LOCKS[c] before dereferencing.
    unsafe { core::ptr::addr_of_mut!(CLASSES[c]) }
}

/// # Safety
/// LOCKS[class] held; `ch` is a chunk of that class not in the list.
unsafe fn avail_push(st: *mut ClassState, ch: *mut MidChunk) {
    // SAFETY: per the caller.
    unsafe {
        (*ch).prev = null_mut();
        (*ch).next = (*st).avail;
        if !(*st).avail.is_null() {
            (*(*st).avail).prev = ch;
        }
        (*st).avail = ch;
        (*ch).in_avail = true;
    }
}

/// # Safety
/// LOCKS[class] held; `ch` is in the list.
unsafe fn avail_remove(st: *mut ClassState, ch: *mut MidChunk) {
    // SAFETY: per the caller.
    unsafe {
        if (*ch).prev.is_null() {
            (*st).avail = (*ch).next;
        } else {
            (*(*ch).prev).next = (*ch).next;
        }
        if !(*ch).next.is_null() {
            (*(*ch).next).prev = (*ch).prev;
        }
        (*ch).next = null_mut();
        (*ch).prev = null_mut();
        (*ch).in_avail = false;
    }
}

/// Puts an empty chunk at the head of its class's empty list; returns the oldest one if the list is over
/// [`EMPTY_KEEP`] (removed, for the caller to release outside the lock).
///
/// # Safety
/// LOCKS[class] held; `ch` is an empty chunk of that class in no list.
unsafe fn empty_push(st: *mut ClassState, ch: *mut MidChunk, now: u64) -> *mut MidChunk {
    // SAFETY: per the caller.
    unsafe {
        (*ch).since = now;
        (*ch).prev = null_mut();
        (*ch).next = (*st).empty;
        if (*st).empty.is_null() {
            (*st).empty_tail = ch;
        } else {
            (*(*st).empty).prev = ch;
        }
        (*st).empty = ch;
        (*st).n_empty += 1;
        if (*st).n_empty > EMPTY_KEEP {
            empty_pop_oldest(st)
        } else {
            null_mut()
        }
    }
}

/// # Safety
/// LOCKS[class] held; the empty list is not empty.
unsafe fn empty_pop_oldest(st: *mut ClassState) -> *mut MidChunk {
    // SAFETY: per the caller.
    unsafe {
        let old = (*st).empty_tail;
        (*st).empty_tail = (*old).prev;
        if (*old).prev.is_null() {
            (*st).empty = null_mut();
        } else {
            (*(*old).prev).next = null_mut();
        }
        (*old).prev = null_mut();
        (*st).n_empty -= 1;
        old
    }
}

/// # Safety
/// LOCKS[class] held.
unsafe fn empty_pop_newest(st: *mut ClassState) -> *mut MidChunk {
    // SAFETY: per the caller.
    unsafe {
        let ch = (*st).empty;
        if ch.is_null() {
            return ch;
        }
        (*st).empty = (*ch).next;
        if (*ch).next.is_null() {
            (*st).empty_tail = null_mut();
        } else {
            (*(*ch).next).prev = null_mut();
        }
        (*ch).next = null_mut();
        (*st).n_empty -= 1;
        ch
    }
}

fn new_chunk(c: usize) -> *mut MidChunk {
    let base = os::map(CHUNK, false);
    if base.is_null() {
        return null_mut();
    }
    let bs = block_size(c);
    let capacity = (CHUNK - HEADER) / bs;
    let ch = base as *mut MidChunk;
    // SAFETY: the header lies at the start of our fresh mapping.
    unsafe {
        ch.write(MidChunk {
            magic: MID_MAGIC,
            class: c,
            block_size: bs,
            free: null_mut(),
            carve: base as usize + HEADER,
            end: base as usize + HEADER + capacity * bs,
            used: 0,
            capacity,
            next: null_mut(),
            prev: null_mut(),
            in_avail: false,
            since: 0,
        })
    };
    os::set_chunk_kind(base as usize, os::KIND_LARGE);
    CHUNKS_MAPPED.fetch_add(1, Ordering::Relaxed);
    ch
}

/// A block of at least `size` bytes (`POOL_MAX < size <= MID_MAX`), 4 KiB aligned, and whether it is zero
/// (never handed out before). Null with errno ENOMEM on failure.
pub fn alloc(size: usize) -> (*mut u8, bool) {
    let c = class_of(size);
    let st = state(c);
    LOCKS[c].lock();
    // SAFETY: LOCKS[c] held: the class state and its chunks' headers are ours to change.
    let r = unsafe {
        let mut ch = (*st).avail;
        if ch.is_null() {
            ch = empty_pop_newest(st);
            if ch.is_null() {
                ch = new_chunk(c);
            }
            if !ch.is_null() {
                avail_push(st, ch);
            }
        }
        if ch.is_null() {
            (null_mut(), false)
        } else {
            let (p, zero) = if !(*ch).free.is_null() {
                let b = (*ch).free;
                let Some(next) = next_of(ch, b) else {
                    let bs = (*ch).block_size;
                    LOCKS[c].unlock();
                    crate::check::report_mid_free_list(b as usize, c, bs);
                };
                (*ch).free = next;
                (b as *mut u8, false)
            } else {
                let p = (*ch).carve;
                (*ch).carve += (*ch).block_size;
                (p as *mut u8, true)
            };
            (*ch).used += 1;
            if (*ch).used == (*ch).capacity {
                avail_remove(st, ch);
            }
            if !zero && crate::check::level() != 0 {
                crate::check::mark_live(p); // misuse checks: the block is live again
            }
            (p, zero)
        }
    };
    LOCKS[c].unlock();
    if r.0.is_null() {
        os::set_errno(libc::ENOMEM);
    } else {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
    }
    r
}

/// Whether the `KIND_LARGE` chunk containing `p` is a Mid chunk.
#[inline]
pub fn is_mid(p: usize) -> bool {
    let base = p & !(CHUNK - 1);
    // SAFETY: callers only ask for chunks the chunk map marks KIND_LARGE: a Large or Mid header is mapped there.
    unsafe { *(base as *const usize) == MID_MAGIC }
}

/// The chunk of `p` if `p` is a block start inside its block area.
fn validate(p: usize) -> Option<*mut MidChunk> {
    let ch = (p & !(CHUNK - 1)) as *mut MidChunk;
    // SAFETY: `is_mid` said a Mid header is mapped there; `block_size` and `end` never change while the chunk is
    // mapped (the whole chunk is ours, so no foreign block lies inside it).
    unsafe {
        let start = ch as usize + HEADER;
        (p >= start && p < (*ch).end && (p - start).is_multiple_of((*ch).block_size)).then_some(ch)
    }
}

/// Usable bytes of the Mid block `p` (in a Mid chunk), `None` if `p` is not a block start.
pub fn usable(p: usize) -> Option<usize> {
    let ch = validate(p)?;
    // SAFETY: validated header; `block_size` is immutable.
    Some(unsafe { (*ch).block_size })
}

/// What a free of a Mid or Large block left behind, for the caller to act on (the boxes above: the idle
/// release and the Shared Pool's tick are not called from down here).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Freed {
    /// Not a live block of ours.
    NotOurs,
    /// Freed; nothing new waits to be released.
    Done,
    /// Freed; memory now waits to be released: wake the idle release.
    Waiting,
    /// As `Waiting`, and a release tick is due (a program that only uses Mid blocks has no other ticks; at
    /// most two per release delay).
    TickDue,
}

/// Frees the Mid block `p`; [`Freed::NotOurs`] if `p` is not a block start of its Mid chunk.
///
/// # Safety
/// If `p` is ours it is live and not used afterwards.
pub unsafe fn free(p: usize) -> Freed {
    let Some(ch) = validate(p) else {
        return Freed::NotOurs;
    };
    // SAFETY: validated header; `class` is immutable.
    let c = unsafe { (*ch).class };
    let st = state(c);
    let mut victim: *mut MidChunk = null_mut();
    let mut emptied = 0;
    LOCKS[c].lock();
    // Misuse checks: a block never carved, or one with the freed key that is on the free list, is reported
    // (after the lock is released).
    // SAFETY: LOCKS[c] held; `ch` is a validated chunk and `p` one of its block starts.
    let misuse = crate::check::level() != 0
        && unsafe { p >= (*ch).carve || (crate::check::has_free_key(p) && on_free_list(ch, p)) };
    if misuse {
        LOCKS[c].unlock();
        crate::check::report_mid(p);
    }
    // SAFETY: LOCKS[c] held; `p` is a live block of `ch` (caller's contract).
    unsafe {
        if crate::check::level() != 0 {
            crate::check::mark_free(p as *mut u8);
        }
        let b = p as *mut Block;
        let lk = crate::check::link_key();
        (*b).next = crate::check::link_code(lk, p, (*ch).free as usize) as *mut Block;
        (*ch).free = b;
        (*ch).used -= 1;
        if (*ch).used == 0 {
            if (*ch).in_avail {
                avail_remove(st, ch);
            }
            emptied = os::now_ns();
            victim = empty_push(st, ch, emptied);
        } else if !(*ch).in_avail {
            avail_push(st, ch);
        }
    }
    LOCKS[c].unlock();
    FREES.fetch_add(1, Ordering::Relaxed);
    if !victim.is_null() {
        release(victim);
    }
    if emptied == 0 {
        return Freed::Done;
    }
    // A program that only uses Mid blocks still needs ticks for its empty chunks to be released.
    let last = LAST_TICK.load(Ordering::Relaxed);
    let half_delay = config::get().release_delay_ms as u64 * 500_000;
    if emptied.saturating_sub(last) >= half_delay {
        LAST_TICK.store(emptied, Ordering::Relaxed);
        return Freed::TickDue;
    }
    Freed::Waiting
}

/// The free block after `b` on `ch`'s free list (null at the end). Level 2 stores links encoded (see
/// [`crate::check::link_code`]): the link is decoded, and `None` returned when it is not null or a block start
/// in the carved area (a forged or overwritten link; the caller reports it). Below level 2: the stored word.
///
/// # Safety
/// The chunk's class lock is held; `b` is on `ch`'s free list.
unsafe fn next_of(ch: *mut MidChunk, b: *mut Block) -> Option<*mut Block> {
    // SAFETY: per contract.
    unsafe {
        let lk = crate::check::link_key();
        if lk == 0 {
            return Some((*b).next);
        }
        let n = crate::check::link_code(lk, b as usize, (*b).next as usize);
        let start = ch as usize + HEADER;
        crate::check::link_ok(n, start, (*ch).carve, (*ch).block_size).then_some(n as *mut Block)
    }
}

/// Whether `p` is on `ch`'s free list.
///
/// # Safety
/// The chunk's class lock is held.
unsafe fn on_free_list(ch: *mut MidChunk, p: usize) -> bool {
    // SAFETY: per contract; nodes are followed only while they are block starts inside the carved area.
    unsafe {
        let start = ch as usize + HEADER;
        let mut b = (*ch).free as usize;
        let mut n = 0;
        while b != 0 && n <= (*ch).capacity {
            if b == p {
                return true;
            }
            if b < start || b >= (*ch).carve || !(b - start).is_multiple_of((*ch).block_size) {
                return false;
            }
            let lk = crate::check::link_key();
            b = crate::check::link_code(lk, b, *(b as *const usize));
            n += 1;
        }
        false
    }
}

/// A pointer into a Mid chunk as the Check box sees it.
pub struct MidInfo {
    /// The chunk's class.
    pub class: usize,
    /// Its block size.
    pub block_size: usize,
    /// Start of the block containing the pointer (`None`: header or tail slack).
    pub block: Option<usize>,
    /// Whether that block was ever carved.
    pub carved: bool,
    /// Whether it is on the chunk's free list.
    pub free: bool,
}

/// Describes `p`, an address in a Mid chunk (takes the class lock).
pub fn inspect(p: usize) -> MidInfo {
    let ch = (p & !(CHUNK - 1)) as *mut MidChunk;
    // SAFETY: the caller saw `is_mid(p)`: a Mid header is mapped there; `class`, `block_size` and `end` never
    // change while the chunk is mapped; the rest is read under the class lock.
    unsafe {
        let (c, bs, end) = ((*ch).class, (*ch).block_size, (*ch).end);
        let start = ch as usize + HEADER;
        let block = (p >= start && p < end).then(|| p - (p - start) % bs);
        LOCKS[c].lock();
        let carved = block.is_some_and(|b| b < (*ch).carve);
        let free = carved && block.is_some_and(|b| on_free_list(ch, b));
        LOCKS[c].unlock();
        MidInfo {
            class: c,
            block_size: bs,
            block,
            carved,
            free,
        }
    }
}

/// Unmaps an empty chunk no longer reachable from any class state.
fn release(ch: *mut MidChunk) {
    // SAFETY: an empty chunk removed from its class under the lock: no live block, no list refers to it.
    unsafe {
        (*ch).magic = 0;
        os::set_chunk_kind(ch as usize, os::KIND_NONE);
        os::unmap(ch as *mut u8, CHUNK);
    }
    CHUNKS_RELEASED.fetch_add(1, Ordering::Relaxed);
}

/// Unmaps empty chunks emptied at least `delay_ns` ago (called by the Release Guard's tick).
pub fn trim(now: u64, delay_ns: u64) {
    for (c, lock) in LOCKS.iter().enumerate() {
        let st = state(c);
        loop {
            lock.lock();
            // SAFETY: LOCKS[c] held.
            let victim = unsafe {
                let old = (*st).empty_tail;
                if !old.is_null() && now.saturating_sub((*old).since) >= delay_ns {
                    empty_pop_oldest(st)
                } else {
                    null_mut()
                }
            };
            lock.unlock();
            if victim.is_null() {
                break;
            }
            release(victim);
        }
    }
}

/// Whether empty chunks wait to be released (a racy read, for the Idle Release box).
pub fn waiting() -> bool {
    (0..NUM_MID).any(|c| {
        // SAFETY: a racy read of a counter through a raw pointer; a stale value only delays a release.
        unsafe { core::ptr::read_volatile(core::ptr::addr_of!((*state(c)).n_empty)) != 0 }
    })
}

/// Takes every class lock (fork prepare).
pub fn lock_all() {
    for l in LOCKS.iter() {
        l.lock();
    }
}

/// Releases every class lock (fork parent and child).
pub fn unlock_all() {
    for l in LOCKS.iter().rev() {
        l.unlock();
    }
}

/// Checks the class tables and every chunk's counts (needs no concurrent Mid traffic).
pub fn check_invariants() -> Result<(), &'static str> {
    for c in 0..NUM_MID {
        let bs = block_size(c);
        if !bs.is_multiple_of(8192) || (c > 0 && bs <= block_size(c - 1)) {
            return Err("mid: bad block size table");
        }
        if class_of(bs) != c || (c > 0 && class_of(block_size(c - 1) + 1) != c) {
            return Err("mid: class_of not the smallest fitting class");
        }
    }
    if block_size(NUM_MID - 1) != MID_MAX || block_size(0) <= POOL_MAX {
        return Err("mid: classes do not span (POOL_MAX, MID_MAX]");
    }
    for (c, lock) in LOCKS.iter().enumerate() {
        let st = state(c);
        lock.lock();
        // SAFETY: LOCKS[c] held.
        let r = unsafe {
            let mut r = Ok(());
            let mut ch = (*st).avail;
            let mut seen = 0;
            while !ch.is_null() && r.is_ok() {
                r = check_chunk(ch, c);
                if r.is_ok() && ((*ch).used == 0 || (*ch).used == (*ch).capacity) {
                    r = Err("mid: empty or full chunk in the avail list");
                }
                ch = (*ch).next;
                seen += 1;
                if seen > 1 << 24 {
                    r = Err("mid: avail list cycle");
                }
            }
            let mut s = (*st).empty;
            let mut n = 0;
            while r.is_ok() && !s.is_null() {
                r = check_chunk(s, c);
                if r.is_ok() && (*s).used != 0 {
                    r = Err("mid: chunk in the empty list not empty");
                }
                if r.is_ok() && (*s).next.is_null() && s != (*st).empty_tail {
                    r = Err("mid: empty list tail mismatch");
                }
                s = (*s).next;
                n += 1;
            }
            if r.is_ok() && (n != (*st).n_empty || n > EMPTY_KEEP) {
                r = Err("mid: empty list count mismatch");
            }
            r
        };
        lock.unlock();
        r?;
    }
    Ok(())
}

/// # Safety
/// LOCKS[c] held; `ch` a chunk of ours.
unsafe fn check_chunk(ch: *mut MidChunk, c: usize) -> Result<(), &'static str> {
    // SAFETY: per the caller.
    unsafe {
        if (*ch).magic != MID_MAGIC || (*ch).class != c || (*ch).block_size != block_size(c) {
            return Err("mid: bad chunk header");
        }
        let start = ch as usize + HEADER;
        let bs = (*ch).block_size;
        if (*ch).carve < start || (*ch).carve > (*ch).end {
            return Err("mid: carve out of bounds");
        }
        let mut n = 0usize;
        let mut b = (*ch).free;
        while !b.is_null() {
            let a = b as usize;
            if a < start || a >= (*ch).carve || !(a - start).is_multiple_of(bs) {
                return Err("mid: free block out of the carved area");
            }
            n += 1;
            if n > (*ch).capacity {
                return Err("mid: free list longer than the capacity");
            }
            let lk = crate::check::link_key();
            b = crate::check::link_code(lk, a, (*b).next as usize) as *mut Block;
        }
        if (*ch).used + n + ((*ch).end - (*ch).carve) / bs != (*ch).capacity {
            return Err("mid: used + free + uncarved != capacity");
        }
    }
    Ok(())
}
