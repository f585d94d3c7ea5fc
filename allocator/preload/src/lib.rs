//! `libhakmem.so`: the HAKMEM allocator behind the C allocation API, for `LD_PRELOAD`.
//!
//! Entry points: the exported C functions listed in [`hooked!`]-style order below — malloc, free, calloc,
//! realloc, reallocarray, posix_memalign, aligned_alloc, memalign, valloc, pvalloc, malloc_usable_size,
//! free_sized, free_aligned_sized — with glibc's errno / EINVAL / ENOMEM semantics. Each is a thin shim over
//! `hakmem_allocator`'s Gatekeeper; nothing here allocates, formats, locks a std mutex or panics
//! (`panic = "abort"` in the release profile). Symbols are unmangled only outside `cfg(test)`, so unit tests
//! keep the system allocator.
//!
//! Invariants: a pointer this library did not hand out (allocated before it was loaded, or by the C library
//! directly) is recognised by the chunk map and passed to the C library, never treated as ours.
#![deny(missing_docs)]

use core::ffi::{c_int, c_void};

use hakmem_allocator as hk;

const PAGE: usize = 4096;

/// Runs when the library is loaded: lets the allocator start its release thread (see
/// `hakmem_allocator::idle_release`), which in-process users of the allocator never get, telling it where
/// glibc says whether the program is single-threaded.
extern "C" fn on_load() {
    // SAFETY: dlsym with a NUL-terminated name; the result is null or the address of glibc's
    // `char __libc_single_threaded`, a global that lives as long as the process.
    unsafe {
        let flag = libc::dlsym(libc::RTLD_DEFAULT, c"__libc_single_threaded".as_ptr());
        hk::idle_release::allow(flag as *const u8);
    }
}

#[used]
#[link_section = ".init_array"]
static ON_LOAD: extern "C" fn() = on_load;

/// C `malloc`.
///
/// # Safety
/// C semantics.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn malloc(size: usize) -> *mut c_void {
    // SAFETY: C semantics.
    unsafe { hk::malloc(size) as *mut c_void }
}

/// C `free`.
///
/// # Safety
/// `p` is null or a live allocation.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn free(p: *mut c_void) {
    // SAFETY: forwarded contract.
    unsafe { hk::free(p as *mut u8) }
}

/// C `calloc` (ENOMEM on `n * size` overflow).
///
/// # Safety
/// C semantics.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn calloc(n: usize, size: usize) -> *mut c_void {
    // SAFETY: C semantics.
    unsafe { hk::calloc(n, size) as *mut c_void }
}

/// C `realloc` (size 0 frees and returns null, as glibc).
///
/// # Safety
/// `p` is null or a live allocation.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn realloc(p: *mut c_void, size: usize) -> *mut c_void {
    // SAFETY: forwarded contract.
    unsafe { hk::realloc(p as *mut u8, size) as *mut c_void }
}

/// glibc `reallocarray` (ENOMEM on overflow, `p` untouched).
///
/// # Safety
/// `p` is null or a live allocation.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn reallocarray(p: *mut c_void, n: usize, size: usize) -> *mut c_void {
    match n.checked_mul(size) {
        // SAFETY: forwarded contract.
        Some(total) => unsafe { hk::realloc(p as *mut u8, total) as *mut c_void },
        None => {
            hk::os::set_errno(libc::ENOMEM);
            core::ptr::null_mut()
        }
    }
}

/// POSIX `posix_memalign`: EINVAL unless `align` is a power of two multiple of `sizeof(void *)`; ENOMEM
/// (returned, `*out` untouched) on exhaustion.
///
/// # Safety
/// `out` is valid for a pointer write.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn posix_memalign(out: *mut *mut c_void, align: usize, size: usize) -> c_int {
    if !align.is_power_of_two() || !align.is_multiple_of(core::mem::size_of::<*mut c_void>()) {
        return libc::EINVAL;
    }
    let saved = errno();
    // SAFETY: C semantics; `out` valid per contract.
    unsafe {
        let p = hk::aligned_alloc(align, size);
        if p.is_null() {
            hk::os::set_errno(saved);
            return libc::ENOMEM;
        }
        *out = p as *mut c_void;
    }
    0
}

