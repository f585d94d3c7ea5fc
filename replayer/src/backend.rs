//! Allocator backends behind one static interface, so that the replay loop is monomorphised per backend
//! and the timed loop makes direct calls only (no function pointers, no `dyn`).
//!
//! Entry point: the [`Allocator`] trait, implemented by [`System`] (the C library's symbols, which is also
//! what a `preload:PATH.so` child calls: the dynamic linker binds them to the preloaded library),
//! [`Mimalloc`] (the `libmimalloc-sys` crate, built from source and linked statically) and [`Hakmem`]
//! (the `hakmem-allocator` crate, linked in and configured before its first allocation).
//!
//! Invariant: every pointer handed to `free`, `realloc` or `usable_size` of a backend was returned by the
//! same backend in the same process and is still live.

use std::ffi::c_void;

/// Which aligned-allocation entry point a recorded call used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlignedKind {
    /// `posix_memalign(&p, align, size)`
    PosixMemalign,
    /// `aligned_alloc(align, size)`
    AlignedAlloc,
    /// `memalign(align, size)`
    Memalign,
    /// `valloc(size)` (page alignment)
    Valloc,
    /// `pvalloc(size)` (page alignment, size rounded up to pages)
    Pvalloc,
}

/// One allocator, called directly. All methods are thin `#[inline]` wrappers over the allocator's C ABI.
pub trait Allocator {
    /// Backend name as used in specs and results.
    const NAME: &'static str;

    /// `malloc(size)`.
    ///
    /// # Safety
    /// The backend must be initialised for this process (see [`Allocator::init`] for HAKMEM).
    unsafe fn malloc(size: usize) -> *mut u8;
    /// `calloc(nmemb, size)`.
    ///
    /// # Safety
    /// As [`Allocator::malloc`].
    unsafe fn calloc(nmemb: usize, size: usize) -> *mut u8;
    /// `realloc(p, size)`.
    ///
    /// # Safety
    /// `p` is null or a live block of this backend; on success `p` must no longer be used.
    unsafe fn realloc(p: *mut u8, size: usize) -> *mut u8;
    /// `free(p)`.
    ///
    /// # Safety
    /// `p` is null or a live block of this backend, freed once.
    unsafe fn free(p: *mut u8);
    /// An aligned allocation through the entry point `kind` (backends without that exact entry point use
    /// their general aligned allocation with the same alignment).
    ///
    /// # Safety
    /// As [`Allocator::malloc`]; `align` is a power of two.
    unsafe fn aligned(kind: AlignedKind, align: usize, size: usize) -> *mut u8;
    /// `malloc_usable_size(p)`.
    ///
    /// # Safety
    /// `p` is a live block of this backend.
    unsafe fn usable_size(p: *mut u8) -> usize;
}

extern "C" {
    fn valloc(size: usize) -> *mut c_void;
    fn pvalloc(size: usize) -> *mut c_void;
    fn gnu_get_libc_version() -> *const std::ffi::c_char;
}

/// The C library's allocator (glibc here), or whatever `LD_PRELOAD` put in front of it.
pub struct System;

impl Allocator for System {
    const NAME: &'static str = "system";

    #[inline(always)]
    unsafe fn malloc(size: usize) -> *mut u8 {
        // SAFETY: plain C call; any size is allowed.
        unsafe { libc::malloc(size).cast() }
    }
    #[inline(always)]
    unsafe fn calloc(nmemb: usize, size: usize) -> *mut u8 {
        // SAFETY: plain C call; calloc checks the multiplication itself.
        unsafe { libc::calloc(nmemb, size).cast() }
    }
    #[inline(always)]
    unsafe fn realloc(p: *mut u8, size: usize) -> *mut u8 {
        // SAFETY: the caller guarantees `p` is null or a live block of this allocator.
        unsafe { libc::realloc(p.cast(), size).cast() }
    }
    #[inline(always)]
    unsafe fn free(p: *mut u8) {
        // SAFETY: the caller guarantees `p` is null or a live block, freed once.
        unsafe { libc::free(p.cast()) }
    }
    #[inline(always)]
    unsafe fn aligned(kind: AlignedKind, align: usize, size: usize) -> *mut u8 {
        // SAFETY: (1) plain C calls with a power-of-two alignment (caller's contract); (2) `out` is a valid
        // place for posix_memalign to write to.
        unsafe {
            match kind {
                AlignedKind::PosixMemalign => {
                    let mut out: *mut c_void = std::ptr::null_mut();
                    if libc::posix_memalign(&mut out, align.max(std::mem::size_of::<usize>()), size)
                        != 0
                    {
                        return std::ptr::null_mut();
                    }
                    out.cast()
                }
                AlignedKind::AlignedAlloc => libc::aligned_alloc(align, size).cast(),
                AlignedKind::Memalign => libc::memalign(align, size).cast(),
                AlignedKind::Valloc => valloc(size).cast(),
                AlignedKind::Pvalloc => pvalloc(size).cast(),
            }
        }
    }
    #[inline(always)]
    unsafe fn usable_size(p: *mut u8) -> usize {
        // SAFETY: the caller guarantees `p` is a live block of this allocator.
        unsafe { libc::malloc_usable_size(p.cast()) }
    }
}

