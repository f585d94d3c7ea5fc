//! The workload format: round trips and header behaviour.

use crate::util::*;
use proptest::prelude::*;
use traces::stats::StatsTracker;
use traces::workload::{ObjRef, ReplayOp, StoredOp, Workload, WorkloadWriter};

fn obj_ref() -> impl Strategy<Value = ObjRef> {
    prop_oneof![
        (0u32..300).prop_map(ObjRef::Local),
        (0u32..300).prop_map(ObjRef::Shared),
        (0u32..1 << 20).prop_map(ObjRef::Local)
    ]
}

fn num() -> impl Strategy<Value = u64> {
    prop_oneof![0u64..2000, any::<u64>()]
}

fn stored_op() -> impl Strategy<Value = StoredOp> {
    prop_oneof![
        (obj_ref(), num()).prop_map(|(obj, size)| StoredOp::Malloc { obj, size }),
        (obj_ref(), num(), num()).prop_map(|(obj, nmemb, size)| StoredOp::Calloc {
            obj,
            nmemb,
            size
        }),
        (proptest::option::of(obj_ref()), obj_ref(), num())
            .prop_map(|(old, new, size)| StoredOp::Realloc { old, new, size }),
        (proptest::option::of(obj_ref()), obj_ref(), num(), num()).prop_map(
            |(old, new, nmemb, size)| StoredOp::ReallocArray {
                old,
                new,
                nmemb,
                size
            }
        ),
        obj_ref().prop_map(|obj| StoredOp::Free { obj }),
        (obj_ref(), num()).prop_map(|(obj, size)| StoredOp::FreeSized { obj, size }),
        (obj_ref(), num(), num()).prop_map(|(obj, align, size)| StoredOp::FreeAlignedSized {
            obj,
            align,
            size
        }),
        (obj_ref(), num(), num()).prop_map(|(obj, align, size)| StoredOp::PosixMemalign {
            obj,
            align,
            size
        }),
        (obj_ref(), num(), num()).prop_map(|(obj, align, size)| StoredOp::AlignedAlloc {
            obj,
            align,
            size
        }),
        (obj_ref(), num(), num()).prop_map(|(obj, align, size)| StoredOp::Memalign {
            obj,
            align,
            size
        }),
        (obj_ref(), num()).prop_map(|(obj, size)| StoredOp::Valloc { obj, size }),
        (obj_ref(), num()).prop_map(|(obj, size)| StoredOp::Pvalloc { obj, size }),
    ]
}

