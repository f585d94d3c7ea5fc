//! Helpers shared by the test modules.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use traces::compile::{compile, CompileOptions, ProcessStreams, ThreadStream};
use traces::event::{Event, Op};
use traces::workload::{ReplayOp, Workload, WorkloadWriter};

/// A fresh path in a per-process temporary directory.
pub fn tmp(name: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!("hakmem-traces-tests-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(format!("{}-{name}", N.fetch_add(1, Ordering::Relaxed)))
}

/// Writes `w` to a temporary file and maps it back (fully validated).
pub fn write_and_open(w: &WorkloadWriter) -> Workload {
    let p = tmp("w.hkw");
    w.write(&p).unwrap();
    Workload::open(&p).unwrap()
}

/// An event.
pub fn ev(ts: u64, tid: u32, op: Op) -> Event {
    Event { ts_ns: ts, tid, op }
}

/// Compiles one process whose threads are given as event lists (thread index = position).
pub fn compile_threads(threads: Vec<Vec<Event>>) -> Workload {
    let streams = threads
        .into_iter()
        .enumerate()
        .map(|(i, evs)| ThreadStream {
            tid: 100 + i as u32,
            events: evs.into_iter(),
        })
        .collect();
    let c = compile(
        vec![ProcessStreams {
            pid: 1,
            threads: streams,
        }],
        &CompileOptions::default(),
        "test",
    )
    .unwrap();
    write_and_open(&c.writer)
}

/// Every thread's ops.
pub fn all_ops(w: &Workload) -> Vec<Vec<ReplayOp>> {
    (0..w.header().threads.len())
        .map(|t| w.ops(t).collect())
        .collect()
}

pub fn malloc(size: u64, ptr: u64) -> Op {
    Op::Malloc { size, ptr }
}

pub fn free(ptr: u64) -> Op {
    Op::Free { ptr }
}
