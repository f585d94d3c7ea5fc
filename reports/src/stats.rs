//! Order statistics and the Mann-Whitney U test: what a summary needs to say "by how much" and "how sure".
//!
//! Entry points: [`Quartiles::of`], [`mann_whitney`]. Quantiles interpolate linearly between order statistics
//! (Hyndman & Fan type 7, the default of R and numpy). The U test is exact (enumerated null distribution)
//! when neither sample has ties and both are small, and otherwise uses the normal approximation with tie and
//! continuity corrections. Invariant: `min <= q1 <= median <= q3 <= max` for every [`Quartiles`].

use serde::{Deserialize, Serialize};

/// Five-number summary of a set of measurements.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Quartiles {
    /// Values summarised.
    pub n: usize,
    /// Smallest value.
    pub min: f64,
    /// First quartile.
    pub q1: f64,
    /// Median.
    pub median: f64,
    /// Third quartile.
    pub q3: f64,
    /// Largest value.
    pub max: f64,
}

impl Quartiles {
    /// Summarises `values` (NaN values are ignored). `None` when nothing is left.
    pub fn of(values: &[f64]) -> Option<Quartiles> {
        let mut v: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let q = Quartiles {
            n: v.len(),
            min: v[0],
            q1: quantile_sorted(&v, 0.25),
            median: quantile_sorted(&v, 0.5),
            q3: quantile_sorted(&v, 0.75),
            max: v[v.len() - 1],
        };
        debug_assert!(q.check_invariants());
        Some(q)
    }

    /// `min <= q1 <= median <= q3 <= max`.
    pub fn check_invariants(&self) -> bool {
        self.min <= self.q1
            && self.q1 <= self.median
            && self.median <= self.q3
            && self.q3 <= self.max
    }

    /// Interquartile range relative to the median (0.05 = the middle half spans 5 % of the median).
    pub fn relative_iqr(&self) -> f64 {
        if self.median == 0.0 {
            0.0
        } else {
            (self.q3 - self.q1) / self.median.abs()
        }
    }

    /// Whether the interquartile ranges of `self` and `other` are disjoint.
    pub fn iqr_disjoint(&self, other: &Quartiles) -> bool {
        self.q3 < other.q1 || other.q3 < self.q1
    }
}

/// Quantile `p` in `[0, 1]` of sorted, non-empty `v` (type 7).
pub fn quantile_sorted(v: &[f64], p: f64) -> f64 {
    debug_assert!(!v.is_empty());
    let h = (v.len() - 1) as f64 * p.clamp(0.0, 1.0);
    let lo = h.floor() as usize;
    let hi = h.ceil() as usize;
    v[lo] + (h - lo as f64) * (v[hi] - v[lo])
}

/// Median of `values` (NaN ignored); `None` when empty.
pub fn median(values: &[f64]) -> Option<f64> {
    Quartiles::of(values).map(|q| q.median)
}

/// Result of a two-sided Mann-Whitney U test.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct MannWhitney {
    /// U statistic of the first sample.
    pub u: f64,
    /// Two-sided p-value.
    pub p: f64,
    /// Whether `p` comes from the exact distribution (else the normal approximation).
    pub exact: bool,
}

/// Largest `n1 * n2` for which the exact distribution is enumerated.
const EXACT_LIMIT: usize = 2500;

