//! Summaries of result bundles: what every exporter renders.
//!
//! Entry point: [`Report::build`] over loaded [`Bundle`]s. For each bundle, each workload, each allocator
//! configuration it computes the five-number summary of ops/s and RSS over the successful repeats, median
//! latency percentiles and per-box counters, and a [`Comparison`] with the baseline configuration:
//! the ratio of medians, its spread (`q1/q3_base ..= q3/q1_base`, the range the middle halves allow),
//! and a [`Significance`] mark from the Mann-Whitney U test or, when repeats are too few for the test to
//! reach p < 0.05, from whether the interquartile ranges overlap.
//!
//! Invariants: `ok + failed` equals the samples of that workload × configuration; the baseline row of a
//! workload has ratio exactly 1; a [`Report`] round-trips through JSON unchanged.

use crate::bundle::Bundle;
use crate::fidelity::{Fidelity, FidelityTotals};
use crate::model::{Manifest, Sample, Status, WorkloadInfo, KIND_LIVE};
use crate::stats::{mann_whitney, median, Quartiles};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// p-value under which a difference is called significant.
pub const ALPHA: f64 = 0.05;
/// Largest p-value that still counts disjoint interquartile ranges as evidence ("quartiles apart"): with 3
/// repeats a side the U test's possible p-values are 0.1, 0.2, 0.4, 0.7, 1, and interpolated quartiles
/// can be disjoint while the samples interleave (p = 0.7).
pub const APART_P_MAX: f64 = 0.2;
/// A replayed workload with fewer calls than this is too short to rank (see [`WorkloadSummary::too_short`]).
pub const MIN_RANK_OPS: u64 = 10_000;
/// A workload whose median timed region (the replay's, or a live run's wall time) is shorter than this is too
/// short to rank: measured on this machine, repeats of replays under 5 ms spread by more than the
/// differences between allocators (per-thread start-up, page faults of the first touch, timer and
/// scheduling noise dominate); see docs/ARCHITECTURE.md.
pub const MIN_RANK_SECONDS: f64 = 0.005;

/// Everything a report shows, ready to render.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The baseline asked for (`--baseline`), if any.
    pub requested_baseline: Option<String>,
    /// One section per bundle, in the order given.
    pub sections: Vec<Section>,
}

/// One bundle.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Section {
    /// Bundle name (its directory name).
    pub name: String,
    /// Bundle directory as given.
    pub path: String,
    /// The bundle's manifest: provenance.
    pub manifest: Manifest,
    /// Problems met while reading the bundle.
    pub warnings: Vec<String>,
    /// One summary per workload.
    pub workloads: Vec<WorkloadSummary>,
    /// Every failed sample, with its reason.
    pub failures: Vec<Failure>,
    /// Fidelity pooled over the bundle's live workloads that have a replay (`hakmem live --record`).
    #[serde(default)]
    pub fidelity: Option<FidelityTotals>,
}

/// One workload of a bundle.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WorkloadSummary {
    /// Workload name.
    pub workload: String,
    /// The manifest's description of it, if the manifest has one.
    pub info: Option<WorkloadInfo>,
    /// The configuration the ratios are against (`None` when no configuration has a successful sample).
    pub baseline: Option<String>,
    /// One row per configuration, in manifest order.
    pub rows: Vec<ConfigSummary>,
    /// The fastest configuration by median ops/s.
    pub fastest: Option<String>,
    /// Configuration sweeps found among the rows (configurations differing in one knob).
    pub sweeps: Vec<Sweep>,
    /// Per-box counters that differ most between HAKMEM configurations, most different first.
    pub box_highlights: Vec<BoxHighlight>,
    /// `live` when the samples are live runs of a real program (`hakmem live`), `replay` otherwise.
    #[serde(default)]
    pub kind: String,
    /// For a live workload with a replay of its recording: how well the replay predicts it.
    #[serde(default)]
    pub fidelity: Option<Fidelity>,
    /// Why the workload is too short to rank (fewer than [`MIN_RANK_OPS`] calls or a timed region under
    /// [`MIN_RANK_SECONDS`]): it gets this instead of a verdict, and is greyed in the overview.
    #[serde(default)]
    pub too_short: Option<String>,
}

/// One allocator configuration on one workload.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ConfigSummary {
    /// Configuration label.
    pub config: String,
    /// Backend name.
    pub allocator: String,
    /// Knobs of the configuration.
    pub knobs: BTreeMap<String, String>,
    /// Successful samples (status `ok` or `check_failed`).
    pub ok: usize,
    /// Failed samples.
    pub failed: usize,
    /// Ops/s over successful samples.
    pub ops_per_sec: Option<Quartiles>,
    /// Ops/s of each successful sample, in file order (what the quartiles and the U test are computed from).
    pub ops_per_sec_values: Vec<f64>,
    /// The repeat index of each value of `ops_per_sec_values`, in the same order (what [`paired_ratio`]
    /// pairs by). Empty in summaries written before this field.
    #[serde(default)]
    pub repeats: Vec<u32>,
    /// Peak RSS in bytes.
    pub peak_rss: Option<Quartiles>,
    /// RSS after the workload, in bytes.
    pub post_rss: Option<Quartiles>,
    /// "Heap peak": `peak_rss_bytes - baseline_rss_bytes` in bytes, the allocator's own peak without the
    /// harness (decoded workload, object table). Over the successful samples that know their baseline;
    /// `None` for bundles written before `baseline_rss_bytes` existed.
    #[serde(default)]
    pub heap_peak: Option<Quartiles>,
    /// Median CPU seconds.
    pub cpu_seconds: Option<f64>,
    /// Median wall seconds.
    pub seconds: Option<f64>,
    /// Median minor page faults.
    pub minor_faults: Option<f64>,
    /// Median user CPU seconds (live samples; replay samples carry only `cpu_seconds`).
    #[serde(default)]
    pub user_seconds: Option<f64>,
    /// Median system CPU seconds (live samples).
    #[serde(default)]
    pub sys_seconds: Option<f64>,
    /// Median major page faults.
    #[serde(default)]
    pub major_faults: Option<f64>,
    /// Exit status of the successful live runs (they all match the reference run's).
    #[serde(default)]
    pub exit_code: Option<i32>,
    /// `sha256:HEX/LEN` of the successful live runs' stdout (they all match the reference run's).
    #[serde(default)]
    pub stdout_hash: String,
    /// Median ops replayed per sample.
    pub ops: Option<f64>,
    /// Median of each latency percentile per call kind, nanoseconds.
    pub latency_ns: BTreeMap<String, LatencySummary>,
    /// Median per-box counters: box → counter → value.
    pub box_stats: BTreeMap<String, BTreeMap<String, f64>>,
    /// Throughput against the baseline.
    pub vs_baseline: Option<Comparison>,
    /// Median peak RSS over the baseline's.
    pub peak_rss_ratio: Option<f64>,
    /// `--check` violations (distinct lines, capped).
    pub violations: Vec<String>,
}

