//! Summaries of the constructed bundle: the figures a reader relies on.

use crate::fixture::{main_bundle, small_bundle};
use reports::summary::Significance;
use reports::Report;

#[test]
fn baseline_defaults_to_system_and_has_ratio_one() {
    let r = Report::build(&[main_bundle()], None);
    for w in &r.sections[0].workloads {
        assert_eq!(w.baseline.as_deref(), Some("system"));
        let c = w.row("system").unwrap().vs_baseline.as_ref().unwrap();
        assert_eq!((c.ratio, c.significance), (1.0, Significance::Baseline));
    }
}

#[test]
fn ratios_spreads_and_significance() {
    let r = Report::build(&[main_bundle()], Some("system"));
    let w = &r.sections[0].workloads[0];
    assert_eq!(w.workload, "rm-129-1024");
    let sys = w.row("system").unwrap();
    assert_eq!(
        (sys.ok, sys.failed),
        (4, 1),
        "the timed-out sample is not counted"
    );
    let mi = w.row("mimalloc").unwrap();
    let c = mi.vs_baseline.as_ref().unwrap();
    let expect = mi.ops_per_sec.unwrap().median / sys.ops_per_sec.unwrap().median;
    assert!((c.ratio - expect).abs() < 1e-12);
    assert!(c.low <= c.ratio && c.ratio <= c.high, "{c:?}");
    assert!((1.2..1.45).contains(&c.ratio), "{c:?}");
    // 5 vs 4 fully separated samples: exact p = 2 / C(9,4) = 2/126.
    assert_eq!(c.significance, Significance::Significant);
    assert!((c.p_value.unwrap() - 2.0 / 126.0).abs() < 1e-12, "{c:?}");
    let hk = w.row("hakmem").unwrap().vs_baseline.as_ref().unwrap();
    assert!(hk.ratio < 0.1 && hk.significance == Significance::Significant);
    assert_eq!(w.fastest.as_deref(), Some("mimalloc"));
    assert!(
        w.verdict().starts_with("mimalloc is fastest: 1."),
        "{}",
        w.verdict()
    );
}

#[test]
fn baseline_by_config_label_or_allocator_name() {
    let r = Report::build(&[main_bundle()], Some("hakmem"));
    assert_eq!(
        r.sections[0].workloads[0].baseline.as_deref(),
        Some("hakmem")
    );
    let r = Report::build(
        &[main_bundle()],
        Some("hakmem:HAKMEM_TINY_PAGE_BOX_CLASSES=5,6,7"),
    );
    let w = &r.sections[0].workloads[0];
    assert_eq!(
        w.baseline.as_deref(),
        Some("hakmem:HAKMEM_TINY_PAGE_BOX_CLASSES=5,6,7")
    );
    assert!(w.row("hakmem").unwrap().vs_baseline.as_ref().unwrap().ratio < 0.3);
    let r = Report::build(&[main_bundle()], Some("jemalloc"));
    assert!(r.sections[0].warnings[0].contains("baseline `jemalloc` is not in this bundle"));
    assert_eq!(
        r.sections[0].workloads[0].baseline.as_deref(),
        Some("system")
    );
}

#[test]
fn few_repeats_are_marked_and_quartiles_apart_is_used() {
    let r = Report::build(&[small_bundle()], None);
    let c = r.sections[0].workloads[0]
        .row("mimalloc")
        .unwrap()
        .vs_baseline
        .clone()
        .unwrap();
    // 3 vs 3 cannot reach p < 0.05; separated quartiles still say something.
    assert!(c.p_value.unwrap() >= 0.1 - 1e-12);
    assert_eq!(c.significance, Significance::QuartilesApart, "{c:?}");
    let mut one = small_bundle();
    one.samples.retain(|s| s.repeat == 0);
    let r = Report::build(&[one], None);
    let c = r.sections[0].workloads[0]
        .row("mimalloc")
        .unwrap()
        .vs_baseline
        .clone()
        .unwrap();
    assert_eq!(c.significance, Significance::TooFewRepeats);
    assert!(c.p_value.is_none());
}

