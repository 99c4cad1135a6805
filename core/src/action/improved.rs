//! Plaquette + rectangle ("improved") gauge actions: tree-level Symanzik
//! (Lüscher–Weisz), Iwasaki and DBW2.
//!
//! `A = c₀ Σ_P (1 − Re Tr P/3) + c₁ Σ_R (1 − Re Tr R/3)`, `c₀ = 1 − 8 c₁`,
//!
//! with `P` the plaquettes (one per site and plane) and `R` the 2×1 rectangles
//! (two per site and plane: long side along either direction). `c₀ + 8c₁ = 1`
//! makes `A` agree with the Wilson action [`super::Wilson`] for smooth fields
//! (a 2×1 loop carries 4 times a plaquette's `F²`), so `β = 6/g²` has the same
//! meaning for all of them. `c₁ = 0` is the Wilson action.

use super::Action;
use crate::lattice::{path_product, GaugeField, Step};
use crate::observe::plaquette::plaquette_deficit_sum;
use crate::real::Real;
use crate::su3::{link_derivative, Mat3, Su3Alg};
use alloc::string::String;

/// A plaquette + rectangle action with rectangle coefficient `c1`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Improved {
    pub c1: f64,
    pub label: &'static str,
}

impl Improved {
    /// Tree-level Symanzik (Lüscher–Weisz): `c₁ = −1/12`.
    pub const SYMANZIK: Improved = Improved { c1: -1.0 / 12.0, label: "symanzik" };
    /// Iwasaki: `c₁ = −0.331`.
    pub const IWASAKI: Improved = Improved { c1: -0.331, label: "iwasaki" };
    /// DBW2: `c₁ = −1.4088`.
    pub const DBW2: Improved = Improved { c1: -1.4088, label: "dbw2" };

    /// The plaquette coefficient `c₀ = 1 − 8 c₁`.
    pub fn c0(&self) -> f64 {
        1.0 - 8.0 * self.c1
    }

    /// `Σ_R (1 − Re Tr R/3)` over the 2×1 rectangles (long side along `mu`,
    /// short side along `nu`, for every ordered pair `mu ≠ nu`).
    pub fn rectangle_deficit_sum<T: Real>(u: &GaugeField<T>) -> T {
        crate::par::sum(u.geometry().volume(), |x| Self::rectangle_deficit_at(u, x))
    }

    /// The rectangles starting at `x`: `Σ_{mu≠nu} (1 − Re Tr R_{mu,nu}(x)/3)`.
    #[inline]
    pub fn rectangle_deficit_at<T: Real>(u: &GaugeField<T>, x: usize) -> T {
        let nd = u.nd();
        let third = T::from_f64(1.0 / 3.0);
        let mut s = T::zero();
        for mu in 0..nd {
            for nu in 0..nd {
                if mu != nu {
                    let r = crate::lattice::path::rectangle(mu, nu, 2, 1);
                    s += T::one() - path_product(u, x, &r).0.re_tr() * third;
                }
            }
        }
        s
    }

    /// `A` from the two sums `Σ_P (3 − Re Tr P)` and `Σ_R (1 − Re Tr R/3)` (the latter unused
    /// when `c₁ = 0`).
    pub fn value_from_sums<T: Real>(&self, plaquette_deficit: T, rectangle_deficit: T) -> T {
        let plaq = plaquette_deficit * T::from_f64(1.0 / 3.0);
        if self.c1 == 0.0 {
            return plaq;
        }
        plaq * T::from_f64(self.c0()) + rectangle_deficit * T::from_f64(self.c1)
    }

    /// `D_{x,mu,a} A = −(1/3) Re Tr(i t^a U_mu(x) [c₀ K_P + c₁ K_R])`.
    #[inline]
    pub fn link_derivative_at<T: Real>(&self, u: &GaugeField<T>, x: usize, mu: usize) -> Su3Alg<T> {
        let (c0, c1) = (T::from_f64(self.c0()), T::from_f64(self.c1));
        let m = T::from_f64(-1.0 / 3.0);
        let mut k = super::staple(u, x, mu).scale(c0);
        if self.c1 != 0.0 {
            k += Self::rectangle_staple(u, x, mu).scale(c1);
        }
        let g = link_derivative(&(*u.link(x, mu) * k));
        core::array::from_fn(|a| g[a] * m)
    }

    /// The sum of the 6 (D−1) rectangle staples `K_R` of `U_mu(x)`: the
    /// products along the rest of every 2×1 loop that passes `U_mu(x)` forward,
    /// from `x + mu` back to `x`, so that `Σ_R Re Tr R ∋ Re Tr(U_mu(x) K_R)`.
    pub fn rectangle_staple<T: Real>(u: &GaugeField<T>, x: usize, mu: usize) -> Mat3<T> {
        let xp = u.geometry().up(x, mu);
        let mut k = Mat3::zero();
        let (f, b) = (Step::fwd(mu), Step::bwd(mu));
        for nu in 0..u.nd() {
            if nu == mu {
                continue;
            }
            for (s, t) in [(Step::fwd(nu), Step::bwd(nu)), (Step::bwd(nu), Step::fwd(nu))] {
                // U_mu(x) is the first of the two long-side links,
                // the second of them, or the short side of a loop long along nu.
                for rest in [[f, s, b, b, t], [s, b, b, t, f], [s, s, b, t, t]] {
                    k += path_product(u, xp, &rest).0;
                }
            }
        }
        k
    }
}

impl<T: Real> Action<T> for Improved {
    fn value(&self, u: &GaugeField<T>) -> T {
        let rect = if self.c1 == 0.0 { T::zero() } else { Self::rectangle_deficit_sum(u) };
        self.value_from_sums(plaquette_deficit_sum(u), rect)
    }

    fn value_and_derivative(&self, u: &GaugeField<T>, out: &mut [Su3Alg<T>]) -> T {
        assert_eq!(out.len(), u.geometry().n_links());
        let nd = u.nd();
        crate::par::for_each_mut(out, |l, d| *d = self.link_derivative_at(u, l / nd, l % nd));
        self.value(u)
    }

    fn name(&self) -> String {
        self.label.into()
    }
}
