//! Per-thread recording state and the hot path.
//!
//! Entry point: [`record`], called by every hook with the event and its TSC stamp.
//!
//! Hot path cost: one thread-local address lookup (`__tls_get_addr` in a cdylib), two relaxed byte stores
//! and one load for the guard, the encode and 1–7 plain stores into the thread's own chunk. No atomics
//! with a `lock` prefix, no calls, no allocation, no shared cache line written.
//!
//! Reentrancy: `busy` is set around the write. A call that finds it set — a signal handler that allocates
//! while this thread was writing, or an allocation made by the slow path itself — is parked in `pending`
//! (up to [`PENDING_CAP`] events) and written by the interrupted call right after its own event, so it is
//! neither lost nor interleaved into a half-written record.
//!
//! Thread exit: a `pthread_key_create` destructor records `ThreadExit`. It re-arms itself for the first
//! three destructor rounds so that it runs after other keys' destructors (which may still allocate).
//! The thread-local is `const`-initialised and has no `Drop`, so it is never torn down and registers no
//! destructor through `__cxa_thread_atexit_impl` (which would call `calloc` from inside `malloc`).

use crate::os;
use crate::session;
use core::cell::UnsafeCell;
use core::sync::atomic::{compiler_fence, AtomicBool, AtomicU32, AtomicU8, Ordering};
use traces::event::Op;
use traces::raw::writer::ChunkCursor;

/// Events a thread can park while it is busy writing.
pub const PENDING_CAP: usize = 16;

struct State {
    cursor: ChunkCursor,
    busy: AtomicBool,
    pending_len: AtomicU8,
    exit_rounds: u8,
    started: bool,
    tid: u32,
    serial: u32,
    seq: u32,
    pending: [(u64, Op); PENDING_CAP],
}

thread_local! {
    static STATE: UnsafeCell<State> = const {
        UnsafeCell::new(State {
            cursor: ChunkCursor::EMPTY,
            busy: AtomicBool::new(false),
            pending_len: AtomicU8::new(0),
            exit_rounds: 0,
            started: false,
            tid: 0,
            serial: 0,
            seq: 0,
            pending: [(0, Op::ThreadStart); PENDING_CAP],
        })
    };
}

/// This thread's state. Valid for the whole life of the thread (no destructor).
#[inline(always)]
fn state() -> *mut State {
    STATE.with(|s| s.get())
}

/// Records `op` for the calling thread, stamped with the TSC now. When recording is off (knob, or the
/// trace could not be created) this is one load of a read-only global and a branch.
#[inline(always)]
pub fn record(op: Op) {
    if session::is_off() {
        return;
    }
    let tsc = os::rdtsc();
    let t = state();
    // SAFETY: `t` is this thread's state; only this thread and its signal handlers touch it, and `busy`
    // (read and written with compiler fences, which order against a handler on the same thread) keeps
    // them from writing the cursor at the same time.
    unsafe {
        if (*t).busy.load(Ordering::Relaxed) {
            park(t, tsc, op);
            return;
        }
        (*t).busy.store(true, Ordering::Relaxed);
        compiler_fence(Ordering::SeqCst);
        if !(*t).cursor.push(tsc, &op) {
            slow(t, tsc, op);
        }
        compiler_fence(Ordering::SeqCst);
        (*t).busy.store(false, Ordering::Relaxed);
        compiler_fence(Ordering::SeqCst);
        if (*t).pending_len.load(Ordering::Relaxed) != 0 {
            flush(t);
        }
    }
}

/// Parks an event of a nested call.
///
/// # Safety
/// `t` is the calling thread's state and `busy` is set (an outer call of this thread is writing).
#[cold]
#[inline(never)]
unsafe fn park(t: *mut State, tsc: u64, op: Op) {
    // SAFETY: a nested call runs to completion before the interrupted one resumes, so the load/store pair
    // below is not interleaved with another park on this thread.
    unsafe {
        let n = (*t).pending_len.load(Ordering::Relaxed) as usize;
        if n < PENDING_CAP {
            (*t).pending[n] = (tsc, op);
            compiler_fence(Ordering::SeqCst);
            (*t).pending_len.store(n as u8 + 1, Ordering::Relaxed);
        } else if let Some(tr) = session::trace() {
            tr.add_dropped(1);
        }
    }
}

