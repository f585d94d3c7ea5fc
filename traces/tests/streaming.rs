//! The streaming compiler writes the same bytes as the in-memory compiler of before (golden hashes of
//! workloads compiled from deterministic raw traces by the compiler as it was before streaming), whatever
//! its block and spill budgets; and `info` on a raw trace agrees with the workload's header.

use crate::util::tmp;
use std::path::PathBuf;
use traces::compile::{
    compile_files, compile_files_to, describe_file, CompileOptions, StreamOptions,
};
use traces::event::Op;
use traces::raw::{BuilderSpec, EndState, RawTraceBuilder};

/// xorshift64*: deterministic and dependency-free.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A raw trace of `events` calls by `threads` threads of process `pid`: addresses recycled (reuse), frees
/// and reallocs by any thread (cross-thread), calloc and aligned kinds, and every anomaly the compiler
/// counts: unknown, double and NULL frees, failed allocations, realloc(p, 0), log inversions.
fn synthetic(pid: u32, threads: u32, events: u64, seed: u64) -> PathBuf {
    let path = tmp(&format!("p{pid}.hkraw"));
    let spec = BuilderSpec {
        pid,
        chunk_size: 16 << 10,
        ..BuilderSpec::default()
    };
    let mut b = RawTraceBuilder::create(&path, &spec).unwrap();
    let mut r = Rng(seed | 1);
    let mut live: Vec<u64> = Vec::new();
    let mut free_addrs: Vec<u64> = Vec::new();
    let mut next_addr = 0x10_0000u64;
    let mut last_freed = 0u64;
    let mut fresh = |free_addrs: &mut Vec<u64>, r: &mut Rng| {
        if !free_addrs.is_empty() && r.below(4) != 0 {
            let i = r.below(free_addrs.len() as u64) as usize;
            free_addrs.swap_remove(i)
        } else {
            next_addr += 16 * (1 + r.below(64));
            next_addr
        }
    };
    let mut ts = 0u64;
    for _ in 0..events {
        ts += 1 + r.below(20);
        let t = 1000 + r.below(threads as u64) as u32;
        let size = if r.below(50) == 0 {
            1 << (12 + r.below(12))
        } else {
            1 + r.below(2048)
        };
        let pick = r.below(100);
        let op = if live.is_empty() || pick < 45 {
            let a = fresh(&mut free_addrs, &mut r);
            live.push(a);
            match r.below(20) {
                0 => Op::Calloc {
                    nmemb: 1 + r.below(8),
                    size,
                    ptr: a,
                },
                1 => Op::PosixMemalign {
                    align: 64,
                    size,
                    ptr: a,
                    ret: 0,
                },
                2 => Op::AlignedAlloc {
                    align: 32,
                    size,
                    ptr: a,
                },
                3 => Op::Memalign {
                    align: 128,
                    size,
                    ptr: a,
                },
                4 => Op::Realloc {
                    old: 0,
                    size,
                    new: a,
                },
                _ => Op::Malloc { size, ptr: a },
            }
        } else if pick < 85 {
            let i = r.below(live.len() as u64) as usize;
            let a = live.swap_remove(i);
            free_addrs.push(a);
            last_freed = a;
            match r.below(10) {
                0 => Op::FreeSized { ptr: a, size },
                _ => Op::Free { ptr: a },
            }
        } else if pick < 93 {
            let i = r.below(live.len() as u64) as usize;
            let old = live[i];
            if r.below(3) == 0 {
                Op::Realloc {
                    old,
                    size,
                    new: old,
                }
            } else {
                let new = fresh(&mut free_addrs, &mut r);
                live[i] = new;
                free_addrs.push(old);
                Op::Realloc { old, size, new }
            }
        } else {
            match pick {
                93 => Op::Free { ptr: 0 },
                94 => Op::Free {
                    ptr: 0xdead_0000 + 16 * r.below(1000),
                },
                95 if last_freed != 0 => Op::Free { ptr: last_freed },
                96 => Op::Malloc { size, ptr: 0 },
                97 => {
                    let i = r.below(live.len() as u64) as usize;
                    let a = live.swap_remove(i);
                    free_addrs.push(a);
                    Op::Realloc {
                        old: a,
                        size: 0,
                        new: 0,
                    }
                }
                _ if threads > 1 => {
                    // Log inversion: thread t gets a live address again before another thread's free of
                    // the old object is logged.
                    let i = r.below(live.len() as u64) as usize;
                    let a = live[i];
                    b.push(t, ts, Op::Malloc { size, ptr: a }).unwrap();
                    ts += 1 + r.below(5);
                    let other = 1000 + (t - 1000 + 1) % threads;
                    Op::Free { ptr: a }.clone_into_push(&mut b, other, ts);
                    continue;
                }
                _ => Op::Free { ptr: 0 },
            }
        };
        b.push(t, ts, op).unwrap();
    }
    b.finish(EndState::Exit).unwrap()
}

trait PushAs {
    fn clone_into_push(self, b: &mut RawTraceBuilder, tid: u32, ts: u64);
}
impl PushAs for Op {
    fn clone_into_push(self, b: &mut RawTraceBuilder, tid: u32, ts: u64) {
        b.push(tid, ts, self).unwrap();
    }
}

