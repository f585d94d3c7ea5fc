//! The SuperSlab box: 2 MiB regions aligned to 2 MiB, split into 32 slabs of 64 KiB, header in the last 4 KiB.
//!
//! Entrance: the slab operations below ([`slab_take`], [`slab_push_local`], [`remote_push`],
//! [`slab_collect`], [`slab_assign`], [`slab_unassign`]); a block's SuperSlab header is found by masking its
//! address (`(addr & !(2 MiB - 1)) + 2 MiB - 4 KiB`, [`superslab_of`]) and its slab by `(addr >> 16) & 31` — no
//! per-block header.
//!
//! ```text
//!  base ──────────── slab 0 blocks (64 KiB)
//!  base + 64 KiB ─── slab 1 blocks (64 KiB) … slab 30 blocks (64 KiB)
//!  base + 31×64 KiB ─ slab 31 blocks (60 KiB)
//!  base + 2 MiB − 4 KiB ─ SuperSlab header (owner, tier, lists, 32 × Slab) ── 4 KiB
//!  base + 2 MiB
//! ```
//!
//! The header sits at the end so that every slab's blocks start at its 64 KiB boundary: the block at
//! `a` is block `j` of its slab exactly when `(a & 0xffff) == j * block_size`, which the misuse checks' fast
//! test uses (`Slab::check`). The header pointer ([`superslab_of`], the `*mut SuperSlab` every box passes
//! around) is therefore not the mapping's base: [`base_of`] gives that (for `munmap` and the slab areas).
//!
//! Ownership: `owner` (a heap address, or 0 when abandoned/free) is the only thread allowed to touch the
//! non-atomic slab fields; while `owner == 0` the Shared Pool lock holder has that right. Any thread may push
//! onto a slab's remote list (`SuperSlab::remote[i]`, one CAS, on cache lines the owner's fast work does not
//! write); only the owner takes it, in one exchange ([`slab_collect`]).
//!
//! Invariants (per assigned slab, with no frees in flight):
//! `used + |free| + (end - carve) / block_size == capacity` and `|remote| <= used` (a block on the remote
//! list still counts as used until its owner collects it),
//! `start <= carve <= end`, every block on `free`/`remote` lies in `[start, carve)` at a multiple of
//! `block_size`; `check == check::check_word(block_size, (carve - start) / block_size)` (0 while unassigned);
//! `assigned` bit i ⇔ `slabs[i].assigned`; slab i's blocks lie in `[base + i × 64 KiB, min(base + (i + 1) ×
//! 64 KiB, header))`.

use core::ptr::null_mut;
use core::sync::atomic::{AtomicPtr, AtomicU8, AtomicUsize, Ordering};

use crate::check;
use crate::os::CHUNK;

/// log2 of the slab size.
pub const SLAB_SHIFT: usize = 16;
/// Slab size (64 KiB).
pub const SLAB_SIZE: usize = 1 << SLAB_SHIFT;
/// Slabs per SuperSlab.
pub const SLABS: usize = CHUNK / SLAB_SIZE;
/// Bytes reserved for the header at the end of slab 31 (the last page of the chunk).
pub const HEADER: usize = 4096;
/// Marks a SuperSlab header.
pub const MAGIC: usize = 0x4841_4b4d_5353_4c42; // "HAKMSSLB"
/// `assigned` when every slab is in use.
pub const ALL_ASSIGNED: u32 = u32::MAX;

/// A free block: its first word links to the next.
#[repr(C)]
pub struct Block {
    /// Next free block.
    pub next: *mut Block,
}

