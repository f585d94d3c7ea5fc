//! Constructed bundles with the shapes and magnitudes of real runs (the memo's random-mixed bands on this
//! 2-core machine, a recorded `sort`), built from `reports::model` values. Deterministic: the spread of the
//! repeats comes from a fixed-seed generator, so snapshots are stable.

use reports::model::*;
use reports::Bundle;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// SplitMix64: a fixed-seed source of repeat-to-repeat noise.
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
    /// `x` times a factor in `[1 - rel, 1 + rel]`.
    fn around(&mut self, x: f64, rel: f64) -> f64 {
        x * (1.0 + rel * (2.0 * self.next() - 1.0))
    }
}

fn machine() -> Machine {
    Machine {
        hostname: "bench-1".into(),
        cpu: "AMD EPYC 7B13".into(),
        cores: 2,
        memory_bytes: 24 * 1024 * 1024 * 1024,
        kernel: "6.1.0-18-amd64".into(),
    }
}

fn alloc(config: &str) -> AllocatorInfo {
    let (allocator, spec) = config.split_once(':').unwrap_or((config, ""));
    let mut knobs = BTreeMap::new();
    if let Some((k, v)) = spec.split_once('=') {
        knobs.insert(k.to_owned(), v.to_owned());
    }
    AllocatorInfo {
        allocator: allocator.into(),
        config: config.into(),
        knobs,
        version: match allocator {
            "system" => "glibc 2.36".into(),
            "mimalloc" => "mimalloc 2.1.7 (crate libmimalloc-sys 0.1.39)".into(),
            _ => "hakmem-allocator 0.1.0".into(),
        },
        path: String::new(),
    }
}

fn profile(ops: u64, threads: u32) -> serde_json::Value {
    serde_json::json!({
        "threads": threads,
        "ops": ops,
        "by_kind": {"malloc": ops / 2, "free": ops / 2},
        "peak_live_bytes": 148_224,
        "peak_live_objects": 256,
        "cross_thread_frees": 0,
        "unknown_frees": 0,
        "double_frees": 0,
        "size_histogram": [
            {"lo": 129, "hi": 256, "count": ops / 8},
            {"lo": 257, "hi": 512, "count": ops / 4},
            {"lo": 513, "hi": 1024, "count": ops / 8}
        ],
        "lifetime_histogram": {"1": 900, "2": 1800, "4": 3500, "8": 7000, "16": 14000, "32": 27000, "64": 52000, "128": 98000, "256": 170000, "512": 120000, "1024": 6000}
    })
}

fn box_stats(config: &str, n: &mut Noise) -> BTreeMap<String, BTreeMap<String, u64>> {
    let page_box = config.contains("PAGE_BOX");
    let c7 = config
        .rsplit('=')
        .next()
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(128.0);
    let mut m: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    let mut put = |b: &str, c: &str, v: f64| {
        m.entry(b.into())
            .or_default()
            .insert(c.into(), v.max(0.0).round() as u64);
    };
    let shared_locks = if page_box { 40.0 } else { 3900.0 * 128.0 / c7 };
    put("unified_cache", "hits", n.around(480_000.0, 0.01));
    put(
        "unified_cache",
        "misses",
        n.around(20_000.0 * 128.0 / c7, 0.02),
    );
    put(
        "unified_cache",
        "refills_c7",
        n.around(6_100.0 * 128.0 / c7, 0.02),
    );
    put(
        "page_box",
        "refills",
        if page_box {
            n.around(5_900.0, 0.02)
        } else {
            0.0
        },
    );
    put(
        "page_box",
        "carved",
        if page_box {
            n.around(3_000.0, 0.02)
        } else {
            0.0
        },
    );
    put("warm_pool", "hits", n.around(150.0, 0.05));
    put("warm_pool", "misses", n.around(12.0, 0.1));
    put(
        "shared_pool",
        "lock_acquisitions",
        n.around(shared_locks, 0.03),
    );
    put("superslab", "mapped", 6.0);
    put("release_guard", "released", 0.0);
    m
}

fn sample(
    workload: &str,
    config: &str,
    repeat: u32,
    ops: u64,
    ops_per_sec: f64,
    n: &mut Noise,
) -> Sample {
    let allocator = config.split(':').next().unwrap().to_owned();
    let seconds = ops as f64 / ops_per_sec;
    let mut latency = BTreeMap::new();
    let base = 1e9 / ops_per_sec;
    for (kind, f) in [("malloc", 1.2), ("free", 0.8)] {
        latency.insert(
            kind.to_owned(),
            Percentiles {
                samples: ops / 2 / 64,
                p50: (n.around(base * f, 0.05)).round(),
                p90: (n.around(base * f * 2.0, 0.05)).round(),
                p99: (n.around(base * f * 9.0, 0.1)).round(),
                p999: (n.around(base * f * 60.0, 0.2)).round(),
            },
        );
    }
    let rss_base: f64 = match allocator.as_str() {
        "system" => 3_600_000.0,
        "mimalloc" => 4_300_000.0,
        _ => 6_400_000.0,
    };
    Sample {
        allocator: allocator.clone(),
        config: config.into(),
        workload: workload.into(),
        repeat,
        status: Some(Status::Ok),
        error: String::new(),
        ops,
        seconds,
        ops_per_sec,
        cpu_seconds: seconds * 0.98,
        peak_rss_bytes: (n.around(rss_base, 0.01) / 4096.0).round() as u64 * 4096,
        post_rss_bytes: (n.around(rss_base * 0.8, 0.01) / 4096.0).round() as u64 * 4096,
        // Written before `baseline_rss_bytes` existed; [`small_bundle`] sets it.
        baseline_rss_bytes: 0,
        minor_faults: n.around(700.0, 0.05).round() as u64,
        major_faults: 0,
        latency_ns: latency,
        box_stats: if allocator == "hakmem" {
            box_stats(config, n)
        } else {
            BTreeMap::new()
        },
        violations: Vec::new(),
        cpus: vec![repeat % 2],
        // Written before samples named their host.
        host: String::new(),
        cpu: String::new(),
        ..Sample::default()
    }
}

