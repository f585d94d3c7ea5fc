//! Fidelity: how well a replay predicts the live runs of the program it was recorded from.
//!
//! Entry point: [`Fidelity::compute`] over the summaries of a live workload (`hakmem live`) and of the
//! replay of its recording (`hakmem live --record`), matched by configuration label.
//!
//! The model (additive, as issue 10 states it): the program's own work is the same under every allocator;
//! only the time spent in the allocator moves. With `live(X)` the median live wall seconds and `replay(X)`
//! the median replayed wall seconds of configuration X (the allocator's time on the recorded calls, plus
//! the harness's own per-call work, which is the same for every X and cancels):
//!
//! ```text
//! predicted(A) = live(base) − replay(base) + replay(A)
//! predicted ratio(A) = predicted(A) / live(base) = 1 + s · (replay(A) / replay(base) − 1),
//!                      s = replay(base) / live(base)                     (the share-scaled form)
//! live ratio(A) = live(A) / live(base)
//! error(A) = |predicted ratio(A) − live ratio(A)|             (0.05 = 5 % of the baseline's time)
//! ```
//!
//! The ratios `live(A) / live(base)` and `replay(A) / replay(base)` are **paired by round** when every row
//! allows it ([`paired_ratio`]: the median over the interleaved rounds of the ratio within each round, which
//! cancels the machine's drift between rounds), else ratios of the medians; [`Fidelity::paired`] says which.
//!
//! `s` is the allocator's share of the program only when the harness's work is small; the prediction
//! does not need it to be (a replay of the baseline that takes as long as the program, because the
//! harness's per-call work is comparable with the program's own, still predicts: the line says so).
//!
//! **The calibrated model** (used when at least [`MIN_CALIBRATION`] configurations besides the baseline
//! ran live): `predicted ratio(A) = 1 + k · (replay ratio(A) − 1)`, where `k` is fitted on the *other*
//! configurations' live ratios (least squares through the origin of `live − 1` on `replay − 1`, leave
//! `A` out), so no prediction uses its own live time. `k` is the baseline allocator's share of the
//! program's time as the program experiences it; the additive model assumes `k = s`. Measured
//! (docs/experiments/harness.md, "The calibrated model"): an allocator's calls run 1–3× slower inside the
//! program than in the replay's back-to-back loop (the program's own work between calls evicts the
//! allocator's metadata and code from the caches and retrains the branch predictors: on wordfreq, live
//! glibc executes 491 M more instructions than mimalloc 2 and takes 0.21 s more CPU, the replay 550 M
//! more instructions in 0.07 s), and that factor is much the same for every allocator of one program,
//! which is what one `k` per program assumes. The additive form stays in the fidelity line for comparison,
//! and is the model when there is nothing to calibrate on.
//!
//! When some configuration's predicted time is not positive (the replay's differences exceed the
//! program's whole time: measured on bintrees when the harness decoded the workload inside the timed
//! loop, replay 2.7 s against the program's 1.04 s), no time is predicted: [`Fidelity::not_meaningful`]
//! says why and the ratio errors are `None`.
//!
//! Ranking needs no model: any prediction increasing in `replay(A)` orders the configurations as the
//! replay times do, so `pairs` = pairs that live separates significantly (Mann-Whitney U over the
//! repeats, p < [`ALPHA`]), `agree` = how many of them the replay orders the same way, and `kendall_tau`
//! = Kendall's τ-a between live and replay medians over all pairs — for every program, meaningful or
//! not. `ratio_error_median` = the median of `error(A)` over the configurations other than the baseline.
//!
//! Invariants: `agree <= pairs`; `-1 <= kendall_tau <= 1`; the baseline's prediction equals its live
//! time; a prediction is `None` exactly when `not_meaningful` is set; predictions are positive.

