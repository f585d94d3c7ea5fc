//! The harness's own allocator: glibc's `malloc` family as glibc itself defines them, found with `dlsym` on
//! glibc's own handle (`dlopen("libc.so.6", RTLD_NOLOAD)`), which searches glibc's symbol table and not
//! the global scope where an `LD_PRELOAD`ed allocator interposes `malloc` (and, for mimalloc, tcmalloc and
//! jemalloc, glibc's internal names `__libc_malloc`… too).
//!
//! A replay child of `--calls preload` (the default) runs with the measured allocator preloaded: the
//! replay's calls go through the C library's `malloc` symbols to it, as a program's do. Without this the
//! harness's own memory would go there too — the decoded ops (16 bytes per op), the object table, the
//! latency buffers, the decoding's freed scratch — and the measured allocator would start the timed region
//! holding the harness's garbage: its RSS before the timed region, its page faults and its heap peak would
//! depend on how it recycles memory the harness freed (measured: a preloaded mimalloc's heap peak on a
//! replay with 10.1 MB peak live came out at 4.4 MB, the replay's blocks landing in pages the decoding
//! had faulted in). With the harness on glibc in every child, linked or preloaded, the measured
//! allocator serves the replayed calls only.
//!
//! Memory handed out here is freed here: Rust code frees what it allocated; memory the C library
//! allocates with the public symbols (`realpath`, `getaddrinfo`, …) is freed with the public `free`.

use core::alloc::{GlobalAlloc, Layout};
use core::ffi::c_void;

/// glibc's own functions.
struct Glibc {
    malloc: unsafe extern "C" fn(usize) -> *mut c_void,
    calloc: unsafe extern "C" fn(usize, usize) -> *mut c_void,
    realloc: unsafe extern "C" fn(*mut c_void, usize) -> *mut c_void,
    memalign: unsafe extern "C" fn(usize, usize) -> *mut c_void,
    free: unsafe extern "C" fn(*mut c_void),
}

/// Resolved on the first allocation. `OnceLock` allocates nothing; `dlopen` and `dlsym` may call the
/// public `malloc` (the preloaded one), never this allocator, so there is no recursion.
static GLIBC: std::sync::OnceLock<Glibc> = std::sync::OnceLock::new();

fn glibc() -> &'static Glibc {
    GLIBC.get_or_init(|| {
        // SAFETY: dlopen/dlsym with NUL-terminated names; RTLD_NOLOAD only returns the already loaded
        // glibc (the process is linked against it). A symbol is used only if found, and with the
        // prototype glibc gives it.
        unsafe {
            let h = libc::dlopen(c"libc.so.6".as_ptr(), libc::RTLD_NOW | libc::RTLD_NOLOAD);
            let sym = |name: &core::ffi::CStr| {
                if h.is_null() {
                    core::ptr::null_mut()
                } else {
                    libc::dlsym(h, name.as_ptr())
                }
            };
            let (m, c, r, a, f) = (
                sym(c"malloc"),
                sym(c"calloc"),
                sym(c"realloc"),
                sym(c"memalign"),
                sym(c"free"),
            );
            if [m, c, r, a, f].iter().any(|p| p.is_null()) {
                // Not glibc (or no handle): the public symbols, whatever serves them.
                return Glibc {
                    malloc: libc::malloc,
                    calloc: libc::calloc,
                    realloc: libc::realloc,
                    memalign: libc::memalign,
                    free: libc::free,
                };
            }
            Glibc {
                malloc: core::mem::transmute::<
                    *mut c_void,
                    unsafe extern "C" fn(usize) -> *mut c_void,
                >(m),
                calloc: core::mem::transmute::<
                    *mut c_void,
                    unsafe extern "C" fn(usize, usize) -> *mut c_void,
                >(c),
                realloc: core::mem::transmute::<
                    *mut c_void,
                    unsafe extern "C" fn(*mut c_void, usize) -> *mut c_void,
                >(r),
                memalign: core::mem::transmute::<
                    *mut c_void,
                    unsafe extern "C" fn(usize, usize) -> *mut c_void,
                >(a),
                free: core::mem::transmute::<*mut c_void, unsafe extern "C" fn(*mut c_void)>(f),
            }
        }
    })
}

/// The alignment glibc's `malloc` guarantees on 64-bit targets.
const MIN_ALIGN: usize = 16;

/// glibc's allocator under its internal names, whatever is preloaded (the `hakmem` binary's
/// `#[global_allocator]`).
pub struct GlibcHarness;

/// Whether plain `malloc` of `l.size()` bytes is aligned enough for `l` (as std's `System` decides).
fn plain(l: Layout) -> bool {
    l.align() <= MIN_ALIGN && l.align() <= l.size()
}

// SAFETY: every pointer returned comes from glibc's allocator with at least `layout`'s size and
// alignment (memalign for the alignments malloc does not guarantee) and is freed or resized only by
// glibc's allocator.
unsafe impl GlobalAlloc for GlibcHarness {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        // SAFETY: plain C calls; a power-of-two alignment (Layout guarantees it).
        unsafe {
            if plain(l) {
                (glibc().malloc)(l.size()).cast()
            } else {
                (glibc().memalign)(l.align(), l.size()).cast()
            }
        }
    }

    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        if plain(l) {
            // SAFETY: plain C call.
            return unsafe { (glibc().calloc)(l.size(), 1).cast() };
        }
        // SAFETY: forwarded layout; on success the block has `l.size()` writable bytes.
        unsafe {
            let p = self.alloc(l);
            if !p.is_null() {
                core::ptr::write_bytes(p, 0, l.size());
            }
            p
        }
    }

    unsafe fn dealloc(&self, p: *mut u8, _l: Layout) {
        // SAFETY: `p` came from this allocator (GlobalAlloc's contract), i.e. from glibc.
        unsafe { (glibc().free)(p.cast()) }
    }

    unsafe fn realloc(&self, p: *mut u8, l: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `p` is a live block of this allocator with layout `l` (GlobalAlloc's contract).
        unsafe {
            if l.align() <= MIN_ALIGN && l.align() <= new_size {
                return (glibc().realloc)(p.cast(), new_size).cast();
            }
            let n = Layout::from_size_align_unchecked(new_size, l.align());
            let q = self.alloc(n);
            if !q.is_null() {
                core::ptr::copy_nonoverlapping(p, q, l.size().min(new_size));
                self.dealloc(p, l);
            }
            q
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_of_every_alignment_are_aligned_zeroed_and_keep_their_contents() {
        let a = GlibcHarness;
        for align in [1, 8, 16, 32, 64, 4096] {
            for size in [1, 24, 100, 5000] {
                let l = Layout::from_size_align(size, align).unwrap();
                // SAFETY: a non-zero-size layout; the block is used within its size and freed once.
                unsafe {
                    let p = a.alloc_zeroed(l);
                    assert!(
                        !p.is_null() && (p as usize).is_multiple_of(align),
                        "{size} {align}"
                    );
                    assert!((0..size).all(|i| *p.add(i) == 0));
                    core::ptr::write_bytes(p, 0xab, size);
                    let q = a.realloc(p, l, size * 3);
                    assert!(
                        !q.is_null() && (q as usize).is_multiple_of(align),
                        "{size} {align}"
                    );
                    assert!((0..size).all(|i| *q.add(i) == 0xab));
                    a.dealloc(q, Layout::from_size_align(size * 3, align).unwrap());
                }
            }
        }
    }
}