/// FNV-1a over a workload's contents, independent of where its inputs lived: the header as JSON with the
/// temporary paths cut from the notes, the source dropped and stream offsets zeroed (they follow
/// from the header's length, which holds those strings), then every stream's bytes. The file is opened
/// fully validated first (checksums of the header and of every stream included).
fn hash(path: &std::path::Path) -> u64 {
    let w = traces::workload::Workload::open(path).unwrap();
    let mut h = w.header().clone();
    h.source.clear();
    // Notes start with the input's (temporary, numbered) path: keep what follows it.
    h.notes = h
        .notes
        .iter()
        .map(|n| match n.split_once(" (pid ") {
            Some((_, rest)) => rest.to_string(),
            None => n.clone(),
        })
        .collect();
    let mut streams = Vec::new();
    for t in &mut h.threads {
        streams.extend_from_slice(&w.bytes()[t.offset as usize..(t.offset + t.len) as usize]);
        t.offset = 0;
    }
    let mut bytes = serde_json::to_vec(&h).unwrap();
    bytes.extend_from_slice(&streams);
    let mut x = 0xcbf2_9ce4_8422_2325u64;
    for b in bytes {
        x = (x ^ b as u64).wrapping_mul(0x0100_0000_01b3);
    }
    x
}

/// The inputs: one small multi-threaded process, then three processes compiled together (shared slots
/// of later processes shifted), then one long single-threaded process.
fn cases() -> Vec<Vec<PathBuf>> {
    vec![
        vec![synthetic(11, 3, 3_000, 1)],
        vec![
            synthetic(21, 4, 20_000, 2),
            synthetic(22, 2, 5_000, 3),
            synthetic(23, 1, 2_000, 4),
        ],
        vec![synthetic(31, 1, 200_000, 5)],
    ]
}

/// FNV-1a hashes of the workloads the compiler wrote before it streamed (commit a02e2b9), for
/// [`cases`] with the default options. The source string holds the input paths, which are temporary:
/// see [`hash`].
const GOLDEN: [u64; 3] = [
    0xa219_2e88_f6f7_cfc6,
    0x5d19_d053_32ca_3892,
    0xf9d8_5f0c_4eb2_3f87,
];

fn compiled_in_memory(paths: &[PathBuf]) -> u64 {
    let c = compile_files(paths, &CompileOptions::default()).unwrap();
    let out = tmp("mem.hkw");
    c.writer.write(&out).unwrap();
    hash(&out)
}

#[test]
fn streaming_compile_writes_the_bytes_of_the_in_memory_compile_of_before() {
    let got: Vec<u64> = cases().iter().map(|p| compiled_in_memory(p)).collect();
    println!("hashes: {got:#x?}");
    assert_eq!(got, GOLDEN);
}

fn compiled_streaming(paths: &[PathBuf], stream: StreamOptions) -> u64 {
    let out = tmp("stream.hkw");
    let opts = CompileOptions {
        stream,
        ..CompileOptions::default()
    };
    let r = compile_files_to(paths, &opts, &out).unwrap();
    assert_eq!(r.summary.bytes, std::fs::metadata(&out).unwrap().len());
    hash(&out)
}

#[test]
fn streaming_compile_writes_the_same_bytes_whatever_its_budgets() {
    for (case, paths) in cases().iter().enumerate() {
        for stream in [
            StreamOptions::default(),
            // Every op its own block, a patch run every few cross-thread objects.
            StreamOptions {
                block: 1,
                patch_budget: 3,
            },
            StreamOptions {
                block: 4096,
                patch_budget: 1,
            },
        ] {
            assert_eq!(
                compiled_streaming(paths, stream),
                GOLDEN[case],
                "case {case}, {stream:?}"
            );
        }
    }
}

#[test]
fn the_synthetic_traces_hold_every_case_the_compiler_handles() {
    let c = compile_files(&cases()[1], &CompileOptions::default()).unwrap();
    let s = &c.writer.stats;
    assert!(
        s.cross_thread_frees > 100 && s.cross_thread_reallocs > 10,
        "{s:?}"
    );
    assert!(s.inversions_repaired > 10, "{s:?}");
    assert!(
        s.double_frees > 0 && s.unknown_frees > 0 && s.null_frees > 0,
        "{s:?}"
    );
    assert!(s.failed_allocs > 0 && s.realloc_zero_frees > 0, "{s:?}");
}

#[test]
fn describing_a_raw_trace_gives_the_header_the_compile_writes() {
    for paths in cases().iter().filter(|p| p.len() == 1) {
        let out = tmp("d.hkw");
        compile_files_to(paths, &CompileOptions::default(), &out).unwrap();
        let w = traces::workload::Workload::open(&out).unwrap();
        let d = describe_file(&paths[0], &CompileOptions::default()).unwrap();
        let mut h = d.workload.header().unwrap();
        let mut written = w.header().clone();
        for (a, b) in h.threads.iter_mut().zip(written.threads.iter_mut()) {
            (a.offset, a.checksum) = (0, 0);
            (b.offset, b.checksum) = (0, 0);
        }
        assert_eq!(h, written);
        let info = traces::info::Info::from_raw(&paths[0], &CompileOptions::default()).unwrap();
        assert_eq!(info.ops, written.total_ops);
        assert_eq!(info.object_slots, written.object_slots as u64);
    }
}