use crate::stats::{mann_whitney, median};
use crate::summary::{paired_ratio, ConfigSummary, WorkloadSummary, ALPHA};
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
    /// `live(base) · predicted_ratio` (`None` when the prediction is not meaningful).
    pub predicted_seconds: Option<f64>,
    /// `live(config) / live(base)`: the paired ratio (the median over the rounds of the ratio within each
    /// round) when [`Fidelity::paired`], else the ratio of the medians.
    pub live_ratio: f64,
    /// `replay(config) / replay(base)`, paired or of medians as `live_ratio`.
    #[serde(default)]
    pub replay_ratio: f64,
    /// The predicted time ratio of the model in use ([`Fidelity::model`]): calibrated
    /// `1 + k · (replay_ratio − 1)` with `k` fitted on the other configurations, or additive
    /// `1 + s · (replay_ratio − 1)` (`None` when not meaningful).
    pub predicted_ratio: Option<f64>,
    /// The additive model's ratio `1 + s · (replay_ratio − 1)`, whichever model is in use (`None` when some
    /// configuration's additive prediction is not positive).
    #[serde(default)]
    pub additive_ratio: Option<f64>,
    /// `|predicted_ratio − live_ratio|` (`None` when not meaningful).
    pub ratio_error: Option<f64>,
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
    /// `replay(base) / live(base)`: the share of the program's time the replay accounts for (above 1 when the
    /// harness's per-call work is comparable with the program's own).
    #[serde(default)]
    pub share: f64,
    /// Whether the live and replayed ratios are paired by round ([`crate::summary::paired_ratio`]: every
    /// row has at least [`crate::summary::MIN_PAIRS`] rounds in common with the baseline), not ratios of
    /// medians.
    #[serde(default)]
    pub paired: bool,
    /// The model of `predicted_ratio`: [`CALIBRATED`] or [`ADDITIVE`].
    #[serde(default)]
    pub model: String,
    /// The calibrated model's `k` fitted on every configuration but the baseline: the baseline allocator's
    /// share of the program's time as the program experiences it (`None` without the calibrated model).
    /// `k / share` is how much slower the allocator's calls run inside the program than in the replay.
    #[serde(default)]
    pub scale: Option<f64>,
    /// Median absolute error of the additive model's ratios (what `ratio_error_median` is when
    /// the model is additive; `None` when an additive prediction is not positive).
    #[serde(default)]
    pub additive_error_median: Option<f64>,
    /// Why no time is predicted (some configuration's predicted time is not positive), if so.
    #[serde(default)]
    pub not_meaningful: Option<String>,
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
    /// Of those, programs whose replay is not meaningful as a time prediction (no ratio errors).
    #[serde(default)]
    pub not_meaningful: usize,
    /// Sum of [`Fidelity::pairs`].
    pub pairs: usize,
    /// Sum of [`Fidelity::agree`].
    pub agree: usize,
    /// Mean of the programs' Kendall τ.
    pub kendall_tau: Option<f64>,
    /// Median of every program's per-configuration ratio errors, pooled.
    pub ratio_error_median: Option<f64>,
    /// The same for the additive model's ratios.
    #[serde(default)]
    pub additive_error_median: Option<f64>,
}

