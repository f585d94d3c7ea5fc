//! The OS box: the only module that talks to the kernel (mmap, munmap, madvise, clocks, stderr, errno).
//!
//! Contract (written once, like mimalloc's `prim.h`):
//! - [`map`] returns zeroed, readable and writable memory aligned to [`CHUNK`] (2 MiB), or null; it never
//!   allocates from the heap and never panics. [`unmap`] gives a range obtained from [`map`] back.
//! - The chunk map ([`chunk_kind`]) records, for every 2 MiB chunk of the 47-bit user address space, what
//!   HAKMEM placed there: nothing ([`KIND_NONE`]), a Large header ([`KIND_LARGE`]), a Large block whose
//!   header is one chunk lower ([`KIND_LARGE_BACK`]), or a SuperSlab header: [`KIND_SMALL`] when its owner
//!   has no token, else the owning heap's token (`TOKEN_FIRST..=TOKEN_LAST`), so that `free` learns "mine"
//!   from this one byte. It is a
//!   zero-initialised 64 MiB `.bss` array: the kernel backs only the pages that are touched, one 4 KiB page per
//!   8 GiB of address space in use.
//! - Invariant: `chunk_kind(p) != KIND_NONE` ⇔ a live HAKMEM mapping put a header at that chunk (or one chunk
//!   below for `KIND_LARGE_BACK`). Marks are set before a pointer into the chunk is handed out and cleared
//!   before the chunk is unmapped.
//!
//! Also the two primitives every box uses: [`SpinLock`] (spins, then `sched_yield`) and [`bump`] (a counter
//! written by one thread).
//!
//! Counters: bytes mapped / released, live mapped bytes (read by the Stats box).

use core::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};

/// A test-and-test-and-set lock that never allocates (usable inside malloc and across `fork`).
pub struct SpinLock {
    held: AtomicBool,
}

impl SpinLock {
    /// An unlocked lock.
    pub const fn new() -> Self {
        SpinLock {
            held: AtomicBool::new(false),
        }
    }

    /// Takes the lock, spinning then yielding.
    pub fn lock(&self) {
        let mut spins = 0u32;
        loop {
            if !self.held.load(Ordering::Relaxed)
                && self
                    .held
                    .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
            {
                return;
            }
            spins += 1;
            if spins < 64 {
                core::hint::spin_loop();
            } else {
                // SAFETY: sched_yield has no preconditions.
                unsafe { libc::sched_yield() };
            }
        }
    }

