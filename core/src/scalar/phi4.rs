//! Real φ⁴ theory on a periodic L×L lattice (seed talk 003: neural block spinning).
//!
//! Action (hopping-parameter form):
//!
//! `S[φ] = Σ_x [ −2κ Σ_{μ=0,1} φ(x) φ(x+μ̂) + (1 − 2λ) φ(x)² + λ φ(x)⁴ ]`,
//!
//! each nearest-neighbour bond counted once. Sites are numbered `x = x₀ + L x₁`
//! (direction 0 fastest). At λ = 0 the theory is Gaussian, `S = ½ φᵀAφ` with
//! `A = 2(1 − κ Σ_μ (T_μ + T_μ†))`, stable for κ < 1/4; [`gaussian_two_point`]
//! gives its exact correlator. The Ising limit is λ → ∞.
//!
//! Updates, both leaving `exp(−S)` invariant:
//! * [`metropolis_sweep`]: every site once, in checkerboard order, proposal
//!   `φ → φ + δ(2u − 1)`; each site draws from its own stream keyed by
//!   `(seed, sweep, site)`, so the chain is the same on any thread count.
//! * [`wolff_update`]: one Wolff cluster of the embedded Ising signs
//!   (Brower–Tamayo): bonds with `φ(x)φ(y) > 0` join with probability
//!   `1 − exp(−4κ φ(x)φ(y))` (flipping one side changes the bond term by
//!   `4κ φ(x)φ(y)`); the cluster's signs flip. The magnitudes are untouched,
//!   so Metropolis sweeps are needed too (ergodicity).

use crate::rng::{domain, Rng};
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

/// Couplings of the action.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Phi4Params {
    pub kappa: f64,
    pub lambda: f64,
}

/// Why a φ⁴ run was refused.
#[derive(Clone, Debug, PartialEq)]
pub enum Phi4Error {
    Extent(usize),
    Coupling(&'static str, f64),
}

impl fmt::Display for Phi4Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Phi4Error::Extent(l) => write!(f, "lattice extent {l}: use an even L of at least 2"),
            Phi4Error::Coupling(name, v) => write!(f, "{name} = {v} is not a finite non-negative number"),
        }
    }
}

impl core::error::Error for Phi4Error {}

/// A real scalar field on a periodic L×L lattice, `phi[x₀ + L x₁]`.
#[derive(Clone, Debug, PartialEq)]
pub struct ScalarField {
    l: usize,
    phi: Vec<f64>,
}

impl ScalarField {
    /// φ = 0 everywhere. `l` must be even (the checkerboard) and at least 2.
    pub fn zero(l: usize) -> Result<Self, Phi4Error> {
        if l < 2 || !l.is_multiple_of(2) {
            return Err(Phi4Error::Extent(l));
        }
        Ok(ScalarField { l, phi: vec![0.0; l * l] })
    }
    pub fn extent(&self) -> usize {
        self.l
    }
    pub fn volume(&self) -> usize {
        self.l * self.l
    }
    /// The values, `x₀ + L x₁`.
    pub fn values(&self) -> &[f64] {
        &self.phi
    }
    pub fn values_mut(&mut self) -> &mut [f64] {
        &mut self.phi
    }
    /// The site one step from `x` in direction `mu` (`forward`) or against it.
    #[inline]
    pub fn neighbour(&self, x: usize, mu: usize, forward: bool) -> usize {
        let l = self.l;
        let (x0, x1) = (x % l, x / l);
        let step = |c: usize| if forward { (c + 1) % l } else { (c + l - 1) % l };
        if mu == 0 {
            step(x0) + l * x1
        } else {
            x0 + l * step(x1)
        }
    }
    /// `Σ_μ [φ(x+μ̂) + φ(x−μ̂)]`
    #[inline]
    fn neighbour_sum(&self, x: usize) -> f64 {
        (0..2).map(|mu| self.phi[self.neighbour(x, mu, true)] + self.phi[self.neighbour(x, mu, false)]).sum()
    }
}

impl Phi4Params {
    /// Checks that κ and λ are finite and non-negative.
    pub fn validated(kappa: f64, lambda: f64) -> Result<Self, Phi4Error> {
        for (name, v) in [("kappa", kappa), ("lambda", lambda)] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(Phi4Error::Coupling(name, v));
            }
        }
        Ok(Phi4Params { kappa, lambda })
    }

    /// The potential `(1 − 2λ) φ² + λ φ⁴` of one site.
    #[inline]
    fn potential(&self, p: f64) -> f64 {
        let p2 = p * p;
        (1.0 - 2.0 * self.lambda) * p2 + self.lambda * p2 * p2
    }

    /// `S[φ]`.
    pub fn action(&self, f: &ScalarField) -> f64 {
        (0..f.volume())
            .map(|x| {
                let hop = f.phi[f.neighbour(x, 0, true)] + f.phi[f.neighbour(x, 1, true)];
                -2.0 * self.kappa * f.phi[x] * hop + self.potential(f.phi[x])
            })
            .sum()
    }
}