impl Fidelity {
    /// Sets `replay` against `live`; `None` when they share no configuration with successful samples on
    /// both sides.
    pub fn compute<'a>(live: &'a WorkloadSummary, replay: &'a WorkloadSummary) -> Option<Fidelity> {
        // (live row, replay row)
        let common: Vec<(&'a ConfigSummary, &'a ConfigSummary)> = live
            .rows
            .iter()
            .filter_map(|l| {
                let r = replay.row(&l.config)?;
                let (ls, rs) = (l.seconds?, r.seconds?);
                (l.ok > 0 && r.ok > 0 && ls > 0.0 && rs > 0.0).then_some((l, r))
            })
            .collect();
        if common.is_empty() {
            return None;
        }
        let base = live
            .baseline
            .as_deref()
            .and_then(|b| common.iter().position(|c| c.0.config == b))
            .unwrap_or(0);
        let (lb, rb) = common[base];
        let (live_base, replay_base) = (lb.seconds.unwrap_or(0.0), rb.seconds.unwrap_or(0.0));
        // Time ratios to the baseline: paired by round when every row allows it (see `paired_ratio`; the time
        // ratio A/base is the baseline's ops/s over A's), else ratios of the medians.
        let side = |c: &(&'a ConfigSummary, &'a ConfigSummary), replayed: bool| {
            if replayed {
                c.1
            } else {
                c.0
            }
        };
        let paired_all = |replayed: bool| {
            let b = side(&common[base], replayed);
            common
                .iter()
                .map(|c| paired_ratio(b, side(c, replayed)))
                .collect::<Option<Vec<f64>>>()
        };
        let live_paired = paired_all(false);
        let replay_paired = paired_all(true);
        let paired = live_paired.is_some() && replay_paired.is_some();
        let live_ratios: Vec<f64> = live_paired.filter(|_| paired).unwrap_or_else(|| {
            common
                .iter()
                .map(|c| c.0.seconds.unwrap_or(0.0) / live_base)
                .collect()
        });
        let replay_ratios: Vec<f64> = replay_paired.filter(|_| paired).unwrap_or_else(|| {
            common
                .iter()
                .map(|c| c.1.seconds.unwrap_or(0.0) / replay_base)
                .collect()
        });
        let share = replay_base / live_base;
        let additive: Vec<f64> = replay_ratios
            .iter()
            .map(|&rr| predicted_ratio(share, rr))
            .collect();
        let additive_ok = additive.iter().all(|&r| r > 0.0);
        // The calibrated model, each configuration predicted with `k` fitted on the others (leave one out),
        // so that no prediction uses its own live time.
        let others: Vec<usize> = (0..common.len()).filter(|&i| i != base).collect();
        let fit = |skip: Option<usize>| {
            calibrated_scale(
                others
                    .iter()
                    .filter(|&&j| Some(j) != skip)
                    .map(|&j| (replay_ratios[j], live_ratios[j])),
            )
        };
        let calibrated: Option<Vec<f64>> = (others.len() >= MIN_CALIBRATION)
            .then(|| {
                (0..common.len())
                    .map(|i| {
                        if i == base {
                            Some(1.0)
                        } else {
                            fit(Some(i)).map(|k| 1.0 + k * (replay_ratios[i] - 1.0))
                        }
                    })
                    .collect()
            })
            .flatten()
            .filter(|v: &Vec<f64>| v.iter().all(|&r| r > 0.0));
        let model = if calibrated.is_some() {
            CALIBRATED
        } else {
            ADDITIVE
        };
        let ratios = calibrated.unwrap_or_else(|| additive.clone());
        let not_meaningful = ratios
            .iter()
            .zip(&common)
            .zip(&replay_ratios)
            .find(|((r, _), _)| **r <= 0.0)
            .map(|((_, c), rr)| {
                format!(
                    "the additive prediction gives {} a non-positive time: its replay is {:.3} s shorter \
                     than {}'s ({:.3} s replayed), the program took {:.3} s; the replay's differences \
                     exceed the program's time, so time predictions are not meaningful (the ordering is \
                     still compared)",
                    c.0.config,
                    replay_base * (1.0 - rr),
                    lb.config,
                    replay_base,
                    live_base
                )
            });
        let predictions: Vec<Prediction> = common
            .iter()
            .zip(ratios.iter().zip(&additive))
            .zip(live_ratios.iter().zip(&replay_ratios))
            .map(|(((l, r), (pr, ar)), (&live_ratio, &replay_ratio))| {
                let predicted_ratio = not_meaningful.is_none().then_some(*pr);
                Prediction {
                    config: l.config.clone(),
                    live_seconds: l.seconds.unwrap_or(0.0),
                    replay_seconds: r.seconds.unwrap_or(0.0),
                    predicted_seconds: predicted_ratio.map(|r| r * live_base),
                    live_ratio,
                    replay_ratio,
                    predicted_ratio,
                    additive_ratio: additive_ok.then_some(*ar),
                    ratio_error: predicted_ratio.map(|r| (r - live_ratio).abs()),
                }
            })
            .collect();
        let (mut pairs, mut agree, mut concordant, mut discordant, mut all) = (0, 0, 0i64, 0i64, 0);
        for i in 0..common.len() {
            for j in i + 1..common.len() {
                all += 1;
                let dl = predictions[i].live_ratio - predictions[j].live_ratio;
                // Any prediction increasing in replay(A) orders as the replay ratios do.
                let dp = predictions[i].replay_ratio - predictions[j].replay_ratio;
                let same = dl.signum() == dp.signum() && dl != 0.0 && dp != 0.0;
                if dl * dp > 0.0 {
                    concordant += 1;
                } else if dl * dp < 0.0 {
                    discordant += 1;
                }
                let (a, b) = (
                    &common[i].0.ops_per_sec_values,
                    &common[j].0.ops_per_sec_values,
                );
                let separated =
                    mann_whitney(a, b).is_some_and(|m| a.len() >= 2 && b.len() >= 2 && m.p < ALPHA);
                if separated {
                    pairs += 1;
                    if same {
                        agree += 1;
                    }
                }
            }
        }
        let additive_error_median = median(
            &predictions
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != base)
                .filter_map(|(_, p)| Some((p.additive_ratio? - p.live_ratio).abs()))
                .collect::<Vec<f64>>(),
        );
        let errors: Vec<f64> = predictions
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != base)
            .filter_map(|(_, p)| p.ratio_error)
            .collect();
        let f = Fidelity {
            replay_workload: replay.workload.clone(),
            baseline: lb.config.clone(),
            predictions,
            share,
            paired,
            model: model.to_owned(),
            scale: (model == CALIBRATED).then(|| fit(None)).flatten(),
            additive_error_median,
            not_meaningful,
            pairs,
            agree,
            kendall_tau: (all > 0).then(|| (concordant - discordant) as f64 / all as f64),
            ratio_error_median: median(&errors),
        };
        debug_assert!(f.check_invariants());
        Some(f)
    }

    /// `agree <= pairs`, τ in [-1, 1], the baseline predicted exactly, predictions positive and present
    /// exactly when meaningful.
    pub fn check_invariants(&self) -> bool {
        self.agree <= self.pairs
            && self.kendall_tau.is_none_or(|t| (-1.0..=1.0).contains(&t))
            && self.predictions.iter().all(|p| {
                p.predicted_seconds.is_some() == self.not_meaningful.is_none()
                    && p.predicted_seconds.is_none_or(|s| s > 0.0)
                    && (p.config != self.baseline
                        || p.predicted_seconds
                            .is_none_or(|s| (s - p.live_seconds).abs() <= 1e-9 * p.live_seconds))
            })
    }

    /// Why the additive model is in use: too few configurations ran live to calibrate, or a configuration's
    /// scale fitted on the others was not positive (live orders them against the replay).
    fn why_additive(&self) -> String {
        let others = self
            .predictions
            .iter()
            .filter(|p| p.config != self.baseline)
            .count();
        if others < MIN_CALIBRATION {
            format!(
                "the calibrated model, usually far closer, needs live runs of at least {MIN_CALIBRATION} \
                 configurations besides the baseline ({others} here)"
            )
        } else {
            "the calibrated model is not used: fitted on the others, some configuration's scale or \
             prediction is not positive (their live ratios go against their replay ratios)"
                .to_string()
        }
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
                ", median |predicted − live| time ratio error {:.1}%",
                e * 100.0
            ));
            match self.scale {
                Some(k) if self.model == CALIBRATED => s.push_str(&format!(
                    " (calibrated: each allocator predicted from the others' live runs, the baseline {} \
                     taking {:.0}% of the program's time against {:.0}% of it in the replay: its calls take \
                     {:.1}× their replayed time inside the program{})",
                    self.baseline,
                    k * 100.0,
                    self.share * 100.0,
                    k / self.share,
                    match self.additive_error_median {
                        Some(a) => format!("; the additive model's error {:.1}%", a * 100.0),
                        None => String::new(),
                    }
                )),
                _ => s.push_str(&format!(
                    " (additive, anchored on {}, whose replay took {:.0}% of its live time{}; {})",
                    self.baseline,
                    self.share * 100.0,
                    if self.share >= 1.0 {
                        ": the harness's per-call work is comparable with the program's own; it cancels \
                         in the prediction"
                    } else {
                        ""
                    },
                    self.why_additive()
                )),
            }
        }
        if self.paired {
            s.push_str("; ratios paired by round");
        }
        if let Some(why) = &self.not_meaningful {
            s.push_str(&format!("; {why}"));
        }
        s
    }
}

