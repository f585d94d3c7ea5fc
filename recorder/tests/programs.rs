use crate::support::*;
use std::os::unix::process::ExitStatusExt;
use std::process::Command;
use traces::event::Op;
use traces::raw::EndState;

/// Ops the program printed, in call order.
fn expected_ops(out: &str) -> Vec<Op> {
    let mut v = Vec::new();
    for line in out.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let n = |i: usize| f[i].parse::<u64>().unwrap();
        let op = match f[0] {
            "malloc" => Op::Malloc {
                size: n(1),
                ptr: ptr(f[2]),
            },
            "free" => Op::Free { ptr: ptr(f[1]) },
            "calloc" => Op::Calloc {
                nmemb: n(1),
                size: n(2),
                ptr: ptr(f[3]),
            },
            "realloc" => Op::Realloc {
                old: ptr(f[1]),
                size: n(2),
                new: ptr(f[3]),
            },
            "reallocarray" => Op::ReallocArray {
                old: ptr(f[1]),
                nmemb: n(2),
                size: n(3),
                new: ptr(f[4]),
            },
            "posix_memalign" => Op::PosixMemalign {
                align: n(1),
                size: n(2),
                ptr: ptr(f[3]),
                ret: n(4) as u32,
            },
            "aligned_alloc" => Op::AlignedAlloc {
                align: n(1),
                size: n(2),
                ptr: ptr(f[3]),
            },
            "memalign" => Op::Memalign {
                align: n(1),
                size: n(2),
                ptr: ptr(f[3]),
            },
            "valloc" => Op::Valloc {
                size: n(1),
                ptr: ptr(f[2]),
            },
            "pvalloc" => Op::Pvalloc {
                size: n(1),
                ptr: ptr(f[2]),
            },
            "free_sized" => Op::FreeSized {
                ptr: ptr(f[1]),
                size: n(2),
            },
            "free_aligned_sized" => Op::FreeAlignedSized {
                ptr: ptr(f[1]),
                align: n(2),
                size: n(3),
            },
            _ => continue,
        };
        v.push(op);
    }
    v
}

