//! Complex φ⁴ at finite chemical potential in 1+1 dimensions, in the dual (flux)
//! formulation of Gattringer and Kloiber (2013), sampled by a worm algorithm.
//!
//! The lattice action (seed 002) on an `Nx × Nt` torus, direction 0 space, direction 1 time:
//!
//! `S = Σ_x [ η |φ_x|² + λ |φ_x|⁴ − Σ_ν ( e^{μ δ_{ν,1}} φ_x* φ_{x+ν} + e^{−μ δ_{ν,1}} φ_x* φ_{x−ν} ) ]`,
//! `η = 2D + m²`.
//!
//! Expanding the hopping exponentials and integrating the phases gives
//!
//! `Z = Σ_{k,l} Π_{x,ν} e^{μ δ_{ν,1} k_{x,ν}} / ((|k_{x,ν}| + l_{x,ν})! l_{x,ν}!) · Π_x W(f_x) · δ(∇·k = 0)`,
//!
//! with integer fluxes `k_{x,ν}`, non-negative `l_{x,ν}`, `f_x = Σ_ν [|k_{x,ν}| + |k_{x−ν,ν}| +
//! 2(l_{x,ν} + l_{x−ν,ν})]` and `W(f) = ∫₀^∞ r^{f+1} e^{−η r² − λ r⁴} dr` (constant factors
//! dropped). Every weight is positive: no sign problem at any μ. Observables:
//! `n = (1/V) Σ_x k_{x,1} = (1/V) ∂ ln Z/∂μ` and `|φ|² = (1/V) Σ_x W(f_x + 2)/W(f_x)`.
//!
//! Updates: a worm (Prokof'ev–Svistunov) changes `k` along the path of its head, one link at a
//! time with Metropolis acceptance, and closes when the head returns to the tail, so every
//! closed configuration conserves flux; a sweep of Metropolis steps `l → l ± 1` over the
//! links. One random stream per update: the chain is a pure function of the seed.

use crate::rng::{domain, Rng};
use alloc::vec::Vec;
use core::fmt;

/// Why a dual configuration or its parameters were refused.
#[derive(Clone, Debug, PartialEq)]
pub enum DualError {
    Size(usize, usize),
    Parameters(&'static str),
}

impl fmt::Display for DualError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DualError::Size(x, t) => write!(f, "lattice {x}x{t}: both extents must be at least 2"),
            DualError::Parameters(m) => f.write_str(m),
        }
    }
}

impl core::error::Error for DualError {}

/// `η`, `λ`, `μ` of the action, with the table of `ln W(f)`.
#[derive(Clone, Debug)]
pub struct ChargedParams {
    pub eta: f64,
    pub lambda: f64,
    pub mu: f64,
    ln_w: Vec<f64>,
}

impl ChargedParams {
    /// Checks the parameters: `λ ≥ 0`, `η > 0` (and `η > 2 + 2 cosh μ` when `λ = 0`, where the
    /// Gaussian integral needs it), all finite.
    pub fn new(eta: f64, lambda: f64, mu: f64) -> Result<Self, DualError> {
        if !(eta.is_finite() && lambda.is_finite() && mu.is_finite()) {
            return Err(DualError::Parameters("eta, lambda and mu must be finite"));
        }
        if lambda < 0.0 || eta <= 0.0 {
            return Err(DualError::Parameters("need lambda >= 0 and eta > 0"));
        }
        if lambda == 0.0 && eta <= 2.0 + 2.0 * libm::cosh(mu) {
            return Err(DualError::Parameters("at lambda = 0 the theory needs eta > 2 + 2 cosh(mu)"));
        }
        Ok(ChargedParams { eta, lambda, mu, ln_w: Vec::new() })
    }

    /// `ln W(f)`, from the table (extended on demand).
    pub fn ln_w(&mut self, f: usize) -> f64 {
        while self.ln_w.len() <= f {
            let next = ln_w_integral(self.ln_w.len(), self.eta, self.lambda);
            self.ln_w.push(next);
        }
        self.ln_w[f]
    }

