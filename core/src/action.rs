//! Gauge actions: the [`Action`] trait, the Wilson action and the
//! plaquette + rectangle actions (Symanzik, Iwasaki, DBW2).
//!
//! Normalisation (as in the FP literature): `Z = ∫DU exp(−β A[U])`, `β = 6/g²`;
//! every action agrees with the Wilson action for smooth fields.

pub mod check;
pub mod fat_polynomial;
pub mod improved;
pub mod symmetrized;
pub mod wilson;

use crate::lattice::GaugeField;
use crate::real::Real;
use crate::su3::Su3Alg;
use alloc::vec::Vec;

pub use check::derivative_error;
pub use fat_polynomial::FatPolynomial;
pub use improved::Improved;
pub use symmetrized::{with_symmetry, Symmetrized, SymmetrySet};
pub use wilson::{staple, Wilson};

/// A lattice gauge action: its value and its link derivatives
/// `D_{x,mu,a} A = d/dε A[U_mu(x) → exp(iε t^a) U_mu(x)]` at ε = 0.
pub trait Action<T: Real>: Sync {
    /// `A[U]`.
    fn value(&self, u: &GaugeField<T>) -> T;

    /// `A[U]`, writing `D_{x,mu,a} A` to `out[link_index(x, mu)][a]`.
    fn value_and_derivative(&self, u: &GaugeField<T>, out: &mut [Su3Alg<T>]) -> T;

    /// A short name for reports.
    fn name(&self) -> alloc::string::String;

    /// The link derivatives as a new vector.
    fn derivative(&self, u: &GaugeField<T>) -> Vec<Su3Alg<T>> {
        let mut out = alloc::vec![[T::zero(); 8]; u.geometry().n_links()];
        self.value_and_derivative(u, &mut out);
        out
    }
}

/// A pointer to an action is an action: `&A`, `Box<dyn Action>`, `Arc<A>` (so
/// wrappers such as [`Symmetrized`] take borrowed actions and actions chosen at run time).
impl<T: Real, P> Action<T> for P
where
    P: core::ops::Deref + Sync,
    P::Target: Action<T>,
{
    fn value(&self, u: &GaugeField<T>) -> T {
        (**self).value(u)
    }
    fn value_and_derivative(&self, u: &GaugeField<T>, out: &mut [Su3Alg<T>]) -> T {
        (**self).value_and_derivative(u, out)
    }
    fn name(&self) -> alloc::string::String {
        (**self).name()
    }
}
