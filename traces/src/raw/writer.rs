//! The raw-trace writer: works on caller-provided mapped memory and never allocates, so the recorder can
//! call it from inside `malloc`.
//!
//! Entry points: [`encode`] (one [`Op`] → record words, pure), [`SharedTrace`] (the file-wide part: the
//! preamble, chunk claims, file growth, the end slot) and [`ChunkCursor`] (a thread's position in the
//! chunk it owns: the hot path).
//!
//! Invariants:
//! - Chunk `i` is claimed by exactly one writer (one atomic fetch-add on `chunks_claimed`) and written only
//!   by it; `file_len >= header_region_len + claimed_and_written_chunks * chunk_size`: a chunk is never
//!   touched before the file has been grown over it (touching a mapping beyond EOF raises SIGBUS).
//! - Memory beyond a cursor is zero (fresh file pages); a record group becomes visible with the store of
//!   its first word, done last, so a reader of a killed writer's file sees whole records only.
//! - Nothing here allocates, locks a std mutex, formats or panics (the only loops are bounded copies and
//!   the growth spin flag, held only around one `grow` call).

use super::layout::{
    chunk_off, kind, off, word, CHUNK_HEADER_LEN, CHUNK_TAG, MAGIC, PREAMBLE_LEN, VERSION,
};
use crate::event::Op;
use core::sync::atomic::{compiler_fence, AtomicU32, AtomicU64, Ordering};

/// Most words one [`encode`] call produces (TIME + WIDE(2) + a record of 1 + 3 words).
pub const MAX_WORDS: usize = 7;

/// Largest pointer the one-word FREE16 record holds.
const FREE16_LIMIT: u64 = 1 << 47;

#[inline(always)]
fn w0(k: u64, dt: u64, a: u64) -> u64 {
    (k << word::KIND_SHIFT) | (dt << word::DT_SHIFT) | a
}

