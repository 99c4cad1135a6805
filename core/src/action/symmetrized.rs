//! The average of an action over lattice symmetries:
//! `A_S[U] = (1/|S|) Σ_{g∈S} A[gU]`, with derivatives
//! `D A_S[U] = (1/|S|) Σ_{g∈S} g⁻¹·(D A)[gU]` ([`Hypercubic::apply_derivative`]
//! of `g⁻¹` at the field `gU`).
//!
//! For a set `S` that is a group (the 16 reflections, or all 384 hypercubic
//! elements), `A_S` is exactly invariant under `S`; it is gauge invariant when
//! `A` is, and equal to `A` when `A` is already symmetric (the Wilson action).
//! An L-CNN has separate weights per direction and shift, so its errors are
//! partly not symmetric, and averaging removes that part (at `|S|` times the
//! cost of an evaluation). On a lattice whose extents differ, the elements
//! that do not map it onto itself (permutations of unequal axes) are left out.

use super::Action;
use crate::lattice::{GaugeField, Hypercubic};
use crate::real::Real;
use crate::su3::Su3Alg;
use alloc::string::String;
use alloc::vec::Vec;

/// Which hypercubic elements an average runs over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SymmetrySet {
    /// The `2^D` reflections of the axes (any lattice).
    Reflections,
    /// All `2^D D!` permutations with reflections (those that map the lattice onto itself).
    Hypercubic,
}

impl SymmetrySet {
    /// `reflections` or `hypercubic`.
    pub fn named(name: &str) -> Option<Self> {
        match name {
            "reflections" => Some(SymmetrySet::Reflections),
            "hypercubic" => Some(SymmetrySet::Hypercubic),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            SymmetrySet::Reflections => "reflections",
            SymmetrySet::Hypercubic => "hypercubic",
        }
    }

    /// The elements of the set that map `u`'s lattice onto itself, identity first.
    pub fn elements<T: Real>(self, u: &GaugeField<T>) -> Vec<Hypercubic> {
        let nd = u.nd();
        let n = match self {
            SymmetrySet::Reflections => 1 << nd,
            SymmetrySet::Hypercubic => Hypercubic::order(nd),
        };
        (0..n).map(|k| Hypercubic::element(nd, k)).filter(|g| g.check(u.geometry()).is_ok()).collect()
    }
}

/// `A` averaged over a [`SymmetrySet`].
#[derive(Clone, Debug)]
pub struct Symmetrized<A> {
    pub inner: A,
    pub set: SymmetrySet,
}

impl<A> Symmetrized<A> {
    pub fn new(inner: A, set: SymmetrySet) -> Self {
        Symmetrized { inner, set }
    }
}

impl<T: Real, A: Action<T>> Action<T> for Symmetrized<A> {
    fn value(&self, u: &GaugeField<T>) -> T {
        let elements = self.set.elements(u);
        let mut sum = T::zero();
        for g in &elements {
            sum += self.inner.value(&g.apply(u));
        }
        sum / T::from_f64(elements.len() as f64)
    }

    fn value_and_derivative(&self, u: &GaugeField<T>, out: &mut [Su3Alg<T>]) -> T {
        let elements = self.set.elements(u);
        let mut sum = T::zero();
        out.iter_mut().for_each(|d| *d = [T::zero(); 8]);
        let mut d = alloc::vec![[T::zero(); 8]; out.len()];
        for g in &elements {
            let moved = g.apply(u);
            sum += self.inner.value_and_derivative(&moved, &mut d);
            for (o, b) in out.iter_mut().zip(g.inverse().apply_derivative(&moved, &d)) {
                for a in 0..8 {
                    o[a] += b[a];
                }
            }
        }
        let inv = T::from_f64(1.0 / elements.len() as f64);
        out.iter_mut().for_each(|d| d.iter_mut().for_each(|c| *c *= inv));
        sum * inv
    }

    fn name(&self) -> String {
        alloc::format!("{} averaged over {}", self.inner.name(), self.set.name())
    }
}

/// `f` applied to `action` as it is to be evaluated: itself for `None`, or
/// averaged over `set` (for embedders that hold an action and an optional set).
pub fn with_symmetry<T: Real, A: Action<T>, R>(
    action: &A,
    set: Option<SymmetrySet>,
    f: impl FnOnce(&dyn Action<T>) -> R,
) -> R {
    match set {
        None => f(action),
        Some(set) => f(&Symmetrized::new(action, set)),
    }
}