/// One 64 KiB slab of one size class (64 bytes of metadata inside the SuperSlab header).
#[repr(C, align(64))]
pub struct Slab {
    /// Local free list (owner only).
    pub free: *mut Block,
    /// The misuse checks' block-start word, `M | ncarved * e << 32` with `ncarved = (carve - start) /
    /// block_size` (see `check::check_word`): kept in step with `carve` by every change of it (assign, carve,
    /// un-carve, unassign). Read by the owner's free fast path on this line. (The remote list lives in
    /// `SuperSlab::remote`, away from the fields the owner writes, so that remote frees do not bounce this
    /// line.)
    pub check: u64,
    /// Next never-handed-out address.
    pub carve: usize,
    /// End of the block area (`start + capacity * block_size`).
    pub end: usize,
    /// Next slab in the owner's Page Box ring of this class.
    pub next: *mut Slab,
    /// Previous slab in that ring.
    pub prev: *mut Slab,
    /// Blocks out of the free list and the uncarved area: in the program, in a Unified Cache, or on `remote`.
    pub used: u32,
    /// Blocks the slab holds.
    pub capacity: u32,
    /// Block size in bytes.
    pub block_size: u32,
    /// Size class.
    pub class: u8,
    /// Whether the slab is assigned to a class.
    pub assigned: bool,
    /// Index inside the SuperSlab.
    pub index: u8,
}

/// The header in the last [`HEADER`] bytes of every SuperSlab.
#[repr(C)]
pub struct SuperSlab {
    /// Owning heap address, 0 when abandoned or free.
    pub owner: AtomicUsize,
    /// [`MAGIC`].
    pub magic: usize,
    /// Tier (see the Tier box).
    pub tier: AtomicU8,
    /// Bit i set ⇔ slab i assigned.
    pub assigned: u32,
    /// Bit i set ⇔ slab i was assigned since its pages were last purged (they may be resident).
    pub dirty: u32,
    /// Next in whatever list holds the SuperSlab (Warm Pool, abandoned list, FREE list).
    pub next: *mut SuperSlab,
    /// Previous in that list.
    pub prev: *mut SuperSlab,
    /// When it became FREE or was abandoned (ns, monotonic).
    pub free_since: u64,
    /// While abandoned: its unassigned slabs were purged since it was abandoned.
    pub purged: bool,
    /// While abandoned: bit c set ⇔ a slab of class c with room (see `shared_pool`'s per-class index).
    pub classes: u64,
    /// The slabs.
    pub slabs: [Slab; SLABS],
    /// Remote-free lists, one per slab: blocks freed by other threads (any thread pushes with one CAS; the
    /// owner takes a whole list in one exchange).
    pub remote: [AtomicPtr<Block>; SLABS],
}

const _: () = assert!(core::mem::size_of::<SuperSlab>() <= HEADER);
const _: () = assert!(core::mem::size_of::<Slab>() == 64);

/// The remote list of `slab`.
#[inline(always)]
pub fn remote_of(slab: *mut Slab) -> &'static AtomicPtr<Block> {
    let ss = superslab_of(slab as usize);
    let i = (slab as usize - ss as usize - core::mem::offset_of!(SuperSlab, slabs))
        / core::mem::size_of::<Slab>();
    // SAFETY: `slab` lies in a mapped SuperSlab header, so its remote array is mapped; i < SLABS.
    unsafe {
        &*core::ptr::addr_of!((*ss).remote)
            .cast::<AtomicPtr<Block>>()
            .add(i)
    }
}

/// The header of the SuperSlab containing `addr` (the last [`HEADER`] bytes of its chunk).
#[inline(always)]
pub fn superslab_of(addr: usize) -> *mut SuperSlab {
    ((addr & !(CHUNK - 1)) + CHUNK - HEADER) as *mut SuperSlab
}

/// The base of the mapping whose header is `ss` (slab 0's first block).
#[inline(always)]
pub fn base_of(ss: *mut SuperSlab) -> usize {
    ss as usize - (CHUNK - HEADER)
}

/// The slab containing `addr` (which must lie in a SuperSlab).
#[inline(always)]
pub fn slab_of(addr: usize) -> *mut Slab {
    slab_and_top(addr).0
}

/// [`slab_of`]`(addr)` and `addr | (CHUNK - 1)` (the last byte of its chunk: the misuse checks' key,
/// [`crate::check::key_of`]), the slab addressed from the latter, so that one register serves both.
#[inline(always)]
pub fn slab_and_top(addr: usize) -> (*mut Slab, usize) {
    let top = addr | (CHUNK - 1);
    let slabs = top - (HEADER - 1) + core::mem::offset_of!(SuperSlab, slabs);
    let slab =
        (slabs + ((addr >> SLAB_SHIFT) & (SLABS - 1)) * core::mem::size_of::<Slab>()) as *mut Slab;
    (slab, top)
}

