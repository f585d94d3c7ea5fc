//! Scratch storage of the streaming compiler: one anonymous append-only file per compiled process.
//!
//! Entry point: [`Spill::create`]. The file is created in the output's directory (where the workload will
//! need room anyway) and unlinked at once, so it disappears when the compiler exits, crashes or is killed.
//! Pieces are appended by one thread (the compiler's stage 2) and read back by many ([`Spill::read_at`] is
//! `&self`), each piece named by its offset and length.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// An unlinked scratch file. Invariant: `len` is the number of bytes appended so far.
#[derive(Debug)]
pub(crate) struct Spill {
    file: File,
    len: u64,
}

impl Spill {
    /// A new scratch file in `dir`, already unlinked.
    pub(crate) fn create(dir: &Path) -> io::Result<Spill> {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let path = dir.join(format!(
            ".hakmem-compile-spill.{}.{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let file = File::options()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)?;
        std::fs::remove_file(&path)?;
        Ok(Spill { file, len: 0 })
    }

    /// Appends `bytes`; returns their offset.
    pub(crate) fn append(&mut self, bytes: &[u8]) -> io::Result<u64> {
        let at = self.len;
        self.file.write_all_at(bytes, at)?;
        self.len += bytes.len() as u64;
        Ok(at)
    }

    /// Reads `buf.len()` bytes at `off` (a piece appended earlier).
    pub(crate) fn read_at(&self, buf: &mut [u8], off: u64) -> io::Result<()> {
        self.file.read_exact_at(buf, off)
    }

    /// Bytes appended so far.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }
}
