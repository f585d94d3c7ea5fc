//! The compiler against hand-written scenarios and a reference model.

use crate::util::*;
use proptest::prelude::*;
use traces::event::{CallKind, Op};
use traces::gen::Rng;
use traces::stats::kind_index;
use traces::workload::{ReplayOp, Workload};

/// `(created slot, consumed slot, sync)` of a replay op.
fn refs(op: &ReplayOp) -> (Option<u32>, Option<u32>, bool) {
    match *op {
        ReplayOp::Malloc { obj, .. }
        | ReplayOp::Calloc { obj, .. }
        | ReplayOp::PosixMemalign { obj, .. }
        | ReplayOp::AlignedAlloc { obj, .. }
        | ReplayOp::Memalign { obj, .. }
        | ReplayOp::Valloc { obj, .. }
        | ReplayOp::Pvalloc { obj, .. } => (Some(obj), None, false),
        ReplayOp::Realloc { old, new, sync, .. }
        | ReplayOp::ReallocArray { old, new, sync, .. } => (Some(new), old, sync),
        ReplayOp::Free { obj, sync }
        | ReplayOp::FreeSized { obj, sync, .. }
        | ReplayOp::FreeAlignedSized { obj, sync, .. } => (None, Some(obj), sync),
    }
}

/// What the reference model expects of one recorded event.
#[derive(Clone, Debug)]
struct Expect {
    thread: usize,
    /// `None`: dropped (not replayed).
    kind: Option<CallKind>,
    created: Option<u64>,
    /// Consumed model object and whether the op must be a sync point.
    consumed: Option<(u64, bool)>,
}

/// Replays `w` symbolically in the recorded global order `exp` and checks object identity, slot
/// discipline and sync marks against the model.
fn check(w: &Workload, exp: &[Expect]) {
    let h = w.header();
    let mut ops: Vec<std::vec::IntoIter<ReplayOp>> =
        all_ops(w).into_iter().map(|v| v.into_iter()).collect();
    // Workload threads are the recorded threads that kept at least one op, in order.
    let mut kept: Vec<usize> = exp
        .iter()
        .filter(|e| e.kind.is_some())
        .map(|e| e.thread)
        .collect();
    kept.sort();
    kept.dedup();
    assert_eq!(kept.len(), h.threads.len(), "threads kept");
    let mut table: Vec<Option<u64>> = vec![None; h.object_slots as usize];
    let mut creator_of = std::collections::HashMap::new();
    for (i, e) in exp.iter().enumerate() {
        let Some(kind) = e.kind else { continue };
        let t = kept.iter().position(|k| *k == e.thread).unwrap();
        let op = ops[t]
            .next()
            .unwrap_or_else(|| panic!("event {i}: thread {t} ran out of ops"));
        assert_eq!(op.kind(), kind, "event {i}: {op:?}");
        let (created, consumed, sync) = refs(&op);
        match (e.consumed, consumed) {
            (Some((id, want_sync)), Some(s)) => {
                assert_eq!(
                    table[s as usize],
                    Some(id),
                    "event {i}: slot {s} holds the wrong object ({op:?})"
                );
                table[s as usize] = None;
                assert_eq!(sync, want_sync, "event {i}: sync mark of {op:?}");
                assert_eq!(
                    want_sync,
                    s < h.shared_slots,
                    "event {i}: cross-thread objects live in shared slots"
                );
            }
            (None, None) => {}
            (a, b) => panic!("event {i}: consumed {a:?} vs {b:?} in {op:?}"),
        }
        match (e.created, created) {
            (Some(id), Some(s)) => {
                assert_eq!(
                    table[s as usize], None,
                    "event {i}: slot {s} reused while occupied ({op:?})"
                );
                table[s as usize] = Some(id);
                creator_of.insert(id, t);
                if s >= h.shared_slots {
                    let th = &h.threads[t];
                    assert!(
                        s >= th.local_base && s < th.local_base + th.local_slots,
                        "event {i}: foreign local slot"
                    );
                }
            }
            (None, None) => {}
            (a, b) => panic!("event {i}: created {a:?} vs {b:?} in {op:?}"),
        }
    }
    for (t, mut rest) in ops.into_iter().enumerate() {
        assert!(
            rest.next().is_none(),
            "thread {t} has ops the model does not"
        );
    }
}

