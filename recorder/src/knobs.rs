//! The recorder's environment knobs: one table, one prefix (`HAKMEM_RECORD_`), parsed once at start-up
//! from `/proc/self/environ` (the environment the process was exec'd with) without allocating.
//!
//! Entry point: [`Knobs::load`]. `/proc/self/environ` rather than `getenv`, because the first `malloc`
//! may come from the dynamic loader before libc has set up `environ`.
//!
//! | knob | default | meaning |
//! |---|---|---|
//! | `HAKMEM_RECORD_DIR` | `.` (the working directory at start-up) | directory the traces are written to |
//! | `HAKMEM_RECORD_CHUNK_KB` | `64` | bytes per chunk, in KiB (each thread owns whole chunks, so a thread costs at least one chunk of file; a claim every ~8000 events; 4…1048576) |
//! | `HAKMEM_RECORD_MAX_MB` | `65536` | virtual window mapped per trace, in MiB: the largest trace a process can write (events past it are counted as dropped) |
//! | `HAKMEM_RECORD_OFF` | unset | `1` (any value but `0` or empty): pass every call through, write no trace |
//! | `HAKMEM_RECORD_MODE` | `600` | octal mode of new trace files (a trace holds the program's argv and paths: private by default; `hakmem record` sets it from `HAKMEM_FILE_MODE`) |

use crate::os;

/// Longest directory path kept (longer ones fall back to `.`).
pub const DIR_MAX: usize = 3072;

/// Parsed knobs.
pub struct Knobs {
    /// Output directory (bytes, no NUL), `dir[..dir_len]`.
    pub dir: [u8; DIR_MAX],
    /// Length of `dir`.
    pub dir_len: usize,
    /// Chunk size in bytes.
    pub chunk_size: u32,
    /// Mapping window in bytes.
    pub window: usize,
    /// Recording switched off.
    pub off: bool,
    /// Mode of new trace files.
    pub mode: u32,
}

/// The table: name → what it sets (see the module docs for defaults and meaning).
const TABLE: [&[u8]; 5] = [
    b"HAKMEM_RECORD_DIR=",
    b"HAKMEM_RECORD_CHUNK_KB=",
    b"HAKMEM_RECORD_MAX_MB=",
    b"HAKMEM_RECORD_OFF=",
    b"HAKMEM_RECORD_MODE=",
];

/// An octal file mode, at most `0o777`.
fn parse_mode(v: &[u8]) -> Option<u32> {
    if v.is_empty() || v.len() > 4 {
        return None;
    }
    let mut m = 0u32;
    for &c in v {
        if !(b'0'..=b'7').contains(&c) {
            return None;
        }
        m = m * 8 + (c - b'0') as u32;
    }
    (m <= 0o777).then_some(m)
}

fn parse_u64(v: &[u8]) -> Option<u64> {
    if v.is_empty() || v.len() > 19 {
        return None;
    }
    let mut n = 0u64;
    for &c in v {
        if !c.is_ascii_digit() {
            return None;
        }
        n = n * 10 + (c - b'0') as u64;
    }
    Some(n)
}

impl Knobs {
    /// Defaults.
    pub const DEFAULT: Knobs = Knobs {
        dir: [0; DIR_MAX],
        dir_len: 0,
        chunk_size: 64 << 10,
        window: 65536 << 20,
        off: false,
        mode: 0o600,
    };

    /// Reads the knobs from the process's initial environment into `self`, with `scratch` as the read
    /// buffer (entries beyond its length are not seen).
    pub fn load(&mut self, scratch: &mut [u8]) {
        let n = os::read_file(c"/proc/self/environ", scratch);
        for entry in scratch[..n].split(|&c| c == 0) {
            for (i, name) in TABLE.iter().enumerate() {
                let Some(v) = entry.strip_prefix(*name) else {
                    continue;
                };
                match i {
                    0 if !v.is_empty() && v.len() <= DIR_MAX => {
                        self.dir[..v.len()].copy_from_slice(v);
                        self.dir_len = v.len();
                    }
                    1 => {
                        if let Some(kb) = parse_u64(v).filter(|kb| (4..=1 << 20).contains(kb)) {
                            self.chunk_size = (kb << 10) as u32;
                        }
                    }
                    2 => {
                        if let Some(mb) = parse_u64(v).filter(|mb| (1..=1 << 26).contains(mb)) {
                            self.window = (mb as usize) << 20;
                        }
                    }
                    3 => self.off = !(v.is_empty() || v == b"0"),
                    4 => {
                        if let Some(m) = parse_mode(v) {
                            self.mode = m;
                        }
                    }
                    _ => {}
                }
            }
        }
    }
}