    /// `W(f + 2)/W(f)`: the contribution of a site to `|φ|²`.
    pub fn phi2_ratio(&mut self, f: usize) -> f64 {
        libm::exp(self.ln_w(f + 2) - self.ln_w(f))
    }
}

/// `ln ∫₀^∞ r^{f+1} e^{−η r² − λ r⁴} dr`, as `ln ∫ e^{(f+2)s − η e^{2s} − λ e^{4s}} ds`
/// (`r = e^s`: the integrand is then smooth and decays at both ends, where the trapezoidal
/// rule converges exponentially), summed relative to its peak so that nothing overflows.
pub fn ln_w_integral(f: usize, eta: f64, lambda: f64) -> f64 {
    let a = (f + 2) as f64;
    let ln_g = |s: f64| {
        let r2 = libm::exp(2.0 * s);
        a * s - eta * r2 - lambda * r2 * r2
    };
    // Peak: a = 2η r² + 4λ r⁴, a quadratic in r².
    let r2 = if lambda > 0.0 {
        (-2.0 * eta + libm::sqrt(4.0 * eta * eta + 16.0 * lambda * a)) / (8.0 * lambda)
    } else {
        a / (2.0 * eta)
    };
    let peak = 0.5 * libm::log(r2);
    // Width from the curvature 4η r² + 16λ r⁴; the left tail falls like e^{(f+2)(s − peak)}.
    let width = 1.0 / libm::sqrt(4.0 * eta * r2 + 16.0 * lambda * r2 * r2);
    let top = ln_g(peak);
    let (start, end) = (peak - 45.0 / a - 12.0 * width, peak + 12.0 * width);
    let n = 4000;
    let h = (end - start) / n as f64;
    let sum: f64 = (0..=n)
        .map(|i| {
            let w = if i == 0 || i == n { 0.5 } else { 1.0 };
            w * libm::exp(ln_g(start + i as f64 * h) - top)
        })
        .sum();
    top + libm::log(sum * h)
}

/// A configuration of the dual variables on an `Nx × Nt` torus, and an open worm if one is
/// running: `k[2x + ν]`, `l[2x + ν]` on the link from `x` to `x + ν`, sites `x = i + Nx t`.
#[derive(Clone, Debug, PartialEq)]
pub struct DualConfig {
    nx: usize,
    nt: usize,
    k: Vec<i32>,
    l: Vec<u32>,
    /// `f_x`, kept up to date.
    f: Vec<usize>,
}

impl DualConfig {
    /// All fluxes and `l` zero.
    pub fn zero(nx: usize, nt: usize) -> Result<Self, DualError> {
        if nx < 2 || nt < 2 {
            return Err(DualError::Size(nx, nt));
        }
        let v = nx * nt;
        Ok(DualConfig { nx, nt, k: alloc::vec![0; 2 * v], l: alloc::vec![0; 2 * v], f: alloc::vec![0; v] })
    }
    pub fn volume(&self) -> usize {
        self.nx * self.nt
    }
    pub fn extents(&self) -> (usize, usize) {
        (self.nx, self.nt)
    }
    /// `k_{x,ν}`
    pub fn k(&self, x: usize, nu: usize) -> i32 {
        self.k[2 * x + nu]
    }
    /// `l_{x,ν}`
    pub fn l(&self, x: usize, nu: usize) -> u32 {
        self.l[2 * x + nu]
    }
    /// `x + ν` (forward) or `x − ν`.
    pub fn neighbour(&self, x: usize, nu: usize, forward: bool) -> usize {
        let (i, t) = (x % self.nx, x / self.nx);
        match (nu, forward) {
            (0, true) => (i + 1) % self.nx + self.nx * t,
            (0, false) => (i + self.nx - 1) % self.nx + self.nx * t,
            (_, true) => i + self.nx * ((t + 1) % self.nt),
            (_, false) => i + self.nx * ((t + self.nt - 1) % self.nt),
        }
    }
    /// `f_x` as kept up to date by the updates.
    pub fn f(&self, x: usize) -> usize {
        self.f[x]
    }
    /// `f_x` recomputed from the link variables ([`Self::f`] must equal it).
    pub fn f_of(&self, x: usize) -> usize {
        (0..2)
            .map(|nu| {
                let y = self.neighbour(x, nu, false);
                (self.k(x, nu).unsigned_abs() + self.k(y, nu).unsigned_abs()) as usize
                    + 2 * (self.l(x, nu) + self.l(y, nu)) as usize
            })
            .sum()
    }
    /// The flux divergence `Σ_ν (k_{x,ν} − k_{x−ν,ν})` at every site (all zero when closed).
    pub fn divergence(&self) -> Vec<i32> {
        (0..self.volume())
            .map(|x| (0..2).map(|nu| self.k(x, nu) - self.k(self.neighbour(x, nu, false), nu)).sum())
            .collect()
    }
    /// `n = (1/V) Σ_x k_{x,1}`.
    pub fn density(&self) -> f64 {
        (0..self.volume()).map(|x| self.k(x, 1) as f64).sum::<f64>() / self.volume() as f64
    }
    /// `|φ|² = (1/V) Σ_x W(f_x + 2)/W(f_x)`.
    pub fn phi2(&self, p: &mut ChargedParams) -> f64 {
        self.f.iter().map(|&f| p.phi2_ratio(f)).sum::<f64>() / self.volume() as f64
    }