    /// Takes the lock if it is free.
    pub fn try_lock(&self) -> bool {
        self.held
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    /// Releases the lock.
    pub fn unlock(&self) {
        self.held.store(false, Ordering::Release);
    }
}

impl Default for SpinLock {
    fn default() -> Self {
        Self::new()
    }
}

/// Adds `n` to a counter written only by its own thread: relaxed load + store, no locked instruction.
#[inline(always)]
pub fn bump(c: &AtomicU64, n: u64) {
    c.store(c.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
}

/// Size and alignment of a chunk: a SuperSlab, and the granule of the chunk map.
pub const CHUNK_SHIFT: usize = 21;
/// `1 << CHUNK_SHIFT` = 2 MiB.
pub const CHUNK: usize = 1 << CHUNK_SHIFT;
/// The chunk map covers user addresses below `1 << ADDR_BITS`.
pub const ADDR_BITS: usize = 47;
const MAP_ENTRIES: usize = 1 << (ADDR_BITS - CHUNK_SHIFT);

/// Nothing of ours in this chunk.
pub const KIND_NONE: u8 = 0;
/// A Large header lives at the chunk base.
pub const KIND_LARGE: u8 = 1;
/// A Large block starts at this chunk's base; its header lives one chunk lower.
pub const KIND_LARGE_BACK: u8 = 2;
/// A SuperSlab header lives at the chunk base; its owner (if any) has no token: read `owner`.
pub const KIND_SMALL: u8 = 3;
/// First owner token (a SuperSlab owned by the heap holding this token).
pub const TOKEN_FIRST: u8 = 4;
/// Last owner token.
pub const TOKEN_LAST: u8 = 254;
/// The token of heaps that have none (the empty start-up heap, heaps beyond the 251st): never in the map.
pub const TOKEN_NEVER: u8 = 255;

/// Whether a chunk-map value denotes a SuperSlab.
#[inline(always)]
pub fn is_small(kind: u8) -> bool {
    (KIND_SMALL..=TOKEN_LAST).contains(&kind)
}

static mut CHUNK_MAP: [u8; MAP_ENTRIES] = [0; MAP_ENTRIES];

/// Bytes mapped from the OS since start.
pub static BYTES_MAPPED: AtomicU64 = AtomicU64::new(0);
/// Bytes given back to the OS since start.
pub static BYTES_RELEASED: AtomicU64 = AtomicU64::new(0);
/// Number of `mmap` calls.
pub static MAP_CALLS: AtomicU64 = AtomicU64::new(0);
/// Number of `munmap` calls.
pub static UNMAP_CALLS: AtomicU64 = AtomicU64::new(0);

#[inline(always)]
fn map_slot(addr: usize) -> &'static AtomicU8 {
    // SAFETY: callers pass addr < 1 << ADDR_BITS, so the index is in bounds; AtomicU8 has the layout of u8 and
    // every access to the map goes through atomics, so there is no data race.
    unsafe {
        let base = core::ptr::addr_of_mut!(CHUNK_MAP) as *mut u8;
        AtomicU8::from_ptr(base.add(addr >> CHUNK_SHIFT))
    }
}

/// What HAKMEM placed in the chunk containing `addr`: a shift, a mask and one byte load. User-space addresses
/// on x86-64 are below 2^47, so the mask only matters for garbage, which then reads some entry harmlessly.
#[inline(always)]
pub fn chunk_kind(addr: usize) -> u8 {
    map_slot(addr & ((1 << ADDR_BITS) - 1)).load(Ordering::Relaxed)
}

/// Marks the chunk containing `addr` (must be below `1 << ADDR_BITS`).
pub fn set_chunk_kind(addr: usize, kind: u8) {
    if addr >> ADDR_BITS == 0 {
        map_slot(addr).store(kind, Ordering::Release);
    }
}

/// Maps `size` bytes (a multiple of 4096) at an address aligned to `align` (a power of two ≥ [`CHUNK`]);
/// `populate` prefaults the pages. Returns null on failure. The memory is zero.
pub fn map_aligned(size: usize, align: usize, populate: bool) -> *mut u8 {
    debug_assert!(size.is_multiple_of(4096) && align.is_power_of_two() && align >= CHUNK);
    let over = match size.checked_add(align) {
        Some(v) => v,
        None => return core::ptr::null_mut(),
    };
    // SAFETY: anonymous private mapping with no address hint: it cannot alias existing memory.
    let raw = unsafe {
        libc::mmap(
            core::ptr::null_mut(),
            over,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if raw == libc::MAP_FAILED {
        return core::ptr::null_mut();
    }
    MAP_CALLS.fetch_add(1, Ordering::Relaxed);
    let raw = raw as usize;
    let aligned = (raw + align - 1) & !(align - 1);
    let head = aligned - raw;
    let tail = over - head - size;
    // SAFETY: the head and tail ranges lie inside the mapping just created and are not used by anyone.
    unsafe {
        if head != 0 {
            libc::munmap(raw as *mut libc::c_void, head);
        }
        if tail != 0 {
            libc::munmap((aligned + size) as *mut libc::c_void, tail);
        }
    }
    if (aligned + size) >> ADDR_BITS != 0 {
        // SAFETY: our own fresh mapping, never handed out.
        unsafe { libc::munmap(aligned as *mut libc::c_void, size) };
        return core::ptr::null_mut();
    }
    if populate {
        populate_range(aligned, size);
    }
    BYTES_MAPPED.fetch_add(size as u64, Ordering::Relaxed);
    aligned as *mut u8
}

/// [`map_aligned`] with the chunk alignment.
pub fn map(size: usize, populate: bool) -> *mut u8 {
    map_aligned(size, CHUNK, populate)
}

/// Prefaults `[base, base + size)` of a fresh mapping: `MADV_POPULATE_WRITE` (Linux ≥ 5.14), or touching one
/// byte per page where the kernel refuses it. Only the range itself is populated, never the alignment slack.
pub fn populate_range(base: usize, size: usize) {
    const MADV_POPULATE_WRITE: i32 = 23;
    // SAFETY: advice on our own fresh mapping; failure is handled by the fallback.
    let rc = unsafe { libc::madvise(base as *mut libc::c_void, size, MADV_POPULATE_WRITE) };
    if rc != 0 {
        prefault_touch(base, size);
    }
}

fn prefault_touch(base: usize, size: usize) {
    let mut off = 0;
    while off < size {
        // SAFETY: inside our fresh mapping; writing zero over zero keeps its contents.
        unsafe { core::ptr::write_volatile((base + off) as *mut u8, 0) };
        off += 4096;
    }
}

/// Gives `[base, base + size)` back to the OS.
///
/// # Safety
/// The range was returned by [`map`] (or is a page-aligned tail of such a range) and nothing refers to it any
/// more.
pub unsafe fn unmap(base: *mut u8, size: usize) {
    // SAFETY: guaranteed by the caller.
    unsafe { libc::munmap(base as *mut libc::c_void, size) };
    UNMAP_CALLS.fetch_add(1, Ordering::Relaxed);
    BYTES_RELEASED.fetch_add(size as u64, Ordering::Relaxed);
}

/// Tells the kernel the pages of `[base, base + size)` may be dropped (contents become zero).
///
/// # Safety
/// The range is ours and holds no live data.
pub unsafe fn discard(base: *mut u8, size: usize) {
    // SAFETY: guaranteed by the caller.
    unsafe { libc::madvise(base as *mut libc::c_void, size, libc::MADV_DONTNEED) };
}

/// Asks for transparent huge pages on `[base, base + size)` (`MADV_HUGEPAGE`; a no-op where THP is off).
///
/// # Safety
/// The range is ours.
pub unsafe fn advise_huge(base: *mut u8, size: usize) {
    // SAFETY: guaranteed by the caller; advice only.
    unsafe { libc::madvise(base as *mut libc::c_void, size, libc::MADV_HUGEPAGE) };
}

/// Monotonic clock in nanoseconds (vDSO, no syscall).
pub fn now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid out-pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// The CPU's time-stamp counter (cycles), for refill measurement.
#[inline]
pub fn cycles() -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: rdtsc has no memory effects.
        unsafe { core::arch::x86_64::_rdtsc() }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        now_ns()
    }
}

/// Sets the calling thread's `errno`.
pub fn set_errno(value: i32) {
    // SAFETY: __errno_location returns the calling thread's errno slot.
    unsafe { *libc::__errno_location() = value };
}

/// Writes all of `bytes` to standard error without allocating.
pub fn write_stderr(bytes: &[u8]) {
    let mut rest = bytes;
    while !rest.is_empty() {
        // SAFETY: valid buffer of the given length.
        let n = unsafe { libc::write(2, rest.as_ptr() as *const libc::c_void, rest.len()) };
        if n <= 0 {
            return;
        }
        rest = &rest[n as usize..];
    }
}

/// Reads an environment variable without allocating (bytes borrowed from the environment block).
pub fn getenv(name: &core::ffi::CStr) -> Option<&'static [u8]> {
    // SAFETY: getenv returns null or a NUL-terminated string from the environment block, which we only read.
    unsafe {
        let p = libc::getenv(name.as_ptr());
        if p.is_null() {
            None
        } else {
            Some(core::ffi::CStr::from_ptr(p).to_bytes())
        }
    }
}

