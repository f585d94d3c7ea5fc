//! The HAKMEM Workbench driver: replay engine, allocator backends, child-process orchestration, and the
//! library side of the `hakmem` subcommands (the binary in `main.rs` only parses arguments).
#![deny(missing_docs)]

pub mod demo;
pub mod record;