/// The configurations of the main fixture, with their median ops/s on the 129–1024 B band.
pub const CONFIGS: [(&str, f64); 7] = [
    ("hakmem", 4.8e6),
    ("hakmem:HAKMEM_TINY_PAGE_BOX_CLASSES=5,6,7", 31e6),
    ("hakmem:HAKMEM_TINY_UNIFIED_C7=64", 4.1e6),
    ("hakmem:HAKMEM_TINY_UNIFIED_C7=256", 6.0e6),
    ("hakmem:HAKMEM_TINY_UNIFIED_C7=512", 6.6e6),
    ("system", 95e6),
    ("mimalloc", 125e6),
];

/// A bundle of two workloads (random-mixed 129–1024 B, a recorded `sort`) × [`CONFIGS`] × 5 repeats, with
/// one crashed and one timed-out sample.
pub fn main_bundle() -> Bundle {
    let mut n = Noise(42);
    let workloads = [
        ("rm-129-1024", 1_000_000u64, 1u32, 1.0),
        ("sort", 412_345, 2, 0.6),
    ];
    let mut samples = Vec::new();
    for repeat in 0..5 {
        for (w, ops, _, scale) in workloads {
            for (c, ops_s) in CONFIGS {
                let mut s = sample(w, c, repeat, ops, n.around(ops_s * scale, 0.04), &mut n);
                if w == "sort" && c == "hakmem:HAKMEM_TINY_UNIFIED_C7=64" && repeat == 3 {
                    s.status = Some(Status::Crashed);
                    s.error = "killed by signal 11 (SIGSEGV)".into();
                    s.ops_per_sec = 0.0;
                    s.latency_ns.clear();
                    s.box_stats.clear();
                }
                if w == "rm-129-1024" && c == "system" && repeat == 4 {
                    s.status = Some(Status::Timeout);
                    s.error = "no result after 60 s (--timeout 60)".into();
                }
                samples.push(s);
            }
        }
    }
    let manifest = Manifest {
        format_version: BUNDLE_FORMAT_VERSION,
        kind: "replay".into(),
        command: [
            "hakmem",
            "replay",
            "rm-129-1024.hkw",
            "sort.hkw",
            "--alloc",
            "hakmem",
            "--repeats",
            "5",
        ]
        .map(String::from)
        .to_vec(),
        tool_version: "0.1.0".into(),
        date: "2026-11-26T05:40:00Z".into(),
        machine: machine(),
        workloads: workloads
            .iter()
            .map(|(w, ops, threads, _)| WorkloadInfo {
                name: (*w).into(),
                path: format!("work/{w}.hkw"),
                hash: "9f2c4e1ab07d3c55e0f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f70".into(),
                threads: *threads,
                ops: *ops,
                peak_live_bytes: 148_224,
                profile: profile(*ops, *threads),
                ..WorkloadInfo::default()
            })
            .collect(),
        allocators: CONFIGS.iter().map(|(c, _)| alloc(c)).collect(),
        repeats: 5,
        jobs: 2,
        touch: "first".into(),
        check: false,
        notes: vec!["2 children ran at once on 2 cores".into()],
    };
    Bundle {
        dir: PathBuf::from("bundles/main"),
        manifest,
        samples,
        warnings: Vec::new(),
    }
}

/// The harness's RSS before the timed region in [`small_bundle`]'s samples (640 pages).
pub const SMALL_BASELINE_RSS: u64 = 640 * 4096;