/// Median latency percentiles of one call kind.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencySummary {
    /// Calls sampled, summed over repeats.
    pub samples: u64,
    /// Median p50.
    pub p50: f64,
    /// Median p90.
    pub p90: f64,
    /// Median p99.
    pub p99: f64,
    /// Median p99.9.
    pub p999: f64,
}

/// A throughput comparison with the baseline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// The baseline configuration.
    pub baseline: String,
    /// Median ops/s over the baseline's median ops/s (above 1: faster).
    pub ratio: f64,
    /// `q1 / q3_baseline`: the low end of the ratio the middle halves allow.
    pub low: f64,
    /// `q3 / q1_baseline`: the high end.
    pub high: f64,
    /// Two-sided Mann-Whitney p-value, when both sides have at least two samples.
    pub p_value: Option<f64>,
    /// How sure the difference is.
    pub significance: Significance,
    /// The paired ratio ([`paired_ratio`]): the median over the rounds of the ratio within each round
    /// (`None` with fewer than [`MIN_PAIRS`] rounds that both configurations ran once).
    #[serde(default)]
    pub paired_ratio: Option<f64>,
}

/// How sure a difference is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Significance {
    /// This is the baseline itself.
    Baseline,
    /// Mann-Whitney p < [`ALPHA`].
    Significant,
    /// The interquartile ranges do not overlap and p ≤ [`APART_P_MAX`], but the test cannot reach p < [`ALPHA`]
    /// with so few repeats.
    QuartilesApart,
    /// The difference is within the noise.
    WithinNoise,
    /// Fewer than two successful repeats on one side: no spread to judge by.
    TooFewRepeats,
}

impl Significance {
    /// Short ASCII mark for tables: `**`, `*`, `~`, `?` (empty for the baseline).
    pub fn mark(self) -> &'static str {
        match self {
            Significance::Baseline => "",
            Significance::Significant => "**",
            Significance::QuartilesApart => "*",
            Significance::WithinNoise => "~",
            Significance::TooFewRepeats => "?",
        }
    }

    /// Words for a reader.
    pub fn words(self) -> &'static str {
        match self {
            Significance::Baseline => "baseline",
            Significance::Significant => "significant",
            Significance::QuartilesApart => "quartiles apart",
            Significance::WithinNoise => "within noise",
            Significance::TooFewRepeats => "too few repeats to tell",
        }
    }

    /// Whether the difference is real enough to call a winner.
    pub fn is_difference(self) -> bool {
        matches!(
            self,
            Significance::Significant | Significance::QuartilesApart
        )
    }
}

/// The legend printed under tables.
pub const LEGEND: &str =
    "ratio = median ops/s over the baseline's (above 1: faster), range = q1/q3_base..q3/q1_base; \
** p < 0.05 (Mann-Whitney U), * interquartile ranges apart and p <= 0.2, ~ within noise, ? fewer than 2 repeats";

/// A failed sample.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    /// Workload.
    pub workload: String,
    /// Configuration.
    pub config: String,
    /// Repeat index.
    pub repeat: u32,
    /// Status (`crashed`, `timeout`, ...).
    pub status: Status,
    /// Reason given by the replayer.
    pub error: String,
}

/// Configurations that differ in one knob only: a sweep of that knob.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sweep {
    /// The knob varied.
    pub knob: String,
    /// The knobs held fixed.
    pub fixed: BTreeMap<String, String>,
    /// Points in knob order (numeric when every value is a number): value, configuration, ops/s.
    pub points: Vec<SweepPoint>,
}

/// One point of a [`Sweep`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SweepPoint {
    /// The knob's value (`(default)` for the configuration without it).
    pub value: String,
    /// The configuration label.
    pub config: String,
    /// Its ops/s summary.
    pub ops_per_sec: Option<Quartiles>,
}

/// A per-box counter whose value differs between HAKMEM configurations.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BoxHighlight {
    /// Box name.
    pub r#box: String,
    /// Counter name.
    pub counter: String,
    /// `(max + 1) / (min + 1)` of the configurations' medians: how much it differs.
    pub spread: f64,
    /// Configuration with the smallest value.
    pub min_config: String,
    /// Configuration with the largest value.
    pub max_config: String,
    /// Ranking score: `ln(spread) × ln(2 + max − min)`.
    pub score: f64,
}