    /// The configuration as the input of a convolutional network: four channels
    /// `k_{x,0}, k_{x,1}, l_{x,0}, l_{x,1}` (channels outermost, sites `x = i + Nx t`).
    pub fn channels(&self) -> Vec<f64> {
        let v = self.volume();
        let mut out = alloc::vec![0.0; 4 * v];
        for x in 0..v {
            for nu in 0..2 {
                out[nu * v + x] = self.k(x, nu) as f64;
                out[(2 + nu) * v + x] = self.l(x, nu) as f64;
            }
        }
        out
    }

    /// Breaks flux conservation with an open worm: a random walk of `steps` (≥ 1) moves from a
    /// random site, each move adding one unit of flux along its direction to the link it
    /// crosses, continued until it ends away from its start; the two ends then carry
    /// divergence ±1. (A corrupted configuration for the flux-violation task; `f` is updated.)
    pub fn open_worm(&mut self, steps: usize, rng: &mut Rng) {
        let v = self.volume();
        let start = rng.below(v as u64) as usize;
        let mut x = start;
        let mut moved = 0;
        while moved < steps.max(1) || x == start {
            let dir = rng.below(4) as usize;
            let (nu, forward) = (dir % 2, dir < 2);
            let y = self.neighbour(x, nu, forward);
            // Flux along the move: +1 on the link x → x+ν, −1 on the link y → y+ν = x.
            let link = if forward { 2 * x + nu } else { 2 * y + nu };
            self.k[link] += if forward { 1 } else { -1 };
            x = y;
            moved += 1;
        }
        for site in 0..v {
            self.f[site] = self.f_of(site);
        }
    }

    /// `ln` of the link factor `e^{μ δ_{ν,1} k} / ((|k| + l)! l!)`.
    fn ln_link(p: &ChargedParams, nu: usize, k: i32, l: u32) -> f64 {
        let mu = if nu == 1 { p.mu * k as f64 } else { 0.0 };
        mu - libm::lgamma((k.unsigned_abs() + l) as f64 + 1.0) - libm::lgamma(l as f64 + 1.0)
    }

