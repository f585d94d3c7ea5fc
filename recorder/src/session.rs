//! The process-wide recording session: one trace file per process, started lazily by the first hooked call,
//! started anew in a forked child, ended by the library destructor or an `exec`.
//!
//! Entry points: [`ensure_started`] (slow path of the first call), [`trace`], [`on_fork_child`],
//! [`end`].
//!
//! Invariants: `STATE` goes `UNINIT → STARTING → RECORDING | OFF` once per process image (a forked child goes
//! back through `STARTING` inside the `atfork` child handler, while it is single-threaded). `SESSION` is
//! written only while `STATE == STARTING` by the one thread that won the transition, and read only when
//! `STATE == RECORDING`. All buffers are static: nothing here allocates.

use crate::knobs::{Knobs, DIR_MAX};
use crate::os::{self, TraceFile};
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicI32, AtomicU8, Ordering};
use traces::raw::writer::SharedTrace;
use traces::raw::{EndState, HeaderRef};

/// Not started yet.
const UNINIT: u8 = 0;
/// One thread is starting the session.
const STARTING: u8 = 1;
/// Recording.
pub const RECORDING: u8 = 2;
/// Off (knob, or the trace could not be created): every call passes through.
const OFF: u8 = 3;

/// Session state, see the module invariants.
pub static STATE: AtomicU8 = AtomicU8::new(UNINIT);

/// Most of the command line kept in the header.
const ARGV_MAX: usize = 64 << 10;
/// Environment read buffer for the knobs.
const ENV_MAX: usize = 256 << 10;

struct Session {
    knobs: Knobs,
    file: Option<TraceFile>,
    trace: Option<SharedTrace>,
    tsc_hz: u64,
    pid: u32,
    path: [u8; DIR_MAX + 256],
    exe: [u8; 4096],
    argv: [u8; ARGV_MAX],
    env: [u8; ENV_MAX],
}

struct SessionCell(UnsafeCell<Session>);
// SAFETY: access is serialised by `STATE` (module invariants).
unsafe impl Sync for SessionCell {}

static SESSION: SessionCell = SessionCell(UnsafeCell::new(Session {
    knobs: Knobs::DEFAULT,
    file: None,
    trace: None,
    tsc_hz: 0,
    pid: 0,
    path: [0; DIR_MAX + 256],
    exe: [0; 4096],
    argv: [0; ARGV_MAX],
    env: [0; ENV_MAX],
}));

/// True when recording is off for good in this process image (knob, or no trace file).
#[inline(always)]
pub fn is_off() -> bool {
    STATE.load(Ordering::Relaxed) == OFF
}

/// The trace being written, when recording.
#[inline]
pub fn trace() -> Option<&'static SharedTrace> {
    if STATE.load(Ordering::Acquire) != RECORDING {
        return None;
    }
    // SAFETY: RECORDING is set after SESSION was written and SESSION is not written again until a fork
    // child (single-threaded) restarts it.
    unsafe { (*SESSION.0.get()).trace.as_ref() }
}

/// The descriptor growth uses: the trace file's own, or a new one opened by path if the program closed
/// ours (checked by device and inode, so a number the program reused for its own file is never touched).
/// Called under the trace's growth flag only, so calls are serialised.
static FD: AtomicI32 = AtomicI32::new(-1);