/// Highlights kept per workload.
const MAX_HIGHLIGHTS: usize = 8;
/// Violations kept per configuration.
const MAX_VIOLATIONS: usize = 10;

impl Report {
    /// Summarises `bundles` against `baseline` (a configuration label or an allocator name; default:
    /// `system` when present, else the first configuration).
    pub fn build(bundles: &[Bundle], baseline: Option<&str>) -> Report {
        Report {
            requested_baseline: baseline.map(str::to_owned),
            sections: bundles
                .iter()
                .map(|b| Section::build(b, baseline))
                .collect(),
        }
    }

    /// Every row of every workload of every section: `(section, workload, row)`.
    pub fn rows(&self) -> impl Iterator<Item = (&Section, &WorkloadSummary, &ConfigSummary)> {
        self.sections.iter().flat_map(|s| {
            s.workloads
                .iter()
                .flat_map(move |w| w.rows.iter().map(move |r| (s, w, r)))
        })
    }

    /// Configuration labels over all sections, first appearance first (the overview's columns).
    pub fn configs(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for (_, _, r) in self.rows() {
            if !out.contains(&r.config) {
                out.push(r.config.clone());
            }
        }
        out
    }

    /// Warnings of all sections.
    pub fn warnings(&self) -> Vec<String> {
        self.sections
            .iter()
            .flat_map(|s| s.warnings.iter().cloned())
            .collect()
    }
}

/// Failed samples that share configuration, status and reason, as one line for readers.
#[derive(Clone, Debug, PartialEq)]
pub struct FailureGroup {
    /// Configuration.
    pub config: String,
    /// Status.
    pub status: Status,
    /// Reason.
    pub error: String,
    /// Workloads concerned, first appearance first.
    pub workloads: Vec<String>,
    /// Samples in the group.
    pub count: usize,
}

impl FailureGroup {
    /// `crashed`, `timeout`, ... as written in bundles.
    pub fn status_name(&self) -> String {
        status_name(self.status)
    }
}