#[test]
fn failures_are_listed_with_reasons() {
    let r = Report::build(&[main_bundle()], None);
    let f = &r.sections[0].failures;
    assert_eq!(f.len(), 2);
    assert!(f
        .iter()
        .any(|f| f.error.contains("SIGSEGV") && f.workload == "sort"));
    assert!(f
        .iter()
        .any(|f| f.error.contains("timeout") && f.config == "system"));
}

#[test]
fn sweep_of_one_knob_is_found_in_knob_order() {
    let r = Report::build(&[main_bundle()], None);
    let w = &r.sections[0].workloads[0];
    let sw: Vec<_> = w
        .sweeps
        .iter()
        .filter(|s| s.knob == "HAKMEM_TINY_UNIFIED_C7")
        .collect();
    assert_eq!(sw.len(), 1, "{:?}", w.sweeps);
    let values: Vec<&str> = sw[0].points.iter().map(|p| p.value.as_str()).collect();
    assert_eq!(values, ["(default)", "64", "256", "512"]);
    // The Page Box knob has one set value only: not a sweep.
    assert!(w
        .sweeps
        .iter()
        .all(|s| s.knob != "HAKMEM_TINY_PAGE_BOX_CLASSES"));
}

#[test]
fn box_highlights_name_the_shared_pool_lock() {
    let r = Report::build(&[main_bundle()], None);
    let w = &r.sections[0].workloads[0];
    let top: Vec<(&str, &str)> = w
        .box_highlights
        .iter()
        .map(|h| (h.r#box.as_str(), h.counter.as_str()))
        .collect();
    assert!(top.len() >= 3, "{top:?}");
    let pos = |b: &str, c: &str| top.iter().position(|x| *x == (b, c));
    // Page Box counters go from 0 to thousands; the Shared Pool lock count falls ~100×: both lead.
    assert!(pos("page_box", "refills").unwrap() < 3, "{top:?}");
    assert!(pos("shared_pool", "lock_acquisitions").is_some(), "{top:?}");
    let h = &w.box_highlights[pos("shared_pool", "lock_acquisitions").unwrap()];
    assert_eq!(h.min_config, "hakmem:HAKMEM_TINY_PAGE_BOX_CLASSES=5,6,7");
    assert!(
        pos("superslab", "mapped").is_none(),
        "an equal counter is not highlighted"
    );
}

#[test]
fn terminal_names_the_boxes_that_differ_but_not_knob_read_backs() {
    let mut r = Report::build(&[main_bundle()], None);
    // A knob's read-back ranked first (a real C7 sweep reads `capacity_c7` back).
    r.sections[0].workloads[0].box_highlights.insert(
        0,
        reports::summary::BoxHighlight {
            r#box: "unified_cache".into(),
            counter: "capacity_c7".into(),
            spread: 8.0,
            min_config: "hakmem:HAKMEM_TINY_UNIFIED_C7=64".into(),
            max_config: "hakmem:HAKMEM_TINY_UNIFIED_C7=512".into(),
            score: 1e9,
        },
    );
    let text = reports::terminal::render_terminal(&r, reports::terminal::Style::default());
    let lines: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.starts_with("  Per-box counters that differ most"))
        .skip(1)
        .take_while(|l| l.starts_with("    "))
        .collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[0].starts_with("    page_box.refills  "), "{text}");
    assert!(
        lines.iter().all(|l| !l.contains("capacity_")),
        "a knob's read-back explains nothing: {text}"
    );
    let lock = lines
        .iter()
        .find(|l| l.contains("shared_pool.lock_acquisitions"))
        .expect("the Shared Pool lock line");
    assert!(
        lock.contains(" in hakmem:HAKMEM_TINY_PAGE_BOX_CLASSES=5,6,7, "),
        "lowest first: {lock}"
    );
}

#[test]
fn knobs_parse_from_labels_with_commas_in_values() {
    let mut row = reports::summary::ConfigSummary {
        config: "hakmem:HAKMEM_TINY_PAGE_BOX_CLASSES=5,6,7,HAKMEM_TINY_UNIFIED_C7=256".into(),
        ..Default::default()
    };
    let k = reports::summary::knobs_of(&row);
    assert_eq!(k["HAKMEM_TINY_PAGE_BOX_CLASSES"], "5,6,7");
    assert_eq!(k["HAKMEM_TINY_UNIFIED_C7"], "256");
    row.config = "system".into();
    assert!(reports::summary::knobs_of(&row).is_empty());
}

