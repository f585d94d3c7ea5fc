//! Fidelity of a replay against live runs, and "too short to rank", on a constructed `live --record`
//! bundle whose figures are computed here by hand.

use crate::fixture::live_bundle;
use reports::export::exporter_for;
use reports::Report;

fn close(a: impl Into<Option<f64>>, b: f64) -> bool {
    a.into().is_some_and(|a| (a - b).abs() < 1e-9)
}

#[test]
fn fidelity_matches_the_hand_computed_prediction() {
    let r = Report::build(&[live_bundle()], None);
    let s = &r.sections[0];
    let live = s.workloads.iter().find(|w| w.workload == "prog").unwrap();
    assert!(live.is_live());
    let f = live
        .fidelity
        .as_ref()
        .expect("the live workload has a fidelity");
    assert_eq!(f.baseline, "system");
    // Live ratios to system (paired by round, here equal to the ratios of the medians): hakmem 0.90,
    // mimalloc 0.95; replay ratios 0.22/0.30 and 0.20/0.30.
    // Calibrated, leave one out: hakmem's k from mimalloc alone, (0.95 − 1) / (2/3 − 1) = 0.15, predicts
    // 1 + 0.15 · (0.22/0.30 − 1) = 0.96; mimalloc's k from hakmem, (0.90 − 1) / (0.22/0.30 − 1) = 0.375,
    // predicts 1 − 0.375 / 3 = 0.875. Additive, s = 0.30: hakmem 0.92, mimalloc 0.90.
    assert_eq!(f.model, "calibrated");
    let p = |c: &str| f.predictions.iter().find(|p| p.config == c).unwrap();
    assert!(close(p("system").predicted_seconds, 1.00));
    assert!(close(p("hakmem").predicted_seconds, 0.96));
    assert!(close(p("mimalloc").predicted_seconds, 0.875));
    assert!(close(p("hakmem").live_ratio, 0.90) && close(p("hakmem").predicted_ratio, 0.96));
    assert!(close(p("hakmem").ratio_error, 0.06));
    assert!(close(p("mimalloc").ratio_error, 0.075));
    assert!(close(p("hakmem").additive_ratio, 0.92) && close(p("mimalloc").additive_ratio, 0.90));
    assert!(close(f.additive_error_median, 0.035));
    // k over both: the slope through the origin of (−0.1, −0.05) on (−4/15, −1/3).
    let (x1, x2) = (0.22 / 0.30 - 1.0, 0.20 / 0.30 - 1.0);
    assert!(close(
        f.scale,
        (x1 * -0.1 + x2 * -0.05) / (x1 * x1 + x2 * x2)
    ));
    // Every live pair is fully separated (5 vs 5: p = 2/252); the prediction swaps hakmem and mimalloc.
    assert_eq!((f.pairs, f.agree), (3, 2));
    assert!(close(f.kendall_tau.unwrap(), 1.0 / 3.0));
    assert!(close(f.ratio_error_median.unwrap(), 0.0675));
    assert!(close(f.share, 0.30));
    assert!(f.not_meaningful.is_none());
    assert!(f.check_invariants());
    let totals = s.fidelity.as_ref().unwrap();
    assert_eq!((totals.programs, totals.pairs, totals.agree), (1, 3, 2));
    assert!(close(totals.ratio_error_median.unwrap(), 0.0675));
    assert!(close(totals.additive_error_median, 0.035));
    // The replay workload carries the same figures.
    let replay = s
        .workloads
        .iter()
        .find(|w| w.workload == "prog (replay)")
        .unwrap();
    assert_eq!(replay.fidelity.as_ref(), Some(f));
}