#[test]
fn every_hooked_call_is_recorded_with_exact_arguments_and_counts() {
    let dir = trace_dir("every_call");
    let out = run_recorded(Command::new(program("every_call")), &dir, &[]);
    assert!(out.status.success(), "{out:?}");
    let text = stdout(&out);
    assert!(
        text.contains("usable 1"),
        "malloc_usable_size passes through: {text}"
    );
    assert!(
        text.contains("free_aligned_sized"),
        "free_sized/free_aligned_sized are exported: {text}"
    );
    let want = expected_ops(&text);
    assert_eq!(want.len(), 29, "{text}");
    let traces = traces_in(&dir);
    assert_eq!(traces.len(), 1);
    let t = &traces[0];
    assert_eq!(
        t.recovery().end,
        EndState::Exit,
        "{}",
        t.recovery().summary()
    );
    assert!(t.recovery().is_clean(), "{}", t.recovery().summary());
    assert_eq!(t.threads().len(), 1);
    let got = all_ops(t);
    assert_eq!(got.first(), Some(&Op::ThreadStart));
    // The program's calls appear in order, each exactly once, between the C library's own calls.
    let start = got
        .iter()
        .position(|o| *o == want[0])
        .expect("first malloc recorded");
    let mut it = got[start..].iter();
    for w in &want {
        assert!(
            it.any(|g| g == w),
            "{w:?} missing or out of order in {:?}",
            &got[start..]
        );
    }
    for w in &want {
        assert_eq!(
            got.iter().filter(|g| *g == w).count(),
            1,
            "{w:?} recorded more than once"
        );
    }
    // Exact counts by kind for the calls with the program's sizes (1000..1099).
    let ours = |o: &&Op| match **o {
        Op::Malloc { size, .. }
        | Op::Calloc { size, .. }
        | Op::Realloc { size, .. }
        | Op::PosixMemalign { size, .. }
        | Op::AlignedAlloc { size, .. }
        | Op::Memalign { size, .. }
        | Op::Valloc { size, .. }
        | Op::Pvalloc { size, .. }
        | Op::FreeSized { size, .. }
        | Op::FreeAlignedSized { size, .. } => (1000..1100).contains(&size),
        Op::ReallocArray { size, .. } => size == 1012 || size == 4,
        _ => false,
    };
    let mut counts = std::collections::BTreeMap::new();
    for o in got.iter().filter(ours) {
        *counts
            .entry(
                format!("{:?}", o)
                    .split_whitespace()
                    .next()
                    .unwrap()
                    .to_string(),
            )
            .or_insert(0) += 1;
    }
    let expect: std::collections::BTreeMap<String, i32> = [
        ("Malloc", 8),
        ("Calloc", 1),
        ("Realloc", 1),
        ("ReallocArray", 2),
        ("PosixMemalign", 2),
        ("AlignedAlloc", 1),
        ("Memalign", 1),
        ("Valloc", 1),
        ("Pvalloc", 1),
        ("FreeSized", 1),
        ("FreeAlignedSized", 1),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    assert_eq!(counts, expect);
    // The failed calls: reallocarray overflow (NULL) and posix_memalign(align 3) = EINVAL.
    assert!(want.contains(&Op::PosixMemalign {
        align: 3,
        size: 1021,
        ptr: 0,
        ret: libc::EINVAL as u32
    }));
    assert!(
        got.contains(&Op::Free { ptr: 0 }),
        "free(NULL) is a call too"
    );
}

#[test]
fn two_threads_with_cross_thread_frees() {
    let dir = trace_dir("threads");
    let out = run_recorded(
        Command::new(program("threads")),
        &dir,
        &[("HAKMEM_RECORD_CHUNK_KB", "16")],
    );
    assert!(out.status.success(), "{out:?}");
    let text = stdout(&out);
    let f: Vec<u32> = text
        .split_whitespace()
        .map(|s| s.parse().unwrap())
        .collect();
    let (n, producer, consumer) = (f[0] as usize, f[1], f[2]);
    let traces = traces_in(&dir);
    assert_eq!(traces.len(), 1);
    let t = &traces[0];
    assert!(t.recovery().is_clean(), "{}", t.recovery().summary());
    assert!(
        t.chunks().len() > 4,
        "small chunks: the threads claimed several each"
    );
    let m = by_tid(t);
    assert_eq!(m.len(), 3, "main, producer, consumer");
    let prod: Vec<u64> = m[&producer]
        .iter()
        .filter(|e| matches!(e.op, Op::Malloc { size: 2001, .. }))
        .map(|e| ptr_of(e.op))
        .collect();
    let cons: Vec<u64> = m[&consumer]
        .iter()
        .filter_map(|e| match e.op {
            Op::Free { ptr } if ptr != 0 => Some(ptr),
            _ => None,
        })
        .collect();
    assert_eq!(prod.len(), n);
    assert_eq!(
        cons, prod,
        "the consumer frees exactly the producer's blocks, in order"
    );
    for tid in [producer, consumer] {
        let ev = &m[&tid];
        assert_eq!(ev.first().unwrap().op, Op::ThreadStart);
        assert_eq!(ev.iter().filter(|e| e.op == Op::ThreadExit).count(), 1);
        assert!(
            ev.windows(2).all(|w| w[0].ts_ns <= w[1].ts_ns),
            "per-thread timestamps are ordered"
        );
    }
    // Cross-thread order: the i-th free (of the i-th block) is stamped after the i-th malloc.
    let stamps = |tid: u32, malloc: bool| -> Vec<u64> {
        m[&tid]
            .iter()
            .filter(|e| match e.op {
                Op::Malloc { size: 2001, .. } => malloc,
                Op::Free { ptr } => !malloc && ptr != 0,
                _ => false,
            })
            .map(|e| e.ts_ns)
            .collect()
    };
    let late = stamps(producer, true)
        .iter()
        .zip(stamps(consumer, false))
        .filter(|(m, f)| **m > *f)
        .count();
    assert_eq!(late, 0, "{late} of {n} frees stamped before their malloc");
}

fn ptr_of(op: Op) -> u64 {
    match op {
        Op::Malloc { ptr, .. } | Op::Free { ptr } => ptr,
        _ => 0,
    }
}

fn has_malloc(t: &traces::raw::RawTrace, size: u64) -> usize {
    all_ops(t)
        .iter()
        .filter(|o| matches!(o, Op::Malloc { size: s, .. } if *s == size))
        .count()
}

#[test]
fn fork_without_exec_gives_the_child_its_own_file() {
    let dir = trace_dir("fork");
    let out = run_recorded(Command::new(program("fork")), &dir, &[]);
    assert!(out.status.success(), "{out:?}");
    let text = stdout(&out);
    let f: Vec<&str> = text.split_whitespace().collect();
    let (parent, child): (u32, u32) = (f[1].parse().unwrap(), f[3].parse().unwrap());
    let traces = traces_in(&dir);
    assert_eq!(traces.len(), 2, "one file per process");
    let p = traces
        .iter()
        .find(|t| t.header().pid == parent)
        .expect("parent trace");
    let c = traces
        .iter()
        .find(|t| t.header().pid == child)
        .expect("child trace");
    assert_eq!(c.header().forked_from, parent);
    assert_eq!(p.header().forked_from, 0);
    assert!(all_ops(p).contains(&Op::Fork { child_pid: child }));
    assert_eq!(
        (
            has_malloc(p, 3001),
            has_malloc(p, 3002),
            has_malloc(p, 3003)
        ),
        (1, 0, 1)
    );
    assert_eq!(
        (
            has_malloc(c, 3001),
            has_malloc(c, 3002),
            has_malloc(c, 3003)
        ),
        (0, 10, 0)
    );
    assert_eq!(all_ops(c).first(), Some(&Op::ThreadStart));
    assert_eq!(p.recovery().end, EndState::Exit);
    assert_eq!(c.recovery().end, EndState::Exit);
}

#[test]
fn exec_keeps_recording_into_a_new_file() {
    let dir = trace_dir("exec");
    let out = run_recorded(Command::new(program("exec")), &dir, &[]);
    assert!(out.status.success(), "{out:?}");
    let pid: u32 = stdout(&out)
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let traces = traces_in(&dir);
    assert_eq!(traces.len(), 2, "one file per process image");
    assert!(traces.iter().all(|t| t.header().pid == pid));
    let first = traces
        .iter()
        .find(|t| has_malloc(t, 4001) == 1)
        .expect("stage 1 trace");
    let second = traces
        .iter()
        .find(|t| has_malloc(t, 4002) == 1)
        .expect("stage 2 trace");
    assert_eq!(first.recovery().end, EndState::Exec);
    assert!(all_ops(first).contains(&Op::Exec));
    assert_eq!(second.recovery().end, EndState::Exit);
    assert_eq!(
        second.header().argv.last().map(String::as_str),
        Some("stage2")
    );
}

#[test]
fn a_vfork_child_exec_does_not_end_the_parent_trace() {
    let dir = trace_dir("vfork");
    let out = run_recorded(Command::new(program("vfork")), &dir, &[]);
    assert!(out.status.success(), "{out:?}");
    let f: Vec<u32> = stdout(&out)
        .split_whitespace()
        .map(|s| s.parse().unwrap())
        .collect();
    let traces = traces_in(&dir);
    let parent = traces
        .iter()
        .find(|t| t.header().pid == f[0])
        .expect("parent trace");
    assert_eq!(parent.recovery().end, EndState::Exit);
    assert!(!all_ops(parent).contains(&Op::Exec));
    assert_eq!((has_malloc(parent, 8001), has_malloc(parent, 8002)), (1, 1));
    assert!(
        traces.iter().any(|t| t.header().pid == f[1]),
        "the exec'd child (sh) has its own trace"
    );
}

#[test]
fn sigkill_leaves_a_readable_trace_and_says_what_was_recovered() {
    killed_program_trace_is_recovered(None, libc::SIGKILL);
}

#[test]
fn sigsegv_leaves_a_readable_trace() {
    killed_program_trace_is_recovered(Some("segv"), libc::SIGSEGV);
}

fn killed_program_trace_is_recovered(arg: Option<&str>, sig: i32) {
    let dir = trace_dir(&format!("signal{sig}"));
    let mut cmd = Command::new(program("sigkill"));
    cmd.args(arg);
    let out = run_recorded(cmd, &dir, &[("HAKMEM_RECORD_CHUNK_KB", "16")]);
    assert_eq!(out.status.signal(), Some(sig), "{out:?}");
    let n: usize = stdout(&out).trim().parse().unwrap();
    let traces = traces_in(&dir);
    assert_eq!(traces.len(), 1);
    let t = &traces[0];
    let r = t.recovery();
    assert_eq!(r.end, EndState::None);
    assert!(!r.is_clean());
    assert!(r.summary().contains("killed"), "{}", r.summary());
    assert!(r.chunks_read > 10);
    assert_eq!(
        has_malloc(t, 5001),
        n,
        "every call made before the kill is in the file"
    );
}

#[test]
fn a_signal_handler_that_allocates_is_recorded() {
    let dir = trace_dir("sighandler");
    let out = run_recorded(Command::new(program("sighandler")), &dir, &[]);
    assert!(out.status.success(), "{out:?}");
    let f: Vec<u64> = stdout(&out)
        .split_whitespace()
        .map(|s| s.parse().unwrap())
        .collect();
    let (loops, handled) = (f[0] as usize, f[1] as usize);
    let traces = traces_in(&dir);
    let t = &traces[0];
    assert!(t.recovery().is_clean(), "{}", t.recovery().summary());
    let ops = all_ops(t);
    assert_eq!(has_malloc(t, 6001), handled);
    assert!(ops.iter().filter(|o| **o == Op::Free { ptr: 0 }).count() >= loops);
    // Every handler malloc is followed by the free of the same block (never torn or reordered).
    for (i, o) in ops.iter().enumerate() {
        if let Op::Malloc { size: 6001, ptr } = *o {
            assert!(
                ops[i + 1..].iter().take(20).any(|x| *x == Op::Free { ptr }),
                "free of {ptr:#x} missing"
            );
        }
    }
}

#[test]
fn allocations_in_a_tls_destructor_are_recorded_before_thread_exit() {
    let dir = trace_dir("tls_dtor");
    let out = run_recorded(Command::new(program("tls_dtor")), &dir, &[]);
    assert!(out.status.success(), "{out:?}");
    let tid: u32 = stdout(&out).trim().parse().unwrap();
    let traces = traces_in(&dir);
    let m = by_tid(&traces[0]);
    let ev: Vec<Op> = m[&tid].iter().map(|e| e.op).collect();
    let p7000 = ev.iter().find_map(|o| match o {
        Op::Malloc { size: 7000, ptr } => Some(*ptr),
        _ => None,
    });
    let i7001 = ev
        .iter()
        .position(|o| matches!(o, Op::Malloc { size: 7001, .. }))
        .expect("malloc in destructor");
    let exit = ev
        .iter()
        .position(|o| *o == Op::ThreadExit)
        .expect("ThreadExit");
    assert!(ev.contains(&Op::Free {
        ptr: p7000.unwrap()
    }));
    assert!(
        i7001 < exit,
        "the destructor's allocations come before ThreadExit: {ev:?}"
    );
}

#[test]
fn off_switch_passes_through_and_writes_nothing() {
    let dir = trace_dir("off");
    let out = run_recorded(
        Command::new(program("every_call")),
        &dir,
        &[("HAKMEM_RECORD_OFF", "1")],
    );
    assert!(out.status.success());
    assert!(stdout(&out).contains("usable 1"));
    assert!(traces_in(&dir).is_empty());
}

#[test]
fn a_full_window_drops_events_and_says_so() {
    let dir = trace_dir("window");
    let mut cmd = Command::new(program("bench_alloc"));
    cmd.args(["200000", "1"]);
    let out = run_recorded(
        cmd,
        &dir,
        &[
            ("HAKMEM_RECORD_MAX_MB", "1"),
            ("HAKMEM_RECORD_CHUNK_KB", "64"),
        ],
    );
    assert!(out.status.success(), "{out:?}");
    let traces = traces_in(&dir);
    let t = &traces[0];
    let r = t.recovery();
    assert!(r.dropped_events > 0, "{}", r.summary());
    assert!(r.summary().contains("dropped"), "{}", r.summary());
    assert_eq!(
        (r.chunks_missing, r.chunks_damaged),
        (0, 0),
        "{}",
        r.summary()
    );
    assert!(t.file_len() <= 1 << 20);
    assert!(r.events > 50_000, "what fit is kept: {}", r.summary());
}

#[test]
fn a_program_that_closes_our_descriptor_keeps_its_own_file_and_a_complete_trace() {
    let dir = trace_dir("closefds");
    let own = dir.join("own.txt");
    let mut cmd = Command::new(program("closefds"));
    cmd.arg(&own);
    let out = run_recorded(cmd, &dir, &[("HAKMEM_RECORD_CHUNK_KB", "16")]);
    assert!(out.status.success(), "{out:?}");
    let f: Vec<u64> = stdout(&out)
        .split_whitespace()
        .map(|s| s.parse().unwrap())
        .collect();
    assert_eq!(
        f[1], 5,
        "the program's file is untouched by the recorder's growth"
    );
    assert_eq!(std::fs::read(&own).unwrap(), b"hello");
    let traces = traces_in(&dir);
    let t = &traces[0];
    assert!(t.recovery().is_clean(), "{}", t.recovery().summary());
    assert_eq!(has_malloc(t, 9001), f[0] as usize);
}