/// The predicted time ratio `1 + share · (replay_ratio − 1)` (the additive model in its share-scaled
/// form), with `replay_ratio = replay(A) / replay(base)`. For `share` in `[0, 1)` it is positive whenever
/// `replay_ratio` is (the smallest value, `1 − share`, is the program without any allocator time); for a
/// larger share it can be zero or negative, which [`Fidelity::compute`] reports as not meaningful.
pub fn predicted_ratio(share: f64, replay_ratio: f64) -> f64 {
    1.0 + share * (replay_ratio - 1.0)
}

/// [`Fidelity::model`] of the calibrated model.
pub const CALIBRATED: &str = "calibrated";
/// [`Fidelity::model`] of the additive model.
pub const ADDITIVE: &str = "additive";
/// Fewest configurations besides the baseline for the calibrated model: one to fit `k` on, one to predict.
pub const MIN_CALIBRATION: usize = 2;

/// The calibrated model's `k` from `(replay ratio, live ratio)` points: the least-squares slope through the
/// origin of `live − 1` on `replay − 1`. `None` when every replay ratio is 1 or the slope is not positive
/// (live and replay disagree on the direction of the differences: nothing to calibrate on).
pub fn calibrated_scale(points: impl Iterator<Item = (f64, f64)>) -> Option<f64> {
    let (mut xy, mut xx) = (0.0, 0.0);
    for (rr, lr) in points {
        xy += (rr - 1.0) * (lr - 1.0);
        xx += (rr - 1.0) * (rr - 1.0);
    }
    let k = xy / xx;
    (xx > 0.0 && k.is_finite() && k > 0.0).then_some(k)
}

