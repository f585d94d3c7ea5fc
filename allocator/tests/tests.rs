//! Integration tests of the HAKMEM allocator, one module per area.

/// Shared helpers: a seeded PRNG, artifact lookup, C compilation.
mod util;

/// Per-box invariants after operations, configuration parsing, statistics names.
mod boxes;

/// Random sequences of every call against a reference model, single- and multi-threaded.
mod model;

/// Multi-threaded stress: cross-thread frees, thread churn (abandon / reclaim), RSS falling.
mod stress;

/// The boxes call one way: no module imports a box above it in the declared layer order.
mod layers;

/// `libhakmem.so` under real programs and a C program exercising the C API, fork and errno.
mod preload;

/// Issue 11's memory patterns (producer/consumer, exiting threads, thread churn, big buffers) in C under
/// `libhakmem.so`: RSS bounds.
mod patterns;

/// Heap misuse (double and invalid frees) under `libhakmem.so`: abort with one line, or not at HAKMEM_CHECK=0.
mod misuse;

/// A multi-threaded Rust program using `Hakmem` as `#[global_allocator]`.
mod global_alloc;
