//! HAKMEM Workbench trace formats.
//!
//! Data flow: the recorder writes a *raw trace* ([`raw`]) per process; [`compile`] turns raw traces into a
//! replayable *workload* ([`workload`], `.hkw`); [`gen`] writes synthetic workloads in the same format;
//! [`info`] describes either kind of file from the statistics of [`stats`].
//!
//! [`event::Event`] is the decoded form of one raw-trace record and the contract between the raw reader and
//! the compiler.
#![deny(missing_docs)]

pub mod compile;
pub mod event;
pub mod gen;
pub mod info;
pub mod private;
pub mod raw;
mod spill;
pub mod stats;
mod varint;
pub mod workload;