/// Prepares a freshly mapped (zero) region as a SuperSlab owned by `owner`; returns its header.
///
/// # Safety
/// `base` is a fresh, zeroed, CHUNK-aligned mapping of CHUNK bytes.
pub unsafe fn format(base: *mut u8, owner: usize) -> *mut SuperSlab {
    let ss = superslab_of(base as usize);
    // SAFETY: the header lies inside the fresh mapping; zero is a valid state for every field.
    unsafe {
        (*ss).magic = MAGIC;
        (*ss).owner.store(owner, Ordering::Release);
        for i in 0..SLABS {
            (*ss).slabs[i].index = i as u8;
        }
    }
    ss
}

/// Start of slab `i`'s block area: its 64 KiB boundary.
#[inline]
pub fn slab_start(ss: *mut SuperSlab, i: usize) -> usize {
    base_of(ss) + i * SLAB_SIZE
}

/// End of slab `i`'s area (not of its blocks): the next slab's start, or the header for slab 31.
#[inline]
pub fn slab_limit(ss: *mut SuperSlab, i: usize) -> usize {
    (base_of(ss) + (i + 1) * SLAB_SIZE).min(ss as usize)
}

/// Assigns the first unassigned slab of `ss` to class `cls`; null if all are taken.
///
/// # Safety
/// The caller owns `ss` (or holds the Shared Pool lock while it is unowned).
pub unsafe fn slab_assign(ss: *mut SuperSlab, cls: usize) -> *mut Slab {
    // SAFETY: owner-only fields, per the contract.
    unsafe {
        let mask = (*ss).assigned;
        if mask == ALL_ASSIGNED {
            return null_mut();
        }
        let i = mask.trailing_ones() as usize;
        let slab = core::ptr::addr_of_mut!((*ss).slabs[i]);
        let bs = crate::check::block_size(cls) as usize; // 16 for the 8 B class
        let start = slab_start(ss, i);
        let cap = (slab_limit(ss, i) - start) / bs;
        debug_assert!(remote_of(slab).load(Ordering::Relaxed).is_null());
        (*slab).free = null_mut();
        (*slab).carve = start;
        (*slab).end = start + cap * bs;
        (*slab).next = slab;
        (*slab).prev = slab;
        (*slab).used = 0;
        (*slab).capacity = cap as u32;
        (*slab).block_size = bs as u32;
        (*slab).check = crate::check::check_word(bs as u32, 0);
        (*slab).class = cls as u8;
        (*slab).assigned = true;
        (*ss).assigned = mask | (1 << i);
        (*ss).dirty |= 1 << i;
        slab
    }
}

/// Gives the pages of every unassigned, dirty slab of `ss` back to the kernel (`MADV_DONTNEED`, one call per
/// run of adjacent slabs; a run ending with slab 31 stops before the header page). Returns the bytes purged.
///
/// A SuperSlab whose owner exited keeps only its slabs with live blocks resident, so a dead thread costs
/// the pages of its live blocks' slabs, not the 2 MiB it once touched. The purged slabs read as zero when
/// assigned again, which nothing relies on.
///
/// # Safety
/// The caller owns `ss` (or holds the Shared Pool lock while it is unowned).
pub unsafe fn purge(ss: *mut SuperSlab) -> usize {
    // SAFETY: owner-only fields per contract; unassigned slabs hold no block of anyone.
    unsafe {
        let mut mask = (*ss).dirty & !(*ss).assigned;
        let mut bytes = 0;
        while mask != 0 {
            let first = mask.trailing_zeros() as usize;
            let run = (mask >> first).trailing_ones() as usize;
            let start = slab_start(ss, first);
            let end = slab_limit(ss, first + run - 1);
            crate::os::discard(start as *mut u8, end - start);
            bytes += end - start;
            let bits = if run == 32 {
                u32::MAX
            } else {
                ((1u32 << run) - 1) << first
            };
            mask &= !bits;
            (*ss).dirty &= !bits;
        }
        PURGED_BYTES.fetch_add(bytes, Ordering::Relaxed);
        bytes
    }
}

