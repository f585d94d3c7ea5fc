//! The real allocator: glibc's `__libc_*` entry points, which are not interposable, so calling them never
//! recurses into our hooks (no `dlsym` on the allocation path). Symbols glibc has no `__libc_` alias for
//! (`malloc_usable_size`, `fork`, the `exec` family) are looked up once with `dlsym(RTLD_NEXT, …)` outside
//! any allocation hook.

use core::ffi::{c_char, c_int, c_void, CStr};
use core::sync::atomic::{AtomicUsize, Ordering};

extern "C" {
    pub fn __libc_malloc(size: usize) -> *mut c_void;
    pub fn __libc_free(ptr: *mut c_void);
    pub fn __libc_calloc(nmemb: usize, size: usize) -> *mut c_void;
    pub fn __libc_realloc(ptr: *mut c_void, size: usize) -> *mut c_void;
    pub fn __libc_memalign(align: usize, size: usize) -> *mut c_void;
    pub fn __libc_valloc(size: usize) -> *mut c_void;
    pub fn __libc_pvalloc(size: usize) -> *mut c_void;
}

/// A lazily resolved next definition of a symbol.
pub struct Next {
    name: &'static CStr,
    addr: AtomicUsize,
}

impl Next {
    /// A symbol to resolve on first use.
    pub const fn new(name: &'static CStr) -> Next {
        Next {
            name,
            addr: AtomicUsize::new(0),
        }
    }

    /// The address of the next definition (0 if none).
    pub fn get(&self) -> usize {
        let a = self.addr.load(Ordering::Acquire);
        if a != 0 {
            return a;
        }
        // SAFETY: RTLD_NEXT lookup of a NUL-terminated name; allocation inside dlsym reaches our hooks,
        // which handle it like any other call.
        let a = unsafe { libc::dlsym(libc::RTLD_NEXT, self.name.as_ptr()) } as usize;
        self.addr.store(a, Ordering::Release);
        a
    }
}

/// `malloc_usable_size` of the C library.
pub static MALLOC_USABLE_SIZE: Next = Next::new(c"malloc_usable_size");
/// `fork` of the C library.
pub static FORK: Next = Next::new(c"fork");
/// `execve` of the C library.
pub static EXECVE: Next = Next::new(c"execve");
/// `execv` of the C library.
pub static EXECV: Next = Next::new(c"execv");
/// `execvp` of the C library.
pub static EXECVP: Next = Next::new(c"execvp");
/// `execvpe` of the C library.
pub static EXECVPE: Next = Next::new(c"execvpe");

/// `_exit` of the C library.
pub static EXIT: Next = Next::new(c"_exit");
/// `_Exit` of the C library.
pub static EXIT_UPPER: Next = Next::new(c"_Exit");

/// Signature of `_exit` / `_Exit`.
pub type ExitFn = unsafe extern "C" fn(c_int) -> !;
/// Signature of `malloc_usable_size`.
pub type UsableFn = unsafe extern "C" fn(*mut c_void) -> usize;
/// Signature of `fork`.
pub type ForkFn = unsafe extern "C" fn() -> libc::pid_t;
/// Signature of `execve` / `execvpe`.
pub type ExecEnvFn =
    unsafe extern "C" fn(*const c_char, *const *const c_char, *const *const c_char) -> c_int;
/// Signature of `execv` / `execvp`.
pub type ExecFn = unsafe extern "C" fn(*const c_char, *const *const c_char) -> c_int;