/// Encodes `op`, which happened `delta` TSC ticks after the previous record of the same chunk (or after the
/// chunk's base TSC), into `out`; returns the number of words. `last_ptr` is the pointer of the chunk's
/// previous malloc (0 at the chunk start); a malloc updates it. Pure, no allocation.
///
/// ```text
/// word 0 of every record            63    59 58        43 42                               0
///                                    | kind  |  dt (16)  |  a (43)                          |
/// malloc, common case (MALLOC8)      |  20   |  dt       | size (16) | (ptr - last_ptr)/16 (27, signed) |
/// free, common case (FREE16)         |   4   |  dt       | ptr >> 4                          |
/// other calls                        | kind  |  dt       | size (or 0)  + 1..3 payload words (ptr, align, …)
/// gap > 65535 ticks: TIME first      |   1   | gap & 0xFFFF | gap >> 16                      |
/// size >= 2^43: WIDE first           |   2   |  dt       | 0            + 1 word: size       |
/// ```
/// The full table is in [`super::layout::kind`].
#[inline(always)]
pub fn encode(op: &Op, delta: u64, last_ptr: &mut u64, out: &mut [u64; MAX_WORDS]) -> usize {
    let mut n = 0;
    let mut dt = delta;
    if dt > word::DT_MAX {
        let gap = dt.min((1u64 << 59) - 1);
        out[0] = w0(kind::TIME, gap & word::DT_MAX, gap >> 16);
        n = 1;
        dt = 0;
    }
    // The size-like field goes in `a` when it fits, else in a WIDE prefix.
    let sized = |k: u64, size: u64, out: &mut [u64; MAX_WORDS], n: &mut usize| {
        if size > word::A_MASK {
            out[*n] = w0(kind::WIDE, dt, 0);
            out[*n + 1] = size;
            *n += 2;
            out[*n] = w0(k, 0, 0);
        } else {
            out[*n] = w0(k, dt, size);
        }
        *n += 1;
    };
    match *op {
        Op::Malloc { size, ptr } => {
            let pd = ptr.wrapping_sub(*last_ptr) as i64;
            if size < 1 << 16 && pd & 15 == 0 && (-(1i64 << 30)..1i64 << 30).contains(&pd) {
                let a = (size << 27) | ((pd >> 4) as u64 & ((1 << 27) - 1));
                out[n] = w0(kind::MALLOC8, dt, a);
                n += 1;
            } else {
                sized(kind::MALLOC, size, out, &mut n);
                out[n] = ptr;
                n += 1;
            }
            *last_ptr = ptr;
        }
        Op::Free { ptr } => {
            if ptr & 15 == 0 && ptr < FREE16_LIMIT {
                out[n] = w0(kind::FREE16, dt, ptr >> 4);
                n += 1;
            } else {
                out[n] = w0(kind::FREE, dt, 0);
                out[n + 1] = ptr;
                n += 2;
            }
        }
        Op::Calloc { nmemb, size, ptr } => {
            sized(kind::CALLOC, size, out, &mut n);
            out[n] = ptr;
            out[n + 1] = nmemb;
            n += 2;
        }
        Op::Realloc { old, size, new } => {
            sized(kind::REALLOC, size, out, &mut n);
            out[n] = old;
            out[n + 1] = new;
            n += 2;
        }
        Op::ReallocArray {
            old,
            nmemb,
            size,
            new,
        } => {
            sized(kind::REALLOCARRAY, size, out, &mut n);
            out[n] = old;
            out[n + 1] = new;
            out[n + 2] = nmemb;
            n += 3;
        }
        Op::PosixMemalign {
            align,
            size,
            ptr,
            ret,
        } => {
            sized(kind::POSIX_MEMALIGN, size, out, &mut n);
            out[n] = ptr;
            out[n + 1] = align;
            out[n + 2] = ret as u64;
            n += 3;
        }
        Op::AlignedAlloc { align, size, ptr } => {
            sized(kind::ALIGNED_ALLOC, size, out, &mut n);
            out[n] = ptr;
            out[n + 1] = align;
            n += 2;
        }
        Op::Memalign { align, size, ptr } => {
            sized(kind::MEMALIGN, size, out, &mut n);
            out[n] = ptr;
            out[n + 1] = align;
            n += 2;
        }
        Op::Valloc { size, ptr } => {
            sized(kind::VALLOC, size, out, &mut n);
            out[n] = ptr;
            n += 1;
        }
        Op::Pvalloc { size, ptr } => {
            sized(kind::PVALLOC, size, out, &mut n);
            out[n] = ptr;
            n += 1;
        }
        Op::FreeSized { ptr, size } => {
            sized(kind::FREE_SIZED, size, out, &mut n);
            out[n] = ptr;
            n += 1;
        }
        Op::FreeAlignedSized { ptr, align, size } => {
            sized(kind::FREE_ALIGNED_SIZED, size, out, &mut n);
            out[n] = ptr;
            out[n + 1] = align;
            n += 2;
        }
        Op::ThreadStart => {
            out[n] = w0(kind::THREAD_START, dt, 0);
            n += 1;
        }
        Op::ThreadExit => {
            out[n] = w0(kind::THREAD_EXIT, dt, 0);
            n += 1;
        }
        Op::Fork { child_pid } => {
            out[n] = w0(kind::FORK, dt, child_pid as u64);
            n += 1;
        }
        Op::Exec => {
            out[n] = w0(kind::EXEC, dt, 0);
            n += 1;
        }
    }
    n
}

/// A thread's write position inside the chunk it owns. The empty cursor (`ChunkCursor::EMPTY`) has no room,
/// so the first push of a thread falls into the caller's slow path, which claims a chunk.
///
/// Invariant: `cur <= end`, both inside one claimed chunk (or both null); words in `cur..end` are zero.
#[derive(Clone, Copy, Debug)]
pub struct ChunkCursor {
    cur: *mut u64,
    end: *mut u64,
    last_tsc: u64,
    last_ptr: u64,
}

impl ChunkCursor {
    /// A cursor with no chunk.
    pub const EMPTY: ChunkCursor = ChunkCursor {
        cur: core::ptr::null_mut(),
        end: core::ptr::null_mut(),
        last_tsc: 0,
        last_ptr: 0,
    };