    /// Metropolis on link `(x, nu)`: `k → k + dk`, `l → l + dl`; returns whether accepted.
    fn try_link(&mut self, p: &mut ChargedParams, x: usize, nu: usize, dk: i32, dl: i32, rng: &mut Rng) -> bool {
        let i = 2 * x + nu;
        let (k, l) = (self.k[i], self.l[i]);
        let Some(l2) = l.checked_add_signed(dl) else { return false };
        let k2 = k + dk;
        let df = (k2.unsigned_abs() as i64 - k.unsigned_abs() as i64) + 2 * (l2 as i64 - l as i64);
        let y = self.neighbour(x, nu, true);
        let (fx, fy) = (self.f[x], self.f[y]);
        let (fx2, fy2) = ((fx as i64 + df) as usize, (fy as i64 + df) as usize);
        // x ≠ y: both extents are at least 2.
        let ln_r = Self::ln_link(p, nu, k2, l2) - Self::ln_link(p, nu, k, l) + p.ln_w(fx2) - p.ln_w(fx) + p.ln_w(fy2)
            - p.ln_w(fy);
        if ln_r >= 0.0 || rng.uniform() < libm::exp(ln_r) {
            self.k[i] = k2;
            self.l[i] = l2;
            self.f[x] = (self.f[x] as i64 + df) as usize;
            self.f[y] = (self.f[y] as i64 + df) as usize;
            true
        } else {
            false
        }
    }

    /// One sweep of `l → l ± 1` over every link, in order.
    pub fn l_sweep(&mut self, p: &mut ChargedParams, rng: &mut Rng) -> usize {
        let mut accepted = 0;
        for x in 0..self.volume() {
            for nu in 0..2 {
                let dl = if rng.uniform() < 0.5 { 1 } else { -1 };
                accepted += usize::from(self.try_link(p, x, nu, 0, dl, rng));
            }
        }
        accepted
    }

    /// One worm: starts at a random site and moves its head (to a random neighbour, changing
    /// the flux on the link crossed by ±1 in the direction of motion) until it returns to its
    /// tail. Returns the number of head moves proposed.
    pub fn worm(&mut self, p: &mut ChargedParams, rng: &mut Rng) -> usize {
        let tail = rng.below(self.volume() as u64) as usize;
        let mut head = tail;
        let mut moves = 0;
        loop {
            moves += 1;
            let d = rng.below(4) as usize;
            let (nu, forward) = (d % 2, d < 2);
            let next = self.neighbour(head, nu, forward);
            // Forward across (head, nu): k + 1; backward across (next, nu): k − 1.
            let (x, dk) = if forward { (head, 1) } else { (next, -1) };
            if self.try_link(p, x, nu, dk, 0, rng) {
                head = next;
            }
            if head == tail {
                return moves;
            }
        }
    }
}

/// A chain of dual configurations: each update is an `l` sweep and a fixed number of complete
/// worms. A fixed number, not "worms until so many head moves": watched only when it is closed,
/// the worm's chain is a Markov chain with the closed configurations' distribution, but
/// stopping at the first closure after a fixed number of moves would favour configurations
/// reached by long worms (the measurements came out 3σ off the exact free theory that way).
#[derive(Clone, Debug)]
pub struct WormChain {
    pub config: DualConfig,
    pub params: ChargedParams,
    pub seed: u64,
    pub updates: u64,
    /// Worms per update (default: the volume).
    pub worms_per_update: usize,
    /// Head moves proposed so far.
    pub moves: u64,
}

impl WormChain {
    pub fn new(nx: usize, nt: usize, params: ChargedParams, seed: u64) -> Result<Self, DualError> {
        let config = DualConfig::zero(nx, nt)?;
        let worms_per_update = config.volume();
        Ok(WormChain { config, params, seed, updates: 0, worms_per_update, moves: 0 })
    }

    pub fn step(&mut self) {
        let mut rng = Rng::stream(self.seed, &[domain::CHARGED_WORM, self.updates]);
        self.config.l_sweep(&mut self.params, &mut rng);
        for _ in 0..self.worms_per_update {
            self.moves += self.config.worm(&mut self.params, &mut rng) as u64;
        }
        self.updates += 1;
    }

    /// `(n, |φ|²)` of the current configuration.
    pub fn measure(&mut self) -> (f64, f64) {
        (self.config.density(), self.config.phi2(&mut self.params))
    }
}

/// The direct simulation of the same theory at `μ = 0` (where the action is real): complex
/// `φ_x`, Metropolis site by site with steps of size `step` in each component, one stream per
/// sweep. For checks of the dual formulation.
#[derive(Clone, Debug)]
pub struct DirectChain {
    pub nx: usize,
    pub nt: usize,
    pub eta: f64,
    pub lambda: f64,
    /// `(Re φ_x, Im φ_x)`
    pub phi: Vec<[f64; 2]>,
    pub seed: u64,
    pub sweeps: u64,
}

