//! The HAKMEM Workbench driver: replay engine, allocator backends, child-process orchestration, and the
//! library side of the `hakmem` subcommands (the binary in `main.rs` only parses arguments).
//!
//! Layout of the replay side: [`spec`] (allocator specs and sweeps) → [`orchestrate`] (children, cores,
//! timeouts) → [`child`] (inside a child: [`workload`] decoding into a [`program::Program`], [`engine`]
//! replay through a [`backend`]) → [`bundle`] (results on disk) → the terminal tables of `reports::terminal` ([`summary`]: the baseline rule).
#![deny(missing_docs)]

pub mod backend;
pub mod bundle;
pub mod callgrind;
pub mod child;
pub mod demo;
pub mod elf;
pub mod engine;
pub mod files;
pub mod hakmem_backend;
pub mod harness_alloc;
pub mod live;
pub mod options;
pub mod orchestrate;
pub mod plan;
pub mod program;
pub mod record;
pub mod session;
pub mod spec;
pub mod summary;
pub mod sysinfo;
pub mod workload;
