//! The Idle Release box: a background thread that runs the Release Guard's tick while memory waits to be
//! returned, so a program that frees memory and then goes idle (sleeps, waits for input) gives it back —
//! without it, FREE SuperSlabs, free Large ranges and empty Mid chunks were released only by later
//! slow-path activity that an idle program never has.
//!
//! Entrance: [`request`], called on slow paths that leave something waiting (a SuperSlab went FREE, a Large
//! block was kept for reuse, a Mid chunk emptied), never with an allocator lock held, because starting the
//! thread calls `pthread_create`, which allocates.
//!
//! The choice, and its knob: only `libhakmem.so` starts the thread ([`allow`], from its constructor), never
//! in-process use (the replayer, a Rust global allocator), so benchmarks are not perturbed; by default only
//! once the program runs threads of its own (glibc's `__libc_single_threaded` is 0): the first thread a
//! process creates switches glibc out of its single-threaded mode for good — every stdio call then takes
//! its lock — and a release thread of ours did that to single-threaded programs (wordfreq, `getc` per
//! byte: 2.21 G instructions against 1.68 G without the thread, callgrind), so a single-threaded program
//! releases on slow paths only unless `HAKMEM_IDLE_RELEASE=2`; and only while
//! something waits: the thread ticks every release delay (`HAKMEM_RELEASE_DELAY_MS`, at least 10 ms) and
//! exits after two ticks with nothing left, so a program that counts its threads sees it only around a
//! release, and one whose `main` calls `pthread_exit` is not kept alive. `HAKMEM_IDLE_RELEASE=0` turns it
//! off. After `fork` the child has no such thread; [`fork_child`] lets it start one again.
//!
//! Invariant: at most one release thread exists (`RUNNING` is set by whoever starts it and cleared by the
//! thread as its last act).

use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering};

use crate::{config, large, mid, release_guard, shared_pool};

static ALLOWED: AtomicBool = AtomicBool::new(false);
/// glibc's `__libc_single_threaded` (null where the C library has none: then the program is taken as
/// single-threaded).
static SINGLE_THREADED: AtomicPtr<u8> = AtomicPtr::new(core::ptr::null_mut());
static RUNNING: AtomicBool = AtomicBool::new(false);
/// Release threads started.
pub static STARTED: AtomicU64 = AtomicU64::new(0);
/// Ticks run by the release thread.
pub static TICKS: AtomicU64 = AtomicU64::new(0);

/// Lets this process start the release thread (called by `libhakmem.so`'s constructor), with the address
/// of glibc's `__libc_single_threaded` flag (null if the C library has none).
///
/// # Safety
/// `single_threaded` is null or the address of a byte that stays valid for the life of the process.
pub unsafe fn allow(single_threaded: *const u8) {
    SINGLE_THREADED.store(single_threaded as *mut u8, Ordering::Relaxed);
    ALLOWED.store(true, Ordering::Relaxed);
}

/// Whether the program runs threads of its own, as glibc knows it.
fn program_is_threaded() -> bool {
    let p = SINGLE_THREADED.load(Ordering::Relaxed);
    // SAFETY: `allow`'s contract: null or a byte valid for the life of the process; glibc writes it only
    // while creating a thread, and a stale read only delays the release thread to a later request.
    !p.is_null() && unsafe { core::ptr::read_volatile(p) } == 0
}

/// Whether memory waits to be released: FREE SuperSlabs, free Large ranges, empty Mid chunks, abandoned
/// SuperSlabs not purged yet.
fn waiting() -> bool {
    release_guard::waiting() != 0
        || large::retaining()
        || mid::waiting()
        || shared_pool::purge_waiting()
}

/// Something may wait to be released: start the release thread if it is allowed and not running.
///
/// Must not be called with an allocator lock held (starting a thread allocates).
#[inline]
pub fn request() {
    if !ALLOWED.load(Ordering::Relaxed) || RUNNING.load(Ordering::Relaxed) {
        return;
    }
    start();
}

#[cold]
#[inline(never)]
fn start() {
    let mode = config::get().idle_release;
    if mode == 0
        || (mode == 1 && !program_is_threaded())
        || RUNNING
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed)
            .is_err()
    {
        return;
    }
    // SAFETY: plain pthread calls with valid pointers; the attribute object lives across the create.
    let ok = unsafe {
        let mut attr: libc::pthread_attr_t = core::mem::zeroed();
        libc::pthread_attr_init(&mut attr);
        libc::pthread_attr_setstacksize(&mut attr, 64 << 10);
        libc::pthread_attr_setdetachstate(&mut attr, libc::PTHREAD_CREATE_DETACHED);
        let mut t: libc::pthread_t = 0;
        let rc = libc::pthread_create(&mut t, &attr, release_thread, core::ptr::null_mut());
        libc::pthread_attr_destroy(&mut attr);
        rc == 0
    };
    if ok {
        STARTED.fetch_add(1, Ordering::Relaxed);
    } else {
        RUNNING.store(false, Ordering::Release);
    }
}

extern "C" fn release_thread(_: *mut libc::c_void) -> *mut libc::c_void {
    let delay_ms = config::get().release_delay_ms.max(10) as u64;
    let mut idle = 0;
    while idle < 2 {
        let ts = libc::timespec {
            tv_sec: (delay_ms / 1000) as libc::time_t,
            tv_nsec: ((delay_ms % 1000) * 1_000_000) as libc::c_long,
        };
        // SAFETY: valid timespec; an interrupted sleep only ticks early.
        unsafe { libc::nanosleep(&ts, core::ptr::null_mut()) };
        shared_pool::LOCK.lock();
        // SAFETY: lock held.
        unsafe { shared_pool::tick_with_purge_locked(crate::os::now_ns(), 1) };
        shared_pool::LOCK.unlock();
        TICKS.fetch_add(1, Ordering::Relaxed);
        if waiting() {
            idle = 0;
        } else {
            idle += 1;
        }
    }
    RUNNING.store(false, Ordering::Release);
    // Memory that started waiting between the last check and the store above would wait for the next
    // request; look once more.
    if waiting() {
        request();
    }
    core::ptr::null_mut()
}

/// `pthread_atfork` child: the release thread did not survive the fork.
pub fn fork_child() {
    RUNNING.store(false, Ordering::Relaxed);
}
