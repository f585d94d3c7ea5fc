//! Unit and property tests of the raw format: encode → decode round trips through real files, crash
//! recovery, and a fuzz-style pass over damaged bytes (errors, never panics).

use super::*;
use crate::event::{Event, Op};
use proptest::prelude::*;
use std::path::PathBuf;

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("hakmem-raw-tests-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d.join(name)
}

fn arb_u64() -> impl Strategy<Value = u64> {
    prop_oneof![
        0u64..64,
        0u64..70_000,
        any::<u64>(),
        (0u64..1 << 44).prop_map(|p| p << 4)
    ]
}

fn arb_op() -> impl Strategy<Value = Op> {
    let x = arb_u64;
    prop_oneof![
        (x(), x()).prop_map(|(size, ptr)| Op::Malloc { size, ptr }),
        x().prop_map(|ptr| Op::Free { ptr }),
        (x(), x(), x()).prop_map(|(nmemb, size, ptr)| Op::Calloc { nmemb, size, ptr }),
        (x(), x(), x()).prop_map(|(old, size, new)| Op::Realloc { old, size, new }),
        (x(), x(), x(), x()).prop_map(|(old, nmemb, size, new)| Op::ReallocArray {
            old,
            nmemb,
            size,
            new
        }),
        (x(), x(), x(), any::<u32>()).prop_map(|(align, size, ptr, ret)| Op::PosixMemalign {
            align,
            size,
            ptr,
            ret
        }),
        (x(), x(), x()).prop_map(|(align, size, ptr)| Op::AlignedAlloc { align, size, ptr }),
        (x(), x(), x()).prop_map(|(align, size, ptr)| Op::Memalign { align, size, ptr }),
        (x(), x()).prop_map(|(size, ptr)| Op::Valloc { size, ptr }),
        (x(), x()).prop_map(|(size, ptr)| Op::Pvalloc { size, ptr }),
        (x(), x()).prop_map(|(ptr, size)| Op::FreeSized { ptr, size }),
        (x(), x(), x()).prop_map(|(ptr, align, size)| Op::FreeAlignedSized { ptr, align, size }),
        Just(Op::ThreadStart),
        Just(Op::ThreadExit),
        (0u32..1 << 22).prop_map(|child_pid| Op::Fork { child_pid }),
        Just(Op::Exec),
    ]
}

/// Per-thread events with non-decreasing timestamps (gaps small and huge).
fn arb_trace() -> impl Strategy<Value = Vec<Event>> {
    prop::collection::vec(
        (
            0u32..3,
            prop_oneof![0u64..100, 0u64..200_000, 0u64..1 << 40],
            arb_op(),
        ),
        0..400,
    )
    .prop_map(|v| {
        let mut clock = [0u64; 3];
        v.into_iter()
            .map(|(t, gap, op)| {
                clock[t as usize] += gap;
                Event {
                    ts_ns: clock[t as usize],
                    tid: 100 + t,
                    op,
                }
            })
            .collect()
    })
}

fn build(path: &std::path::Path, events: &[Event], end: EndState) -> PathBuf {
    let spec = BuilderSpec {
        chunk_size: 4096,
        argv: vec!["prog".into(), "a b".into(), String::new()],
        ..Default::default()
    };
    let mut b = RawTraceBuilder::create(path, &spec).unwrap();
    for e in events {
        b.push(e.tid, e.ts_ns, e.op).unwrap();
    }
    b.finish(end).unwrap()
}

fn per_thread(events: &[Event]) -> std::collections::BTreeMap<u32, Vec<Event>> {
    let mut m = std::collections::BTreeMap::<u32, Vec<Event>>::new();
    for e in events {
        m.entry(e.tid).or_default().push(*e);
    }
    m
}