/// Counts the model expects in the statistics.
#[derive(Default, Debug, PartialEq)]
struct Counts {
    unknown: u64,
    double: u64,
    null: u64,
    failed: u64,
    cross_frees: u64,
    cross_reallocs: u64,
    realloc_zero: u64,
}

/// Simulates a program: random threads calling random allocator functions over a heap that hands freed
/// addresses out again (LIFO, shared by all threads). Returns per-thread events and the expectation in
/// global (timestamp) order.
fn simulate(
    seed: u64,
    threads: usize,
    steps: usize,
) -> (Vec<Vec<traces::event::Event>>, Vec<Expect>, Counts) {
    let mut r = Rng::new(seed);
    let mut evs = vec![Vec::new(); threads];
    let mut exp = Vec::new();
    let mut c = Counts::default();
    let mut live: Vec<(u64, u64, usize)> = Vec::new(); // (addr, model id, creator)
    let mut pool: Vec<u64> = Vec::new(); // freed addresses, reusable; also double-free candidates
    let mut next_addr = 0x1000u64;
    let mut next_id = 0u64;
    let mut new_addr = |pool: &mut Vec<u64>, r: &mut Rng| {
        if !pool.is_empty() && r.below(3) > 0 {
            pool.pop().unwrap()
        } else {
            next_addr += 64;
            next_addr
        }
    };
    for step in 0..steps {
        let t = r.below(threads as u64) as usize;
        let ts = 10 * step as u64 + 5;
        let size = 1 + r.below(300);
        let mut push = |op: Op, e: Expect| {
            evs[t].push(ev(ts, 100 + t as u32, op));
            exp.push(e);
        };
        let action = r.below(14);
        let victim = if live.is_empty() {
            None
        } else {
            Some(r.below(live.len() as u64) as usize)
        };
        match (action, victim) {
            (0..=3, _) | (4..=6, None) | (7..=8, None) | (13, None) => {
                let a = new_addr(&mut pool, &mut r);
                let id = next_id;
                next_id += 1;
                let (op, kind) = match r.below(6) {
                    0 => (
                        Op::Calloc {
                            nmemb: 2,
                            size,
                            ptr: a,
                        },
                        CallKind::Calloc,
                    ),
                    1 => (
                        Op::Memalign {
                            align: 64,
                            size,
                            ptr: a,
                        },
                        CallKind::Memalign,
                    ),
                    2 => (
                        Op::PosixMemalign {
                            align: 32,
                            size,
                            ptr: a,
                            ret: 0,
                        },
                        CallKind::PosixMemalign,
                    ),
                    3 => (
                        Op::Realloc {
                            old: 0,
                            size,
                            new: a,
                        },
                        CallKind::Realloc,
                    ),
                    _ => (Op::Malloc { size, ptr: a }, CallKind::Malloc),
                };
                live.push((a, id, t));
                push(
                    op,
                    Expect {
                        thread: t,
                        kind: Some(kind),
                        created: Some(id),
                        consumed: None,
                    },
                );
            }
            (4..=6, Some(v)) => {
                let (a, id, cr) = live.swap_remove(v);
                pool.push(a);
                let cross = cr != t;
                c.cross_frees += cross as u64;
                let op = if r.below(4) == 0 {
                    Op::FreeSized { ptr: a, size }
                } else {
                    free(a)
                };
                push(
                    op,
                    Expect {
                        thread: t,
                        kind: Some(CallKind::Free),
                        created: None,
                        consumed: Some((id, cross)),
                    },
                );
            }
            (7..=8, Some(v)) => {
                // realloc: in place or moved.
                let (a, id, cr) = live.swap_remove(v);
                let in_place = r.below(2) == 0;
                let b = if in_place {
                    a
                } else {
                    new_addr(&mut pool, &mut r)
                };
                if !in_place {
                    pool.push(a);
                }
                let nid = next_id;
                next_id += 1;
                live.push((b, nid, t));
                let cross = cr != t;
                c.cross_reallocs += cross as u64;
                push(
                    Op::Realloc {
                        old: a,
                        size,
                        new: b,
                    },
                    Expect {
                        thread: t,
                        kind: Some(CallKind::Realloc),
                        created: Some(nid),
                        consumed: Some((id, cross)),
                    },
                );
            }
            (13, Some(v)) => {
                // realloc(p, 0) returning NULL: glibc frees p.
                let (a, id, cr) = live.swap_remove(v);
                pool.push(a);
                let cross = cr != t;
                c.cross_frees += cross as u64;
                c.realloc_zero += 1;
                push(
                    Op::Realloc {
                        old: a,
                        size: 0,
                        new: 0,
                    },
                    Expect {
                        thread: t,
                        kind: Some(CallKind::Free),
                        created: None,
                        consumed: Some((id, cross)),
                    },
                );
            }
            (9, _) => {
                c.unknown += 1;
                push(
                    free(0xdead_0000 + 16 * r.below(1000)),
                    Expect {
                        thread: t,
                        kind: None,
                        created: None,
                        consumed: None,
                    },
                );
            }
            (10, _) => {
                if let Some(&a) = pool.last() {
                    c.double += 1;
                    push(
                        free(a),
                        Expect {
                            thread: t,
                            kind: None,
                            created: None,
                            consumed: None,
                        },
                    );
                } else {
                    c.null += 1;
                    push(
                        free(0),
                        Expect {
                            thread: t,
                            kind: None,
                            created: None,
                            consumed: None,
                        },
                    );
                }
            }
            (11, _) => {
                c.null += 1;
                push(
                    free(0),
                    Expect {
                        thread: t,
                        kind: None,
                        created: None,
                        consumed: None,
                    },
                );
            }
            _ => {
                c.failed += 1;
                push(
                    malloc(1 << 40, 0),
                    Expect {
                        thread: t,
                        kind: None,
                        created: None,
                        consumed: None,
                    },
                );
            }
        }
    }
    (evs, exp, c)
}

