//! `libhakmem_recorder.so`: an `LD_PRELOAD` interposer that records every allocation call of a program
//! into a raw trace (format: [`traces::raw`]), one memory-mapped file per process.
//!
//! Modules: [`hooks`] (the one list of interposed symbols), [`thread`] (per-thread state and the hot path),
//! [`session`] (the per-process trace: lazy start, fork, exec, exit), [`knobs`] (the `HAKMEM_RECORD_*`
//! table), [`os`] (clocks, files, mappings), [`real`] (the C library's allocator).
//!
//! Invariants: no hook path allocates, formats, takes a std lock or panics (`panic = "abort"`); all
//! buffers are static or on the stack; the data reaches the file through a `MAP_SHARED` mapping, so a
//! killed or crashing program leaves a readable trace.
#![deny(missing_docs)]

pub mod hooks;
mod knobs;
mod os;
mod real;
mod session;
mod thread;
