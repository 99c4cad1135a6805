//! Parameters of the Blatter–Niedermayer blocking transformation.
//!
//! `T[U,V] = (κ/N_c) Σ_{x_B,μ} [ max_W Re Tr(W Q_μ†) − Re Tr(V_μ(x_B) Q_μ(x_B)†) ]`
//! (the β → ∞ form, `κ/N_c` convention), with `Q_μ(x_B) = S_μ(2x_B) S_μ(2x_B+μ̂)`
//! and the smeared link
//! `S_μ(x) = s₀ U_μ(x) + s_pl Σ planar + s_d Σ diagonal + s_hd Σ hyperdiagonal`.
//!
//! The published values of κ and the s's (Blatter–Niedermayer, hep-lat/9605017)
//! could not be recovered (`physics.md` §10). The defaults below are fpa's
//! own documented choice, **not** the published ones: the staple weights are
//! of the order recalled in `physics.md` §2.3 (planar 0.07, diagonal 0.016,
//! hyperdiagonal 0.001) and `s₀` is fixed by the normalisation
//! `s₀ + 6 s_pl + 12 s_d + 8 s_hd = 1` (in 4D), so that `S = U` and `Q = V`
//! for trivial fields. Every dataset records the values used.

use core::fmt;

/// Blocking-kernel parameters. `kappa` multiplies `1/N_c` (see module docs).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Blocking {
    pub kappa: f64,
    pub s0: f64,
    pub s_pl: f64,
    pub s_d: f64,
    pub s_hd: f64,
}

/// Default κ (convention `κ/N_c`). fpa's choice, see the module docs.
pub const DEFAULT_KAPPA: f64 = 8.8;
/// Default staple weights: planar, diagonal, hyperdiagonal.
pub const DEFAULT_STAPLES: [f64; 3] = [0.07, 0.016, 0.001];

/// Number of planar, diagonal and hyperdiagonal staples per link in `nd` dimensions.
pub fn staple_counts(nd: usize) -> [usize; 3] {
    let p = nd - 1; // transverse directions
    let choose = |n: usize, k: usize| -> usize {
        if k > n {
            0
        } else {
            (0..k).fold(1, |acc, i| acc * (n - i) / (i + 1))
        }
    };
    [2 * p, 4 * choose(p, 2), 8 * choose(p, 3)]
}

impl Blocking {
    /// Staple weights with `s₀` chosen so that `S = U` for trivial fields in `nd` dimensions.
    pub fn normalised(kappa: f64, s_pl: f64, s_d: f64, s_hd: f64, nd: usize) -> Self {
        let c = staple_counts(nd);
        let s0 = 1.0 - c[0] as f64 * s_pl - c[1] as f64 * s_d - c[2] as f64 * s_hd;
        Blocking { kappa, s0, s_pl, s_d, s_hd }
    }

    /// fpa's default for 4D lattices.
    pub fn default_4d() -> Self {
        let [p, d, h] = DEFAULT_STAPLES;
        Self::normalised(DEFAULT_KAPPA, p, d, h, 4)
    }

    /// `s₀ + Σ_k (count_k · s_k)`: the factor `S = N_s U` on flat fields.
    pub fn smearing_norm(&self, nd: usize) -> f64 {
        let c = staple_counts(nd);
        self.s0 + c[0] as f64 * self.s_pl + c[1] as f64 * self.s_d + c[2] as f64 * self.s_hd
    }

    /// Weight of a staple with `k` transverse steps (`k = 0`: the link itself).
    #[inline]
    pub fn weight(&self, k: usize) -> f64 {
        match k {
            0 => self.s0,
            1 => self.s_pl,
            2 => self.s_d,
            _ => self.s_hd,
        }
    }

    /// Refuses non-finite or non-positive κ and non-finite weights.
    pub fn validate(&self) -> Result<(), BlockingError> {
        if !(self.kappa.is_finite() && self.kappa > 0.0) {
            return Err(BlockingError(alloc::format!("kappa = {} must be a positive number", self.kappa)));
        }
        for (name, v) in [("s0", self.s0), ("s_pl", self.s_pl), ("s_d", self.s_d), ("s_hd", self.s_hd)] {
            if !v.is_finite() {
                return Err(BlockingError(alloc::format!("{name} = {v} is not a finite number")));
            }
        }
        Ok(())
    }
}

impl Default for Blocking {
    fn default() -> Self {
        Self::default_4d()
    }
}

/// Impossible blocking parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct BlockingError(pub alloc::string::String);

impl fmt::Display for BlockingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl core::error::Error for BlockingError {}