fn counts_of(w: &Workload) -> Counts {
    let s = &w.header().stats;
    Counts {
        unknown: s.unknown_frees,
        double: s.double_frees,
        null: s.null_frees,
        failed: s.failed_allocs,
        cross_frees: s.cross_thread_frees,
        cross_reallocs: s.cross_thread_reallocs,
        realloc_zero: s.realloc_zero_frees,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    /// Random multi-threaded traces compile into workloads that replay the model's objects exactly.
    #[test]
    fn random_traces_match_the_reference_model(seed in any::<u64>(), threads in 1usize..5, steps in 0usize..400) {
        let (evs, exp, counts) = simulate(seed, threads, steps);
        let w = compile_threads(evs);
        check(&w, &exp);
        prop_assert_eq!(counts_of(&w), counts);
        let s = &w.header().stats;
        prop_assert_eq!(s.inversions_repaired, 0);
        prop_assert_eq!(s.missing_frees, 0);
        prop_assert_eq!(s.ops(), w.header().total_ops);
        prop_assert_eq!(s.ops() as usize, exp.iter().filter(|e| e.kind.is_some()).count());
        s.check_invariants().unwrap();
    }
}

#[test]
fn reused_address_is_a_new_object_and_cross_thread_free_syncs() {
    // T0 mallocs A at p, T1 frees it (cross-thread), T0 gets p again (object B) and frees it itself.
    let p = 0x5000;
    let w = compile_threads(vec![
        vec![
            ev(1, 100, malloc(32, p)),
            ev(3, 100, malloc(48, p)),
            ev(4, 100, free(p)),
        ],
        vec![ev(2, 101, free(p))],
    ]);
    let ops = all_ops(&w);
    let h = w.header();
    assert_eq!(h.shared_slots, 1);
    assert_eq!(ops[0][0], ReplayOp::Malloc { obj: 0, size: 32 });
    assert_eq!(ops[1], vec![ReplayOp::Free { obj: 0, sync: true }]);
    let local = h.threads[0].local_base;
    assert_eq!(
        ops[0][1],
        ReplayOp::Malloc {
            obj: local,
            size: 48
        }
    );
    assert_eq!(
        ops[0][2],
        ReplayOp::Free {
            obj: local,
            sync: false
        }
    );
    assert_eq!(h.stats.cross_thread_frees, 1);
    assert_eq!(h.stats.by_kind[kind_index(CallKind::Malloc)], 2);
    assert_eq!(h.stats.peak_live_objects, 1);
    assert_eq!(h.stats.peak_live_bytes, 48);
}

#[test]
fn realloc_moves_keep_sizes_and_reuse_the_slot() {
    let w = compile_threads(vec![vec![
        ev(1, 100, malloc(10, 0x100)),
        ev(
            2,
            100,
            Op::Realloc {
                old: 0x100,
                size: 100,
                new: 0x200,
            },
        ),
        ev(
            3,
            100,
            Op::Realloc {
                old: 0x200,
                size: 200,
                new: 0x200,
            },
        ),
        ev(
            4,
            100,
            Op::ReallocArray {
                old: 0x200,
                nmemb: 3,
                size: 100,
                new: 0x300,
            },
        ),
        ev(
            5,
            100,
            Op::AlignedAlloc {
                align: 256,
                size: 512,
                ptr: 0x100,
            },
        ),
        ev(
            6,
            100,
            Op::FreeAlignedSized {
                ptr: 0x100,
                align: 256,
                size: 512,
            },
        ),
        ev(7, 100, free(0x300)),
    ]]);
    let ops = all_ops(&w);
    assert_eq!(
        ops[0],
        vec![
            ReplayOp::Malloc { obj: 0, size: 10 },
            ReplayOp::Realloc {
                old: Some(0),
                new: 0,
                size: 100,
                sync: false
            },
            ReplayOp::Realloc {
                old: Some(0),
                new: 0,
                size: 200,
                sync: false
            },
            ReplayOp::ReallocArray {
                old: Some(0),
                new: 0,
                nmemb: 3,
                size: 100,
                sync: false
            },
            ReplayOp::AlignedAlloc {
                obj: 1,
                align: 256,
                size: 512
            },
            ReplayOp::FreeAlignedSized {
                obj: 1,
                align: 256,
                size: 512,
                sync: false
            },
            ReplayOp::Free {
                obj: 0,
                sync: false
            },
        ]
    );
    assert_eq!(w.header().object_slots, 2);
    assert_eq!(w.header().stats.peak_live_bytes, 300 + 512);
}

#[test]
fn log_inversion_is_repaired_and_counted() {
    // T0 reallocs p -> q; inside realloc p is freed and T1's malloc gets p, and T1 logs first (ts 5)
    // while T0 logs its realloc after returning (ts 6).
    let (p, q) = (0x1000, 0x2000);
    let w = compile_threads(vec![
        vec![
            ev(1, 100, malloc(64, p)),
            ev(
                6,
                100,
                Op::Realloc {
                    old: p,
                    size: 128,
                    new: q,
                },
            ),
            ev(9, 100, free(q)),
        ],
        vec![ev(5, 101, malloc(32, p)), ev(8, 101, free(p))],
    ]);
    let s = &w.header().stats;
    assert_eq!(s.inversions_repaired, 1);
    assert_eq!(
        (s.unknown_frees, s.double_frees, s.missing_frees),
        (0, 0, 0)
    );
    let ops = all_ops(&w);
    // T0's realloc consumes its own first object; T1 frees its own object: no cross-thread traffic.
    assert_eq!(
        ops[0][1],
        ReplayOp::Realloc {
            old: Some(ops_slot(&ops[0][0])),
            new: ops_slot(&ops[0][0]),
            size: 128,
            sync: false
        }
    );
    assert_eq!(
        ops[1],
        vec![
            ReplayOp::Malloc {
                obj: ops_slot(&ops[1][0]),
                size: 32
            },
            ReplayOp::Free {
                obj: ops_slot(&ops[1][0]),
                sync: false
            }
        ]
    );
    assert_eq!(s.cross_thread_frees + s.cross_thread_reallocs, 0);
    assert_eq!(s.live_objects_at_end, 0);
}

fn ops_slot(op: &ReplayOp) -> u32 {
    refs(op).0.or(refs(op).1).unwrap()
}

#[test]
fn a_free_that_never_comes_is_a_missing_free_not_an_inversion() {
    // p handed out twice with no free in between, and nobody frees the first object late.
    let p = 0x1000;
    let w = compile_threads(vec![
        vec![ev(1, 100, malloc(64, p))],
        vec![ev(2, 101, malloc(32, p)), ev(100_000_000, 101, free(p))],
    ]);
    let s = &w.header().stats;
    assert_eq!((s.inversions_repaired, s.missing_frees), (0, 1));
    assert_eq!(s.live_objects_at_end, 1);
    let ops = all_ops(&w);
    assert_eq!(
        ops[1][1],
        ReplayOp::Free {
            obj: ops_slot(&ops[1][0]),
            sync: false
        }
    );
}

#[test]
fn unknown_double_null_and_failed_are_counted_not_replayed() {
    let w = compile_threads(vec![vec![
        ev(1, 100, free(0x777)), // unknown
        ev(2, 100, malloc(8, 0x100)),
        ev(3, 100, free(0x100)),
        ev(4, 100, free(0x100)),        // double
        ev(5, 100, free(0)),            // free(NULL)
        ev(6, 100, malloc(1 << 50, 0)), // failed
        ev(
            7,
            100,
            Op::PosixMemalign {
                align: 3,
                size: 8,
                ptr: 0,
                ret: 22,
            },
        ), // EINVAL
        ev(
            8,
            100,
            Op::Realloc {
                old: 0x999,
                size: 16,
                new: 0x200,
            },
        ), // unknown old: replayed as realloc(NULL)
        ev(
            9,
            100,
            Op::Realloc {
                old: 0x200,
                size: 1 << 50,
                new: 0,
            },
        ), // failed realloc: old stays live
        ev(10, 100, free(0x200)),
        ev(11, 100, Op::ThreadExit),
    ]]);
    let s = &w.header().stats;
    assert_eq!(
        (
            s.unknown_frees,
            s.double_frees,
            s.null_frees,
            s.failed_allocs
        ),
        (2, 1, 1, 3)
    );
    let ops = all_ops(&w);
    assert_eq!(
        ops[0],
        vec![
            ReplayOp::Malloc { obj: 0, size: 8 },
            ReplayOp::Free {
                obj: 0,
                sync: false
            },
            ReplayOp::Realloc {
                old: None,
                new: 0,
                size: 16,
                sync: false
            },
            ReplayOp::Free {
                obj: 0,
                sync: false
            },
        ]
    );
}

#[test]
fn threads_with_nothing_to_replay_are_dropped() {
    let w = compile_threads(vec![
        vec![ev(1, 100, malloc(8, 0x10))],
        vec![ev(2, 101, free(0x4242)), ev(3, 101, Op::ThreadExit)],
    ]);
    assert_eq!(w.header().threads.len(), 1);
    assert_eq!(w.header().stats.unknown_frees, 1);
    assert_eq!(w.header().stats.live_objects_at_end, 1);
}

#[test]
fn several_processes_keep_their_address_spaces_apart() {
    use traces::compile::{compile, CompileOptions, ProcessStreams, ThreadStream};
    let proc_ = |pid: u32, evs: Vec<traces::event::Event>| ProcessStreams {
        pid,
        threads: vec![ThreadStream {
            tid: pid,
            events: evs.into_iter(),
        }],
    };
    // Both processes use address 0x100; each frees its own.
    let c = compile(
        vec![
            proc_(
                10,
                vec![ev(1, 10, malloc(8, 0x100)), ev(2, 10, free(0x100))],
            ),
            proc_(
                20,
                vec![ev(1, 20, malloc(16, 0x100)), ev(3, 20, free(0x100))],
            ),
        ],
        &CompileOptions::default(),
        "two processes",
    )
    .unwrap();
    let w = write_and_open(&c.writer);
    assert_eq!(w.header().threads.len(), 2);
    assert_eq!(w.header().threads[1].pid, 20);
    let s = &w.header().stats;
    assert_eq!(
        (
            s.unknown_frees,
            s.double_frees,
            s.missing_frees,
            s.cross_thread_frees
        ),
        (0, 0, 0, 0)
    );
    assert!(w.header().notes.iter().any(|n| n.contains("2 processes")));
}

#[test]
fn raw_trace_files_compile_through_the_real_reader() {
    use traces::compile::{compile_files, CompileOptions};
    use traces::raw::{BuilderSpec, EndState, RawTraceBuilder};
    let path = tmp("t.raw");
    let mut b = RawTraceBuilder::create(&path, &BuilderSpec::default()).unwrap();
    b.push(7, 10, malloc(100, 0x7000)).unwrap();
    b.push(8, 20, free(0x7000)).unwrap();
    b.push(
        8,
        30,
        Op::Calloc {
            nmemb: 4,
            size: 8,
            ptr: 0x8000,
        },
    )
    .unwrap();
    b.push(
        7,
        40,
        Op::Realloc {
            old: 0x8000,
            size: 64,
            new: 0x9000,
        },
    )
    .unwrap();
    b.push(7, 50, free(0x9000)).unwrap();
    b.finish(EndState::Exit).unwrap();
    let c = compile_files(std::slice::from_ref(&path), &CompileOptions::default()).unwrap();
    assert_eq!(c.events, 5);
    let w = write_and_open(&c.writer);
    let s = &w.header().stats;
    assert_eq!((s.cross_thread_frees, s.cross_thread_reallocs), (1, 1));
    assert_eq!(w.header().shared_slots, 2);
    let ops = all_ops(&w);
    assert_eq!(ops[0][0], ReplayOp::Malloc { obj: 0, size: 100 });
    assert_eq!(ops[1][0], ReplayOp::Free { obj: 0, sync: true });
    assert!(matches!(
        ops[0][1],
        ReplayOp::Realloc {
            old: Some(1),
            sync: true,
            size: 64,
            ..
        }
    ));
    assert!(
        w.header().notes.iter().any(|n| n.contains("clean exit")),
        "{:?}",
        w.header().notes
    );
}

#[test]
fn shared_slots_of_later_processes_are_shifted_past_earlier_ones() {
    use traces::compile::{compile, CompileOptions, ProcessStreams, ThreadStream};
    // Each process: thread A mallocs at 0x100, thread B frees it (cross-thread), A mallocs and frees 0x200.
    let proc_ = |pid: u32| ProcessStreams {
        pid,
        threads: vec![
            ThreadStream {
                tid: pid,
                events: vec![
                    ev(1, pid, malloc(8, 0x100)),
                    ev(3, pid, malloc(24, 0x200)),
                    ev(4, pid, free(0x200)),
                ]
                .into_iter(),
            },
            ThreadStream {
                tid: pid + 1,
                events: vec![ev(2, pid + 1, free(0x100))].into_iter(),
            },
        ],
    };
    let c = compile(
        vec![proc_(10), proc_(20), proc_(30)],
        &CompileOptions::default(),
        "three processes",
    )
    .unwrap();
    let w = write_and_open(&c.writer);
    let h = w.header();
    assert_eq!((h.shared_slots, h.threads.len()), (3, 6));
    let ops = all_ops(&w);
    for p in 0..3u32 {
        let (a, b) = (&ops[2 * p as usize], &ops[2 * p as usize + 1]);
        assert_eq!(a[0], ReplayOp::Malloc { obj: p, size: 8 }, "process {p}");
        assert_eq!(b[0], ReplayOp::Free { obj: p, sync: true }, "process {p}");
        let local = h.threads[2 * p as usize].local_base;
        assert!(local >= h.shared_slots);
        assert_eq!(
            a[1],
            ReplayOp::Malloc {
                obj: local,
                size: 24
            }
        );
        assert_eq!(
            a[2],
            ReplayOp::Free {
                obj: local,
                sync: false
            }
        );
    }
    assert_eq!(h.stats.cross_thread_frees, 3);
}
