//! Byte layout of a raw trace file: the preamble, the header region, chunks and record words.
//!
//! Entry points: the constants below, shared by the writer ([`super::writer`]) and the reader
//! ([`super::reader`]). Everything is little-endian; every record is made of whole 8-byte words.
//!
//! ```text
//! file
//! +--------------------------------------------------------------+ 0
//! | preamble (128 B, fixed; the writer updates some fields live)  |
//! |   0  magic  "HKMRAW\0\n"          8  version u32              |
//! |  12  header_region_len u32       16  header_len u32           |
//! |  20  chunk_size u32              24  chunks_claimed u64 (atomic fetch-add)
//! |  32  file_len u64 (bytes the writer made the file long)       |
//! |  40  grow_lock u32 (spin flag)   44  next_thread u32 (atomic) |
//! |  48  end_state u32 (0 none/crash, 1 exit, 2 exec)  52 reserved|
//! |  56  end_tsc u64                 64  end_mono_ns u64          |
//! |  72  dropped_events u64 (atomic) 80..128 reserved (zero)      |
//! +--------------------------------------------------------------+ 128
//! | header: bincode 1.3 (fixint, little-endian) of RawHeader      |
//! |   (header_len bytes; zero padding up to header_region_len)    |
//! +--------------------------------------------------------------+ header_region_len (page multiple)
//! | chunk 0 (chunk_size bytes)                                    |
//! | chunk 1 …  (chunk i starts at header_region_len + i*chunk_size)
//! +--------------------------------------------------------------+
//!
//! chunk (owned by one thread from its claim on; 64 B header, then record words)
//!   0 tag u32 "CHNK" (written last)   4 tid u32
//!   8 thread serial u32               12 seq u32 (the thread's n-th chunk)
//!  16 base_tsc u64                    24 base_mono_ns u64 (read together at the claim)
//!  32..64 reserved
//!  64.. records; a zero word ends the chunk (the rest of a claimed chunk is zero)
//! ```
//!
//! The "footer" of a clean exit is the `end_*` slot of the preamble: the writer cannot know where the file
//! ends while threads still claim chunks, so the final clock pair and end state live at a fixed offset.

/// File magic: the first 8 bytes of every raw trace.
pub const MAGIC: [u8; 8] = *b"HKMRAW\0\n";
/// Format version written by this crate and the only one the reader accepts.
pub const VERSION: u32 = 1;
/// Bytes of the fixed preamble; the bincode header follows it.
pub const PREAMBLE_LEN: usize = 128;
/// Bytes of a chunk header; records follow it.
pub const CHUNK_HEADER_LEN: usize = 64;
/// Tag that marks a chunk header as completely written.
pub const CHUNK_TAG: u32 = u32::from_le_bytes(*b"CHNK");
/// Smallest chunk a writer may use.
pub const MIN_CHUNK_SIZE: u32 = 4096;
/// Largest chunk a writer may use (the reader rejects larger ones as corrupt).
pub const MAX_CHUNK_SIZE: u32 = 1 << 30;

/// Preamble field offsets (bytes from the start of the file).
pub mod off {
    /// `[u8; 8]` magic.
    pub const MAGIC: usize = 0;
    /// `u32` format version.
    pub const VERSION: usize = 8;
    /// `u32` where the chunk area starts.
    pub const HEADER_REGION_LEN: usize = 12;
    /// `u32` length of the bincode header at [`super::PREAMBLE_LEN`].
    pub const HEADER_LEN: usize = 16;
    /// `u32` bytes per chunk.
    pub const CHUNK_SIZE: usize = 20;
    /// `u64` number of chunks claimed (atomic fetch-add by writers).
    pub const CHUNKS_CLAIMED: usize = 24;
    /// `u64` bytes the writer has made the file long.
    pub const FILE_LEN: usize = 32;
    /// `u32` spin flag held while the file grows.
    pub const GROW_LOCK: usize = 40;
    /// `u32` next thread serial number (atomic fetch-add).
    pub const NEXT_THREAD: usize = 44;
    /// `u32` end state, see [`super::EndState`].
    pub const END_STATE: usize = 48;
    /// `u64` TSC read at the end.
    pub const END_TSC: usize = 56;
    /// `u64` CLOCK_MONOTONIC ns read together with `END_TSC`.
    pub const END_MONO_NS: usize = 64;
    /// `u64` events the writer had to drop (window exhausted, file could not grow).
    pub const DROPPED: usize = 72;
}

/// Chunk header field offsets (bytes from the start of the chunk).
pub mod chunk_off {
    /// `u32` [`super::CHUNK_TAG`], written last.
    pub const TAG: usize = 0;
    /// `u32` kernel thread id.
    pub const TID: usize = 4;
    /// `u32` thread serial number (unique per file, unlike tids which the kernel reuses).
    pub const SERIAL: usize = 8;
    /// `u32` per-thread chunk sequence number.
    pub const SEQ: usize = 12;
    /// `u64` TSC at the claim.
    pub const BASE_TSC: usize = 16;
    /// `u64` CLOCK_MONOTONIC ns at the claim.
    pub const BASE_MONO_NS: usize = 24;
}

/// How the recording of a process ended, as written in the preamble's end slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndState {
    /// No end was written: the process was killed, crashed, or called `_exit`.
    None = 0,
    /// The process exited normally (library destructor ran).
    Exit = 1,
    /// The process image was replaced by `exec`; recording continues in a new file.
    Exec = 2,
}

