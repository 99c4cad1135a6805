//! Statistics of Monte Carlo time series: means, binned errors, and the
//! integrated autocorrelation time.

use alloc::vec::Vec;

/// Sample mean.
pub fn mean(x: &[f64]) -> f64 {
    x.iter().sum::<f64>() / x.len() as f64
}

/// Mean and its standard error from `n_bins` equal bins (the remainder at
/// the start is dropped). Bins longer than the autocorrelation time give an
/// honest error for correlated data.
pub fn binned_mean_error(x: &[f64], n_bins: usize) -> (f64, f64) {
    let n_bins = n_bins.clamp(2, x.len().max(2));
    let len = x.len() / n_bins;
    if len == 0 {
        return (mean(x), f64::NAN);
    }
    let start = x.len() - len * n_bins;
    let bins: Vec<f64> = x[start..].chunks_exact(len).map(mean).collect();
    let m = mean(&bins);
    let var = bins.iter().map(|b| (b - m) * (b - m)).sum::<f64>() / (n_bins as f64 - 1.0);
    (m, crate::real::sqrt_f64(var / n_bins as f64))
}

/// Integrated autocorrelation time `τ = 1/2 + Σ_{t≥1} ρ(t)`, summed with
/// Sokal's automatic window (`t < c·τ`, c = 6).
pub fn tau_int(x: &[f64]) -> f64 {
    let n = x.len();
    if n < 4 {
        return 0.5;
    }
    let m = mean(x);
    let c0 = x.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / n as f64;
    if c0 == 0.0 {
        return 0.5;
    }
    let mut tau = 0.5;
    for t in 1..n / 2 {
        let ct = (0..n - t).map(|i| (x[i] - m) * (x[i + t] - m)).sum::<f64>() / (n - t) as f64;
        tau += ct / c0;
        if (t as f64) >= 6.0 * tau {
            break;
        }
    }
    tau.max(0.5)
}

/// Jackknife estimate and error of a derived quantity: `estimate(None)` is
/// its value on all `n` measurements, `estimate(Some(i))` on all but the
/// `i`-th. The error is `sqrt((n−1)/n Σ_i (θ_i − θ̄)²)`, θ̄ the mean of the
/// leave-one-out values; NaN when `n < 2` or a leave-one-out value is not finite.
pub fn jackknife(n: usize, estimate: impl Fn(Option<usize>) -> f64) -> (f64, f64) {
    let full = estimate(None);
    if n < 2 {
        return (full, f64::NAN);
    }
    let th: Vec<f64> = (0..n).map(|i| estimate(Some(i))).collect();
    let m = mean(&th);
    let var = th.iter().map(|t| (t - m) * (t - m)).sum::<f64>() * (n as f64 - 1.0) / n as f64;
    (full, crate::real::sqrt_f64(var))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{domain, Rng};

    /// For the mean itself the jackknife error is the standard error.
    #[test]
    fn jackknife_of_the_mean_is_the_standard_error() {
        let x = [1.0, 4.0, 2.0, 8.0, 5.0];
        let n = x.len();
        let (m, e) = jackknife(n, |skip| {
            let kept: Vec<f64> = x.iter().enumerate().filter(|(i, _)| Some(*i) != skip).map(|(_, v)| *v).collect();
            mean(&kept)
        });
        let var = x.iter().map(|v| (v - 4.0) * (v - 4.0)).sum::<f64>() / (n as f64 - 1.0);
        assert_eq!(m, 4.0);
        assert!((e - (var / n as f64).sqrt()).abs() < 1e-12);
    }

    /// An AR(1) process `x_{t+1} = φ x_t + noise` has τ = (1+φ)/(2(1−φ)).
    #[test]
    fn tau_of_ar1() {
        let phi: f64 = 0.8;
        let mut rng = Rng::stream(5, &[domain::TEST]);
        let mut x = 0.0;
        let series: Vec<f64> = (0..200_000)
            .map(|_| {
                x = phi * x + rng.gaussian();
                x
            })
            .collect();
        let want = (1.0 + phi) / (2.0 * (1.0 - phi));
        let got = tau_int(&series);
        assert!((got - want).abs() < 0.1 * want, "tau {got} vs {want}");
        // The binned error of the mean equals sqrt(2τ σ²/N).
        let var = 1.0 / (1.0 - phi * phi);
        let want_err = crate::real::sqrt_f64(2.0 * want * var / series.len() as f64);
        let (_, err) = binned_mean_error(&series, 50);
        assert!((err / want_err - 1.0).abs() < 0.35, "err {err} vs {want_err}");
    }
}