    /// Appends `op` stamped `tsc`. Returns `false`, writing nothing, when the chunk has no room (or there is
    /// no chunk): the caller claims a new chunk and pushes again.
    ///
    /// Cost: the encode (a few shifts and one match), a bounds compare, 1–7 plain stores and one
    /// compiler fence; no atomics, no calls.
    ///
    /// # Safety
    /// The cursor must be `EMPTY` or come from [`SharedTrace::claim_chunk`] on a mapping that is still
    /// mapped, and only this thread may use it.
    #[inline(always)]
    pub unsafe fn push(&mut self, tsc: u64, op: &Op) -> bool {
        let delta = tsc.saturating_sub(self.last_tsc);
        let mut buf = [0u64; MAX_WORDS];
        let mut last_ptr = self.last_ptr;
        let n = encode(op, delta, &mut last_ptr, &mut buf);
        if (self.end as usize).wrapping_sub(self.cur as usize) < n * 8 || self.cur.is_null() {
            return false;
        }
        // SAFETY: (1) `cur + n <= end` was checked above and `cur..end` lies in a claimed chunk of a live
        // mapping over the file (caller's contract), owned by this thread; (2) the group's first word is
        // stored last, after a compiler fence, so a reader of a killed process sees whole groups only (x86
        // stores become visible in program order).
        unsafe {
            let mut i = 1;
            while i < n {
                core::ptr::write_volatile(self.cur.add(i), buf[i].to_le());
                i += 1;
            }
            compiler_fence(Ordering::Release);
            core::ptr::write_volatile(self.cur, buf[0].to_le());
            self.cur = self.cur.add(n);
        }
        self.last_ptr = last_ptr;
        if tsc > self.last_tsc {
            self.last_tsc = tsc;
        }
        true
    }

    /// Bytes of record space left in the chunk.
    pub fn remaining(&self) -> usize {
        (self.end as usize).wrapping_sub(self.cur as usize)
    }
}

/// Why a trace could not be started on a mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InitError {
    /// The header does not fit in the window or in a `u32` length.
    HeaderTooLarge,
    /// The chunk size is not a multiple of 8 in `MIN_CHUNK_SIZE..=MAX_CHUNK_SIZE`.
    BadChunkSize,
    /// The `grow` callback failed.
    GrowFailed,
}

/// The file-wide part of a raw trace being written: a mapping window over the file whose first bytes are
/// the preamble. Shared by all writer threads (all mutation goes through atomics in the preamble).
#[derive(Debug)]
pub struct SharedTrace {
    base: *mut u8,
    window: usize,
    region: usize,
    chunk_size: usize,
}

// SAFETY: all shared mutation goes through atomics in the mapped preamble; chunks are owned by one thread.
unsafe impl Send for SharedTrace {}
// SAFETY: as above.
unsafe impl Sync for SharedTrace {}

impl SharedTrace {
    /// Starts a trace on a fresh, zero-filled file mapped at `base` for `window` bytes: grows the file over
    /// the header region with `grow(new_len)` (which must make the file at least `new_len` bytes long and
    /// return whether it did), then writes the header (bincode of `header`) and the preamble.
    ///
    /// Does not allocate when `header` serialises without error.
    ///
    /// # Safety
    /// `base..base + window` must be a writable shared mapping of the file (it may extend beyond EOF), used
    /// only through this value for as long as it lives, and the file must be empty or zero-filled.
    pub unsafe fn init<H: serde::Serialize, G: FnMut(u64) -> bool>(
        base: *mut u8,
        window: usize,
        header: &H,
        chunk_size: u32,
        page_size: usize,
        mut grow: G,
    ) -> Result<SharedTrace, InitError> {
        use bincode::Options;
        if chunk_size & 7 != 0
            || !(super::layout::MIN_CHUNK_SIZE..=super::layout::MAX_CHUNK_SIZE)
                .contains(&chunk_size)
        {
            return Err(InitError::BadChunkSize);
        }
        let opts = super::bincode_options();
        let hlen = opts
            .serialized_size(header)
            .map_err(|_| InitError::HeaderTooLarge)? as usize;
        let page = page_size.max(8);
        let region = (PREAMBLE_LEN + hlen).div_ceil(page) * page;
        if region > u32::MAX as usize || region + chunk_size as usize > window {
            return Err(InitError::HeaderTooLarge);
        }
        if !grow(region as u64) {
            return Err(InitError::GrowFailed);
        }
        // SAFETY: `region <= window`, the file now covers `0..region`, and the mapping is ours (contract).
        let hdr = unsafe { core::slice::from_raw_parts_mut(base.add(PREAMBLE_LEN), hlen) };
        if opts.serialize_into(&mut &mut hdr[..], header).is_err() {
            return Err(InitError::HeaderTooLarge);
        }
        let t = SharedTrace {
            base,
            window,
            region,
            chunk_size: chunk_size as usize,
        };
        // SAFETY: offsets are inside the preamble, which the file covers.
        unsafe {
            core::ptr::copy_nonoverlapping(MAGIC.as_ptr(), base.add(off::MAGIC), 8);
            t.u32_at(off::VERSION).store(VERSION, Ordering::Relaxed);
            t.u32_at(off::HEADER_REGION_LEN)
                .store(region as u32, Ordering::Relaxed);
            t.u32_at(off::HEADER_LEN)
                .store(hlen as u32, Ordering::Relaxed);
            t.u32_at(off::CHUNK_SIZE)
                .store(chunk_size, Ordering::Relaxed);
            t.u64_at(off::FILE_LEN)
                .store(region as u64, Ordering::Release);
        }
        Ok(t)
    }

