//! The preloadable baselines built by this crate's build script, end to end.

/// The mimalloc `.so` files: present, interposing malloc, the right version, same results as glibc.
mod preload;
