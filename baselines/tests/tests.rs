//! The preloadable baselines built by this crate's build script, end to end.

/// The mimalloc `.so` files: present, interposing malloc, the right version, same results as glibc.
/// scripts/fidelity.sh on one small program: prediction table and the /usr/bin/time comparison.
mod fidelity;
mod preload;
/// scripts/suite.py, the independent live runner, on small programs: table, JSON, output checks.
mod suite;