/// The global slot a stored reference of thread `t` must decode to.
fn global(w: &Workload, t: usize, r: ObjRef) -> u32 {
    match r {
        ObjRef::Shared(i) => i,
        ObjRef::Local(i) => w.header().threads[t].local_base + i,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// Any ops written per thread come back identical (stored form) and with the documented global slots
    /// and sync marks (replay form); the header's layout equations hold.
    #[test]
    fn encode_write_map_decode_round_trips(threads in proptest::collection::vec(proptest::collection::vec(stored_op(), 0..60), 0..5)) {
        // Stats are about object lifetimes, which random ops do not respect: store op counts only.
        let mut w = WorkloadWriter::new("proptest");
        let mut tracker = traces::stats::Stats::default();
        for (t, ops) in threads.iter().enumerate() {
            let i = w.add_thread(7, t as u32);
            for op in ops {
                w.push(i, op);
                tracker.on_op(op.kind());
            }
        }
        w.stats = tracker;
        let wl = write_and_open(&w);
        let h = wl.header();
        prop_assert_eq!(h.threads.len(), threads.len());
        prop_assert_eq!(h.total_ops as usize, threads.iter().map(|t| t.len()).sum::<usize>());
        for (t, ops) in threads.iter().enumerate() {
            let stored: Vec<StoredOp> = wl.stored_ops(t).collect();
            prop_assert_eq!(&stored, ops);
            let replay: Vec<ReplayOp> = wl.ops(t).collect();
            prop_assert_eq!(replay.len(), ops.len());
            for (r, s) in replay.iter().zip(ops) {
                prop_assert_eq!(r.kind(), s.kind());
                let g = |x: Option<ObjRef>| x.map(|x| global(&wl, t, x));
                let (created, consumed, sync) = match *r {
                    ReplayOp::Realloc { old, new, sync, .. } | ReplayOp::ReallocArray { old, new, sync, .. } => (Some(new), old, sync),
                    ReplayOp::Free { obj, sync } | ReplayOp::FreeSized { obj, sync, .. } | ReplayOp::FreeAlignedSized { obj, sync, .. } => (None, Some(obj), sync),
                    ReplayOp::Malloc { obj, .. } | ReplayOp::Calloc { obj, .. } | ReplayOp::PosixMemalign { obj, .. }
                    | ReplayOp::AlignedAlloc { obj, .. } | ReplayOp::Memalign { obj, .. } | ReplayOp::Valloc { obj, .. }
                    | ReplayOp::Pvalloc { obj, .. } => (Some(obj), None, false),
                };
                prop_assert_eq!(created, g(s.created()));
                prop_assert_eq!(consumed, g(s.consumed()));
                prop_assert_eq!(sync, matches!(s.consumed(), Some(ObjRef::Shared(_))));
                for slot in created.into_iter().chain(consumed) {
                    prop_assert!(slot < h.object_slots);
                }
            }
        }
    }
}

#[test]
fn header_statistics_come_back_and_info_needs_no_stream() {
    let mut w = WorkloadWriter::new("stats");
    let t = w.add_thread(1, 2);
    let mut s = StatsTracker::new();
    for op in [
        StoredOp::Malloc {
            obj: ObjRef::Local(0),
            size: 100,
        },
        StoredOp::Calloc {
            obj: ObjRef::Local(1),
            nmemb: 10,
            size: 10,
        },
        StoredOp::Free {
            obj: ObjRef::Local(0),
        },
    ] {
        s.push(t, &op);
        w.push(t, &op);
    }
    w.stats = s.finish();
    w.notes.push("a note".into());
    let p = tmp("stats.hkw");
    w.write(&p).unwrap();
    let wl = Workload::open_header(&p).unwrap();
    assert!(!wl.is_validated());
    let info = traces::info::Info::from_workload(&wl);
    assert_eq!(info.ops, 3);
    assert_eq!(info.by_kind["malloc"], 1);
    assert_eq!(info.by_kind["calloc"], 1);
    assert_eq!(info.by_kind["free"], 1);
    assert_eq!(info.by_kind.len(), 10);
    assert_eq!((info.peak_live_bytes, info.peak_live_objects), (200, 2));
    assert_eq!((info.live_objects_at_end, info.live_bytes_at_end), (1, 100));
    assert_eq!(
        info.size_histogram,
        vec![traces::info::Bucket {
            lo: 65,
            hi: 128,
            count: 2
        }]
    );
    assert_eq!(
        info.lifetime_histogram,
        vec![traces::info::Bucket {
            lo: 2,
            hi: 2,
            count: 1
        }]
    );
    assert_eq!(info.notes, vec!["a note".to_string()]);
    assert_eq!(info.source, "stats");
    let json = serde_json::to_value(&info).unwrap();
    for k in [
        "threads",
        "ops",
        "by_kind",
        "peak_live_bytes",
        "peak_live_objects",
        "cross_thread_frees",
        "unknown_frees",
        "double_frees",
        "size_histogram",
        "lifetime_histogram",
        "inversions_repaired",
    ] {
        assert!(json.get(k).is_some(), "{k} missing from info JSON");
    }
}

#[test]
fn slot_indices_beyond_the_table_are_a_writer_error() {
    for r in [ObjRef::Local(u32::MAX), ObjRef::Shared(u32::MAX)] {
        let mut w = WorkloadWriter::new("huge");
        let t = w.add_thread(1, 1);
        w.push(t, &StoredOp::Free { obj: r });
        w.stats.on_op(traces::event::CallKind::Free);
        let err = w.write(&tmp("huge.hkw")).unwrap_err().to_string();
        assert!(err.contains("more than 2^32 object slots"), "{err}");
    }
}

#[test]
fn writer_refuses_statistics_that_do_not_match_the_streams() {
    let mut w = WorkloadWriter::new("bad");
    let t = w.add_thread(1, 1);
    w.push(
        t,
        &StoredOp::Free {
            obj: ObjRef::Local(0),
        },
    );
    let err = w.write(&tmp("bad.hkw")).unwrap_err().to_string();
    assert!(
        err.contains("statistics count 0 ops, streams hold 1"),
        "{err}"
    );
}

#[test]
fn rewriting_a_mapped_workload_does_not_disturb_the_mapping() {
    let p = tmp("rewrite.hkw");
    let w1 = traces::gen::random_mixed(&traces::gen::RandomMixedParams {
        iters: 1000,
        ..Default::default()
    });
    w1.write(&p).unwrap();
    let old = Workload::open(&p).unwrap();
    let before: Vec<ReplayOp> = old.ops(0).collect();
    let w2 = traces::gen::random_mixed(&traces::gen::RandomMixedParams {
        iters: 10,
        ..Default::default()
    });
    w2.write(&p).unwrap();
    assert_eq!(old.ops(0).collect::<Vec<_>>(), before);
    assert_eq!(
        Workload::open(&p).unwrap().header().total_ops,
        w2.threads()[0].ops()
    );
}