impl FidelityTotals {
    /// Pools several programs' fidelity; `None` when there is none.
    pub fn of<'a>(all: impl IntoIterator<Item = &'a Fidelity>) -> Option<FidelityTotals> {
        let mut t = FidelityTotals::default();
        let mut taus = Vec::new();
        let mut errors = Vec::new();
        let mut additive = Vec::new();
        for f in all {
            additive.extend(
                f.predictions
                    .iter()
                    .filter(|p| p.config != f.baseline)
                    .filter_map(|p| Some((p.additive_ratio? - p.live_ratio).abs())),
            );
            t.programs += 1;
            t.pairs += f.pairs;
            t.agree += f.agree;
            t.not_meaningful += usize::from(f.not_meaningful.is_some());
            taus.extend(f.kendall_tau);
            errors.extend(
                f.predictions
                    .iter()
                    .filter(|p| p.config != f.baseline)
                    .filter_map(|p| p.ratio_error),
            );
        }
        if t.programs == 0 {
            return None;
        }
        t.kendall_tau = (!taus.is_empty()).then(|| taus.iter().sum::<f64>() / taus.len() as f64);
        t.ratio_error_median = median(&errors);
        t.additive_error_median = median(&additive);
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
            if let Some(a) = self.additive_error_median.filter(|a| a != &e) {
                s.push_str(&format!(" (additive model: {:.1}%)", a * 100.0));
            }
        }
        if self.not_meaningful > 0 {
            s.push_str(&format!(
                " ({} program(s) without a time prediction: a non-positive predicted time)",
                self.not_meaningful
            ));
        }
        s
    }
}