/// A status as written in bundles (`crashed`, `alloc_failed`, ...).
pub fn status_name(s: Status) -> String {
    serde_json::to_value(s)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

impl Section {
    /// The failures grouped by configuration, status and reason, in order of first appearance.
    pub fn failure_groups(&self) -> Vec<FailureGroup> {
        let mut groups: Vec<FailureGroup> = Vec::new();
        for f in &self.failures {
            match groups
                .iter_mut()
                .find(|g| g.config == f.config && g.status == f.status && g.error == f.error)
            {
                Some(g) => {
                    g.count += 1;
                    if !g.workloads.contains(&f.workload) {
                        g.workloads.push(f.workload.clone());
                    }
                }
                None => groups.push(FailureGroup {
                    config: f.config.clone(),
                    status: f.status,
                    error: f.error.clone(),
                    workloads: vec![f.workload.clone()],
                    count: 1,
                }),
            }
        }
        groups
    }

    fn build(bundle: &Bundle, baseline: Option<&str>) -> Section {
        let m = &bundle.manifest;
        let mut workload_names: Vec<String> = m.workloads.iter().map(|w| w.name.clone()).collect();
        for s in &bundle.samples {
            if !workload_names.contains(&s.workload) {
                workload_names.push(s.workload.clone());
            }
        }
        let mut configs: Vec<(String, String, BTreeMap<String, String>)> = m
            .allocators
            .iter()
            .map(|a| (a.config.clone(), a.allocator.clone(), a.knobs.clone()))
            .collect();
        for s in &bundle.samples {
            if !configs.iter().any(|c| c.0 == s.config) {
                configs.push((s.config.clone(), s.allocator.clone(), BTreeMap::new()));
            }
        }
        let mut warnings = bundle.warnings.clone();
        if let Some(b) = baseline {
            if !configs.iter().any(|c| c.0 == b || c.1 == b) {
                let names: Vec<&str> = configs.iter().map(|c| c.0.as_str()).collect();
                warnings.push(format!(
                    "{}: baseline `{b}` is not in this bundle; using the default. Configurations: {}",
                    bundle.dir.display(),
                    names.join(", ")
                ));
            }
        }
        let mut workloads: Vec<WorkloadSummary> = workload_names
            .iter()
            .map(|w| {
                let samples: Vec<&Sample> =
                    bundle.samples.iter().filter(|s| &s.workload == w).collect();
                let info = m.workloads.iter().find(|i| &i.name == w).cloned();
                WorkloadSummary::build(w, info, &configs, &samples, baseline)
            })
            .collect();
        // Each replay of a live workload's recording gets its fidelity; the live workload shows the first
        // one's (its table has the predicted times), and the bundle's totals pool those.
        for i in 0..workloads.len() {
            let Some(live_name) = workloads[i]
                .info
                .as_ref()
                .map(|info| info.live_workload.clone())
                .filter(|n| !n.is_empty() && workloads[i].kind != KIND_LIVE)
            else {
                continue;
            };
            let Some(li) = workloads
                .iter()
                .position(|w| w.kind == KIND_LIVE && w.workload == live_name)
            else {
                continue;
            };
            let f = Fidelity::compute(&workloads[li], &workloads[i]);
            if workloads[li].fidelity.is_none() {
                workloads[li].fidelity = f.clone();
            }
            workloads[i].fidelity = f;
        }
        let fidelity = FidelityTotals::of(
            workloads
                .iter()
                .filter(|w| w.kind == KIND_LIVE)
                .filter_map(|w| w.fidelity.as_ref()),
        );
        let failures = bundle
            .samples
            .iter()
            .filter(|s| !is_ok(s))
            .map(|s| Failure {
                workload: s.workload.clone(),
                config: s.config.clone(),
                repeat: s.repeat,
                status: s.status.unwrap_or(Status::Error),
                error: s.error.clone(),
            })
            .collect();
        Section {
            name: bundle.name(),
            path: bundle.dir.display().to_string(),
            manifest: m.clone(),
            warnings,
            workloads,
            failures,
            fidelity,
        }
    }
}

/// Why a workload is too short to rank, if it is: fewer than [`MIN_RANK_OPS`] recorded calls, or a median
/// timed region (replay) or wall time (live) under [`MIN_RANK_SECONDS`] for the configuration that ran
/// longest.
fn too_short(live: bool, info: Option<&WorkloadInfo>, rows: &[ConfigSummary]) -> Option<String> {
    let longest = rows
        .iter()
        .filter_map(|r| r.seconds)
        .max_by(f64::total_cmp)?;
    let ops = info
        .map(|i| i.ops)
        .filter(|&o| o > 0)
        .or_else(|| {
            rows.iter()
                .filter_map(|r| r.ops)
                .max_by(f64::total_cmp)
                .map(|o| o as u64)
        })
        .unwrap_or(0);
    // A live workload knows its calls only from a recording (`live --record`); without one only its time
    // can say it is too short.
    if (!live || ops > 0) && ops < MIN_RANK_OPS {
        return Some(format!(
            "{ops} calls (fewer than {MIN_RANK_OPS}): the timing measures start-up, not the allocator"
        ));
    }
    if longest < MIN_RANK_SECONDS {
        return Some(format!(
            "{} {} (under {:.0} ms): below what this harness measures reliably",
            if live {
                "runs take"
            } else {
                "the timed region takes"
            },
            crate::format::seconds(longest),
            MIN_RANK_SECONDS * 1e3
        ));
    }
    None
}

/// A sample whose figures count: `ok`, `check_failed` (figures valid), or no status written.
fn is_ok(s: &Sample) -> bool {
    matches!(
        s.status,
        None | Some(Status::Ok) | Some(Status::CheckFailed)
    )
}

impl WorkloadSummary {
    fn build(
        workload: &str,
        info: Option<WorkloadInfo>,
        configs: &[(String, String, BTreeMap<String, String>)],
        samples: &[&Sample],
        baseline: Option<&str>,
    ) -> WorkloadSummary {
        let mut rows: Vec<ConfigSummary> = configs
            .iter()
            .filter(|(c, _, _)| samples.iter().any(|s| &s.config == c))
            .map(|(c, a, k)| {
                let mine: Vec<&Sample> =
                    samples.iter().copied().filter(|s| &s.config == c).collect();
                ConfigSummary::build(c, a, k, &mine)
            })
            .collect();
        let has_data = |r: &ConfigSummary| r.ops_per_sec.is_some();
        let base_idx = baseline
            .and_then(|b| {
                rows.iter()
                    .position(|r| r.config == b && has_data(r))
                    .or_else(|| rows.iter().position(|r| r.allocator == b && has_data(r)))
            })
            .or_else(|| {
                rows.iter()
                    .position(|r| r.config == "system" && has_data(r))
            })
            .or_else(|| {
                rows.iter()
                    .position(|r| r.allocator == "system" && has_data(r))
            })
            .or_else(|| rows.iter().position(has_data));
        if let Some(bi) = base_idx {
            let base = rows[bi].clone();
            let base_values = base.ops_per_sec_values.clone();
            let bq = base.ops_per_sec.expect("the baseline has data");
            for (i, row) in rows.iter_mut().enumerate() {
                let Some(q) = row.ops_per_sec else { continue };
                row.peak_rss_ratio = match (row.peak_rss, base.peak_rss) {
                    (Some(a), Some(b)) if b.median > 0.0 => Some(a.median / b.median),
                    _ => None,
                };
                if i == bi {
                    row.vs_baseline = Some(Comparison {
                        baseline: base.config.clone(),
                        ratio: 1.0,
                        low: 1.0,
                        high: 1.0,
                        p_value: None,
                        significance: Significance::Baseline,
                        paired_ratio: paired_ratio(row, &base),
                    });
                    continue;
                }
                let mut c = compare(&base.config, &bq, &base_values, &q, &row.ops_per_sec_values);
                c.paired_ratio = paired_ratio(row, &base);
                row.vs_baseline = Some(c);
            }
        }
        let fastest = rows
            .iter()
            .filter_map(|r| r.ops_per_sec.map(|q| (q.median, &r.config)))
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, c)| c.clone());
        let sweeps = find_sweeps(&rows);
        let box_highlights = box_highlights(&rows);
        let live = samples.iter().any(|s| s.is_live())
            || info.as_ref().is_some_and(|i| i.kind == KIND_LIVE);
        let too_short = too_short(live, info.as_ref(), &rows);
        WorkloadSummary {
            workload: workload.to_owned(),
            info,
            baseline: base_idx.map(|i| rows[i].config.clone()),
            rows,
            fastest,
            sweeps,
            box_highlights,
            kind: if live { KIND_LIVE } else { "replay" }.to_owned(),
            fidelity: None,
            too_short,
        }
    }

    /// The row of `config`.
    pub fn row(&self, config: &str) -> Option<&ConfigSummary> {
        self.rows.iter().find(|r| r.config == config)
    }

    /// The median of the per-box counter `counter` of box `bx` in `config`'s samples (0 when absent).
    pub fn box_value(&self, config: &str, bx: &str, counter: &str) -> f64 {
        self.row(config)
            .and_then(|r| r.box_stats.get(bx))
            .and_then(|m| m.get(counter))
            .copied()
            .unwrap_or(0.0)
    }

    /// The box highlights worth a line in a summary: those that count what the allocator did (a read-back
    /// of a knob explains nothing), at most `n`.
    pub fn box_lines(&self, n: usize) -> impl Iterator<Item = &BoxHighlight> {
        self.box_highlights
            .iter()
            .filter(|h| !is_config_readback(&h.counter))
            .take(n)
    }

    /// Whether the samples are live runs of a real program.
    pub fn is_live(&self) -> bool {
        self.kind == KIND_LIVE
    }

    /// One sentence: who wins, by how much, how sure (or why the workload cannot be ranked).
    pub fn verdict(&self) -> String {
        if let Some(why) = &self.too_short {
            return format!("too short to rank: {why}");
        }
        let Some(fastest) = self.fastest.as_deref().and_then(|f| self.row(f)) else {
            return "no successful samples: nothing to compare".into();
        };
        let Some(base) = self.baseline.as_deref() else {
            return String::new();
        };
        let how = |c: &Comparison| format!("{}{}", c.significance.words(), p_text(c.p_value));
        match fastest.vs_baseline.as_ref() {
            Some(c) if c.significance == Significance::Baseline => {
                let runner_up = self
                    .rows
                    .iter()
                    .filter(|r| r.config != fastest.config)
                    .filter_map(|r| r.vs_baseline.as_ref().map(|c| (r, c)))
                    .max_by(|a, b| a.1.ratio.total_cmp(&b.1.ratio));
                match runner_up {
                    Some((r, c)) => format!(
                        "{base} (the baseline) is fastest; next is {} at {:.2}× ({})",
                        r.config,
                        c.ratio,
                        how(c)
                    ),
                    None => format!("only {base} has results"),
                }
            }
            Some(c) => {
                let mut s = format!(
                    "{} is fastest: {:.2}× {base} (range {:.2}–{:.2}×; {})",
                    fastest.config,
                    c.ratio,
                    c.low,
                    c.high,
                    how(c)
                );
                if c.significance == Significance::WithinNoise {
                    s.push_str(
                        "; the spread between repeats is as large as the difference: more repeats \
                         (--repeats auto) or a quieter machine are needed to rank them",
                    );
                }
                s
            }
            None => String::new(),
        }
    }
}

