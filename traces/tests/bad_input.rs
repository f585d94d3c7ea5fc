//! Bad input to the workload and raw readers: always an error naming the file, never a panic.

use crate::util::*;
use proptest::prelude::*;
use traces::workload::Workload;

fn good_workload() -> Vec<u8> {
    let p = tmp("good.hkw");
    traces::gen::threads(&traces::gen::ThreadsParams {
        threads: 2,
        iters: 300,
        ..Default::default()
    })
    .unwrap()
    .write(&p)
    .unwrap();
    std::fs::read(p).unwrap()
}

fn open_bytes(
    bytes: &[u8],
) -> (
    std::path::PathBuf,
    Result<Workload, traces::workload::WorkloadError>,
) {
    let p = tmp("bad.hkw");
    std::fs::write(&p, bytes).unwrap();
    let r = Workload::open(&p);
    (p, r)
}

fn assert_error(bytes: &[u8], cause: &str) {
    let (p, r) = open_bytes(bytes);
    let msg = r.expect_err("must be rejected").to_string();
    assert!(msg.starts_with(&p.display().to_string()), "{msg}");
    assert!(msg.contains(cause), "{msg} lacks {cause:?}");
    assert!(!msg.contains('\n'), "one line: {msg}");
}

#[test]
fn empty_file() {
    assert_error(b"", "empty file");
}

#[test]
fn wrong_magic() {
    assert_error(
        b"#!/bin/sh\necho hello world, definitely not a workload\n",
        "not a workload file",
    );
}

#[test]
fn wrong_version_names_both_versions() {
    let mut b = good_workload();
    b[8..12].copy_from_slice(&7u32.to_le_bytes());
    assert_error(&b, "version 7, but this hakmem reads version 1");
}

#[test]
fn every_truncation_is_an_error() {
    let b = good_workload();
    for len in (0..b.len())
        .step_by(97)
        .chain([1, 8, 23, 24, 25, b.len() - 1])
    {
        let (_, r) = open_bytes(&b[..len]);
        assert!(r.is_err(), "truncated to {len} bytes was accepted");
    }
}

#[test]
fn every_single_bit_flip_is_detected() {
    let b = good_workload();
    let step = (b.len() / 600).max(1);
    for i in (0..b.len()).step_by(step) {
        for bit in [0, 3, 7] {
            let mut c = b.clone();
            c[i] ^= 1 << bit;
            let (_, r) = open_bytes(&c);
            assert!(r.is_err(), "flip of bit {bit} at byte {i} was accepted");
        }
    }
}

#[test]
fn directory_and_missing_path() {
    let d = tmp("dir");
    std::fs::create_dir_all(&d).unwrap();
    let e = Workload::open(&d).unwrap_err().to_string();
    assert!(
        e.contains("is a directory") && e.contains(&d.display().to_string()),
        "{e}"
    );
    let m = tmp("missing.hkw");
    let e = Workload::open(&m).unwrap_err().to_string();
    assert!(
        e.contains("No such file") && e.contains(&m.display().to_string()),
        "{e}"
    );
}

#[test]
fn raw_reader_rejects_a_workload_and_workload_reader_a_raw_trace() {
    use traces::raw::{BuilderSpec, EndState, RawTrace, RawTraceBuilder};
    let raw = tmp("x.raw");
    let mut b = RawTraceBuilder::create(&raw, &BuilderSpec::default()).unwrap();
    b.push(1, 1, malloc(8, 0x10)).unwrap();
    b.finish(EndState::Exit).unwrap();
    assert!(Workload::open(&raw)
        .unwrap_err()
        .to_string()
        .contains("not a workload file"));
    let hkw = tmp("x.hkw");
    std::fs::write(&hkw, good_workload()).unwrap();
    assert!(RawTrace::open(&hkw).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    /// Fuzzing the workload reader: random bytes, and a valid file with random bytes overwritten, are
    /// errors or valid workloads whose every op decodes within bounds — never a panic.
    #[test]
    fn workload_reader_survives_random_damage(
        junk in proptest::collection::vec(any::<u8>(), 0..200),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
        keep_magic in any::<bool>(),
    ) {
        let mut b = if keep_magic { let mut v = traces::workload::MAGIC.to_vec(); v.extend(&junk); v } else { junk.clone() };
        let (_, r) = open_bytes(&b);
        if let Ok(w) = r {
            for t in 0..w.header().threads.len() {
                for op in w.ops(t) { let _ = op.kind(); }
            }
        }
        b = good_workload();
        for (i, v) in &edits {
            let i = i.index(b.len());
            b[i] = *v;
        }
        let (_, r) = open_bytes(&b);
        if let Ok(w) = r {
            let n: u64 = (0..w.header().threads.len()).map(|t| w.ops(t).count() as u64).sum();
            prop_assert_eq!(n, w.header().total_ops);
        }
    }

    /// Fuzzing the raw reader and the compiler behind it: damaged raw traces either fail to open with an
    /// error or compile (possibly recovering a prefix) — never a panic.
    #[test]
    fn raw_reader_and_compiler_survive_random_damage(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..12),
        cut in any::<prop::sample::Index>(),
        do_cut in any::<bool>(),
    ) {
        use traces::raw::{BuilderSpec, EndState, RawTraceBuilder};
        let raw = tmp("fuzz.raw");
        let mut b = RawTraceBuilder::create(&raw, &BuilderSpec { chunk_size: 4096, ..BuilderSpec::default() }).unwrap();
        for i in 0..400u64 {
            let tid = 1 + (i % 3) as u32;
            let p = 0x1000 + 64 * (i % 50);
            let op = if i % 2 == 0 { malloc(i, p) } else { free(p) };
            b.push(tid, i, op).unwrap();
        }
        b.finish(EndState::Exit).unwrap();
        let mut bytes = std::fs::read(&raw).unwrap();
        for (i, v) in &edits {
            let i = i.index(bytes.len());
            bytes[i] = *v;
        }
        if do_cut {
            bytes.truncate(cut.index(bytes.len()));
        }
        std::fs::write(&raw, &bytes).unwrap();
        if let Ok(c) = traces::compile::compile_file(&raw, &traces::compile::CompileOptions::default()) {
            let w = write_and_open(&c.writer);
            prop_assert!(w.header().stats.check_invariants().is_ok());
        }
    }
}