fn live_fd() -> Option<(TraceFile, libc::c_int)> {
    // SAFETY: as in `trace`; `file` is `Copy` and `path` is not written while recording.
    let s = unsafe { &*SESSION.0.get() };
    let f = s.file?;
    let fd = FD.load(Ordering::Relaxed);
    if f.is_ours(fd) {
        return Some((f, fd));
    }
    let path = core::ffi::CStr::from_bytes_until_nul(&s.path).ok()?;
    // SAFETY: NUL-terminated path, valid flags.
    let nfd = unsafe { libc::open(path.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
    if f.is_ours(nfd) {
        FD.store(nfd, Ordering::Relaxed);
        return Some((f, nfd));
    }
    if nfd >= 0 {
        // SAFETY: the descriptor we just opened.
        unsafe { libc::close(nfd) };
    }
    None
}

/// Grows the current trace file (blocks preallocated).
pub fn grow(len: u64) -> bool {
    live_fd().is_some_and(|(f, fd)| f.grow(fd, len))
}

/// Shrinks the current trace file.
fn truncate(len: u64) -> bool {
    live_fd().is_some_and(|(f, fd)| f.set_len(fd, len))
}

/// Starts the session if nobody has; waits while another thread starts it. Returns whether recording.
#[cold]
#[inline(never)]
pub fn ensure_started() -> bool {
    match STATE.load(Ordering::Acquire) {
        RECORDING => return true,
        OFF => return false,
        _ => {}
    }
    match STATE.compare_exchange(UNINIT, STARTING, Ordering::AcqRel, Ordering::Acquire) {
        Ok(_) => {
            // SAFETY: we won UNINIT → STARTING: nobody else touches SESSION now.
            let s = unsafe { &mut *SESSION.0.get() };
            s.knobs.load(&mut s.env);
            let ok = !s.knobs.off && {
                s.tsc_hz = os::calibrate_tsc_hz(200_000);
                open_trace(s, 0)
            };
            if ok {
                // SAFETY: registering plain function pointers; the key is created once per image.
                unsafe {
                    libc::pthread_atfork(None, None, Some(on_fork_child));
                }
                crate::thread::create_exit_key();
            }
            STATE.store(if ok { RECORDING } else { OFF }, Ordering::Release);
            ok
        }
        Err(_) => loop {
            match STATE.load(Ordering::Acquire) {
                STARTING => core::hint::spin_loop(),
                s => return s == RECORDING,
            }
        },
    }
}

/// Appends `src` to `dst` at `*n` (truncating at the end of `dst`).
fn put(dst: &mut [u8], n: &mut usize, src: &[u8]) {
    let k = src.len().min(dst.len().saturating_sub(*n));
    dst[*n..*n + k].copy_from_slice(&src[..k]);
    *n += k;
}

fn put_u32(dst: &mut [u8], n: &mut usize, mut v: u32) {
    let mut digits = [0u8; 10];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    put(dst, n, &digits[i..]);
}

/// Creates this process's trace file `DIR/PROG.PID[.N].hkraw` and writes its header.
fn open_trace(s: &mut Session, forked_from: u32) -> bool {
    let (tsc0, mono0) = os::clock_pair();
    // SAFETY: plain getters.
    let (pid, ppid) = unsafe { (libc::getpid() as u32, libc::getppid() as u32) };
    let exe_len = os::readlink(c"/proc/self/exe", &mut s.exe);
    let argv_len = os::read_file(c"/proc/self/cmdline", &mut s.argv);
    let argv_truncated = argv_len == s.argv.len();
    // Program name: the executable's base name, made file-name safe and short.
    let exe = &s.exe[..exe_len];
    let base = exe.rsplit(|&c| c == b'/').next().unwrap_or(b"");
    let mut name = [0u8; 64];
    let mut name_len = 0;
    for &c in base.iter().take(name.len()) {
        name[name_len] = if c.is_ascii_alphanumeric() || c == b'.' || c == b'-' || c == b'_' {
            c
        } else {
            b'_'
        };
        name_len += 1;
    }
    if name_len == 0 {
        put(&mut name, &mut name_len, b"process");
    }
    let mut file = None;
    for attempt in 0..100u32 {
        let p = &mut s.path;
        let mut n = 0;
        if s.knobs.dir_len > 0 {
            put(p, &mut n, &s.knobs.dir[..s.knobs.dir_len]);
        } else {
            put(p, &mut n, b".");
        }
        put(p, &mut n, b"/");
        put(p, &mut n, &name[..name_len]);
        put(p, &mut n, b".");
        put_u32(p, &mut n, pid);
        if attempt > 0 {
            put(p, &mut n, b".");
            put_u32(p, &mut n, attempt);
        }
        put(p, &mut n, b".hkraw\0");
        let Ok(cpath) = core::ffi::CStr::from_bytes_until_nul(&p[..n]) else {
            return false;
        };
        if let Some(f) = TraceFile::create(cpath, s.knobs.window, s.knobs.mode) {
            file = Some(f);
            break;
        }
        // SAFETY: reading errno.
        if unsafe { *libc::__errno_location() } != libc::EEXIST {
            break;
        }
    }
    let Some(f) = file else {
        warn_cannot_create(&s.path);
        return false;
    };
    // SAFETY: plain getter.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as usize;
    let header = HeaderRef {
        pid,
        ppid,
        executable: exe,
        argv_nul: &s.argv[..argv_len],
        argv_truncated,
        start_tsc: tsc0,
        start_mono_ns: mono0,
        start_unix_ns: os::unix_ns(),
        tsc_hz: s.tsc_hz,
        page_size: page as u32,
        forked_from,
    };
    // SAFETY: `f` is a fresh shared mapping of a new empty file, owned by the session from now on.
    match unsafe {
        SharedTrace::init(f.base, f.window, &header, s.knobs.chunk_size, page, |n| {
            f.grow(f.fd, n)
        })
    } {
        Ok(t) => {
            FD.store(f.fd, Ordering::Relaxed);
            s.trace = Some(t);
            s.file = Some(f);
            s.pid = pid;
            true
        }
        Err(_) => {
            f.release(f.fd);
            false
        }
    }
}

/// One line on stderr (no allocation, no formatting machinery) when the trace file cannot be created:
/// the program then runs unrecorded.
fn warn_cannot_create(path: &[u8]) {
    let n = path.iter().position(|&c| c == 0).unwrap_or(path.len());
    let parts: [&[u8]; 3] = [
        b"hakmem recorder: cannot create ",
        &path[..n],
        b"; this process is not recorded (is HAKMEM_RECORD_DIR a writable directory?)\n",
    ];
    for p in parts {
        // SAFETY: writing a valid buffer to fd 2; a failure is ignored.
        unsafe { libc::write(2, p.as_ptr().cast(), p.len()) };
    }
}

/// `pthread_atfork` child handler: the child (single-threaded now) lets go of the parent's trace and
/// starts its own file; the forking thread's state is reset so its next call claims a chunk there.
extern "C" fn on_fork_child() {
    if STATE.load(Ordering::Acquire) != RECORDING {
        return;
    }
    STATE.store(STARTING, Ordering::Release);
    // SAFETY: the child has one thread, and STATE is STARTING: SESSION is ours.
    let s = unsafe { &mut *SESSION.0.get() };
    let parent = s.pid;
    s.trace = None;
    if let Some(f) = s.file.take() {
        f.release(FD.load(Ordering::Relaxed));
    }
    let ok = open_trace(s, parent);
    crate::thread::reset_after_fork();
    STATE.store(if ok { RECORDING } else { OFF }, Ordering::Release);
}

/// True when the caller is the process that owns the current trace: false in the child of a `vfork`
/// (which shares our memory until it execs or exits, and must not end the parent's trace). A syscall:
/// for the exec and exit paths only.
pub fn is_owner() -> bool {
    // SAFETY: `pid` is written before RECORDING is published (and in a fork child before it runs on).
    let pid = unsafe { (*SESSION.0.get()).pid };
    // SAFETY: plain getter.
    trace().is_some() && pid == unsafe { libc::getpid() } as u32
}

/// Writes the end slot (the footer) with a final clock pair; on a clean exit also trims the file to what
/// was claimed.
pub fn end(state: EndState) {
    let Some(t) = trace() else { return };
    let (tsc, ns) = os::clock_pair();
    t.write_end(state, tsc, ns);
    if state == EndState::Exit {
        t.trim(truncate);
    }
}

/// Library destructor: the process is exiting normally.
extern "C" fn on_exit() {
    end(EndState::Exit);
}

#[used]
#[link_section = ".fini_array"]
static FINI: extern "C" fn() = on_exit;