/// A fixed-capacity text buffer implementing `core::fmt::Write`: formatting without the heap.
pub struct StackBuf<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> StackBuf<N> {
    /// An empty buffer.
    pub const fn new() -> Self {
        StackBuf {
            buf: [0; N],
            len: 0,
        }
    }
    /// The bytes written so far.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
    /// Forgets the contents.
    pub fn clear(&mut self) {
        self.len = 0;
    }
    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.len
    }
    /// Whether nothing is written.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// Appends as much of `b` as fits.
    pub fn extend(&mut self, b: &[u8]) {
        let n = b.len().min(N - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&b[..n]);
        self.len += n;
    }
}

impl<const N: usize> Default for StackBuf<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> core::fmt::Write for StackBuf<N> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        self.extend(s.as_bytes());
        Ok(())
    }
}

/// 64 random bits from the kernel (`getrandom`, non-blocking; no allocation), mixed with the clock and an
/// address if the kernel has no entropy to give yet.
pub fn random_u64() -> u64 {
    let mut v = 0u64;
    // SAFETY: an 8-byte out-buffer.
    let n = unsafe {
        libc::getrandom(
            core::ptr::addr_of_mut!(v) as *mut libc::c_void,
            8,
            libc::GRND_NONBLOCK,
        )
    };
    if n != 8 {
        let here = core::ptr::addr_of!(v) as u64;
        v = (now_ns() ^ cycles().rotate_left(17) ^ here.rotate_left(41))
            .wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
    v
}

/// Ends the process with SIGABRT (C `abort`: no unwinding, no atexit handlers).
pub fn abort() -> ! {
    // SAFETY: abort has no preconditions.
    unsafe { libc::abort() }
}
