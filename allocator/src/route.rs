//! The Route box: size → class → Tiny / Pool / Large.
//!
//! Entrance: [`route`] (and the inlined [`tiny_class`] used by the Gatekeeper's fast path).
//!
//! Classes: Tiny ≤ 1024 B in 21 classes — 8 B, then 16-byte steps to 128 B, then four per power of two
//! (160, 192, 224, 256, 320 … 1024). Each belongs to one of the memo's classes C0…C7 (8, 16, 32, 64, 128, 256,
//! 512, 1024 B: `Ck` holds sizes in `(2^(k+2), 2^(k+3)]`), which the `HAKMEM_TINY_*` knobs address. Pool
//! classes continue four per power of two from 1280 B to 32 KiB. Larger requests are Large, whose box hands
//! those up to 256 KiB to the Mid box ([`crate::mid`], classes carved from shared 2 MiB chunks).
//!
//! Invariants: `BLOCK_SIZE[class_of(s)] >= s`; `BLOCK_SIZE` is increasing; every block size ≥ 16 is a multiple
//! of 16 (so blocks are 16-byte aligned); `class_of` returns the smallest such class.

/// Number of Tiny classes.
pub const NUM_TINY: usize = 21;
/// Number of classes (Tiny + Pool).
pub const NUM_CLASSES: usize = 41;
/// Largest Tiny request.
pub const TINY_MAX: usize = 1024;
/// Largest Pool request.
pub const POOL_MAX: usize = 32768;
/// Number of memo classes (C0…C7).
pub const NUM_GROUPS: usize = 8;

/// Block size of each class.
pub static BLOCK_SIZE: [u32; NUM_CLASSES] = [
    8, 16, 32, 48, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384, 448, 512, 640, 768, 896,
    1024, 1280, 1536, 1792, 2048, 2560, 3072, 3584, 4096, 5120, 6144, 7168, 8192, 10240, 12288,
    14336, 16384, 20480, 24576, 28672, 32768,
];

const fn group_of_size(bs: u32) -> u8 {
    let mut g = 0u8;
    while (8u32 << g) < bs {
        g += 1;
    }
    g
}

const fn build_groups() -> [u8; NUM_TINY] {
    let mut out = [0u8; NUM_TINY];
    let mut i = 0;
    while i < NUM_TINY {
        out[i] = group_of_size(BLOCK_SIZE_C[i]);
        i += 1;
    }
    out
}

const BLOCK_SIZE_C: [u32; NUM_TINY] = [
    8, 16, 32, 48, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384, 448, 512, 640, 768, 896,
    1024,
];

/// Memo class (C0…C7) of each Tiny class.
pub static GROUP: [u8; NUM_TINY] = build_groups();

/// The class of every Tiny size (the table behind [`tiny_class`]), for tables derived from it at compile time.
pub const fn build_lut() -> [u8; TINY_MAX + 1] {
    let mut lut = [0u8; TINY_MAX + 1];
    let mut size = 0;
    let mut cls = 0;
    while size <= TINY_MAX {
        while (BLOCK_SIZE_C[cls] as usize) < size {
            cls += 1;
        }
        lut[size] = cls as u8;
        size += 1;
    }
    lut
}

/// The class of every Tiny size, indexed by the size itself (1 KiB of table: the malloc fast path saves the
/// round-up add and shift of an 8-byte-granular table).
static TINY_LUT: [u8; TINY_MAX + 1] = build_lut();

/// Class of a Tiny request (`size <= TINY_MAX`): one table load.
#[inline(always)]
pub fn tiny_class(size: usize) -> usize {
    debug_assert!(size <= TINY_MAX);
    // SAFETY-free: index ≤ TINY_MAX < table length.
    TINY_LUT[size] as usize
}

/// [`tiny_class`] without the bounds check.
///
/// # Safety
/// `size <= TINY_MAX`.
#[inline(always)]
pub unsafe fn tiny_class_unchecked(size: usize) -> usize {
    debug_assert!(size <= TINY_MAX);
    // SAFETY: per contract, `size` indexes the table.
    unsafe { *TINY_LUT.get_unchecked(size) as usize }
}

/// Class of a Pool request (`TINY_MAX < size <= POOL_MAX`): four classes per power of two.
#[inline]
pub fn pool_class(size: usize) -> usize {
    debug_assert!(size > TINY_MAX && size <= POOL_MAX);
    let s = size - 1;
    let k = (usize::BITS - 1 - s.leading_zeros()) as usize; // 2^k <= s < 2^(k+1)
    let idx = (s - (1 << k)) >> (k - 2);
    NUM_TINY + (k - 10) * 4 + idx
}

/// Where a request goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// A Tiny class (≤ 1024 B).
    Tiny(usize),
    /// A Pool class (mid sizes).
    Pool(usize),
    /// Direct mapping.
    Large,
}

/// The Route entrance.
#[inline]
pub fn route(size: usize) -> Route {
    if size <= TINY_MAX {
        Route::Tiny(tiny_class(size))
    } else if size <= POOL_MAX {
        Route::Pool(pool_class(size))
    } else {
        Route::Large
    }
}

/// Class of any small request, `None` for Large.
#[inline]
pub fn class_of(size: usize) -> Option<usize> {
    match route(size) {
        Route::Tiny(c) | Route::Pool(c) => Some(c),
        Route::Large => None,
    }
}

/// Human name of a class: its block size, e.g. `640B`.
pub fn class_name(cls: usize) -> u32 {
    BLOCK_SIZE[cls]
}

/// Checks the table invariants (used by tests and debug assertions).
pub fn check_invariants() -> Result<(), &'static str> {
    for w in BLOCK_SIZE.windows(2) {
        if w[0] >= w[1] {
            return Err("BLOCK_SIZE not increasing");
        }
    }
    for &b in BLOCK_SIZE.iter() {
        if b >= 16 && b % 16 != 0 {
            return Err("block size not a multiple of 16");
        }
    }
    for size in 0..=POOL_MAX {
        let c = class_of(size).ok_or("small size routed to Large")?;
        if (BLOCK_SIZE[c] as usize) < size {
            return Err("class too small");
        }
        if c > 0 && BLOCK_SIZE[c - 1] as usize >= size.max(1) {
            return Err("class not the smallest fitting");
        }
    }
    if class_of(POOL_MAX + 1).is_some() {
        return Err("Large size routed to a class");
    }
    for (i, &g) in GROUP.iter().enumerate() {
        let bs = BLOCK_SIZE[i];
        if bs > (8 << g) || (g > 0 && bs <= (4 << g)) {
            return Err("class in the wrong memo group");
        }
    }
    Ok(())
}
