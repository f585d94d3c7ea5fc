//! The preloadable baselines built by this crate's build script, end to end.

use std::path::{Path, PathBuf};

/// scripts/fidelity.sh on one small program: prediction table and the /usr/bin/time comparison.
mod fidelity;
/// The mimalloc `.so` files: present, interposing malloc, the right version, same results as glibc.
mod preload;
/// scripts/suite.py, the independent live runner, on small programs: table, JSON, output checks.
mod suite;

/// The repository's root.
fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// `target/` of this build: the test binary is `target/<profile>/deps/tests-HASH`.
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.ancestors().nth(3).unwrap().to_path_buf()
}