impl EndState {
    /// Decodes the preamble's `end_state` word (unknown values read as `None`).
    pub fn from_u32(v: u32) -> EndState {
        match v {
            1 => EndState::Exit,
            2 => EndState::Exec,
            _ => EndState::None,
        }
    }
}

/// Record word 0, common to every record:
///
/// ```text
///  63      59 58                43 42                                     0
/// +----------+--------------------+----------------------------------------+
/// | kind (5) | dt (16): TSC ticks | a (43): size, ptr>>4, pid … per kind   |
/// |  1..=31  | since the previous | (see the kind table in `kind`)         |
/// |          | record of the chunk|                                        |
/// +----------+--------------------+----------------------------------------+
/// ```
/// `kind != 0`, so word 0 is never zero: a zero word is the end of a chunk. Words after word 0 (the
/// kind's fixed number of payload words) are written before word 0, so a record torn by a kill is never
/// seen. A gap longer than `dt` can hold is a `TIME` record first; a size that does not fit in `a` is a
/// `WIDE` record carrying it first.
pub mod word {
    /// Bit position of the kind field.
    pub const KIND_SHIFT: u32 = 59;
    /// Bit position of the dt field.
    pub const DT_SHIFT: u32 = 43;
    /// Largest dt a record holds.
    pub const DT_MAX: u64 = 0xFFFF;
    /// Mask of the `a` field.
    pub const A_MASK: u64 = (1 << 43) - 1;
}

/// Record kinds (5 bits) and their payload words after word 0.
///
/// | kind | name | `a` | payload words |
/// |---|---|---|---|
/// | 1 | TIME | high bits of a long gap: gap = a<<16 \| dt | — |
/// | 2 | WIDE | 0 | size (for the next record, whose `a` is 0) |
/// | 3 | MALLOC | size | ptr |
/// | 4 | FREE16 | ptr>>4 (ptr 16-aligned, < 2^47) | — |
/// | 5 | FREE | 0 | ptr |
/// | 6 | CALLOC | size | ptr, nmemb |
/// | 7 | REALLOC | size | old, new |
/// | 8 | REALLOCARRAY | size | old, new, nmemb |
/// | 9 | POSIX_MEMALIGN | size | ptr, align, ret |
/// | 10 | ALIGNED_ALLOC | size | ptr, align |
/// | 11 | MEMALIGN | size | ptr, align |
/// | 12 | VALLOC | size | ptr |
/// | 13 | PVALLOC | size | ptr |
/// | 14 | FREE_SIZED | size | ptr |
/// | 15 | FREE_ALIGNED_SIZED | size | ptr, align |
/// | 16 | THREAD_START | 0 | — |
/// | 17 | THREAD_EXIT | 0 | — |
/// | 18 | FORK | child pid | — |
/// | 19 | EXEC | 0 | — |
/// | 20 | MALLOC8 | size (16 bits) << 27 \| (ptr − previous malloc ptr of the chunk) / 16 (27 bits, signed) | — |
///
/// MALLOC8 is the one-word malloc: size < 65536, pointer a multiple of 16 bytes away (within ±1 GiB) from the previous
/// malloc's pointer in the same chunk (the first malloc of a chunk compares with 0). With FREE16 it makes
/// a malloc/free workload cost 8 bytes per event.
pub mod kind {
    /// Long gap.
    pub const TIME: u64 = 1;
    /// Size prefix for the next record.
    pub const WIDE: u64 = 2;
    /// malloc.
    pub const MALLOC: u64 = 3;
    /// free of a 16-aligned pointer below 2^47 (one word).
    pub const FREE16: u64 = 4;
    /// free of any pointer.
    pub const FREE: u64 = 5;
    /// calloc.
    pub const CALLOC: u64 = 6;
    /// realloc.
    pub const REALLOC: u64 = 7;
    /// reallocarray.
    pub const REALLOCARRAY: u64 = 8;
    /// posix_memalign.
    pub const POSIX_MEMALIGN: u64 = 9;
    /// aligned_alloc.
    pub const ALIGNED_ALLOC: u64 = 10;
    /// memalign.
    pub const MEMALIGN: u64 = 11;
    /// valloc.
    pub const VALLOC: u64 = 12;
    /// pvalloc.
    pub const PVALLOC: u64 = 13;
    /// free_sized.
    pub const FREE_SIZED: u64 = 14;
    /// free_aligned_sized.
    pub const FREE_ALIGNED_SIZED: u64 = 15;
    /// Thread start marker.
    pub const THREAD_START: u64 = 16;
    /// Thread exit marker.
    pub const THREAD_EXIT: u64 = 17;
    /// fork marker.
    pub const FORK: u64 = 18;
    /// exec marker.
    pub const EXEC: u64 = 19;
    /// One-word malloc (see the table).
    pub const MALLOC8: u64 = 20;
    /// Largest valid kind.
    pub const MAX: u64 = 20;

    /// Payload words after word 0, indexed by kind (index 0 is unused).
    pub const PAYLOAD: [u8; 21] = [
        0, 0, 1, 1, 0, 1, 2, 2, 3, 3, 2, 2, 1, 1, 1, 2, 0, 0, 0, 0, 0,
    ];
}