impl DirectChain {
    pub fn new(nx: usize, nt: usize, eta: f64, lambda: f64, seed: u64) -> Result<Self, DualError> {
        let _ = DualConfig::zero(nx, nt)?;
        Ok(DirectChain { nx, nt, eta, lambda, phi: alloc::vec![[0.0; 2]; nx * nt], seed, sweeps: 0 })
    }

    /// One Metropolis sweep: `ΔS = η Δ|φ|² + λ Δ|φ|⁴ − 2 Re(Δφ* Σ_neighbours φ)`.
    pub fn sweep(&mut self, step: f64) -> usize {
        let mut rng = Rng::stream(self.seed, &[domain::CHARGED_DIRECT, self.sweeps]);
        let geom = DualConfig::zero(self.nx, self.nt).expect("checked");
        let mut accepted = 0;
        for x in 0..self.phi.len() {
            let mut s = [0.0; 2];
            for nu in 0..2 {
                for fwd in [true, false] {
                    let y = self.phi[geom.neighbour(x, nu, fwd)];
                    s[0] += y[0];
                    s[1] += y[1];
                }
            }
            let old = self.phi[x];
            let new = [old[0] + step * (rng.uniform() - 0.5), old[1] + step * (rng.uniform() - 0.5)];
            let (a2, b2) = (old[0] * old[0] + old[1] * old[1], new[0] * new[0] + new[1] * new[1]);
            let ds = self.eta * (b2 - a2) + self.lambda * (b2 * b2 - a2 * a2)
                - 2.0 * ((new[0] - old[0]) * s[0] + (new[1] - old[1]) * s[1]);
            if ds <= 0.0 || rng.uniform() < libm::exp(-ds) {
                self.phi[x] = new;
                accepted += 1;
            }
        }
        self.sweeps += 1;
        accepted
    }

    /// `(1/V) Σ_x |φ_x|²`.
    pub fn phi2(&self) -> f64 {
        self.phi.iter().map(|p| p[0] * p[0] + p[1] * p[1]).sum::<f64>() / self.phi.len() as f64
    }
}

/// `⟨|φ|²⟩` and `⟨n⟩` of the free theory (`λ = 0`) on an `Nx × Nt` torus, exactly:
/// `(1/V) Σ_p 1/K(p)` and `(1/V) Σ_p −(∂K/∂μ)/K(p)` with
/// `K(p) = η − 2 cos p₀ − 2 cos(p₁ − iμ)`.
pub fn free_theory(nx: usize, nt: usize, eta: f64, mu: f64) -> (f64, f64) {
    use crate::su3::Complex;
    let (mut phi2, mut n) = (0.0, 0.0);
    let tau = core::f64::consts::TAU;
    for a in 0..nx {
        for b in 0..nt {
            let (p0, p1) = (tau * a as f64 / nx as f64, tau * b as f64 / nt as f64);
            // cos(p − iμ) = cos p cosh μ + i sin p sinh μ, so K = η − 2 cos p₀ − 2 cos p₁ cosh μ
            // − 2i sin p₁ sinh μ and ∂K/∂μ = −2i sin(p₁ − iμ) = −2 cos p₁ sinh μ − 2i sin p₁ cosh μ.
            let k = Complex {
                re: eta - 2.0 * libm::cos(p0) - 2.0 * libm::cos(p1) * libm::cosh(mu),
                im: -2.0 * libm::sin(p1) * libm::sinh(mu),
            };
            let dk = Complex { re: -2.0 * libm::cos(p1) * libm::sinh(mu), im: -2.0 * libm::sin(p1) * libm::cosh(mu) };
            let norm = k.re * k.re + k.im * k.im;
            phi2 += k.re / norm;
            // −dk/k, real part.
            n -= (dk.re * k.re + dk.im * k.im) / norm;
        }
    }
    let v = (nx * nt) as f64;
    (phi2 / v, n / v)
}