impl WorkloadSummary {
    /// One sentence about memory: the leanest configuration by median peak RSS and the largest excess over
    /// it; by median heap peak (peak RSS − baseline RSS) instead when every measured row knows it. `None`
    /// without RSS figures.
    pub fn memory_verdict(&self) -> Option<String> {
        let measured = || self.rows.iter().filter(|r| r.peak_rss.is_some());
        let heap = measured().next().is_some() && measured().all(|r| r.heap_peak.is_some());
        let with_rss: Vec<(&ConfigSummary, f64)> = self
            .rows
            .iter()
            .filter_map(|r| if heap { r.heap_peak } else { r.peak_rss }.map(|q| (r, q.median)))
            .collect();
        let lean = with_rss.iter().min_by(|a, b| a.1.total_cmp(&b.1))?;
        let fat = with_rss.iter().max_by(|a, b| a.1.total_cmp(&b.1))?;
        let mut text = format!(
            "Leanest: {} at {} {}",
            lean.0.config,
            crate::format::bytes(lean.1),
            if heap { "heap peak" } else { "peak RSS" }
        );
        if fat.1 > lean.1 {
            text.push_str(&format!(
                "; {} needs the most, +{}",
                fat.0.config,
                crate::format::bytes(fat.1 - lean.1)
            ));
        }
        Some(text)
    }

    /// One sentence about the kernel's share of the work, when it tells the configurations apart: the most
    /// minor page faults against the fewest (shown when at least [`KERNEL_FAULTS_RATIO`]× and
    /// [`KERNEL_FAULTS_MIN`] faults apart: fresh pages mapped, purged and faulted in again), and the most
    /// system time against the least (when at least [`KERNEL_SYS_RATIO`]× apart and the most is a tenth or
    /// more of that configuration's CPU time, and 5 ms or more apart). Medians over the repeats. `None` when neither tells them apart.
    pub fn kernel_verdict(&self) -> Option<String> {
        let extremes = |f: &dyn Fn(&ConfigSummary) -> Option<f64>| {
            let v: Vec<(&ConfigSummary, f64)> = self
                .rows
                .iter()
                .filter(|r| r.ok > 0)
                .filter_map(|r| f(r).map(|x| (r, x)))
                .collect();
            let lo = v.iter().min_by(|a, b| a.1.total_cmp(&b.1)).copied()?;
            let hi = v.iter().max_by(|a, b| a.1.total_cmp(&b.1)).copied()?;
            Some((hi, lo))
        };
        let mut parts = Vec::new();
        if let Some(((hi, h), (lo, l))) = extremes(&|r| r.minor_faults) {
            if h - l >= KERNEL_FAULTS_MIN && h >= KERNEL_FAULTS_RATIO * l.max(1.0) {
                parts.push(format!(
                    "{} takes {} {}'s minor page faults ({} against {})",
                    hi.config,
                    times(h / l.max(1.0)),
                    lo.config,
                    crate::format::count(h),
                    crate::format::count(l)
                ));
            }
        }
        if let Some(((hi, h), (lo, l))) = extremes(&|r| r.sys_seconds) {
            let cpu = hi.cpu_seconds.unwrap_or(0.0);
            if h - l >= 0.005 && h >= KERNEL_SYS_RATIO * l && h >= 0.1 * cpu {
                parts.push(format!(
                    "{} spends {} {}'s system time ({} against {})",
                    hi.config,
                    times(h / l.max(f64::MIN_POSITIVE)),
                    lo.config,
                    crate::format::seconds(h),
                    crate::format::seconds(l)
                ));
            }
        }
        if parts.is_empty() {
            None
        } else {
            Some(format!("Kernel: {}", parts.join("; ")))
        }
    }