#[test]
fn quartiles_hold_their_invariant_over_every_row() {
    let r = Report::build(&[main_bundle(), small_bundle()], None);
    let mut rows = 0;
    for (_, _, row) in r.rows() {
        for q in [row.ops_per_sec, row.peak_rss, row.post_rss]
            .into_iter()
            .flatten()
        {
            assert!(q.check_invariants(), "{row:?}");
        }
        rows += 1;
    }
    assert_eq!(rows, 7 * 2 + 2);
}

#[test]
fn disjoint_quartiles_with_interleaved_samples_are_noise() {
    // mimalloc 1, 2, 3 against system 0.5, 10, 11: interpolated quartiles are disjoint, yet one system
    // sample is the slowest of all, so U gives p = 0.7: not evidence.
    let mut b = small_bundle();
    for s in &mut b.samples {
        s.ops_per_sec = match (s.config.as_str(), s.repeat) {
            ("mimalloc", r) => [1.0, 2.0, 3.0][r as usize],
            (_, r) => [0.5, 10.0, 11.0][r as usize],
        };
    }
    let r = Report::build(&[b], None);
    let row = r.sections[0].workloads[0].row("mimalloc").unwrap();
    let c = row.vs_baseline.clone().unwrap();
    assert!(row.ops_per_sec.unwrap().iqr_disjoint(
        &r.sections[0].workloads[0]
            .row("system")
            .unwrap()
            .ops_per_sec
            .unwrap()
    ));
    assert!((c.p_value.unwrap() - 0.7).abs() < 1e-12, "{c:?}");
    assert_eq!(c.significance, Significance::WithinNoise);
}

#[test]
fn memory_verdict_names_the_leanest_and_the_excess() {
    let r = Report::build(&[small_bundle()], None);
    let w = &r.sections[0].workloads[0];
    let sys = w.row("system").unwrap().peak_rss.unwrap().median;
    let mi = w.row("mimalloc").unwrap().peak_rss.unwrap().median;
    assert!(sys < mi);
    let v = w.memory_verdict().unwrap();
    assert!(v.starts_with("Leanest: system at "), "{v}");
    assert!(
        v.ends_with(&format!(
            "mimalloc needs the most, +{}",
            reports::format::bytes(mi - sys)
        )),
        "{v}"
    );
}

#[test]
fn kernel_verdict_names_fault_and_system_time_outliers_only() {
    // The fixture's allocators fault alike (about 700 per run) and spend no system time: nothing to say.
    let r = Report::build(&[small_bundle()], None);
    assert_eq!(r.sections[0].workloads[0].kernel_verdict(), None);

    // mimalloc faults 29× more and spends 2.75× system's system time, a third of its CPU time (system
    // time is summarised for live runs only).
    let mut b = small_bundle();
    for s in &mut b.samples {
        s.kind = "live".into();
        if s.config == "mimalloc" {
            s.minor_faults = 20_400;
            s.sys_seconds = 0.11;
            s.cpu_seconds = 0.33;
        } else {
            s.sys_seconds = 0.04;
            s.cpu_seconds = 0.30;
        }
    }
    let r = Report::build(&[b.clone()], None);
    let w = &r.sections[0].workloads[0];
    let sys_faults = w.row("system").unwrap().minor_faults.unwrap();
    assert!((650.0..750.0).contains(&sys_faults), "{sys_faults}");
    assert_eq!(
        w.kernel_verdict().unwrap(),
        format!(
            "Kernel: mimalloc takes {:.0}× system's minor page faults (20,400 against {}); \
             mimalloc spends 2.8× system's system time (110 ms against 40.0 ms)",
            20_400.0 / sys_faults,
            reports::format::count(sys_faults)
        )
    );
    let text = reports::terminal::render_terminal(&r, reports::terminal::Style::default());
    assert!(text.contains("  Kernel: mimalloc takes "), "{text}");

    // Under the thresholds: 3× the faults, or system time a twentieth of the CPU time, is not named.
    for s in &mut b.samples {
        if s.config == "mimalloc" {
            s.minor_faults = 2_000;
            s.cpu_seconds = 2.2;
        }
    }
    let r = Report::build(&[b], None);
    assert_eq!(r.sections[0].workloads[0].kernel_verdict(), None);
}