fn decoded(t: &RawTrace) -> std::collections::BTreeMap<u32, Vec<Event>> {
    (0..t.threads().len())
        .map(|i| (t.threads()[i].tid, t.thread_events(i).collect()))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn encode_decode_round_trip(events in arb_trace()) {
        let p = tmp("roundtrip.hkraw");
        build(&p, &events, EndState::Exit);
        let t = RawTrace::open(&p).unwrap();
        prop_assert_eq!(t.check_invariants(), Ok(()));
        prop_assert_eq!(decoded(&t), per_thread(&events));
        prop_assert_eq!(t.event_count(), events.len() as u64);
        prop_assert!(t.recovery().is_clean());
        prop_assert_eq!(&t.header().argv, &vec!["prog".to_string(), "a b".to_string(), String::new()]);
    }

    /// Any prefix of a valid file opens to an error or to a prefix of each thread's events.
    #[test]
    fn truncated_files_give_errors_or_prefixes(events in arb_trace(), cut in any::<prop::sample::Index>()) {
        let p = tmp("trunc.hkraw");
        build(&p, &events, EndState::None);
        let bytes = std::fs::read(&p).unwrap();
        let len = cut.index(bytes.len() + 1);
        if let Ok(t) = RawTrace::from_bytes(bytes[..len].to_vec(), "cut") {
            prop_assert_eq!(t.check_invariants(), Ok(()));
            let want = per_thread(&events);
            for (tid, got) in decoded(&t) {
                let w = &want[&tid];
                prop_assert!(got.len() <= w.len());
                prop_assert_eq!(&got[..], &w[..got.len()]);
            }
        }
    }

    /// Flipped bits never panic, and whatever decodes is bounded by the file.
    #[test]
    fn bit_flips_never_panic(events in arb_trace(), flips in prop::collection::vec((any::<prop::sample::Index>(), 0u8..8), 1..8)) {
        let p = tmp("flip.hkraw");
        build(&p, &events, EndState::Exit);
        let mut bytes = std::fs::read(&p).unwrap();
        for (i, bit) in flips {
            let i = i.index(bytes.len());
            bytes[i] ^= 1 << bit;
        }
        let len = bytes.len();
        if let Ok(t) = RawTrace::from_bytes(bytes, "flipped") {
            prop_assert_eq!(t.check_invariants(), Ok(()));
            let n: usize = (0..t.threads().len()).map(|i| t.thread_events(i).count()).sum();
            prop_assert!(n * 8 <= len);
            let _ = t.recovery().summary();
        }
    }

    /// Arbitrary bytes behind a valid magic and version never panic.
    #[test]
    fn random_bytes_never_panic(tail in prop::collection::vec(any::<u8>(), 0..6000)) {
        let mut bytes = layout::MAGIC.to_vec();
        bytes.extend_from_slice(&layout::VERSION.to_le_bytes());
        bytes.extend_from_slice(&tail);
        if let Ok(t) = RawTrace::from_bytes(bytes, "random") {
            for i in 0..t.threads().len() {
                let _ = t.thread_events(i).count();
            }
        }
    }
}

#[test]
fn wrong_magic_and_version_are_named() {
    let p = tmp("v.hkraw");
    build(
        &p,
        &[Event {
            ts_ns: 1,
            tid: 1,
            op: Op::Malloc { size: 1, ptr: 16 },
        }],
        EndState::Exit,
    );
    let mut bytes = std::fs::read(&p).unwrap();
    bytes[8..12].copy_from_slice(&7u32.to_le_bytes());
    let e = RawTrace::from_bytes(bytes.clone(), "x.hkraw")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("x.hkraw") && e.contains("version 7") && e.contains("version 1"),
        "{e}"
    );
    bytes[0] = b'Z';
    let e = RawTrace::from_bytes(bytes, "x.hkraw")
        .unwrap_err()
        .to_string();
    assert!(e.contains("bad magic"), "{e}");
    let e = RawTrace::from_bytes(Vec::new(), "e")
        .unwrap_err()
        .to_string();
    assert!(e.contains("empty"), "{e}");
    let e = RawTrace::open(&std::env::temp_dir())
        .unwrap_err()
        .to_string();
    assert!(e.contains("directory"), "{e}");
    let e = RawTrace::open(&tmp("does-not-exist"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("does-not-exist"), "{e}");
}

#[test]
fn killed_writer_is_recovered_and_reported() {
    let p = tmp("killed.hkraw");
    let events: Vec<Event> = (0..5000)
        .map(|i| Event {
            ts_ns: i * 10,
            tid: 7,
            op: Op::Malloc {
                size: i,
                ptr: 0x1000 + i * 16,
            },
        })
        .collect();
    build(&p, &events, EndState::None);
    let t = RawTrace::open(&p).unwrap();
    assert_eq!(t.recovery().end, EndState::None);
    assert_eq!(t.event_count(), 5000);
    assert!(!t.recovery().is_clean());
    assert!(
        t.recovery().summary().contains("killed"),
        "{}",
        t.recovery().summary()
    );
    // Cut in the middle of the last chunk: the chunk is damaged, its earlier records kept.
    let bytes = std::fs::read(&p).unwrap();
    let t = RawTrace::from_bytes(bytes[..bytes.len() - 1001].to_vec(), "cut").unwrap();
    assert_eq!(t.recovery().chunks_damaged, 1);
    assert!(t.event_count() < 5000 && t.event_count() > 4000);
}

#[test]
fn malloc_free_pairs_take_eight_bytes_per_event() {
    let p = tmp("size.hkraw");
    let mut b = RawTraceBuilder::create(&p, &BuilderSpec::default()).unwrap();
    for i in 0..100_000u64 {
        let ptr = 0x5555_0000_0000 + (i % 64) * 1024;
        b.push(
            1,
            i * 20,
            Op::Malloc {
                size: 16 + i % 1000,
                ptr,
            },
        )
        .unwrap();
        b.push(1, i * 20 + 10, Op::Free { ptr }).unwrap();
    }
    b.finish(EndState::Exit).unwrap();
    let t = RawTrace::open(&p).unwrap();
    // One long-form malloc per chunk (the first one compares with pointer 0), MALLOC8/FREE16 otherwise.
    assert_eq!(t.record_bytes(), 200_000 * 8 + 8 * t.chunks().len() as u64);
    assert_eq!(t.recovery().clock, ClockSource::Fit);
    let last = t.thread_events(0).last().unwrap();
    assert_eq!(last.ts_ns, 99_999 * 20 + 10);
}