    /// One sentence about HAKMEM itself: its best configuration against the baseline and against the default
    /// `hakmem` configuration. `None` without successful HAKMEM samples (or when HAKMEM is the baseline).
    pub fn hakmem_verdict(&self) -> Option<String> {
        if self.too_short.is_some() {
            return None;
        }
        let hak: Vec<&ConfigSummary> = self
            .rows
            .iter()
            .filter(|r| r.allocator == "hakmem" && r.ops_per_sec.is_some())
            .collect();
        let best = hak.iter().max_by(|a, b| {
            a.ops_per_sec
                .unwrap()
                .median
                .total_cmp(&b.ops_per_sec.unwrap().median)
        })?;
        let base = self.baseline.as_deref()?;
        let vs_base = best.vs_baseline.as_ref()?;
        if vs_base.significance == Significance::Baseline {
            return None;
        }
        let mut text = format!(
            "HAKMEM's best here is {} at {:.2}× {base}",
            best.config, vs_base.ratio
        );
        let default = hak.iter().find(|r| r.config == "hakmem");
        match default {
            Some(d) if d.config != best.config && hak.len() > 1 => {
                let c = compare(
                    &d.config,
                    &d.ops_per_sec.unwrap(),
                    &d.ops_per_sec_values,
                    &best.ops_per_sec.unwrap(),
                    &best.ops_per_sec_values,
                );
                text.push_str(&format!(
                    ", {:.2}× the default hakmem ({}{})",
                    c.ratio,
                    c.significance.words(),
                    p_text(c.p_value)
                ));
            }
            Some(_) if hak.len() > 1 => text.push_str(": no variant beats the default"),
            _ => {}
        }
        Some(text)
    }
}

/// [`WorkloadSummary::kernel_verdict`] names page faults when the most is at least this many times the
/// fewest …
pub const KERNEL_FAULTS_RATIO: f64 = 4.0;
/// … and at least this many faults more.
pub const KERNEL_FAULTS_MIN: f64 = 1000.0;
/// It names system time when the most is at least this many times the least.
pub const KERNEL_SYS_RATIO: f64 = 2.0;

/// `82×`, `2.8×` (no third digit for large ratios; "∞×" when the smaller figure is 0).
fn times(x: f64) -> String {
    if !x.is_finite() || x > 1e6 {
        "∞×".into()
    } else if x >= 10.0 {
        format!("{x:.0}×")
    } else {
        format!("{x:.1}×")
    }
}

fn p_text(p: Option<f64>) -> String {
    match p {
        Some(p) => format!(", {}", p_equals(p)),
        None => String::new(),
    }
}

/// `p = 0.016`, or `p < 0.001`.
pub fn p_equals(p: f64) -> String {
    if p < 0.001 {
        "p < 0.001".into()
    } else {
        format!("p = {}", format_p(p))
    }
}

/// A p-value for readers: three significant digits, `< 0.001` below that.
pub fn format_p(p: f64) -> String {
    if p < 0.001 {
        "< 0.001".into()
    } else {
        format!("{p:.3}")
    }
}

fn compare(
    base: &str,
    bq: &Quartiles,
    base_values: &[f64],
    q: &Quartiles,
    values: &[f64],
) -> Comparison {
    let div = |a: f64, b: f64| {
        if b > 0.0 {
            a / b
        } else {
            f64::INFINITY.min(f64::MAX)
        }
    };
    let ratio = div(q.median, bq.median);
    let low = div(q.q1, bq.q3);
    let high = div(q.q3, bq.q1);
    let enough = values.len() >= 2 && base_values.len() >= 2;
    let p_value = if enough {
        mann_whitney(values, base_values).map(|m| m.p)
    } else {
        None
    };
    let significance = if !enough {
        Significance::TooFewRepeats
    } else if p_value.is_some_and(|p| p < ALPHA) {
        Significance::Significant
    } else if q.iqr_disjoint(bq) && p_value.is_some_and(|p| p <= APART_P_MAX) {
        Significance::QuartilesApart
    } else {
        Significance::WithinNoise
    };
    Comparison {
        baseline: base.to_owned(),
        ratio,
        low,
        high,
        p_value,
        significance,
        paired_ratio: None,
    }
}

/// Fewest rounds a [`paired_ratio`] is computed over.
pub const MIN_PAIRS: usize = 3;

/// The paired throughput ratio of `a` over `b` (above 1: `a` faster): the median, over the repeats both
/// measured exactly once, of `a`'s ops/s over `b`'s in the same repeat; `None` with fewer than
/// [`MIN_PAIRS`] such repeats, or when a repeat index occurs twice in either row (bundles of separate runs
/// merged, whose repeat numbers do not name one round).
///
/// Repeats are interleaved: round `r` runs repeat `r` of every configuration before any runs repeat
/// `r + 1`, so the two samples of a pair ran seconds apart. On this workspace's VMs the machine's speed
/// drifts by ±15–25 % between rounds; a ratio within each round cancels the drift that a ratio of the two
/// medians keeps. Measured (docs/experiments/harness.md, "Paired ratios"): 11 live rounds of 4 programs ×
/// 5 allocators split into halves, the halves' ratios differed by a median 16.7 % as ratios of medians and
/// 8.5 % paired (machine loaded by two builds).
pub fn paired_ratio(a: &ConfigSummary, b: &ConfigSummary) -> Option<f64> {
    fn by_repeat(r: &ConfigSummary) -> Option<BTreeMap<u32, f64>> {
        if r.repeats.len() != r.ops_per_sec_values.len() {
            return None;
        }
        let mut m = BTreeMap::new();
        for (&k, &v) in r.repeats.iter().zip(&r.ops_per_sec_values) {
            if m.insert(k, v).is_some() {
                return None;
            }
        }
        Some(m)
    }
    let (ma, mb) = (by_repeat(a)?, by_repeat(b)?);
    let ratios: Vec<f64> = ma
        .iter()
        .filter_map(|(k, &x)| {
            let y = *mb.get(k)?;
            (x > 0.0 && y > 0.0).then(|| x / y)
        })
        .collect();
    if ratios.len() < MIN_PAIRS {
        return None;
    }
    median(&ratios)
}