/// A second, small bundle: one workload, system and mimalloc, 3 repeats (for the several-bundles overview).
/// Unlike [`main_bundle`] its samples carry `baseline_rss_bytes` (a newer writer), so its tables show the
/// heap peak.
pub fn small_bundle() -> Bundle {
    let mut n = Noise(7);
    let mut samples = Vec::new();
    for repeat in 0..3 {
        for (c, ops_s) in [("system", 88e6), ("mimalloc", 120e6)] {
            samples.push(sample(
                "rm-8-128",
                c,
                repeat,
                1_000_000,
                n.around(ops_s, 0.03),
                &mut n,
            ));
        }
    }
    for s in &mut samples {
        s.baseline_rss_bytes = SMALL_BASELINE_RSS;
    }
    let manifest = Manifest {
        format_version: BUNDLE_FORMAT_VERSION,
        kind: "replay".into(),
        command: vec!["hakmem".into(), "replay".into(), "rm-8-128.hkw".into()],
        tool_version: "0.1.0".into(),
        date: "2026-11-26T05:45:00Z".into(),
        machine: machine(),
        workloads: vec![WorkloadInfo {
            name: "rm-8-128".into(),
            path: "work/rm-8-128.hkw".into(),
            hash: "01ab".into(),
            threads: 1,
            ops: 1_000_000,
            peak_live_bytes: 17_408,
            profile: serde_json::Value::Null,
            ..WorkloadInfo::default()
        }],
        allocators: vec![alloc("system"), alloc("mimalloc")],
        repeats: 3,
        jobs: 1,
        touch: "none".into(),
        check: false,
        notes: Vec::new(),
    };
    Bundle {
        dir: PathBuf::from("bundles/small"),
        manifest,
        samples,
        warnings: Vec::new(),
    }
}

/// Live seconds per repeat of `prog` and replayed seconds of its recording, per configuration, for the
/// fidelity tests (the hand-computed figures are in `tests/fidelity.rs`).
pub const LIVE_SECONDS: [(&str, [f64; 5], [f64; 5]); 3] = [
    (
        "system",
        [1.00, 1.02, 0.98, 1.01, 0.99],
        [0.30, 0.31, 0.29, 0.30, 0.30],
    ),
    (
        "hakmem",
        [0.90, 0.91, 0.89, 0.92, 0.88],
        [0.22, 0.22, 0.21, 0.23, 0.22],
    ),
    (
        "mimalloc",
        [0.95, 0.96, 0.94, 0.97, 0.93],
        [0.20, 0.21, 0.19, 0.20, 0.20],
    ),
];

/// A `hakmem live --record` bundle: the live workload `prog` (kind `live`) and the replay of its recording
/// `prog (replay)` (whose `live_workload` names it), system, hakmem and mimalloc, 5 repeats, from
/// [`LIVE_SECONDS`]; plus a replayed workload `tiny` of 19 calls (too short to rank).
pub fn live_bundle() -> Bundle {
    let mut samples = Vec::new();
    for repeat in 0..5u32 {
        for (c, live, replay) in LIVE_SECONDS {
            let r = repeat as usize;
            samples.push(Sample {
                kind: "live".into(),
                allocator: c.into(),
                config: c.into(),
                workload: "prog".into(),
                repeat,
                status: Some(Status::Ok),
                seconds: live[r],
                ops_per_sec: 1.0 / live[r],
                cpu_seconds: live[r] * 0.9,
                user_seconds: live[r] * 0.8,
                sys_seconds: live[r] * 0.1,
                peak_rss_bytes: 20 << 20,
                exit_code: Some(0),
                stdout_hash: "sha256:00/0".into(),
                ..Sample::default()
            });
            samples.push(Sample {
                kind: "replay".into(),
                allocator: c.into(),
                config: c.into(),
                workload: "prog (replay)".into(),
                repeat,
                status: Some(Status::Ok),
                ops: 12_000_000,
                seconds: replay[r],
                ops_per_sec: 12e6 / replay[r],
                peak_rss_bytes: 30 << 20,
                ..Sample::default()
            });
            samples.push(Sample {
                kind: "replay".into(),
                allocator: c.into(),
                config: c.into(),
                workload: "tiny".into(),
                repeat,
                status: Some(Status::Ok),
                ops: 19,
                seconds: 2e-5 * (1.0 + r as f64 / 10.0),
                ops_per_sec: 19.0 / (2e-5 * (1.0 + r as f64 / 10.0)),
                ..Sample::default()
            });
        }
    }
    let manifest = Manifest {
        format_version: BUNDLE_FORMAT_VERSION,
        kind: "live".into(),
        command: vec![
            "hakmem".into(),
            "live".into(),
            "--record".into(),
            "--".into(),
            "prog".into(),
        ],
        tool_version: "0.1.0".into(),
        date: "2026-12-02T10:00:00Z".into(),
        machine: machine(),
        workloads: vec![
            WorkloadInfo {
                name: "prog".into(),
                kind: "live".into(),
                threads: 2,
                ops: 12_000_000,
                ..WorkloadInfo::default()
            },
            WorkloadInfo {
                name: "prog (replay)".into(),
                path: "recording/recording.hkw".into(),
                threads: 2,
                ops: 12_000_000,
                live_workload: "prog".into(),
                ..WorkloadInfo::default()
            },
            WorkloadInfo {
                name: "tiny".into(),
                threads: 1,
                ops: 19,
                ..WorkloadInfo::default()
            },
        ],
        allocators: vec![alloc("system"), alloc("hakmem"), alloc("mimalloc")],
        repeats: 5,
        jobs: 1,
        touch: "first".into(),
        check: false,
        notes: Vec::new(),
    };
    Bundle {
        dir: PathBuf::from("bundles/live"),
        manifest,
        samples,
        warnings: Vec::new(),
    }
}