    /// # Safety
    /// `o` is a 4-aligned offset inside the preamble.
    unsafe fn u32_at(&self, o: usize) -> &AtomicU32 {
        // SAFETY: the preamble is mapped, covered by the file and 4-aligned at `o` (caller).
        unsafe { &*(self.base.add(o) as *const AtomicU32) }
    }

    /// # Safety
    /// `o` is an 8-aligned offset inside the preamble.
    unsafe fn u64_at(&self, o: usize) -> &AtomicU64 {
        // SAFETY: the preamble is mapped, covered by the file and 8-aligned at `o` (caller).
        unsafe { &*(self.base.add(o) as *const AtomicU64) }
    }

    /// A new thread serial number (unique within this file).
    pub fn next_thread_serial(&self) -> u32 {
        // SAFETY: NEXT_THREAD is a 4-aligned preamble offset.
        unsafe { self.u32_at(off::NEXT_THREAD) }.fetch_add(1, Ordering::Relaxed)
    }

    /// Counts `n` events that could not be written.
    pub fn add_dropped(&self, n: u64) {
        // SAFETY: DROPPED is an 8-aligned preamble offset.
        unsafe { self.u64_at(off::DROPPED) }.fetch_add(n, Ordering::Relaxed);
    }

    /// Writes the end slot (the footer): how recording ended and a final (TSC, CLOCK_MONOTONIC) pair.
    pub fn write_end(&self, state: super::layout::EndState, tsc: u64, mono_ns: u64) {
        // SAFETY: preamble offsets with their natural alignment.
        unsafe {
            self.u64_at(off::END_TSC).store(tsc, Ordering::Relaxed);
            self.u64_at(off::END_MONO_NS)
                .store(mono_ns, Ordering::Relaxed);
            self.u32_at(off::END_STATE)
                .store(state as u32, Ordering::Release);
        }
    }

    /// Bytes actually in use: the header region plus every claimed chunk (what the file can be shrunk to).
    pub fn used_len(&self) -> u64 {
        // SAFETY: preamble offset.
        let claimed = unsafe { self.u64_at(off::CHUNKS_CLAIMED) }.load(Ordering::Acquire);
        let window_chunks = ((self.window - self.region) / self.chunk_size) as u64;
        self.region as u64 + claimed.min(window_chunks) * self.chunk_size as u64
    }

    /// Claims the next chunk for thread (`tid`, `serial`), its `seq`-th, stamped with the (`tsc`, `mono_ns`)
    /// pair read together now. Grows the file with `grow` when the chunk lies beyond `file_len` (the slow
    /// path: a spin flag in the preamble, not a std mutex). `None` when the window is exhausted or `grow`
    /// failed (the caller counts its event as dropped).
    #[cold]
    #[inline(never)]
    pub fn claim_chunk<G: FnMut(u64) -> bool>(
        &self,
        tid: u32,
        serial: u32,
        seq: u32,
        tsc: u64,
        mono_ns: u64,
        grow: G,
    ) -> Option<ChunkCursor> {
        // SAFETY: preamble offset.
        let idx =
            unsafe { self.u64_at(off::CHUNKS_CLAIMED) }.fetch_add(1, Ordering::AcqRel) as usize;
        let end = idx
            .checked_mul(self.chunk_size)
            .and_then(|s| s.checked_add(self.region + self.chunk_size))
            .filter(|&e| e <= self.window);
        let Some(end) = end else {
            // The window is full: give the index back so that `chunks_claimed` keeps counting only chunks
            // that exist (every index from here up fails the same way, so none is ever handed out twice).
            // SAFETY: preamble offset.
            unsafe { self.u64_at(off::CHUNKS_CLAIMED) }.fetch_sub(1, Ordering::AcqRel);
            return None;
        };
        let start = end - self.chunk_size;
        if !self.ensure_len(end as u64, grow) {
            return None;
        }
        // SAFETY: `start..end` is inside the window, the file covers it (ensure_len), and the chunk is ours
        // alone (the fetch-add above); chunk offsets are 8-aligned (region and chunk_size are).
        unsafe {
            let c = self.base.add(start);
            (c.add(chunk_off::TID) as *mut u32).write_volatile(tid);
            (c.add(chunk_off::SERIAL) as *mut u32).write_volatile(serial);
            (c.add(chunk_off::SEQ) as *mut u32).write_volatile(seq);
            (c.add(chunk_off::BASE_TSC) as *mut u64).write_volatile(tsc);
            (c.add(chunk_off::BASE_MONO_NS) as *mut u64).write_volatile(mono_ns);
            compiler_fence(Ordering::Release);
            (c.add(chunk_off::TAG) as *mut u32).write_volatile(CHUNK_TAG);
            Some(ChunkCursor {
                cur: c.add(CHUNK_HEADER_LEN) as *mut u64,
                end: c.add(self.chunk_size) as *mut u64,
                last_tsc: tsc,
                last_ptr: 0,
            })
        }
    }