#[test]
fn every_format_shows_live_predicted_and_the_fidelity_line() {
    let r = Report::build(&[live_bundle()], None);
    let md = exporter_for("markdown").unwrap().render(&r);
    assert!(
        md.contains("| wall |") && md.contains("| predicted |"),
        "{md}"
    );
    assert!(
        md.contains("2/3 significant live pairs ordered the same way"),
        "{md}"
    );
    assert!(
        md.contains("calibrated: each allocator predicted from the others' live runs"),
        "{md}"
    );
    assert!(md.contains("the additive model's error 3.5%"), "{md}");
    let html = exporter_for("html").unwrap().render(&r);
    assert!(
        html.contains(r#"<p class="fidelity">"#),
        "html has no fidelity line"
    );
    let term = reports::terminal::render_terminal(&r, reports::terminal::Style::default());
    assert!(term.contains("Kendall τ 0.33"), "{term}");
    let json = exporter_for("json").unwrap().render(&r);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let fid = &v["sections"][0]["fidelity"];
    for key in ["pairs", "agree", "kendall_tau", "ratio_error_median"] {
        assert!(!fid[key].is_null(), "fidelity.{key} missing in {fid}");
    }
}

#[test]
fn a_workload_of_a_few_calls_is_too_short_to_rank_and_greyed() {
    let r = Report::build(&[live_bundle()], None);
    let tiny = r.sections[0]
        .workloads
        .iter()
        .find(|w| w.workload == "tiny")
        .unwrap();
    assert!(tiny.too_short.as_deref().unwrap().contains("19 calls"));
    assert!(
        tiny.verdict().starts_with("too short to rank"),
        "{}",
        tiny.verdict()
    );
    assert!(tiny.hakmem_verdict().is_none());
    let prog = r.sections[0]
        .workloads
        .iter()
        .find(|w| w.workload == "prog (replay)")
        .unwrap();
    assert!(prog.too_short.is_none());
    let t = reports::table::overview_table(&r);
    let col = t.header.iter().position(|h| h == "tiny").unwrap();
    let hak = t.rows.iter().find(|row| row[0].0 == "hakmem").unwrap();
    assert!(hak[col].0.starts_with('('), "{:?}", hak[col]);
    assert_eq!(hak[col].1, reports::table::Tone::Dim);
    let md = exporter_for("markdown").unwrap().render(&r);
    assert!(md.contains("too short to rank"), "{md}");
    let html = exporter_for("html").unwrap().render(&r);
    assert!(html.contains("too-short"));
}

/// The fixture with every replay sample `k` times slower.
fn slower_replays(k: f64) -> reports::Bundle {
    let mut b = live_bundle();
    for s in b
        .samples
        .iter_mut()
        .filter(|s| s.workload == "prog (replay)")
    {
        s.seconds *= k;
        s.ops_per_sec /= k;
    }
    b
}

/// bintrees, measured when the harness decoded the workload inside the timed loop: the replay of the
/// baseline took 2.7 s, the program 1.04 s, and the additive model predicted negative times. Here the
/// replays take 15× the fixture's (system 4.50 s, mimalloc 3.00 s against live 1.00 s: additive −0.50).
/// With system and mimalloc only there is nothing to calibrate on, so no time is predicted; with hakmem
/// too the calibrated model predicts (its ratios do not depend on the replay's length), and the additive
/// ratios are left out.
#[test]
fn a_non_positive_predicted_time_predicts_no_time_but_still_ranks() {
    let mut b = slower_replays(15.0);
    b.samples.retain(|s| s.config != "hakmem");
    let r = Report::build(&[b], None);
    let s = &r.sections[0];
    let live = s.workloads.iter().find(|w| w.workload == "prog").unwrap();
    let f = live.fidelity.as_ref().unwrap();
    assert_eq!(f.model, "additive");
    assert!(close(f.share, 4.50));
    let why = f
        .not_meaningful
        .as_deref()
        .expect("flagged as not meaningful");
    assert!(why.contains("non-positive time"), "{why}");
    assert!(f.predictions.iter().all(|p| p.predicted_seconds.is_none()
        && p.predicted_ratio.is_none()
        && p.additive_ratio.is_none()
        && p.ratio_error.is_none()));
    assert_eq!(f.ratio_error_median, None);
    // The order does not depend on the model.
    assert_eq!((f.pairs, f.agree), (1, 1));
    assert!(f.check_invariants());
    let totals = s.fidelity.as_ref().unwrap();
    assert_eq!((totals.programs, totals.not_meaningful), (1, 1));
    assert_eq!(totals.ratio_error_median, None);
    assert!(f.line().contains("non-positive time"), "{}", f.line());
    let md = exporter_for("markdown").unwrap().render(&r);
    assert!(md.contains("n/a"), "{md}");
    assert!(!md.contains("-0."), "no negative prediction: {md}");

    let r = Report::build(&[slower_replays(15.0)], None);
    let f = r.sections[0].workloads[0].fidelity.clone().unwrap();
    assert_eq!(f.model, "calibrated");
    assert!(f.not_meaningful.is_none());
    assert!(f.predictions.iter().all(|p| p.additive_ratio.is_none()));
    assert_eq!(f.additive_error_median, None);
    assert!(close(f.ratio_error_median.unwrap(), 0.0675));
    assert_eq!((f.pairs, f.agree), (3, 2));
    assert!(close(f.kendall_tau.unwrap(), 1.0 / 3.0));
    assert!(f.check_invariants());
}

/// A replay of the baseline a little slower than the program (the harness's per-call work about the
/// program's own, as on bintrees with the lean harness) still predicts: the harness's time cancels.
/// Replays 4× the fixture's: system 1.20, hakmem 0.88, mimalloc 0.80 against live 1.00, 0.90, 0.95.
#[test]
fn a_replay_slower_than_the_program_still_predicts_additively() {
    let r = Report::build(&[slower_replays(4.0)], None);
    let f = r.sections[0].workloads[0].fidelity.clone().unwrap();
    assert!(close(f.share, 1.20));
    assert!(f.not_meaningful.is_none());
    let p = |c: &str| {
        f.predictions
            .iter()
            .find(|p| p.config == c)
            .unwrap()
            .clone()
    };
    // predicted(A) = live(base) − replay(base) + replay(A) = 1.00 − 1.20 + 0.88 (hakmem), + 0.80 (mimalloc).
    assert!(close(p("hakmem").additive_ratio, 0.68));
    assert!(close(p("mimalloc").additive_ratio, 0.60));
    assert!(close(f.additive_error_median.unwrap(), 0.285));
    // The calibrated model does not see the replay's length: the same predictions as the fixture's.
    assert!(close(p("hakmem").predicted_seconds, 0.96));
    assert!(close(f.ratio_error_median.unwrap(), 0.0675));
    assert!(f.check_invariants());
    assert!(
        f.line().contains("the additive model's error 28.5%"),
        "{}",
        f.line()
    );
    // Without the calibration (two configurations), the additive line says why the replay may be longer.
    let mut b = slower_replays(4.0);
    b.samples.retain(|s| s.config != "hakmem");
    let r = Report::build(&[b], None);
    let f = r.sections[0].workloads[0].fidelity.clone().unwrap();
    assert_eq!(f.model, "additive");
    assert!(close(f.predictions[1].predicted_seconds, 0.60));
    assert!(
        f.line()
            .contains("took 120% of its live time: the harness's per-call work"),
        "{}",
        f.line()
    );
    assert!(
        f.line()
            .contains("needs live runs of at least 2 configurations besides the baseline (1 here)"),
        "{}",
        f.line()
    );
}

/// A configuration faster than the baseline in the replay but slower live gives the others' leave-one-out
/// scale a negative sign: the additive model is used, and its line says so.
#[test]
fn a_scale_against_the_replay_falls_back_to_the_additive_model_and_says_why() {
    let b = with_live(live_bundle(), "system", [1.0; 5]);
    let b = with_live(b, "hakmem", [0.9; 5]);
    let b = with_live(b, "mimalloc", [1.05; 5]);
    let r = Report::build(&[b], None);
    let f = r.sections[0].workloads[0].fidelity.clone().unwrap();
    assert_eq!(f.model, "additive");
    assert!(
        f.line().contains("the calibrated model is not used"),
        "{}",
        f.line()
    );
}

/// Allocators whose calls all run the same factor slower inside the program than in the replay (live ratio
/// = 1 + k · (replay ratio − 1) with one k): the calibrated model predicts them exactly, the additive one
/// (k = the replay's share, 0.30) does not.
#[test]
fn the_calibrated_model_is_exact_when_the_allocators_share_one_scale() {
    let (hak, mim) = (
        1.0 + 0.5 * (0.22 / 0.30 - 1.0),
        1.0 + 0.5 * (0.20 / 0.30 - 1.0),
    );
    let b = with_live(live_bundle(), "system", [1.0; 5]);
    let b = with_live(b, "hakmem", [hak; 5]);
    let b = with_live(b, "mimalloc", [mim; 5]);
    let r = Report::build(&[b], None);
    let f = r.sections[0].workloads[0].fidelity.clone().unwrap();
    assert_eq!(f.model, "calibrated");
    assert!(close(f.scale, 0.5), "{:?}", f.scale);
    assert!(f.ratio_error_median.unwrap() < 1e-9);
    // Additive: hakmem 0.92 against 0.8667, mimalloc 0.90 against 0.8333.
    assert!(close(
        f.additive_error_median,
        ((0.92 - hak) + (0.90 - mim)) / 2.0
    ));
    assert!(
        f.line()
            .contains("its calls take 1.7× their replayed time inside the program"),
        "{}",
        f.line()
    );
    use reports::fidelity::calibrated_scale;
    // Live and replay pointing opposite ways: nothing to calibrate on.
    assert_eq!(calibrated_scale([(0.5, 1.2), (0.8, 1.1)].into_iter()), None);
    assert_eq!(calibrated_scale([(1.0, 0.9)].into_iter()), None);
}

#[test]
fn the_share_scaled_prediction_is_positive_and_exact_at_the_ends() {
    use reports::fidelity::predicted_ratio;
    // No allocator time: every allocator predicts the baseline's time.
    assert!(close(predicted_ratio(0.0, 0.2), 1.0));
    // Half the program in the allocator, replayed twice as fast: 1 + 0.5 · (0.5 − 1) = 0.75.
    assert!(close(predicted_ratio(0.5, 0.5), 0.75));
    // An allocator that takes no time at all leaves the program's own work, 1 − s.
    assert!(close(predicted_ratio(0.9, 0.0), 0.1));
    assert!(close(predicted_ratio(0.3, 3.0), 1.6));
}

/// The fixture with the live seconds of `config` replaced, round by round.
fn with_live(mut b: reports::Bundle, config: &str, seconds: [f64; 5]) -> reports::Bundle {
    for s in b
        .samples
        .iter_mut()
        .filter(|s| s.workload == "prog" && s.config == config)
    {
        s.seconds = seconds[s.repeat as usize];
        s.ops_per_sec = 1.0 / s.seconds;
    }
    b
}

/// A machine whose speed drifts between rounds (1.0, 1.3, 0.8, 1.25, 0.85), hakmem 0.8× system in every
/// round but one, where something else slowed it by 1.4: the ratio of the medians reads 0.896, the ratio
/// within each round 0.8 four times out of five.
fn drifting() -> reports::Bundle {
    let drift = [1.0, 1.3, 0.8, 1.25, 0.85];
    let b = with_live(live_bundle(), "system", drift);
    let hakmem = [0.8, 0.8 * 1.3, 0.8 * 0.8 * 1.4, 0.8 * 1.25, 0.8 * 0.85];
    let b = with_live(b, "hakmem", hakmem);
    with_live(b, "mimalloc", drift.map(|d| 0.95 * d))
}

#[test]
fn live_and_replay_ratios_are_paired_by_round() {
    let r = Report::build(&[drifting()], None);
    let live = r.sections[0]
        .workloads
        .iter()
        .find(|w| w.workload == "prog")
        .unwrap();
    let hak = live.row("hakmem").unwrap();
    let c = hak.vs_baseline.as_ref().unwrap();
    // Throughput ratios (above 1: faster): of the medians 1 / 0.896, paired 1 / 0.8.
    assert!(close(c.ratio, 1.0 / 0.896), "{}", c.ratio);
    assert!(close(c.paired_ratio, 1.25), "{:?}", c.paired_ratio);
    assert!(close(
        live.row("system")
            .unwrap()
            .vs_baseline
            .as_ref()
            .unwrap()
            .paired_ratio,
        1.0
    ));
    let f = live.fidelity.as_ref().unwrap();
    assert!(f.paired);
    let p = |c: &str| f.predictions.iter().find(|p| p.config == c).unwrap();
    assert!(
        close(p("hakmem").live_ratio, 0.8),
        "{}",
        p("hakmem").live_ratio
    );
    assert!(close(p("mimalloc").live_ratio, 0.95));
    // Replay rounds (fixture): hakmem 0.22/0.30, 0.22/0.31, 0.21/0.29, 0.23/0.30, 0.22/0.30 → median 0.2200/0.30.
    assert!(close(p("hakmem").replay_ratio, 0.22 / 0.30));
    // Additive: 1 + 0.30 · (0.22/0.30 − 1) = 0.92 against the paired live 0.8.
    assert!(close(p("hakmem").additive_ratio, 0.92));
    // Calibrated on mimalloc: k = (0.95 − 1) / (2/3 − 1) = 0.15, 0.96 against 0.8.
    assert!(close(p("hakmem").ratio_error, 0.16));
    assert!(f.check_invariants());
}

/// hakmem's paired throughput ratio to the baseline in `live`.
fn hakmem_paired(live: &reports::summary::WorkloadSummary) -> Option<f64> {
    live.row("hakmem")?.vs_baseline.as_ref()?.paired_ratio
}

#[test]
fn repeats_that_do_not_name_one_round_fall_back_to_the_medians() {
    // Two runs' bundles merged: every repeat index of the live rows occurs twice.
    let mut b = drifting();
    let again: Vec<_> = b
        .samples
        .iter()
        .filter(|s| s.workload == "prog")
        .cloned()
        .collect();
    b.samples.extend(again);
    let r = Report::build(&[b], None);
    let live = r.sections[0]
        .workloads
        .iter()
        .find(|w| w.workload == "prog")
        .unwrap();
    assert_eq!(hakmem_paired(live), None);
    let f = live.fidelity.as_ref().unwrap();
    assert!(!f.paired);
    let p = f.predictions.iter().find(|p| p.config == "hakmem").unwrap();
    assert!(close(p.live_ratio, 0.896), "{}", p.live_ratio);
    // Fewer than three rounds in common: no paired ratio either.
    let mut b = drifting();
    b.samples.retain(|s| s.workload != "prog" || s.repeat < 2);
    let r = Report::build(&[b], None);
    let live = &r.sections[0]
        .workloads
        .iter()
        .find(|w| w.workload == "prog")
        .unwrap();
    assert_eq!(hakmem_paired(live), None);
    assert!(!live.fidelity.as_ref().unwrap().paired);
}
