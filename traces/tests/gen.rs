//! The generators.

use crate::util::*;
use traces::gen::{self, RandomMixed, RandomMixedParams};
use traces::workload::ReplayOp;

#[test]
fn random_mixed_defaults_reproduce_the_live_loop_in_under_four_bytes_per_op() {
    let p = RandomMixedParams::default();
    assert_eq!(
        (p.iters, p.ws, p.seed, p.min, p.max),
        (1_000_000, 256, 42, 16, 1024)
    );
    let path = tmp("rm.hkw");
    let s = gen::random_mixed(&p).write(&path).unwrap();
    let bytes_per_op = s.bytes as f64 / s.ops as f64;
    assert!(bytes_per_op <= 4.0, "{bytes_per_op} bytes/op");
    let w = traces::workload::Workload::open(&path).unwrap();
    assert_eq!(w.header().object_slots, 256);
    // The live benchmark's loop, driven by the same public generator, must produce the same ops.
    let mut g = RandomMixed::new(42, 256, 16, 1024);
    let mut live = [false; 256];
    let mut ops = w.ops(0);
    for _ in 0..p.iters {
        let (slot, size) = g.next();
        let want = if live[slot as usize] {
            ReplayOp::Free {
                obj: slot,
                sync: false,
            }
        } else {
            ReplayOp::Malloc { obj: slot, size }
        };
        live[slot as usize] ^= true;
        assert_eq!(ops.next(), Some(want));
    }
    for (slot, l) in live.iter().enumerate() {
        if *l {
            assert_eq!(
                ops.next(),
                Some(ReplayOp::Free {
                    obj: slot as u32,
                    sync: false
                })
            );
        }
    }
    assert_eq!(ops.next(), None);
    let st = &w.header().stats;
    assert_eq!(st.live_objects_at_end, 0);
    assert!(st.peak_live_objects <= 256);
}

#[test]
fn random_mixed_is_deterministic_and_seed_dependent() {
    let a = gen::random_mixed(&RandomMixedParams {
        iters: 5000,
        ..Default::default()
    });
    let b = gen::random_mixed(&RandomMixedParams {
        iters: 5000,
        ..Default::default()
    });
    let c = gen::random_mixed(&RandomMixedParams {
        iters: 5000,
        seed: 43,
        ..Default::default()
    });
    let (wa, wb, wc) = (write_and_open(&a), write_and_open(&b), write_and_open(&c));
    assert_eq!(all_ops(&wa), all_ops(&wb));
    assert_ne!(all_ops(&wa), all_ops(&wc));
    // Sizes stay in range.
    for op in wa.ops(0) {
        if let ReplayOp::Malloc { size, .. } = op {
            assert!((16..=1024).contains(&size));
        }
    }
}

#[test]
fn producer_consumer_frees_every_item_in_another_thread() {
    let p = gen::ProducerConsumerParams {
        producers: 2,
        consumers: 1,
        items: 300,
        depth: 8,
        ..Default::default()
    };
    let w = write_and_open(&gen::producer_consumer(&p).unwrap());
    let h = w.header();
    assert_eq!(h.threads.len(), 3);
    let s = &h.stats;
    // Every item and every ack crosses threads.
    assert_eq!(s.cross_thread_frees, 2 * 300 * 2);
    assert_eq!(s.live_objects_at_end, 0);
    let ops = all_ops(&w);
    // Consumer: free (sync) then malloc of the ack, per item.
    assert_eq!(ops[2].len(), 2 * 600);
    assert!(matches!(ops[2][0], ReplayOp::Free { sync: true, .. }));
    assert!(matches!(ops[2][1], ReplayOp::Malloc { size: 16, .. }));
    // Bounded queue: a producer never has more than `depth` items unacknowledged.
    let mut outstanding = 0i64;
    for op in &ops[0] {
        match op {
            ReplayOp::Malloc { .. } => outstanding += 1,
            ReplayOp::Free { sync: true, .. } => outstanding -= 1,
            _ => panic!("unexpected {op:?}"),
        }
        assert!(outstanding <= 8 + 1, "{outstanding}");
    }
}

#[test]
fn threads_generator_hands_the_requested_fraction_to_the_next_thread() {
    let p = gen::ThreadsParams {
        threads: 3,
        iters: 20_000,
        remote: 0.25,
        ..Default::default()
    };
    let w = write_and_open(&gen::threads(&p).unwrap());
    let s = &w.header().stats;
    let frac = s.cross_thread_frees as f64 / s.allocations as f64;
    assert!((0.2..0.3).contains(&frac), "{frac}");
    assert_eq!(s.live_objects_at_end, 0);
    assert_eq!(w.header().threads.len(), 3);
    let none = write_and_open(
        &gen::threads(&gen::ThreadsParams {
            remote: 0.0,
            iters: 1000,
            ..Default::default()
        })
        .unwrap(),
    );
    assert_eq!(none.header().shared_slots, 0);
    assert!(gen::threads(&gen::ThreadsParams {
        remote: 1.5,
        ..Default::default()
    })
    .is_err());
}
