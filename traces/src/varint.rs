//! LEB128 variable-length unsigned integers and the fast checksum used by the workload format.
//!
//! Entry points: [`put`] appends, [`get`] reads (never panics: truncated or over-long input is an error),
//! [`checksum`] hashes a byte slice.
//!
//! Encoding: 7 value bits per byte, least significant group first, high bit set on every byte but the last.
//! A `u64` takes 1..=10 bytes; values below 128 take one byte.

/// Why a varint could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum VarintError {
    /// The input ended inside the number.
    Truncated,
    /// More than 10 bytes, or bits beyond 64.
    Overflow,
}

/// Appends `v` to `out`.
#[inline]
pub(crate) fn put(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Reads one varint at `*pos`, advancing it. Costs one load and a compare for values below 128.
#[inline]
pub(crate) fn get(buf: &[u8], pos: &mut usize) -> Result<u64, VarintError> {
    let Some(&b0) = buf.get(*pos) else {
        return Err(VarintError::Truncated);
    };
    if b0 < 0x80 {
        *pos += 1;
        return Ok(b0 as u64);
    }
    get_slow(buf, pos)
}

#[cold]
#[inline(never)]
fn get_slow(buf: &[u8], pos: &mut usize) -> Result<u64, VarintError> {
    let mut v: u64 = 0;
    let mut shift = 0u32;
    let mut p = *pos;
    loop {
        let Some(&b) = buf.get(p) else {
            return Err(VarintError::Truncated);
        };
        p += 1;
        let bits = (b & 0x7f) as u64;
        if shift == 63 && bits > 1 {
            return Err(VarintError::Overflow);
        }
        v |= bits << shift;
        if b < 0x80 {
            *pos = p;
            return Ok(v);
        }
        shift += 7;
        if shift > 63 {
            return Err(VarintError::Overflow);
        }
    }
}

/// A 64-bit checksum of `bytes`, about one multiply per 8 bytes.
///
/// Four lanes each fold 8-byte words with `lane = rotl((lane ^ word) * K, 29)`, a bijection of the lane for a
/// fixed word, and the lanes are folded the same way with the length. So changing any single word (in
/// particular any single bit flip) always changes the result; it is not a cryptographic hash.
pub(crate) fn checksum(bytes: &[u8]) -> u64 {
    let mut c = Checksum::new();
    c.update(bytes);
    c.finish()
}

const K: u64 = 0x9E37_79B9_7F4A_7C15;

#[inline(always)]
fn step(lane: u64, word: u64) -> u64 {
    (lane ^ word).wrapping_mul(K).rotate_left(29)
}

/// [`checksum`] computed over bytes that arrive in pieces (the streaming compiler writes streams in
/// blocks): `update` in any split, then `finish`, equals `checksum` of the concatenation.
/// Invariant: `pending < 32` bytes are buffered in `block`; `len` counts every byte seen.
#[derive(Clone, Debug)]
pub(crate) struct Checksum {
    lanes: [u64; 4],
    block: [u8; 32],
    pending: usize,
    len: u64,
}

impl Checksum {
    pub(crate) fn new() -> Self {
        Checksum {
            lanes: [
                0x243F_6A88_85A3_08D3,
                0x1319_8A2E_0370_7344,
                0xA409_3822_299F_31D0,
                0x082E_FA98_EC4E_6C89,
            ],
            block: [0; 32],
            pending: 0,
            len: 0,
        }
    }

    #[inline(always)]
    fn fold(lanes: &mut [u64; 4], c: &[u8]) {
        for (i, lane) in lanes.iter_mut().enumerate() {
            let mut w = [0u8; 8];
            w.copy_from_slice(&c[i * 8..i * 8 + 8]);
            *lane = step(*lane, u64::from_le_bytes(w));
        }
    }

    pub(crate) fn update(&mut self, mut bytes: &[u8]) {
        self.len += bytes.len() as u64;
        if self.pending > 0 {
            let take = (32 - self.pending).min(bytes.len());
            self.block[self.pending..self.pending + take].copy_from_slice(&bytes[..take]);
            self.pending += take;
            bytes = &bytes[take..];
            if self.pending < 32 {
                return;
            }
            let block = self.block;
            Self::fold(&mut self.lanes, &block);
            self.pending = 0;
        }
        let mut chunks = bytes.chunks_exact(32);
        for c in &mut chunks {
            Self::fold(&mut self.lanes, c);
        }
        let rem = chunks.remainder();
        self.block[..rem.len()].copy_from_slice(rem);
        self.pending = rem.len();
    }

    pub(crate) fn finish(mut self) -> u64 {
        if self.pending > 0 {
            self.block[self.pending..].fill(0);
            let block = self.block;
            Self::fold(&mut self.lanes, &block);
        }
        let mut h = step(0x4528_21E6_38D0_1377, self.len);
        for lane in self.lanes {
            h = step(h, lane);
        }
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_edges() {
        for v in [
            0u64,
            1,
            127,
            128,
            255,
            16383,
            16384,
            u32::MAX as u64,
            u64::MAX - 1,
            u64::MAX,
        ] {
            let mut b = Vec::new();
            put(&mut b, v);
            let mut p = 0;
            assert_eq!(get(&b, &mut p), Ok(v));
            assert_eq!(p, b.len());
            let mut p = 0;
            assert_eq!(get(&b[..b.len() - 1], &mut p), Err(VarintError::Truncated));
        }
    }

    #[test]
    fn overlong_is_an_error() {
        let b = [0xffu8; 11];
        assert_eq!(get(&b, &mut 0), Err(VarintError::Overflow));
        let b = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02];
        assert_eq!(get(&b, &mut 0), Err(VarintError::Overflow));
    }

    #[test]
    fn streamed_checksum_equals_one_shot_for_every_split() {
        let data: Vec<u8> = (0..200u32).map(|i| (i * 131 + 17) as u8).collect();
        for n in [0usize, 1, 31, 32, 33, 64, 100, 200] {
            let d = &data[..n];
            for a in 0..=n {
                for b in a..=n {
                    let mut c = Checksum::new();
                    c.update(&d[..a]);
                    c.update(&d[a..b]);
                    c.update(&d[b..]);
                    assert_eq!(c.finish(), checksum(d), "n {n} split {a} {b}");
                }
            }
        }
    }

    #[test]
    fn checksum_sees_every_bit_flip() {
        let data: Vec<u8> = (0..77u32).map(|i| (i * 31 + 7) as u8).collect();
        let h = checksum(&data);
        for byte in 0..data.len() {
            for bit in 0..8 {
                let mut d = data.clone();
                d[byte] ^= 1 << bit;
                assert_ne!(checksum(&d), h, "flip at {byte}:{bit}");
            }
        }
        assert_ne!(checksum(&data[..76]), h);
    }
}