/// Classes (bit c = class c) of the assigned slabs of `ss` that can hand out a block (local, remote or
/// uncarved).
///
/// # Safety
/// The caller owns `ss` (or holds the Shared Pool lock while it is unowned).
pub unsafe fn classes_with_room(ss: *mut SuperSlab) -> u64 {
    // SAFETY: per contract.
    unsafe {
        let mut mask = (*ss).assigned;
        let mut classes = 0u64;
        while mask != 0 {
            let i = mask.trailing_zeros() as usize;
            mask &= mask - 1;
            let slab = core::ptr::addr_of_mut!((*ss).slabs[i]);
            if slab_has_free(slab) {
                classes |= 1 << (*slab).class;
            }
        }
        classes
    }
}

/// Bytes of slab pages purged ([`purge`]).
pub static PURGED_BYTES: AtomicUsize = AtomicUsize::new(0);

/// Returns an empty slab (`used == 0`) to its SuperSlab's unassigned set.
///
/// # Safety
/// The caller owns the SuperSlab (or holds the lock while unowned); the slab is not in any ring.
pub unsafe fn slab_unassign(slab: *mut Slab) {
    // SAFETY: owner-only fields, per the contract.
    unsafe {
        debug_assert_eq!((*slab).used, 0);
        let ss = superslab_of(slab as usize);
        crate::check::on_slab_unassign(slab); // misuse checks (level 2): forget this geometry's poison tags
        (*slab).assigned = false;
        (*slab).free = null_mut();
        (*slab).check = 0; // no block start passes the fast test
        (*ss).assigned &= !(1u32 << (*slab).index);
    }
}

/// Links the free block `b` to `next`: stores `next` as is, or encoded under level-2 checks (`lk` =
/// [`check::link_key`], nonzero only there; see [`check::link_code`]).
///
/// # Safety
/// `b` is a free block ours to write.
#[inline(always)]
pub unsafe fn set_next(b: *mut Block, next: *mut Block, lk: usize) {
    // SAFETY: per contract.
    unsafe { (*b).next = check::link_code(lk, b as usize, next as usize) as *mut Block };
}

/// The block after the free block `b` on one of `slab`'s lists (its free list, its remote list, or that list
/// taken as a cache's pending list); null at the end. `lk` = [`check::link_key`]: 0 reads the stored word;
/// otherwise (level 2) the link is decoded, and one that is not null or a block start of `slab`'s carved area
/// is reported (`malloc(): corrupted free list`) and aborts.
///
/// # Safety
/// The caller owns `slab`'s SuperSlab; `b` is on one of its lists.
#[inline(always)]
pub unsafe fn next_of(slab: *mut Slab, b: *mut Block, lk: usize) -> *mut Block {
    if lk == 0 {
        // SAFETY: per contract.
        return unsafe { (*b).next };
    }
    // SAFETY: per contract.
    unsafe { next_checked(slab, b, lk) }
}

/// Whether free-list links are stored encoded (level-2 checks): callers that link many blocks choose their
/// loop once with it.
#[inline(always)]
pub fn links_encoded() -> bool {
    check::link_key() != 0
}

/// The block after `b` on a remote list taken whole (a cache's pending list): [`next_of`] in `b`'s slab.
///
/// # Safety
/// The caller owns `b`'s SuperSlab; `b` is on a list taken from its slab's remote list.
#[inline(always)]
pub unsafe fn pending_next(b: *mut Block) -> *mut Block {
    // SAFETY: forwarded: a remote list holds blocks of one slab.
    unsafe { next_of(slab_of(b as usize), b, check::link_key()) }
}

/// [`next_of`] under level 2.
///
/// # Safety
/// As [`next_of`].
#[inline(never)]
unsafe fn next_checked(slab: *mut Slab, b: *mut Block, lk: usize) -> *mut Block {
    // SAFETY: per contract: the owner reads its slab's header and the free block.
    unsafe {
        let n = check::link_code(lk, b as usize, (*b).next as usize);
        let start = slab_start(superslab_of(slab as usize), (*slab).index as usize);
        let bs = (*slab).block_size as usize;
        if !check::link_ok(n, start, (*slab).carve, bs) {
            check::report_free_list(b as usize, (*slab).class as usize, bs);
        }
        n as *mut Block
    }
}