/// C11 `aligned_alloc`: EINVAL for an alignment that is not a power of two.
///
/// # Safety
/// C semantics.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn aligned_alloc(align: usize, size: usize) -> *mut c_void {
    // SAFETY: C semantics.
    unsafe { hk::aligned_alloc(align, size) as *mut c_void }
}

/// glibc `memalign`: an alignment that is not a power of two is rounded up to one; one above `SIZE_MAX / 2 + 1`
/// is EINVAL.
///
/// # Safety
/// C semantics.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn memalign(align: usize, size: usize) -> *mut c_void {
    let Some(align) = align.max(1).checked_next_power_of_two() else {
        hk::os::set_errno(libc::EINVAL);
        return core::ptr::null_mut();
    };
    // SAFETY: C semantics.
    unsafe { hk::aligned_alloc(align, size) as *mut c_void }
}

/// `valloc`: page-aligned.
///
/// # Safety
/// C semantics.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn valloc(size: usize) -> *mut c_void {
    // SAFETY: C semantics.
    unsafe { hk::aligned_alloc(PAGE, size) as *mut c_void }
}

/// `pvalloc`: page-aligned, size rounded up to whole pages (ENOMEM on overflow).
///
/// # Safety
/// C semantics.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn pvalloc(size: usize) -> *mut c_void {
    let Some(rounded) = size.max(1).checked_add(PAGE - 1).map(|v| v & !(PAGE - 1)) else {
        hk::os::set_errno(libc::ENOMEM);
        return core::ptr::null_mut();
    };
    // SAFETY: C semantics.
    unsafe { hk::aligned_alloc(PAGE, rounded) as *mut c_void }
}

/// glibc `malloc_usable_size` (0 for null).
///
/// # Safety
/// `p` is null or a live allocation.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn malloc_usable_size(p: *mut c_void) -> usize {
    // SAFETY: forwarded contract.
    unsafe { hk::usable_size(p as *mut u8) }
}

/// C23 `free_sized`.
///
/// # Safety
/// As `free`.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn free_sized(p: *mut c_void, size: usize) {
    // SAFETY: forwarded contract.
    unsafe { hk::free_sized(p as *mut u8, size) }
}

/// C23 `free_aligned_sized`.
///
/// # Safety
/// As `free`.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn free_aligned_sized(p: *mut c_void, _align: usize, _size: usize) {
    // SAFETY: forwarded contract.
    unsafe { hk::free(p as *mut u8) }
}

/// Not part of the C API: the per-box statistics of this process, for `hakmem replay` children that call
/// the allocator through this library (found with `dlsym`). Writes `box\tcounter\tvalue\n` lines into
/// `buf` (the counters the linked-in allocator reports, `hakmem_allocator::stats::snapshot`) and returns
/// the length of the whole text; when it exceeds `len`, only the lines that fit whole were written. It
/// does not allocate; it takes the Shared Pool lock the statistics already use to walk the heaps.
///
/// # Safety
/// `buf` is valid for writes of `len` bytes (or `len` is 0).
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn hakmem_stats_snapshot(buf: *mut u8, len: usize) -> usize {
    if buf.is_null() || len == 0 {
        return hk::stats::write_lines(&mut []);
    }
    // SAFETY: the caller guarantees `buf` is valid for `len` bytes of writes.
    let out = unsafe { core::slice::from_raw_parts_mut(buf, len) };
    hk::stats::write_lines(out)
}

fn errno() -> c_int {
    // SAFETY: the calling thread's errno slot.
    unsafe { *libc::__errno_location() }
}