/// Writes parked events, in order, after the interrupted call's own event.
///
/// # Safety
/// `t` is the calling thread's state and `busy` is clear.
#[cold]
#[inline(never)]
unsafe fn flush(t: *mut State) {
    // SAFETY: as in `record`; events parked while we flush land after index `i` and are picked up
    // because `pending_len` is only reset by a compare-exchange from the length we have consumed.
    unsafe {
        (*t).busy.store(true, Ordering::Relaxed);
        compiler_fence(Ordering::SeqCst);
        let mut i = 0;
        loop {
            let n = (*t).pending_len.load(Ordering::Relaxed) as usize;
            if i >= n {
                if (*t)
                    .pending_len
                    .compare_exchange(n as u8, 0, Ordering::Relaxed, Ordering::Relaxed)
                    .is_ok()
                {
                    break;
                }
                continue;
            }
            let (tsc, op) = (*t).pending[i];
            if !(*t).cursor.push(tsc, &op) {
                slow(t, tsc, op);
            }
            i += 1;
        }
        compiler_fence(Ordering::SeqCst);
        (*t).busy.store(false, Ordering::Relaxed);
    }
}

/// The slow path: the thread has no chunk yet or its chunk is full. Starts the session if needed, gives
/// a new thread its serial and `ThreadStart`, claims a chunk (growing the file if needed) and writes.
///
/// # Safety
/// `t` is the calling thread's state and `busy` is set.
#[cold]
#[inline(never)]
unsafe fn slow(t: *mut State, tsc: u64, op: Op) {
    if session::STATE.load(Ordering::Acquire) != session::RECORDING && !session::ensure_started() {
        return;
    }
    let (ctsc, cns) = os::clock_pair();
    let Some(tr) = session::trace() else { return };
    // SAFETY: caller contract; the cursor is written only here and in `record`/`flush`, all under `busy`.
    unsafe {
        let first = !(*t).started;
        if first {
            (*t).started = true;
            (*t).tid = os::gettid();
            (*t).serial = tr.next_thread_serial();
            arm_exit_key();
        }
        // The finished chunk leaves the resident set (its data stays in the page cache and the file).
        tr.release_chunk(&(*t).cursor);
        match tr.claim_chunk((*t).tid, (*t).serial, (*t).seq, ctsc, cns, session::grow) {
            Some(c) => {
                (*t).cursor = c;
                (*t).seq += 1;
                let ok = (!first || (*t).cursor.push(tsc, &Op::ThreadStart))
                    && (*t).cursor.push(tsc, &op);
                if !ok {
                    tr.add_dropped(1);
                }
            }
            None => tr.add_dropped(1),
        }
    }
}

/// Key whose destructor records `ThreadExit`.
static EXIT_KEY: AtomicU32 = AtomicU32::new(u32::MAX);

/// Creates the thread-exit key (once per process image, when the session starts).
pub fn create_exit_key() {
    let mut key: libc::pthread_key_t = 0;
    // SAFETY: valid out-pointer and destructor.
    if unsafe { libc::pthread_key_create(&mut key, Some(on_thread_exit)) } == 0 {
        EXIT_KEY.store(key, Ordering::Release);
    }
}

fn arm_exit_key() {
    let key = EXIT_KEY.load(Ordering::Acquire);
    if key != u32::MAX {
        // SAFETY: a key we created; the value only needs to be non-null.
        unsafe { libc::pthread_setspecific(key, core::ptr::dangling::<libc::c_void>()) };
    }
}

/// Thread-exit destructor, see the module docs.
extern "C" fn on_thread_exit(_: *mut libc::c_void) {
    let t = state();
    // SAFETY: the calling thread's own state, which outlives its key destructors.
    unsafe {
        if (*t).exit_rounds < 3 {
            (*t).exit_rounds += 1;
            arm_exit_key();
            return;
        }
    }
    record(Op::ThreadExit);
}

/// In a forked child: the forking thread starts over in the child's new file.
pub fn reset_after_fork() {
    let t = state();
    // SAFETY: the child is single-threaded; this is its only thread's state.
    unsafe {
        (*t).cursor = ChunkCursor::EMPTY;
        (*t).started = false;
        (*t).seq = 0;
        (*t).exit_rounds = 0;
        (*t).pending_len.store(0, Ordering::Relaxed);
        (*t).busy.store(false, Ordering::Relaxed);
    }
}
