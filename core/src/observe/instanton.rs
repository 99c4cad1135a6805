//! Lattice instantons: the BPST SU(2) instanton embedded in the upper-left
//! SU(2) block of SU(3), discretised onto links (`physics.md` §7).
//!
//! Conventions: `A_μ = A_μ^a σ^a/2`, `D_μ = ∂_μ − iA_μ`, 't Hooft symbols
//! `η_{aμν} = ε_{aμν}` (μ,ν ≤ 3), `η_{aμ4} = δ_{aμ}`, `η_{a4ν} = −δ_{aν}`
//! (`η̄` with the δ signs flipped); direction 4 is fpa's direction 3 (time).
//! * regular gauge: `A_μ^a = 2 η_{aμν} y_ν / (y² + ρ²)`;
//! * singular gauge: `A_μ^a = 2 η̄_{aμν} y_ν ρ² / (y² (y² + ρ²))`.
//!
//! Links are path-ordered exponentials `U_μ(x) = P exp(−i ∫₀¹ A_μ(x + sμ̂) ds)`,
//! `n` substeps with points nearer `x` to the left. The continuum action in
//! fpa's units (`S = βA`, `β = 6/g²`) is `A_inst = 8π²/6 = 4π²/3`.

use crate::lattice::{GaugeField, Geometry};
use crate::su3::su2::embed;
use crate::su3::Mat3;
use alloc::sync::Arc;

/// `A_inst = 4π²/3`, the continuum action of one instanton in fpa's units.
pub const ACTION: f64 = 4.0 * core::f64::consts::PI * core::f64::consts::PI / 3.0;

/// Which gauge the continuum field is written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InstantonGauge {
    Regular,
    Singular,
}

/// How the field meets the lattice boundary.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Boundary {
    /// Coordinates as they are (for open-box evaluation): links that cross the
    /// periodic boundary are not meaningful.
    Open,
    /// Minimal-image coordinates around the centre; links crossing the boundary
    /// follow the continuum path out of the box.
    Periodic,
    /// As `Periodic`, with the field multiplied by the radial window
    /// `w = 1` for `r ≤ L/4`, `cos²(π(r − L/4)/L)` up to `L/2`, 0 beyond
    /// (`L` the smallest extent), so that links at the boundary are exactly 1.
    Windowed,
}

/// An instanton of radius `rho` centred at `centre` (lattice units).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Instanton {
    pub rho: f64,
    pub centre: [f64; 4],
    pub gauge: InstantonGauge,
    /// Anti-instanton (charge −1): `η ↔ η̄`.
    pub anti: bool,
    pub substeps: usize,
    pub boundary: Boundary,
}

impl Instanton {
    /// Radius `rho` at the centre of the hypercube at the middle of the lattice.
    pub fn centred(geom: &Geometry, rho: f64) -> Self {
        let d = geom.dims();
        Instanton {
            rho,
            centre: core::array::from_fn(|m| if m < d.len() { (d[m] / 2) as f64 - 0.5 } else { 0.0 }),
            gauge: InstantonGauge::Singular,
            anti: false,
            substeps: 32,
            boundary: Boundary::Windowed,
        }
    }

    /// `η_{aμν}` (or `η̄` with `bar`), a in 0..3, μ, ν in 0..4 (3 = time).
    fn eta(a: usize, mu: usize, nu: usize, bar: bool) -> f64 {
        let sign = if bar { -1.0 } else { 1.0 };
        match (mu, nu) {
            (m, n) if m < 3 && n < 3 => {
                // ε_{a m n}
                if a == m || a == n || m == n {
                    0.0
                } else if (m + 3 - a) % 3 == 1 {
                    1.0
                } else {
                    -1.0
                }
            }
            (m, 3) if m < 3 => sign * f64::from(u8::from(a == m)),
            (3, n) if n < 3 => -sign * f64::from(u8::from(a == n)),
            _ => 0.0,
        }
    }

    /// The table `η_{aμν}` used by [`Self::potential`].
    fn eta_table(bar: bool) -> [[[f64; 4]; 4]; 3] {
        core::array::from_fn(|a| core::array::from_fn(|mu| core::array::from_fn(|nu| Self::eta(a, mu, nu, bar))))
    }

    /// `A_μ^a(y)` at displacement `y` from the centre (window applied).
    pub fn potential(&self, y: [f64; 4], window: f64) -> [[f64; 3]; 4] {
        let y2: f64 = y.iter().map(|v| v * v).sum();
        let r2 = self.rho * self.rho;
        let (bar, f) = match self.gauge {
            InstantonGauge::Regular => (self.anti, 2.0 / (y2 + r2)),
            InstantonGauge::Singular => (!self.anti, 2.0 * r2 / (y2 * (y2 + r2))),
        };
        let eta = Self::eta_table(bar);
        core::array::from_fn(|mu| {
            core::array::from_fn(|a| window * f * (0..4).map(|nu| eta[a][mu][nu] * y[nu]).sum::<f64>())
        })
    }

    fn window(&self, y: [f64; 4], l: f64) -> f64 {
        if self.boundary != Boundary::Windowed {
            return 1.0;
        }
        let r = crate::real::sqrt_f64(y.iter().map(|v| v * v).sum::<f64>());
        if r <= l / 4.0 {
            1.0
        } else if r < l / 2.0 {
            let c = libm::cos(core::f64::consts::PI * (r - l / 4.0) / l);
            c * c
        } else {
            0.0
        }
    }