/// Two-sided Mann-Whitney U test of `a` against `b`. `None` when either sample is empty.
pub fn mann_whitney(a: &[f64], b: &[f64]) -> Option<MannWhitney> {
    let (n1, n2) = (a.len(), b.len());
    if n1 == 0 || n2 == 0 {
        return None;
    }
    let mut all: Vec<(f64, bool)> = a
        .iter()
        .map(|&x| (x, true))
        .chain(b.iter().map(|&x| (x, false)))
        .collect();
    all.sort_by(|x, y| x.0.total_cmp(&y.0));
    let n = all.len();
    let mut rank_sum_a = 0.0;
    let mut tie_term = 0.0;
    let mut ties = false;
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && all[j + 1].0 == all[i].0 {
            j += 1;
        }
        let t = (j - i + 1) as f64;
        if t > 1.0 {
            ties = true;
            tie_term += t * t * t - t;
        }
        let avg_rank = (i + j) as f64 / 2.0 + 1.0;
        rank_sum_a += avg_rank * all[i..=j].iter().filter(|e| e.1).count() as f64;
        i = j + 1;
    }
    let u1 = rank_sum_a - (n1 * (n1 + 1)) as f64 / 2.0;
    let (n1f, n2f) = (n1 as f64, n2 as f64);
    let u_small = u1.min(n1f * n2f - u1);
    if !ties && n1 * n2 <= EXACT_LIMIT {
        let dist = u_distribution(n1, n2);
        let total: f64 = dist.iter().sum();
        let k = u_small.round() as usize;
        let tail: f64 = dist[..=k].iter().sum::<f64>() / total;
        return Some(MannWhitney {
            u: u1,
            p: (2.0 * tail).min(1.0),
            exact: true,
        });
    }
    let mu = n1f * n2f / 2.0;
    let nf = n as f64;
    let var = n1f * n2f / 12.0 * ((nf + 1.0) - tie_term / (nf * (nf - 1.0)));
    if var <= 0.0 {
        // Every value equal: no evidence of any difference.
        return Some(MannWhitney {
            u: u1,
            p: 1.0,
            exact: false,
        });
    }
    let z = ((u1 - mu).abs() - 0.5).max(0.0) / var.sqrt();
    let p = erfc(z / std::f64::consts::SQRT_2).min(1.0);
    Some(MannWhitney {
        u: u1,
        p,
        exact: false,
    })
}

/// Number of arrangements giving each U in `0..=n1*n2` under the null hypothesis (no ties).
fn u_distribution(n1: usize, n2: usize) -> Vec<f64> {
    // f[j][u] for the current i: counts with i items of the first sample and j of the second.
    // Recurrence: f(i, j, u) = f(i-1, j, u-j) + f(i, j-1, u)  (the largest element belongs to a or b).
    let max_u = n1 * n2;
    let mut prev: Vec<Vec<f64>> = (0..=n2).map(|_| vec![0.0; max_u + 1]).collect();
    for row in prev.iter_mut() {
        row[0] = 1.0; // i = 0: one arrangement, U = 0.
    }
    for _i in 1..=n1 {
        let mut cur: Vec<Vec<f64>> = (0..=n2).map(|_| vec![0.0; max_u + 1]).collect();
        cur[0][0] = 1.0; // j = 0: U = 0.
        for j in 1..=n2 {
            for u in 0..=max_u {
                let from_a = if u >= j { prev[j][u - j] } else { 0.0 };
                cur[j][u] = from_a + cur[j - 1][u];
            }
        }
        prev = cur;
    }
    prev.swap_remove(n2)
}

/// Complementary error function (Numerical Recipes' Chebyshev fit, relative error < 1.2e-7).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 {
        r
    } else {
        2.0 - r
    }
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn quartiles_of_one_to_five() {
        let q = Quartiles::of(&[5.0, 1.0, 3.0, 2.0, 4.0]).unwrap();
        assert_eq!(
            (q.min, q.q1, q.median, q.q3, q.max),
            (1.0, 2.0, 3.0, 4.0, 5.0)
        );
    }

    #[test]
    fn exact_u_matches_tables() {
        // Fully separated samples of 5 and 5: U = 0, exact two-sided p = 2 / C(10,5) = 2/252.
        let r = mann_whitney(&[1.0, 2.0, 3.0, 4.0, 5.0], &[6.0, 7.0, 8.0, 9.0, 10.0]).unwrap();
        assert!(r.exact);
        assert!((r.p - 2.0 / 252.0).abs() < 1e-12, "{r:?}");
        // 3 vs 3 can never reach p < 0.1.
        let r = mann_whitney(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0]).unwrap();
        assert!((r.p - 0.1).abs() < 1e-12, "{r:?}");
    }

    #[test]
    fn normal_approximation_with_ties() {
        let a: Vec<f64> = (0..30).map(|i| (i / 2) as f64).collect();
        let b: Vec<f64> = (0..30).map(|i| (i / 2) as f64 + 20.0).collect();
        let r = mann_whitney(&a, &b).unwrap();
        assert!(!r.exact);
        assert!(r.p < 1e-6, "{r:?}");
        let same = mann_whitney(&a, &a).unwrap();
        assert!(same.p > 0.9, "{same:?}");
    }

    #[test]
    fn erfc_known_values() {
        assert!((erfc(0.0) - 1.0).abs() < 1e-6);
        assert!((erfc(1.0) - 0.157_299_207).abs() < 1e-6);
        assert!((erfc(-1.0) - 1.842_700_793).abs() < 1e-6);
    }
}
