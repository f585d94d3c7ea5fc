//! End-to-end tests of `libhakmem_recorder.so`: small C programs (in `tests/c/`, compiled here with gcc)
//! run under `LD_PRELOAD`, their traces read back with `traces::raw`.

/// One test per C program: exact calls, threads, fork, exec, SIGKILL, signal handlers, TLS destructors.
mod programs;
/// Finding the built library, compiling and running the C programs, reading their traces.
mod support;
