//! The preloadable baselines built by this crate's build script, end to end.

/// The mimalloc `.so` files: present, interposing malloc, the right version, same results as glibc.
mod preload;
/// scripts/suite.py, the independent live runner, on small programs: table, JSON, output checks.
mod suite;
