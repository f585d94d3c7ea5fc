//! Rival allocators as preloadable shared libraries, built by this workspace.
//!
//! The build script compiles the two mimalloc lines that the `libmimalloc-sys` crate vendors (3.x, the one
//! the replayer's in-process `mimalloc` backend links, and 2.x) as `.so` files that override `malloc`, and
//! places them next to `hakmem`: `target/<profile>/`[`MIMALLOC_3_FILE`] and [`MIMALLOC_2_FILE`]. This
//! crate only names them: their versions (read from the vendored `mimalloc.h` at build time) for a result's
//! provenance, their file names, and where to find them next to a binary.
#![deny(missing_docs)]

use std::path::{Path, PathBuf};

/// mimalloc 3.x as vendored by libmimalloc-sys (`MI_MALLOC_VERSION` of its `mimalloc.h`, e.g. "3.3.2").
pub const VERSION_3: &str = env!("HAKMEM_BASELINES_V3_VERSION");
/// mimalloc 2.x as vendored by libmimalloc-sys (e.g. "2.3.2").
pub const VERSION_2: &str = env!("HAKMEM_BASELINES_V2_VERSION");
/// File name of the preloadable mimalloc 3.x build, in `target/<profile>/`.
pub const MIMALLOC_3_FILE: &str = "libhakmem_mimalloc.so";
/// File name of the preloadable mimalloc 2.x build, in `target/<profile>/`.
pub const MIMALLOC_2_FILE: &str = "libhakmem_mimalloc2.so";

/// One preloadable baseline built by this crate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Baseline {
    /// The allocator spec name the CLI uses for it (`mimalloc`, `mimalloc2`).
    pub name: &'static str,
    /// Its version ("3.3.2").
    pub version: &'static str,
    /// Its file name in `target/<profile>/`.
    pub file: &'static str,
}

/// Every baseline this crate builds: mimalloc 3.x (`mimalloc`) first, then 2.x (`mimalloc2`).
pub const BASELINES: [Baseline; 2] = [
    Baseline {
        name: "mimalloc",
        version: VERSION_3,
        file: MIMALLOC_3_FILE,
    },
    Baseline {
        name: "mimalloc2",
        version: VERSION_2,
        file: MIMALLOC_2_FILE,
    },
];

/// The baseline named `name` (`mimalloc` or `mimalloc2`), if any.
pub fn by_name(name: &str) -> Option<Baseline> {
    BASELINES.iter().copied().find(|b| b.name == name)
}

impl Baseline {
    /// Its path next to the executable `exe` (the `hakmem` binary lives in the same `target/<profile>/`).
    pub fn next_to(&self, exe: &Path) -> PathBuf {
        exe.parent()
            .unwrap_or_else(|| Path::new("."))
            .join(self.file)
    }

    /// Its path next to the running executable, if that exists as a file. Test binaries live one level
    /// deeper (`target/<profile>/deps/`), so the parent of their directory is tried too.
    pub fn find(&self) -> Option<PathBuf> {
        let exe = std::env::current_exe().ok()?;
        let dir = exe.parent()?;
        [dir.join(self.file), dir.parent()?.join(self.file)]
            .into_iter()
            .find(|p| p.is_file())
    }
}