/// One Metropolis sweep (even sites, then odd); returns the number of accepted
/// proposals. `step` is the proposal width δ.
pub fn metropolis_sweep(p: &Phi4Params, f: &mut ScalarField, step: f64, seed: u64, sweep: u64) -> usize {
    let l = f.l;
    let mut accepted = 0;
    for parity in 0..2 {
        for x in (0..f.volume()).filter(|&x| (x % l + x / l) % 2 == parity) {
            let mut rng = Rng::stream(seed, &[domain::PHI4_METROPOLIS, sweep, x as u64]);
            let old = f.phi[x];
            let new = old + step * (2.0 * rng.uniform() - 1.0);
            // Only the terms with φ(x) change: −2κ φ(x) Σ_nn φ + V(φ(x)).
            let nn = f.neighbour_sum(x);
            let ds = -2.0 * p.kappa * (new - old) * nn + p.potential(new) - p.potential(old);
            if ds <= 0.0 || rng.uniform() < libm::exp(-ds) {
                f.phi[x] = new;
                accepted += 1;
            }
        }
    }
    accepted
}

/// One Wolff cluster update of the signs, grown from a site chosen by the
/// stream `(seed, update)`; returns the cluster size.
pub fn wolff_update(p: &Phi4Params, f: &mut ScalarField, seed: u64, update: u64) -> usize {
    let mut rng = Rng::stream(seed, &[domain::PHI4_WOLFF, update]);
    let v = f.volume();
    let start = rng.below(v as u64) as usize;
    let mut in_cluster = vec![false; v];
    let mut stack = vec![start];
    in_cluster[start] = true;
    let mut size = 0;
    while let Some(x) = stack.pop() {
        size += 1;
        for mu in 0..2 {
            for forward in [true, false] {
                let y = f.neighbour(x, mu, forward);
                if in_cluster[y] {
                    continue;
                }
                let bond = f.phi[x] * f.phi[y];
                // One draw per bond examined; the growth order is fixed (a stack), so the
                // update is a function of the stream.
                let u = rng.uniform();
                if bond > 0.0 && u < 1.0 - libm::exp(-4.0 * p.kappa * bond) {
                    in_cluster[y] = true;
                    stack.push(y);
                }
            }
        }
    }
    for (phi, &c) in f.phi.iter_mut().zip(&in_cluster) {
        if c {
            *phi = -*phi;
        }
    }
    size
}

/// Per-configuration measurements.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Phi4Measurement {
    /// `M = (1/V) Σ_x φ(x)`
    pub m: f64,
    /// `(1/V) Σ_x φ(x)²`
    pub phi2: f64,
    /// `S/V`
    pub action_density: f64,
}

/// The measurements of one configuration.
pub fn measure(p: &Phi4Params, f: &ScalarField) -> Phi4Measurement {
    let v = f.volume() as f64;
    Phi4Measurement {
        m: f.phi.iter().sum::<f64>() / v,
        phi2: f.phi.iter().map(|x| x * x).sum::<f64>() / v,
        action_density: p.action(f) / v,
    }
}

/// Zero-momentum time-slice sums `Φ(t) = Σ_{x₀} φ(x₀, t)` (direction 1 as time), for the
/// propagator `G(t) = ⟨Φ(t) Φ(0)⟩ / L`.
pub fn slice_sums(f: &ScalarField) -> Vec<f64> {
    f.phi.chunks_exact(f.l).map(|row| row.iter().sum()).collect()
}

/// Exact Gaussian (λ = 0) correlator `⟨φ(x) φ(x + r)⟩ = (1/V) Σ_p cos(p·r) / Ã(p)`,
/// `Ã(p) = 2 − 4κ Σ_μ cos p_μ`, `p_μ = 2π n_μ / L`. Needs κ < 1/4.
pub fn gaussian_two_point(l: usize, kappa: f64, r: [usize; 2]) -> f64 {
    let tau = 2.0 * core::f64::consts::PI / l as f64;
    let mut s = 0.0;
    for n0 in 0..l {
        for n1 in 0..l {
            let (p0, p1) = (tau * n0 as f64, tau * n1 as f64);
            let a = 2.0 - 4.0 * kappa * (libm::cos(p0) + libm::cos(p1));
            s += libm::cos(p0 * r[0] as f64 + p1 * r[1] as f64) / a;
        }
    }
    s / (l * l) as f64
}