/// Moves the remote list into the local free list; returns how many blocks came back.
///
/// # Safety
/// The caller owns the slab's SuperSlab.
#[inline]
pub unsafe fn slab_collect(slab: *mut Slab) -> u32 {
    // SAFETY: owner-only fields; the remote list is taken in one atomic exchange.
    unsafe {
        if remote_of(slab).load(Ordering::Relaxed).is_null() {
            return 0;
        }
        let head = remote_of(slab).swap(null_mut(), Ordering::Acquire);
        let lk = check::link_key();
        let mut n = 1u32;
        let mut tail = head;
        loop {
            let next = next_of(slab, tail, lk);
            if next.is_null() {
                break;
            }
            tail = next;
            n += 1;
        }
        set_next(tail, (*slab).free, lk);
        (*slab).free = head;
        (*slab).used -= n;
        n
    }
}

/// Takes up to `want` blocks (free list first, then remote frees, then fresh carving) into `out`.
///
/// With a non-null `pending` pointing at an empty list, a non-empty remote list is not walked: it becomes
/// `*pending` whole (its blocks stay counted in `used`, as they were on the remote list) and 0 is returned;
/// the Unified Cache then hands those blocks out one at a time, so the cache misses on blocks last written by
/// another core are spread over the allocations instead of paid in one chain.
///
/// # Safety
/// The caller owns the SuperSlab; `out` has room for `want` pointers; `pending` is null or valid.
#[inline]
pub unsafe fn slab_take(
    slab: *mut Slab,
    out: *mut *mut u8,
    want: usize,
    pending: *mut *mut Block,
) -> usize {
    // One body per link format, chosen once per call: below level 2 the loop is the plain one.
    // SAFETY: forwarded.
    unsafe {
        if check::link_key() == 0 {
            take::<false>(slab, out, want, pending)
        } else {
            take::<true>(slab, out, want, pending)
        }
    }
}

/// [`slab_take`] with free-list links stored plainly (`ENCODED` false) or encoded (level 2).
///
/// # Safety
/// As [`slab_take`]; `ENCODED` ⇔ `check::link_key() != 0`.
#[inline(always)]
unsafe fn take<const ENCODED: bool>(
    slab: *mut Slab,
    out: *mut *mut u8,
    want: usize,
    pending: *mut *mut Block,
) -> usize {
    // SAFETY: owner-only fields; `out` has room by contract; free-list nodes are blocks of this slab.
    unsafe {
        let mut got = 0;
        let mut f = (*slab).free;
        if f.is_null() {
            if !pending.is_null() && (*pending).is_null() {
                let r = remote_of(slab);
                if !r.load(Ordering::Relaxed).is_null() {
                    *pending = r.swap(null_mut(), Ordering::Acquire);
                    return 0;
                }
            }
            slab_collect(slab);
            f = (*slab).free;
        }
        if !ENCODED {
            // Two links per step (one bound test per pair).
            while got + 2 <= want && !f.is_null() {
                *out.add(got) = f as *mut u8;
                let g = (*f).next;
                if g.is_null() {
                    got += 1;
                    f = g;
                    break;
                }
                *out.add(got + 1) = g as *mut u8;
                f = (*g).next;
                got += 2;
            }
        }
        while got < want && !f.is_null() {
            *out.add(got) = f as *mut u8;
            f = if ENCODED {
                next_checked(slab, f, check::link_key())
            } else {
                (*f).next
            };
            got += 1;
        }
        (*slab).free = f;
        if got < want {
            // Carved blocks go into `out` highest address first: the cache pops from its top, so the program
            // gets them in address order and the ones still cached at a flush are the highest, which
            // `slab_push_local` un-carves (their pages stay untouched) when they sit at the carve frontier.
            let bs = (*slab).block_size as usize;
            let c = (*slab).carve;
            let n = (want - got).min(((*slab).end - c) / bs);
            for i in 0..n {
                *out.add(got + n - 1 - i) = (c + i * bs) as *mut u8;
            }
            got += n;
            (*slab).carve = c + n * bs;
            (*slab).check += check::carved_step(&*slab) * n as u64;
        }
        (*slab).used += got as u32;
        got
    }
}

