//! Fidelity: how well a replay predicts the live runs of the program it was recorded from.
//!
//! Entry point: [`Fidelity::compute`] over the summaries of a live workload (`hakmem live`) and of the
//! replay of its recording (`hakmem live --record`), matched by configuration label.
//!
//! The model: the program's own work is the same under every allocator, only the allocator's share of the
//! time changes, so with `live(X)` the median live wall seconds and `replay(X)` the median replayed wall
//! seconds (the whole replayed workload, i.e. the allocator's time) of configuration X,
//!
//! ```text
//! predicted(A) = live(base) − replay(base) + replay(A)          (predicted(base) = live(base))
//! live ratio(A) = live(A) / live(base)     predicted ratio(A) = predicted(A) / live(base)
//! error(A) = |predicted ratio(A) − live ratio(A)|                (0.05 = 5 % of the baseline's time)
//! ```
//!
//! and over the configurations both sides measured: `pairs` = pairs that live separates significantly
//! (Mann-Whitney U over the repeats, p < [`ALPHA`]), `agree` = how many of them the prediction orders the
//! same way, `kendall_tau` = Kendall's τ-a between live and predicted medians over all pairs, and
//! `ratio_error_median` = the median of `error(A)` over the configurations other than the baseline.
//!
//! Invariants: `agree <= pairs`; `-1 <= kendall_tau <= 1`; the baseline's prediction equals its live time.

use crate::stats::{mann_whitney, median};
use crate::summary::{WorkloadSummary, ALPHA};
use serde::{Deserialize, Serialize};

/// One configuration's live and predicted times.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    /// Configuration label (the same in the live and the replay rows).
    pub config: String,
    /// Median live wall seconds.
    pub live_seconds: f64,
    /// Median replayed wall seconds (the allocator's time on the recorded calls).
    pub replay_seconds: f64,
    /// `live(base) − replay(base) + replay(config)`.
    pub predicted_seconds: f64,
    /// `live(config) / live(base)`.
    pub live_ratio: f64,
    /// `predicted(config) / live(base)`.
    pub predicted_ratio: f64,
    /// `|predicted_ratio − live_ratio|`.
    pub ratio_error: f64,
}

/// How well the replay of a recording predicts the live runs of the same program.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Fidelity {
    /// Name of the replayed workload.
    pub replay_workload: String,
    /// The configuration the prediction is anchored on (the live workload's baseline).
    pub baseline: String,
    /// One per configuration measured both live and replayed, in the live table's order.
    pub predictions: Vec<Prediction>,
    /// Pairs of configurations whose live times differ significantly.
    pub pairs: usize,
    /// Of those, the pairs the prediction orders the same way.
    pub agree: usize,
    /// Kendall's τ-a between live and predicted medians over all pairs (`None` with fewer than 2).
    pub kendall_tau: Option<f64>,
    /// Median absolute error between predicted and live time ratios (`None` without a non-baseline row).
    pub ratio_error_median: Option<f64>,
}

/// Fidelity over several programs: the bundle's (or the report's) `fidelity` object.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FidelityTotals {
    /// Programs (live workloads with a replay) counted.
    pub programs: usize,
    /// Sum of [`Fidelity::pairs`].
    pub pairs: usize,
    /// Sum of [`Fidelity::agree`].
    pub agree: usize,
    /// Mean of the programs' Kendall τ.
    pub kendall_tau: Option<f64>,
    /// Median of every program's per-configuration ratio errors, pooled.
    pub ratio_error_median: Option<f64>,
}

