//! Every interposed symbol, in one list ([`HOOKED`] is generated from it).
//!
//! Order rule: a free is recorded *before* the real free and an allocation *after* the real call returns,
//! so that, for any one address, the order of the log is the happens-before order across threads.
//! The real allocator is reached through glibc's `__libc_*` entry points (see [`crate::real`]).
//! `free_sized` / `free_aligned_sized` (C23) are exported even though this glibc (2.36) lacks them: a
//! program that finds them (via `dlsym`, or built against a newer C library) is recorded and served by
//! the real `free`.

use crate::real;
use crate::thread::record;
use core::ffi::{c_char, c_int, c_void};
use traces::event::Op;

/// Declares the hooks: each becomes an exported `extern "C"` function (not in unit tests, so that a test
/// binary keeps its own malloc), and its name goes into [`HOOKED`].
macro_rules! hooks {
    ($( $(#[doc = $doc:literal])* fn $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty $body:block )*) => {
        $(
            $(#[doc = $doc])*
            ///
            /// # Safety
            /// The contract of the C library function of the same name.
            #[cfg_attr(not(test), no_mangle)]
            #[allow(non_snake_case)]
            pub unsafe extern "C" fn $name($($arg: $ty),*) -> $ret $body
        )*
        /// The C names of every hooked symbol.
        pub const HOOKED: &[&str] = &[$(stringify!($name)),*];
    };
}

hooks! {
    /// `malloc`: recorded after the real call.
    fn malloc(size: usize) -> *mut c_void {
        // SAFETY: forwarding the caller's arguments to the real allocator.
        let p = unsafe { real::__libc_malloc(size) };
        record(Op::Malloc { size: size as u64, ptr: p as u64 });
        p
    }

    /// `free`: recorded before the real call.
    fn free(ptr: *mut c_void) -> () {
        record(Op::Free { ptr: ptr as u64 });
        // SAFETY: forwarding the caller's pointer.
        unsafe { real::__libc_free(ptr) }
    }

    /// `calloc`.
    fn calloc(nmemb: usize, size: usize) -> *mut c_void {
        // SAFETY: forwarding.
        let p = unsafe { real::__libc_calloc(nmemb, size) };
        record(Op::Calloc { nmemb: nmemb as u64, size: size as u64, ptr: p as u64 });
        p
    }

    /// `realloc`: one event after the real call (a moved block's old address may be logged as reused by
    /// another thread first; compile repairs and counts such inversions).
    fn realloc(old: *mut c_void, size: usize) -> *mut c_void {
        // SAFETY: forwarding.
        let p = unsafe { real::__libc_realloc(old, size) };
        record(Op::Realloc { old: old as u64, size: size as u64, new: p as u64 });
        p
    }

    /// `reallocarray`: overflow-checked realloc (glibc's own is a private symbol).
    fn reallocarray(old: *mut c_void, nmemb: usize, size: usize) -> *mut c_void {
        let p = match nmemb.checked_mul(size) {
            // SAFETY: forwarding.
            Some(total) => unsafe { real::__libc_realloc(old, total) },
            None => {
                // SAFETY: writing this thread's errno.
                unsafe { *libc::__errno_location() = libc::ENOMEM };
                core::ptr::null_mut()
            }
        };
        record(Op::ReallocArray { old: old as u64, nmemb: nmemb as u64, size: size as u64, new: p as u64 });
        p
    }

    /// `posix_memalign`: validated like glibc's, served by the real memalign.
    fn posix_memalign(memptr: *mut *mut c_void, align: usize, size: usize) -> c_int {
        let word = core::mem::size_of::<usize>();
        let ret = if align & (word - 1) != 0 || !(align / word).is_power_of_two() {
            libc::EINVAL
        } else {
            // SAFETY: forwarding a valid alignment.
            let p = unsafe { real::__libc_memalign(align, size) };
            if p.is_null() {
                libc::ENOMEM
            } else {
                // SAFETY: the caller's out-pointer (posix_memalign's contract).
                unsafe { *memptr = p };
                0
            }
        };
        // SAFETY: read back what we stored (only on success).
        let ptr = if ret == 0 { (unsafe { *memptr }) as u64 } else { 0 };
        record(Op::PosixMemalign { align: align as u64, size: size as u64, ptr, ret: ret as u32 });
        ret
    }

    /// `aligned_alloc` (glibc's is memalign).
    fn aligned_alloc(align: usize, size: usize) -> *mut c_void {
        // SAFETY: forwarding.
        let p = unsafe { real::__libc_memalign(align, size) };
        record(Op::AlignedAlloc { align: align as u64, size: size as u64, ptr: p as u64 });
        p
    }

    /// `memalign`.
    fn memalign(align: usize, size: usize) -> *mut c_void {
        // SAFETY: forwarding.
        let p = unsafe { real::__libc_memalign(align, size) };
        record(Op::Memalign { align: align as u64, size: size as u64, ptr: p as u64 });
        p
    }

    /// `valloc`.
    fn valloc(size: usize) -> *mut c_void {
        // SAFETY: forwarding.
        let p = unsafe { real::__libc_valloc(size) };
        record(Op::Valloc { size: size as u64, ptr: p as u64 });
        p
    }

    /// `pvalloc`.
    fn pvalloc(size: usize) -> *mut c_void {
        // SAFETY: forwarding.
        let p = unsafe { real::__libc_pvalloc(size) };
        record(Op::Pvalloc { size: size as u64, ptr: p as u64 });
        p
    }

    /// `free_sized` (C23): recorded, then the real free.
    fn free_sized(ptr: *mut c_void, size: usize) -> () {
        record(Op::FreeSized { ptr: ptr as u64, size: size as u64 });
        // SAFETY: forwarding.
        unsafe { real::__libc_free(ptr) }
    }

    /// `free_aligned_sized` (C23): recorded, then the real free.
    fn free_aligned_sized(ptr: *mut c_void, align: usize, size: usize) -> () {
        record(Op::FreeAlignedSized { ptr: ptr as u64, align: align as u64, size: size as u64 });
        // SAFETY: forwarding.
        unsafe { real::__libc_free(ptr) }
    }

    /// `malloc_usable_size`: passed through, not recorded.
    fn malloc_usable_size(ptr: *mut c_void) -> usize {
        match real::MALLOC_USABLE_SIZE.get() {
            0 => 0,
            // SAFETY: the C library's definition of this very function; forwarding.
            f => unsafe { core::mem::transmute::<usize, real::UsableFn>(f)(ptr) },
        }
    }

    /// `fork`: the parent records a `Fork` marker with the child's pid; the child starts its own trace
    /// (the `pthread_atfork` child handler, see [`crate::session`]).
    fn fork() -> libc::pid_t {
        // The child handler is registered when the session starts: start it now if no call has yet.
        crate::session::ensure_started();
        let f = real::FORK.get();
        if f == 0 {
            // SAFETY: errno of this thread.
            unsafe { *libc::__errno_location() = libc::ENOSYS };
            return -1;
        }
        // SAFETY: the C library's fork.
        let pid = unsafe { core::mem::transmute::<usize, real::ForkFn>(f)() };
        if pid > 0 {
            record(Op::Fork { child_pid: pid as u32 });
        }
        pid
    }

    /// `_exit`: the process ends without running destructors, so the end slot is written here.
    fn _exit(status: c_int) -> ! {
        exit_now(&real::EXIT, status)
    }

    /// `_Exit`, as `_exit`.
    fn _Exit(status: c_int) -> ! {
        exit_now(&real::EXIT_UPPER, status)
    }

    /// `execve`: records `Exec` and closes the trace as ended by exec; the new image, which keeps
    /// `LD_PRELOAD` through its environment, records into a new file. If exec fails, recording goes on.
    fn execve(path: *const c_char, argv: *const *const c_char, envp: *const *const c_char) -> c_int {
        let f = exec_begin(&real::EXECVE);
        // SAFETY: the C library's execve with the caller's arguments.
        let r = unsafe { core::mem::transmute::<usize, real::ExecEnvFn>(f)(path, argv, envp) };
        exec_failed();
        r
    }

    /// `execv`, as `execve`.
    fn execv(path: *const c_char, argv: *const *const c_char) -> c_int {
        let f = exec_begin(&real::EXECV);
        // SAFETY: the C library's execv with the caller's arguments.
        let r = unsafe { core::mem::transmute::<usize, real::ExecFn>(f)(path, argv) };
        exec_failed();
        r
    }

    /// `execvp`, as `execve`.
    fn execvp(file: *const c_char, argv: *const *const c_char) -> c_int {
        let f = exec_begin(&real::EXECVP);
        // SAFETY: the C library's execvp with the caller's arguments.
        let r = unsafe { core::mem::transmute::<usize, real::ExecFn>(f)(file, argv) };
        exec_failed();
        r
    }

    /// `execvpe`, as `execve`.
    fn execvpe(file: *const c_char, argv: *const *const c_char, envp: *const *const c_char) -> c_int {
        let f = exec_begin(&real::EXECVPE);
        // SAFETY: the C library's execvpe with the caller's arguments.
        let r = unsafe { core::mem::transmute::<usize, real::ExecEnvFn>(f)(file, argv, envp) };
        exec_failed();
        r
    }
}

/// Resolves the real exec function (before the marker, since `dlsym` may allocate), then records the
/// `Exec` marker and the end slot. Aborts the process if the C library has no such function, as calling
/// a null pointer would.
fn exec_begin(next: &real::Next) -> usize {
    let f = next.get();
    if f == 0 {
        // SAFETY: abort has no preconditions.
        unsafe { libc::abort() }
    }
    // A vfork child shares the parent's memory and trace: the exec is not the parent's.
    if crate::session::is_owner() {
        record(Op::Exec);
        crate::session::end(traces::raw::EndState::Exec);
    }
    f
}

/// Writes the end slot, then ends the process through the C library (or the raw syscall).
fn exit_now(next: &real::Next, status: c_int) -> ! {
    if crate::session::is_owner() {
        crate::session::end(traces::raw::EndState::Exit);
    }
    let f = next.get();
    if f != 0 {
        // SAFETY: the C library's `_exit`/`_Exit`, which does not return.
        unsafe { core::mem::transmute::<usize, real::ExitFn>(f)(status) }
    }
    // SAFETY: exit_group ends every thread of the process; it does not return.
    unsafe {
        libc::syscall(libc::SYS_exit_group, status);
        libc::abort()
    }
}

/// Exec returned: it failed, and this image goes on recording into the same file.
fn exec_failed() {
    if let Some(t) = crate::session::trace().filter(|_| crate::session::is_owner()) {
        t.write_end(traces::raw::EndState::None, 0, 0);
    }
}