/// A Markov chain: each step is `n_metropolis` Metropolis sweeps and then
/// `n_wolff` Wolff clusters.
#[derive(Clone, Debug)]
pub struct Phi4Chain {
    pub params: Phi4Params,
    pub field: ScalarField,
    pub step: f64,
    pub n_metropolis: usize,
    pub n_wolff: usize,
    pub seed: u64,
    /// Steps done so far (selects the next streams).
    pub steps: u64,
    /// Accepted Metropolis proposals and cluster sites so far.
    pub accepted: u64,
    pub cluster_sites: u64,
}

impl Phi4Chain {
    /// A chain from φ = 0 on an L×L lattice.
    pub fn new(l: usize, params: Phi4Params, seed: u64) -> Result<Self, Phi4Error> {
        Ok(Phi4Chain {
            params,
            field: ScalarField::zero(l)?,
            step: 1.0,
            n_metropolis: 1,
            n_wolff: 1,
            seed,
            steps: 0,
            accepted: 0,
            cluster_sites: 0,
        })
    }

    /// One step.
    pub fn step(&mut self) {
        for k in 0..self.n_metropolis {
            let sweep = self.steps * self.n_metropolis as u64 + k as u64;
            self.accepted += metropolis_sweep(&self.params, &mut self.field, self.step, self.seed, sweep) as u64;
        }
        for k in 0..self.n_wolff {
            let update = self.steps * self.n_wolff as u64 + k as u64;
            self.cluster_sites += wolff_update(&self.params, &mut self.field, self.seed, update) as u64;
        }
        self.steps += 1;
    }

    /// Fraction of Metropolis proposals accepted so far.
    pub fn acceptance(&self) -> f64 {
        let proposals = self.steps * (self.n_metropolis * self.field.volume()) as u64;
        self.accepted as f64 / proposals.max(1) as f64
    }

    /// Mean Wolff cluster size as a fraction of the volume.
    pub fn mean_cluster_fraction(&self) -> f64 {
        let clusters = self.steps * self.n_wolff as u64;
        self.cluster_sites as f64 / (clusters.max(1) as f64 * self.field.volume() as f64)
    }
}

/// Finite-size observables of a time series of [`Phi4Measurement`]s, with
/// jackknife errors over `bins` bins: `⟨|M|⟩`, `χ = V(⟨M²⟩ − ⟨M⟩²)`, the Binder
/// cumulant `U = 1 − ⟨M⁴⟩/(3⟨M²⟩²)`, `⟨φ²⟩`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Phi4Summary {
    pub abs_m: (f64, f64),
    pub chi: (f64, f64),
    pub binder: (f64, f64),
    pub phi2: (f64, f64),
}

/// [`Phi4Summary`] of the series `series` on a lattice of volume `volume`.
pub fn summarise(series: &[Phi4Measurement], volume: usize, bins: usize) -> Phi4Summary {
    // `bins` equal bins (fewer for a short series); the remainder at the start is dropped.
    let bins = bins.clamp(2, series.len().max(2));
    let len = (series.len() / bins).max(1);
    let n_bins = series.len() / len;
    let chunks: Vec<&[Phi4Measurement]> = series[series.len() - len * n_bins..].chunks_exact(len).collect();
    let n = chunks.len();
    // Bin sums of M, |M|, M², M⁴, φ²; a leave-one-out estimate drops one bin.
    let sums: Vec<[f64; 5]> = chunks
        .iter()
        .map(|c| {
            c.iter().fold([0.0; 5], |a, s| {
                let m2 = s.m * s.m;
                [a[0] + s.m, a[1] + s.m.abs(), a[2] + m2, a[3] + m2 * m2, a[4] + s.phi2]
            })
        })
        .collect();
    let total: [f64; 5] = sums.iter().fold([0.0; 5], |a, b| core::array::from_fn(|k| a[k] + b[k]));
    let means = |skip: Option<usize>| -> [f64; 5] {
        let count = (len * (n - usize::from(skip.is_some()))) as f64;
        core::array::from_fn(|k| (total[k] - skip.map_or(0.0, |i| sums[i][k])) / count)
    };
    let v = volume as f64;
    let jk = |f: &dyn Fn([f64; 5]) -> f64| crate::stats::jackknife(n, |skip| f(means(skip)));
    Phi4Summary {
        abs_m: jk(&|m| m[1]),
        chi: jk(&|m| v * (m[2] - m[0] * m[0])),
        binder: jk(&|m| 1.0 - m[3] / (3.0 * m[2] * m[2])),
        phi2: jk(&|m| m[4]),
    }
}