/// mimalloc, built from source by `libmimalloc-sys` and linked statically (its `mi_*` names, so it never
/// replaces the process's malloc).
pub struct Mimalloc;

impl Allocator for Mimalloc {
    const NAME: &'static str = "mimalloc";

    #[inline(always)]
    unsafe fn malloc(size: usize) -> *mut u8 {
        // SAFETY: plain C call.
        unsafe { libmimalloc_sys::mi_malloc(size).cast() }
    }
    #[inline(always)]
    unsafe fn calloc(nmemb: usize, size: usize) -> *mut u8 {
        // SAFETY: plain C call; mi_calloc checks the multiplication.
        unsafe { libmimalloc_sys::mi_calloc(nmemb, size).cast() }
    }
    #[inline(always)]
    unsafe fn realloc(p: *mut u8, size: usize) -> *mut u8 {
        // SAFETY: the caller guarantees `p` is null or a live mimalloc block.
        unsafe { libmimalloc_sys::mi_realloc(p.cast(), size).cast() }
    }
    #[inline(always)]
    unsafe fn free(p: *mut u8) {
        // SAFETY: the caller guarantees `p` is null or a live mimalloc block, freed once.
        unsafe { libmimalloc_sys::mi_free(p.cast()) }
    }
    #[inline(always)]
    unsafe fn aligned(kind: AlignedKind, align: usize, size: usize) -> *mut u8 {
        let (align, size) = page_aligned_args(kind, align, size);
        // SAFETY: plain C call with a power-of-two alignment.
        unsafe { libmimalloc_sys::mi_malloc_aligned(size, align).cast() }
    }
    #[inline(always)]
    unsafe fn usable_size(p: *mut u8) -> usize {
        // SAFETY: the caller guarantees `p` is a live mimalloc block.
        unsafe { libmimalloc_sys::mi_usable_size(p.cast()) }
    }
}

/// `valloc`/`pvalloc` semantics for backends that only have one aligned entry point.
#[inline(always)]
fn page_aligned_args(kind: AlignedKind, align: usize, size: usize) -> (usize, usize) {
    match kind {
        AlignedKind::Valloc => (page_size(), size),
        AlignedKind::Pvalloc => {
            let page = page_size();
            (page, size.div_ceil(page).max(1) * page)
        }
        _ => (align, size),
    }
}

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if p > 0 {
        p as usize
    } else {
        4096
    }
}

/// Version string of the C library's allocator, e.g. `glibc 2.36`.
pub fn glibc_version() -> String {
    // SAFETY: gnu_get_libc_version returns a static NUL-terminated string.
    let v = unsafe { std::ffi::CStr::from_ptr(gnu_get_libc_version()) };
    format!("glibc {}", v.to_string_lossy())
}

/// Version string of the linked mimalloc, e.g. `mimalloc 2.1.7 (libmimalloc-sys, built from source)`.
pub fn mimalloc_version() -> String {
    // SAFETY: mi_version has no preconditions and does not allocate.
    let v = unsafe { libmimalloc_sys::mi_version() };
    format!(
        "mimalloc {} (libmimalloc-sys, static, built from source)",
        mimalloc_version_text(v)
    )
}

/// `mi_version()` as `MAJOR.MINOR.PATCH`: mimalloc encodes it as major·10000 + minor·100 + patch since
/// 3.x (30302 = 3.3.2) and as major·100 + minor·10 + patch before (217 = 2.1.7).
pub fn mimalloc_version_text(v: i32) -> String {
    if v >= 10_000 {
        format!("{}.{}.{}", v / 10_000, (v / 100) % 100, v % 100)
    } else {
        format!("{}.{}.{}", v / 100, (v / 10) % 10, v % 10)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn mimalloc_303_0_2_is_3_3_2() {
        assert_eq!(super::mimalloc_version_text(30302), "3.3.2");
        assert_eq!(super::mimalloc_version_text(217), "2.1.7");
        assert_eq!(super::mimalloc_version_text(20107), "2.1.7");
    }
}