impl ConfigSummary {
    fn build(
        config: &str,
        allocator: &str,
        knobs: &BTreeMap<String, String>,
        samples: &[&Sample],
    ) -> Self {
        let ok: Vec<&Sample> = samples.iter().copied().filter(|s| is_ok(s)).collect();
        let f = |g: &dyn Fn(&Sample) -> f64| ok.iter().map(|s| g(s)).collect::<Vec<f64>>();
        let mut latency_ns = BTreeMap::new();
        let kinds: std::collections::BTreeSet<&String> =
            ok.iter().flat_map(|s| s.latency_ns.keys()).collect();
        for kind in kinds {
            let per: Vec<_> = ok.iter().filter_map(|s| s.latency_ns.get(kind)).collect();
            let med = |g: &dyn Fn(&crate::model::Percentiles) -> f64| {
                median(&per.iter().map(|p| g(p)).collect::<Vec<_>>()).unwrap_or(0.0)
            };
            latency_ns.insert(
                kind.clone(),
                LatencySummary {
                    samples: per.iter().map(|p| p.samples).sum(),
                    p50: med(&|p| p.p50),
                    p90: med(&|p| p.p90),
                    p99: med(&|p| p.p99),
                    p999: med(&|p| p.p999),
                },
            );
        }
        let mut box_stats: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
        for s in &ok {
            for (b, counters) in &s.box_stats {
                for c in counters.keys() {
                    box_stats
                        .entry(b.clone())
                        .or_default()
                        .entry(c.clone())
                        .or_insert(0.0);
                }
            }
        }
        for (b, counters) in box_stats.iter_mut() {
            for (c, v) in counters.iter_mut() {
                let vals: Vec<f64> = ok
                    .iter()
                    .filter_map(|s| s.box_stats.get(b).and_then(|m| m.get(c)))
                    .map(|&x| x as f64)
                    .collect();
                *v = median(&vals).unwrap_or(0.0);
            }
        }
        let mut violations: Vec<String> = Vec::new();
        for v in samples.iter().flat_map(|s| s.violations.iter()) {
            if violations.len() < MAX_VIOLATIONS && !violations.contains(v) {
                violations.push(v.clone());
            }
        }
        ConfigSummary {
            config: config.to_owned(),
            allocator: allocator.to_owned(),
            knobs: knobs.clone(),
            ok: ok.len(),
            failed: samples.len() - ok.len(),
            ops_per_sec: Quartiles::of(&f(&|s| s.ops_per_sec)),
            ops_per_sec_values: f(&|s| s.ops_per_sec),
            repeats: ok.iter().map(|s| s.repeat).collect(),
            peak_rss: Quartiles::of(&f(&|s| s.peak_rss_bytes as f64)),
            post_rss: Quartiles::of(&f(&|s| s.post_rss_bytes as f64)),
            heap_peak: Quartiles::of(&f(&|s| {
                if s.baseline_rss_bytes > 0 {
                    s.peak_rss_bytes.saturating_sub(s.baseline_rss_bytes) as f64
                } else {
                    f64::NAN
                }
            })),
            cpu_seconds: median(&f(&|s| s.cpu_seconds)),
            seconds: median(&f(&|s| s.seconds)),
            minor_faults: median(&f(&|s| s.minor_faults as f64)),
            user_seconds: ok
                .iter()
                .any(|s| s.is_live())
                .then(|| median(&f(&|s| s.user_seconds)))
                .flatten(),
            sys_seconds: ok
                .iter()
                .any(|s| s.is_live())
                .then(|| median(&f(&|s| s.sys_seconds)))
                .flatten(),
            major_faults: median(&f(&|s| s.major_faults as f64)),
            exit_code: ok.iter().find_map(|s| s.exit_code),
            stdout_hash: ok
                .iter()
                .map(|s| s.stdout_hash.clone())
                .find(|h| !h.is_empty())
                .unwrap_or_default(),
            ops: median(&f(&|s| s.ops as f64)),
            latency_ns,
            box_stats,
            vs_baseline: None,
            peak_rss_ratio: None,
            violations,
        }
    }
}

/// The knobs of a row: the manifest's, or parsed from a `backend:K=V,K=V` label when the manifest has none.
/// Values may contain commas (`HAKMEM_TINY_PAGE_BOX_CLASSES=5,6,7`): a comma starts a new knob only when
/// what follows looks like `KEY=`.
pub fn knobs_of(row: &ConfigSummary) -> BTreeMap<String, String> {
    if !row.knobs.is_empty() {
        return row.knobs.clone();
    }
    let mut out = BTreeMap::new();
    let Some((_, spec)) = row.config.split_once(':') else {
        return out;
    };
    let mut current: Option<(String, String)> = None;
    for part in spec.split(',') {
        match part.split_once('=') {
            Some((k, v))
                if !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') =>
            {
                if let Some((k, v)) = current.take() {
                    out.insert(k, v);
                }
                current = Some((k.to_owned(), v.to_owned()));
            }
            _ => {
                if let Some((_, v)) = current.as_mut() {
                    v.push(',');
                    v.push_str(part);
                }
            }
        }
    }
    if let Some((k, v)) = current {
        out.insert(k, v);
    }
    out
}