    /// Drops the pages of a finished chunk (the one `c` was writing) from this process's resident set, so a
    /// long recording does not keep its whole trace mapped in memory. Nothing is lost: on a shared file
    /// mapping the written data stays in the page cache (dirty until written back) and a crash still
    /// leaves it in the file. Only pages wholly inside the chunk are dropped. One `madvise` call; no
    /// allocation, no lock. Does nothing for an [`ChunkCursor::EMPTY`] cursor.
    #[cold]
    #[inline(never)]
    pub fn release_chunk(&self, c: &ChunkCursor) {
        if c.end.is_null() {
            return;
        }
        let end = c.end as usize;
        let start = end - self.chunk_size;
        // SAFETY: sysconf has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as usize;
        let (lo, hi) = (start.next_multiple_of(page), end / page * page);
        if hi > lo {
            // SAFETY: `lo..hi` lies inside a chunk of our shared file mapping that its writer has finished
            // with; MADV_DONTNEED on a shared file mapping only unmaps the pages (their data stays in the
            // page cache and the file), and a later access maps them again with the same contents.
            unsafe { libc::madvise(lo as *mut libc::c_void, hi - lo, libc::MADV_DONTNEED) };
        }
    }

    /// Makes `file_len >= need`, growing ahead by half the chunk area so far (at most 64 chunks or 16 MiB,
    /// whichever is more) so that growth stays rare.
    fn ensure_len<G: FnMut(u64) -> bool>(&self, need: u64, mut grow: G) -> bool {
        // SAFETY: preamble offsets.
        let (len, lock) = unsafe { (self.u64_at(off::FILE_LEN), self.u32_at(off::GROW_LOCK)) };
        if len.load(Ordering::Acquire) >= need {
            return true;
        }
        while lock
            .compare_exchange_weak(0, 1, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            core::hint::spin_loop();
        }
        let mut ok = true;
        let cur = len.load(Ordering::Acquire);
        if cur < need {
            let chunk = self.chunk_size as u64;
            let ahead = ((cur - self.region as u64) / 2).clamp(chunk, (64 * chunk).max(16 << 20));
            let target = (need + ahead - chunk).min(self.window as u64).max(need);
            let got = if grow(target) {
                target
            } else if grow(need) {
                need
            } else {
                ok = false;
                cur
            };
            len.store(got.max(cur), Ordering::Release);
        }
        lock.store(0, Ordering::Release);
        ok
    }

    /// Shrinks the file to [`Self::used_len`] through `truncate` (under the growth flag, so no claim races
    /// with it). For a clean exit: the tail grown ahead is given back.
    pub fn trim<G: FnMut(u64) -> bool>(&self, mut truncate: G) {
        // SAFETY: preamble offsets.
        let (len, lock) = unsafe { (self.u64_at(off::FILE_LEN), self.u32_at(off::GROW_LOCK)) };
        while lock
            .compare_exchange_weak(0, 1, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            core::hint::spin_loop();
        }
        let used = self.used_len();
        if used < len.load(Ordering::Acquire) && truncate(used) {
            len.store(used, Ordering::Release);
        }
        lock.store(0, Ordering::Release);
    }
}