/// Whether the slab can hand out a block now (local, remote or uncarved).
///
/// # Safety
/// The caller owns the SuperSlab.
#[inline]
pub unsafe fn slab_has_free(slab: *mut Slab) -> bool {
    // SAFETY: owner-only fields plus one atomic load.
    unsafe {
        !(*slab).free.is_null()
            || (*slab).carve < (*slab).end
            || !remote_of(slab).load(Ordering::Relaxed).is_null()
    }
}

/// Gives one block back to its slab (owner): the block just below the carve frontier is un-carved (a cache
/// flush returning blocks the program never used leaves their pages untouched), any other goes on the local
/// free list.
///
/// # Safety
/// The caller owns the SuperSlab; `p` is a block of `slab` currently counted in `used`.
#[inline]
pub unsafe fn slab_push_local<const ENCODED: bool>(slab: *mut Slab, p: *mut u8) {
    // SAFETY: owner-only fields; `p` is a block we may overwrite.
    unsafe {
        if p as usize + (*slab).block_size as usize == (*slab).carve {
            (*slab).carve = p as usize;
            (*slab).check -= check::carved_step(&*slab);
            (*slab).used -= 1;
            return;
        }
        let b = p as *mut Block;
        if ENCODED {
            set_next(b, (*slab).free, check::link_key());
        } else {
            (*b).next = (*slab).free;
        }
        (*slab).free = b;
        (*slab).used -= 1;
    }
}

/// Gives back the leading run of `blocks[0..n)` that lies in `slab` (owner, plain links): the blocks are
/// chained and spliced onto the local free list, with one update of `free`, `carve`, `check` and `used` for
/// the run; a block just below the carve frontier is un-carved, as [`slab_push_local`] does. Returns the run's
/// length (at least 1). Cost per block: its load, the same-slab test, the frontier test and one store (10
/// instructions in the two-block loop, 20 per pair; 13 one at a time before it; 18 for [`slab_push_local`]).
///
/// # Safety
/// The caller owns the SuperSlab; `n >= 1`; `slab == slab_of(blocks[0])`; every block of the run is counted
/// in `used`; links are stored plainly (`!links_encoded()`).
#[inline]
pub unsafe fn slab_push_run(slab: *mut Slab, blocks: *const *mut u8, n: usize) -> usize {
    // SAFETY: owner-only fields; the blocks are free blocks we may overwrite, `blocks[0..n)` is readable.
    unsafe {
        debug_assert!(n >= 1 && slab_of(*blocks as usize) == slab);
        // The run is indexed from its end with a negative index counting up to 0, two blocks per step; the
        // same-slab test is a subtraction and compare (slabs start at their 64 KiB boundaries), and the frontier
        // test compares with the frontier block's address itself.
        let start = *blocks as usize & !((1usize << SLAB_SHIFT) - 1);
        let bs = (*slab).block_size as usize;
        let mut front = (*slab).carve.wrapping_sub(bs);
        let mut head = (*slab).free;
        let mut uncarved = 0u64;
        let end = blocks.add(n);
        let mut k = -(n as isize);
        loop {
            // Two blocks per step while both are plain links of this slab (the common case: a freed structure
            // gives the cache long runs of neighbours) ...
            while k <= -2 {
                let p0 = *end.offset(k) as usize;
                let p1 = *end.offset(k + 1) as usize;
                if (p0.wrapping_sub(start) | p1.wrapping_sub(start)) >> SLAB_SHIFT != 0
                    || p0 == front
                    || p1 == front
                {
                    break;
                }
                (*(p0 as *mut Block)).next = head;
                (*(p1 as *mut Block)).next = p0 as *mut Block;
                head = p1 as *mut Block;
                k += 2;
            }
            if k == 0 {
                break;
            }
            // ... else one: the run's end, a frontier block or the last block.
            let p = *end.offset(k) as usize;
            if p.wrapping_sub(start) >> SLAB_SHIFT != 0 {
                break;
            }
            if p == front {
                // Just below the carve frontier (and in this slab, tested first): un-carved.
                front = p.wrapping_sub(bs);
                uncarved += 1;
            } else {
                let b = p as *mut Block;
                (*b).next = head;
                head = b;
            }
            k += 1;
        }
        let i = (n as isize + k) as usize;
        (*slab).free = head;
        (*slab).carve = front.wrapping_add(bs);
        (*slab).check -= check::carved_step(&*slab) * uncarved;
        (*slab).used -= i as u32;
        i
    }
}