impl Fidelity {
    /// Sets `replay` against `live`; `None` when they share no configuration with successful samples on
    /// both sides.
    pub fn compute(live: &WorkloadSummary, replay: &WorkloadSummary) -> Option<Fidelity> {
        // (config, live seconds median, live per-repeat seconds, replay seconds median)
        let common: Vec<(&str, f64, Vec<f64>, f64)> = live
            .rows
            .iter()
            .filter_map(|l| {
                let r = replay.row(&l.config)?;
                let (ls, rs) = (l.seconds?, r.seconds?);
                (l.ok > 0 && r.ok > 0 && ls > 0.0 && rs > 0.0).then(|| {
                    let per: Vec<f64> = l
                        .ops_per_sec_values
                        .iter()
                        .filter(|&&v| v > 0.0)
                        .map(|v| 1.0 / v)
                        .collect();
                    (l.config.as_str(), ls, per, rs)
                })
            })
            .collect();
        if common.is_empty() {
            return None;
        }
        let base = live
            .baseline
            .as_deref()
            .and_then(|b| common.iter().position(|c| c.0 == b))
            .unwrap_or(0);
        let (live_base, replay_base) = (common[base].1, common[base].3);
        let predictions: Vec<Prediction> = common
            .iter()
            .map(|(config, ls, _, rs)| {
                let predicted = live_base - replay_base + rs;
                let live_ratio = ls / live_base;
                let predicted_ratio = predicted / live_base;
                Prediction {
                    config: (*config).to_owned(),
                    live_seconds: *ls,
                    replay_seconds: *rs,
                    predicted_seconds: predicted,
                    live_ratio,
                    predicted_ratio,
                    ratio_error: (predicted_ratio - live_ratio).abs(),
                }
            })
            .collect();
        let (mut pairs, mut agree, mut concordant, mut discordant, mut all) = (0, 0, 0i64, 0i64, 0);
        for i in 0..common.len() {
            for j in i + 1..common.len() {
                all += 1;
                let dl = predictions[i].live_seconds - predictions[j].live_seconds;
                let dp = predictions[i].predicted_seconds - predictions[j].predicted_seconds;
                let same = dl.signum() == dp.signum() && dl != 0.0 && dp != 0.0;
                if dl * dp > 0.0 {
                    concordant += 1;
                } else if dl * dp < 0.0 {
                    discordant += 1;
                }
                let separated = mann_whitney(&common[i].2, &common[j].2).is_some_and(|m| {
                    common[i].2.len() >= 2 && common[j].2.len() >= 2 && m.p < ALPHA
                });
                if separated {
                    pairs += 1;
                    if same {
                        agree += 1;
                    }
                }
            }
        }
        let errors: Vec<f64> = predictions
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != base)
            .map(|(_, p)| p.ratio_error)
            .collect();
        let f = Fidelity {
            replay_workload: replay.workload.clone(),
            baseline: common[base].0.to_owned(),
            predictions,
            pairs,
            agree,
            kendall_tau: (all > 0).then(|| (concordant - discordant) as f64 / all as f64),
            ratio_error_median: median(&errors),
        };
        debug_assert!(f.check_invariants());
        Some(f)
    }

    /// `agree <= pairs`, τ in [-1, 1], the baseline predicted exactly.
    pub fn check_invariants(&self) -> bool {
        self.agree <= self.pairs
            && self.kendall_tau.is_none_or(|t| (-1.0..=1.0).contains(&t))
            && self
                .predictions
                .iter()
                .filter(|p| p.config == self.baseline)
                .all(|p| (p.predicted_seconds - p.live_seconds).abs() <= 1e-9 * p.live_seconds)
    }

    /// The fidelity line for readers.
    pub fn line(&self) -> String {
        let mut s = format!(
            "Fidelity of the replay ({}): {}/{} significant live pairs ordered the same way",
            self.replay_workload, self.agree, self.pairs
        );
        if let Some(t) = self.kendall_tau {
            s.push_str(&format!(", Kendall τ {t:.2}"));
        }
        if let Some(e) = self.ratio_error_median {
            s.push_str(&format!(
                ", median |predicted − live| time ratio error {:.1}% (anchored on {})",
                e * 100.0,
                self.baseline
            ));
        }
        s
    }
}

impl FidelityTotals {
    /// Pools several programs' fidelity; `None` when there is none.
    pub fn of<'a>(all: impl IntoIterator<Item = &'a Fidelity>) -> Option<FidelityTotals> {
        let mut t = FidelityTotals::default();
        let mut taus = Vec::new();
        let mut errors = Vec::new();
        for f in all {
            t.programs += 1;
            t.pairs += f.pairs;
            t.agree += f.agree;
            taus.extend(f.kendall_tau);
            errors.extend(
                f.predictions
                    .iter()
                    .filter(|p| p.config != f.baseline)
                    .map(|p| p.ratio_error),
            );
        }
        if t.programs == 0 {
            return None;
        }
        t.kendall_tau = (!taus.is_empty()).then(|| taus.iter().sum::<f64>() / taus.len() as f64);
        t.ratio_error_median = median(&errors);
        Some(t)
    }

    /// The totals line for readers.
    pub fn line(&self) -> String {
        let mut s = format!(
            "Fidelity over {} program(s): {}/{} significant live pairs ordered the same way by the replay",
            self.programs, self.agree, self.pairs
        );
        if let Some(t) = self.kendall_tau {
            s.push_str(&format!(", mean Kendall τ {t:.2}"));
        }
        if let Some(e) = self.ratio_error_median {
            s.push_str(&format!(", median time ratio error {:.1}%", e * 100.0));
        }
        s
    }
}