    /// The SU(2) link from point `p` along `mu` (one lattice spacing), as a quaternion.
    fn su2_link(&self, p: [f64; 4], mu: usize, l: f64) -> [f64; 4] {
        let n = self.substeps.max(1);
        let mut q = [1.0, 0.0, 0.0, 0.0];
        for k in 0..n {
            let mut y = p;
            y[mu] += (k as f64 + 0.5) / n as f64;
            for (i, yi) in y.iter_mut().enumerate() {
                *yi -= self.centre[i];
            }
            let a = self.potential(y, self.window(y, l));
            let b: [f64; 3] = core::array::from_fn(|c| a[mu][c] / n as f64);
            let nb = crate::real::sqrt_f64(b.iter().map(|x| x * x).sum::<f64>());
            // exp(−i b·σ/2) = cos(|b|/2) − i sin(|b|/2) b̂·σ  → quaternion (cos, −sin b̂)
            let step = if nb > 0.0 {
                let s = libm::sin(nb / 2.0) / nb;
                [libm::cos(nb / 2.0), -s * b[0], -s * b[1], -s * b[2]]
            } else {
                [1.0, 0.0, 0.0, 0.0]
            };
            q = crate::su3::su2::qmul(&q, &step); // points nearer x to the left
        }
        q
    }

    /// The discretised field on a 4D lattice.
    pub fn field(&self, geom: Arc<Geometry>) -> GaugeField<f64> {
        assert_eq!(geom.nd(), 4, "instantons live on 4D lattices");
        let l = *geom.dims().iter().min().unwrap() as f64;
        let dims = geom.dims().to_vec();
        let mut u = GaugeField::cold(geom.clone());
        u.for_each_link_mut(|x, mu, link| {
            let c = geom.coords(x);
            let p: [f64; 4] = core::array::from_fn(|m| {
                let v = c[m] as f64;
                match self.boundary {
                    Boundary::Open => v,
                    _ => {
                        // minimal image of the site relative to the centre
                        let d = dims[m] as f64;
                        let mut r = v - self.centre[m];
                        r -= d * libm::round(r / d);
                        r + self.centre[m]
                    }
                }
            });
            let q = self.su2_link(p, mu, l);
            *link = embed(&q, 0, 1);
        });
        u
    }
}

/// `Σ (1 − Re Tr U_p/3)` over the plaquettes that do not cross the lattice
/// boundary: the Wilson action of an open box.
pub fn open_box_wilson_action(u: &GaugeField<f64>) -> f64 {
    let g = u.geometry();
    let d = g.dims();
    let mut s = 0.0;
    for x in 0..g.volume() {
        let c = g.coords(x);
        for mu in 0..4 {
            for nu in mu + 1..4 {
                if c[mu] + 1 < d[mu] && c[nu] + 1 < d[nu] {
                    s += 1.0 - super::plaquette(u, x, mu, nu).re_tr() / 3.0;
                }
            }
        }
    }
    s
}

/// The clover field strength `F_μν(x) = [(C − C†)/(8i)]_traceless`, `C` the sum
/// of the four plaquettes in the (μ,ν) plane around `x`.
pub fn clover(u: &GaugeField<f64>, x: usize, mu: usize, nu: usize) -> Mat3<f64> {
    use crate::lattice::{path_product, Step};
    let (f, b) = (Step::fwd, Step::bwd);
    let leaves = [
        [f(mu), f(nu), b(mu), b(nu)],
        [f(nu), b(mu), b(nu), f(mu)],
        [b(mu), b(nu), f(mu), f(nu)],
        [b(nu), f(mu), f(nu), b(mu)],
    ];
    let mut c = Mat3::zero();
    for l in &leaves {
        c += path_product(u, x, l).0;
    }
    // (C − C†)/(8i) is Hermitian; remove its trace.
    let ah = crate::su3::algebra::traceless_antihermitian(&c); // (C − C†)/2 − trace
    ah.scale_c(crate::su3::Complex::new(0.0, -0.25))
}

/// The clover topological charge `Q = (1/4π²) Σ_x [Tr F₀₁F₂₃ − Tr F₀₂F₁₃ + Tr F₀₃F₁₂]`,
/// over the sites whose clovers lie inside the box when `open` is set.
pub fn topological_charge(u: &GaugeField<f64>, open: bool) -> f64 {
    let g = u.geometry();
    let d = g.dims();
    let sum: f64 = crate::par::sum(g.volume(), |x| {
        let c = g.coords(x);
        if open && (0..4).any(|m| c[m] == 0 || c[m] + 1 >= d[m]) {
            return 0.0;
        }
        let fm = |a: usize, b: usize| clover(u, x, a, b);
        (fm(0, 1) * fm(2, 3)).re_tr() - (fm(0, 2) * fm(1, 3)).re_tr() + (fm(0, 3) * fm(1, 2)).re_tr()
    });
    sum / (4.0 * core::f64::consts::PI * core::f64::consts::PI)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// η is antisymmetric in (μ, ν), η_{a i j} = ε_{a i j}, η_{a i 4} = δ_{a i}.
    #[test]
    fn thooft_symbols() {
        for bar in [false, true] {
            for a in 0..3 {
                for mu in 0..4 {
                    for nu in 0..4 {
                        assert_eq!(Instanton::eta(a, mu, nu, bar), -Instanton::eta(a, nu, mu, bar));
                    }
                }
            }
        }
        assert_eq!(Instanton::eta(0, 1, 2, false), 1.0);
        assert_eq!(Instanton::eta(1, 2, 0, false), 1.0);
        assert_eq!(Instanton::eta(2, 1, 0, false), -1.0);
        assert_eq!(Instanton::eta(1, 1, 3, false), 1.0);
        assert_eq!(Instanton::eta(1, 1, 3, true), -1.0);
        assert_eq!(Instanton::eta(0, 3, 0, false), -1.0);
    }
}