/// Pushes a block freed by a non-owner onto its slab's remote list: one CAS, no lock.
///
/// # Safety
/// `p` is a live block of `slab`, given up by the caller.
#[inline]
pub unsafe fn remote_push(slab: *mut Slab, p: *mut u8) {
    // SAFETY: `remote` is atomic; the block is ours to overwrite.
    unsafe {
        let b = p as *mut Block;
        let remote = remote_of(slab);
        let lk = check::link_key();
        let mut head = remote.load(Ordering::Relaxed);
        loop {
            set_next(b, head, lk);
            match remote.compare_exchange_weak(head, b, Ordering::Release, Ordering::Relaxed) {
                Ok(_) => return,
                Err(h) => head = h,
            }
        }
    }
}

/// Checks the slab equations of the module docs. Needs exclusive access (no frees in flight).
///
/// # Safety
/// The caller owns the SuperSlab and no other thread frees into it meanwhile.
pub unsafe fn check_slab(slab: *mut Slab) -> Result<(), &'static str> {
    // SAFETY: exclusive access per contract; the lists only hold blocks of this slab (checked as we walk).
    unsafe {
        if !(*slab).assigned {
            if (*slab).check != 0 {
                return Err("unassigned slab with a nonzero check word");
            }
            return Ok(());
        }
        let ss = superslab_of(slab as usize);
        let i = (*slab).index as usize;
        let start = slab_start(ss, i);
        let bs = (*slab).block_size as usize;
        if bs == 0 || (*slab).end != start + (*slab).capacity as usize * bs {
            return Err("end != start + capacity * block_size");
        }
        if (*slab).end > slab_limit(ss, i) || slab_limit(ss, i) - (*slab).end >= bs {
            return Err("block area does not fill the slab's area");
        }
        if (*slab).carve < start || (*slab).carve > (*slab).end {
            return Err("carve outside the slab");
        }
        if !((*slab).carve - start).is_multiple_of(bs) {
            return Err("carve not at a block start");
        }
        let ncarved = ((*slab).carve - start) / bs;
        if (*slab).check != check::check_word(bs as u32, ncarved as u32) {
            return Err("check word out of step with carve");
        }
        let mut counts = [0usize; 2];
        for (k, head) in [(*slab).free, remote_of(slab).load(Ordering::Acquire)]
            .into_iter()
            .enumerate()
        {
            let mut b = head;
            while !b.is_null() {
                let a = b as usize;
                if a < start || a >= (*slab).carve || !(a - start).is_multiple_of(bs) {
                    return Err("free block outside the carved area or misaligned");
                }
                counts[k] += 1;
                if counts[k] > (*slab).capacity as usize {
                    return Err("free lists longer than the capacity (cycle or double free)");
                }
                b = check::link_code(check::link_key(), a, (*b).next as usize) as *mut Block;
            }
        }
        let uncarved = ((*slab).end - (*slab).carve) / bs;
        if (*slab).used as usize + counts[0] + uncarved != (*slab).capacity as usize {
            return Err("used + |free| + uncarved != capacity");
        }
        if counts[1] > (*slab).used as usize {
            return Err("remote list longer than the blocks in use");
        }
        Ok(())
    }
}

