//! A multi-threaded Rust program with HAKMEM as its `#[global_allocator]`: threads build strings, vectors,
//! hash maps and B-trees, pass them to each other through channels (cross-thread frees), and check the
//! results. Prints a checksum and the number of allocations HAKMEM served.

use std::collections::{BTreeMap, HashMap};
use std::sync::mpsc;

#[global_allocator]
static GLOBAL: hakmem_allocator::Hakmem = hakmem_allocator::Hakmem;

fn main() {
    let threads = 8;
    let (txs, rxs): (Vec<_>, Vec<_>) = (0..threads).map(|_| mpsc::channel::<Vec<String>>()).unzip();
    let handles: Vec<_> = rxs
        .into_iter()
        .enumerate()
        .map(|(t, rx)| {
            let txs = txs.clone();
            std::thread::spawn(move || {
                let mut sum = 0u64;
                for round in 0..200 {
                    let v: Vec<String> = (0..200)
                        .map(|i| format!("{t}-{round}-{i}-{}", "x".repeat(i % 64)))
                        .collect();
                    let mut m: HashMap<String, usize> = HashMap::new();
                    for s in &v {
                        *m.entry(s.clone()).or_default() += s.len();
                    }
                    let b: BTreeMap<usize, Vec<u8>> =
                        (0..100).map(|i| (i, vec![i as u8; i * 7])).collect();
                    sum += m.values().map(|&x| x as u64).sum::<u64>()
                        + b.values().map(|x| x.len() as u64).sum::<u64>();
                    txs[(t + 1) % threads].send(v).unwrap();
                    while let Ok(got) = rx.try_recv() {
                        assert!(got.iter().all(|s| s.contains('-')), "corrupted message");
                        sum += got.len() as u64;
                    }
                }
                drop(txs);
                for got in rx {
                    sum += got.len() as u64;
                }
                sum
            })
        })
        .collect();
    drop(txs);
    let total: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    let expected_per_thread: u64 = {
        let m: u64 = (0..200u64)
            .map(|r| {
                (0..200u64)
                    .map(|i| format!("0-{r}-{i}-").len() as u64 + i % 64)
                    .sum::<u64>()
            })
            .sum();
        m + 200 * (0..100u64).map(|i| i * 7).sum::<u64>() + 200 * 200
    };
    // Thread ids of one digit keep every string's length independent of the thread.
    assert_eq!(total, expected_per_thread * threads as u64, "wrong result");
    hakmem_allocator::check_invariants().expect("invariants");
    let hits: u64 = hakmem_allocator::stats::snapshot()["unified_cache"]
        .iter()
        .filter(|(k, _)| k.starts_with("hits_"))
        .map(|(_, v)| *v)
        .sum();
    println!("checksum {total:#x}");
    println!("hakmem hits {hits}");
}