const UNSET: &str = "(default)";

/// Groups HAKMEM rows that differ in exactly one knob into sweeps of at least three points.
fn find_sweeps(rows: &[ConfigSummary]) -> Vec<Sweep> {
    let hak: Vec<(&ConfigSummary, BTreeMap<String, String>)> = rows
        .iter()
        .filter(|r| r.allocator == "hakmem")
        .map(|r| (r, knobs_of(r)))
        .collect();
    let all_keys: std::collections::BTreeSet<&String> =
        hak.iter().flat_map(|(_, k)| k.keys()).collect();
    let mut sweeps = Vec::new();
    for key in all_keys {
        // Group by the other knobs.
        let mut groups: BTreeMap<BTreeMap<String, String>, Vec<SweepPoint>> = BTreeMap::new();
        for (r, knobs) in &hak {
            let mut fixed = knobs.clone();
            let value = fixed
                .remove(key.as_str())
                .unwrap_or_else(|| UNSET.to_owned());
            groups.entry(fixed).or_default().push(SweepPoint {
                value,
                config: r.config.clone(),
                ops_per_sec: r.ops_per_sec,
            });
        }
        for (fixed, mut points) in groups {
            let set = points.iter().filter(|p| p.value != UNSET).count();
            if set < 2 || points.len() < 3 {
                continue;
            }
            let numeric = points
                .iter()
                .all(|p| p.value == UNSET || p.value.parse::<f64>().is_ok());
            if numeric {
                // The unset point is the default: keep it first.
                points.sort_by(|a, b| {
                    let v = |p: &SweepPoint| p.value.parse::<f64>().unwrap_or(f64::NEG_INFINITY);
                    v(a).total_cmp(&v(b))
                });
            }
            sweeps.push(Sweep {
                knob: key.clone(),
                fixed,
                points,
            });
        }
    }
    sweeps
}

/// The counters that differ most between HAKMEM configurations.
fn box_highlights(rows: &[ConfigSummary]) -> Vec<BoxHighlight> {
    let hak: Vec<&ConfigSummary> = rows.iter().filter(|r| !r.box_stats.is_empty()).collect();
    if hak.len() < 2 {
        return Vec::new();
    }
    let mut keys: std::collections::BTreeSet<(&String, &String)> = Default::default();
    for r in &hak {
        for (b, cs) in &r.box_stats {
            for c in cs.keys() {
                keys.insert((b, c));
            }
        }
    }
    let mut out: Vec<BoxHighlight> = keys
        .into_iter()
        .filter_map(|(b, c)| {
            let vals: Vec<(f64, &String)> = hak
                .iter()
                .map(|r| {
                    (
                        r.box_stats
                            .get(b)
                            .and_then(|m| m.get(c))
                            .copied()
                            .unwrap_or(0.0),
                        &r.config,
                    )
                })
                .collect();
            let min = vals.iter().min_by(|a, b| a.0.total_cmp(&b.0))?;
            let max = vals.iter().max_by(|a, b| a.0.total_cmp(&b.0))?;
            let spread = (max.0 + 1.0) / (min.0 + 1.0);
            let diff = max.0 - min.0;
            (spread >= 1.1 && diff >= 2.0).then(|| BoxHighlight {
                r#box: b.clone(),
                counter: c.clone(),
                spread,
                min_config: min.1.clone(),
                max_config: max.1.clone(),
                score: spread.ln() * (2.0 + diff).ln(),
            })
        })
        .collect();
    // Behaviour before configuration: a read-back of a knob (`capacity_c7`, `enabled_classes_mask`)
    // differs *because* the configurations differ and explains nothing. Then large relative differences
    // first, but a 0 → 1 flip ranks below 40 → 7,951: the score weighs the ratio by the size of the
    // difference.
    out.sort_by(|a, b| {
        is_config_readback(&a.counter)
            .cmp(&is_config_readback(&b.counter))
            .then(b.score.total_cmp(&a.score))
    });
    out.truncate(MAX_HIGHLIGHTS);
    out
}

/// Whether a per-box counter reads back configuration (a capacity, a batch size, a class mask) rather
/// than counting what the allocator did.
pub fn is_config_readback(counter: &str) -> bool {
    counter.starts_with("capacity_") || counter == "refill_batch" || counter.ends_with("_mask")
}

#[cfg(test)]
mod box_ranking {
    use super::*;

    fn row(config: &str, stats: &[(&str, &str, f64)]) -> ConfigSummary {
        let mut box_stats: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
        for (b, c, v) in stats {
            box_stats
                .entry(b.to_string())
                .or_default()
                .insert(c.to_string(), *v);
        }
        ConfigSummary {
            config: config.into(),
            allocator: "hakmem".into(),
            box_stats,
            ..ConfigSummary::default()
        }
    }

    #[test]
    fn behaviour_counters_rank_above_config_read_backs() {
        let rows = [
            row(
                "hakmem:A",
                &[
                    ("page_box", "enabled_classes_mask", 255.0),
                    ("unified_cache", "capacity_c7", 4096.0),
                    ("warm_pool", "misses", 100.0),
                ],
            ),
            row(
                "hakmem:B",
                &[
                    ("page_box", "enabled_classes_mask", 0.0),
                    ("unified_cache", "capacity_c7", 16.0),
                    ("warm_pool", "misses", 400.0),
                ],
            ),
        ];
        let h = box_highlights(&rows);
        assert_eq!(h[0].counter, "misses", "{h:?}");
        assert!(h.iter().skip(1).all(|x| is_config_readback(&x.counter)));
    }
}