/// Checks every slab of a SuperSlab and the `assigned` mask.
///
/// # Safety
/// As [`check_slab`].
pub unsafe fn check_invariants(ss: *mut SuperSlab) -> Result<(), &'static str> {
    // SAFETY: exclusive access per contract.
    unsafe {
        if (*ss).magic != MAGIC {
            return Err("bad SuperSlab magic");
        }
        for i in 0..SLABS {
            let slab = core::ptr::addr_of_mut!((*ss).slabs[i]);
            if (*slab).assigned != ((*ss).assigned & (1 << i) != 0) {
                return Err("assigned mask disagrees with the slab");
            }
            check_slab(slab)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::os::{self, CHUNK};

    /// The slab fields a give-back changes, and the free list they lead to.
    fn state(slab: *mut Slab) -> (usize, u64, u32, Vec<usize>) {
        // SAFETY: a slab of the test's own SuperSlab; its free list holds blocks of it, ending in null.
        unsafe {
            let mut list = Vec::new();
            let mut f = (*slab).free;
            while !f.is_null() {
                list.push(f as usize);
                f = (*f).next;
            }
            ((*slab).carve, (*slab).check, (*slab).used, list)
        }
    }

    /// [`slab_push_run`] (two blocks per step, frontier and slab tests per block) leaves the slab exactly as
    /// [`slab_push_local`] block by block does, up to the first block of another slab: runs of every length
    /// and parity, with the frontier's blocks (descending, as a flush returns blocks a refill carved) at any
    /// position, and a block of the neighbouring slab at any position.
    #[test]
    fn push_run_equals_pushing_one_block_at_a_time() {
        let base = os::map(CHUNK, false);
        assert!(!base.is_null());
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move |n: usize| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            (rng % n as u64) as usize
        };
        // SAFETY: a fresh CHUNK-aligned mapping, ours alone; every block pushed is one carved and live (the
        // slab's fields are restored between cases, so each case starts with all carved blocks live).
        unsafe {
            let ss = format(base, 1);
            for cls in [1, 3, 12] {
                let a = slab_assign(ss, cls);
                let b = slab_assign(ss, cls);
                let mut out = vec![null_mut(); 4096];
                let cap = (*a).capacity as usize;
                let got = slab_take(a, out.as_mut_ptr(), cap - 3, null_mut());
                let blocks: Vec<usize> = out[..got].iter().map(|&p| p as usize).collect();
                assert_eq!(slab_take(b, out.as_mut_ptr(), 4, null_mut()), 4);
                let other = out[0] as usize;
                let mut top = blocks.clone();
                top.sort_unstable();
                top.reverse(); // highest first: the frontier's block, then the one below it, …
                let saved = ((*a).free, (*a).carve, (*a).check, (*a).used);
                for case in 0..3000 {
                    let len = 1 + next(40);
                    let nfront = if case % 3 == 0 { next(6) } else { 0 };
                    let mut run: Vec<usize> = Vec::with_capacity(len + nfront);
                    // distinct blocks below the frontier's ones
                    while run.len() < len {
                        let p = top[nfront + next(top.len() - nfront)];
                        if !run.contains(&p) {
                            run.push(p);
                        }
                    }
                    let at = next(run.len() + 1);
                    run.splice(at..at, top[..nfront].iter().copied());
                    if case % 4 == 1 {
                        let at = next(run.len() + 1);
                        run.insert(at, other);
                    }
                    if run[0] == other {
                        run.remove(0);
                        if run.is_empty() {
                            continue;
                        }
                    }
                    let run: Vec<*mut u8> = run.iter().map(|&p| p as *mut u8).collect();
                    let n = slab_push_run(a, run.as_ptr(), run.len());
                    let got_run = state(a);
                    ((*a).free, (*a).carve, (*a).check, (*a).used) = saved;
                    let want_n = run.iter().take_while(|&&p| p as usize != other).count();
                    for &p in &run[..want_n] {
                        slab_push_local::<false>(a, p);
                    }
                    let want = state(a);
                    ((*a).free, (*a).carve, (*a).check, (*a).used) = saved;
                    assert_eq!(n, want_n, "class {cls} case {case}: run length");
                    assert_eq!(got_run, want, "class {cls} case {case}: slab after the run");
                }
                check_slab(a).unwrap();
            }
        }
    }
}
