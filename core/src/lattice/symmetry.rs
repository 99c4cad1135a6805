//! Hypercubic symmetries of a periodic lattice: permutations of the axes
//! combined with reflections, the `2^D · D!` elements of the hyperoctahedral
//! group (384 in 4D).
//!
//! An element `g = (π, s)` maps a site `x` to `x'` with
//! `x'_{π(μ)} = s_μ x_μ (mod L)` and a gauge field `U` to `gU`:
//! - `s_μ = +1`: `(gU)_{π(μ)}(x') = U_μ(x)`;
//! - `s_μ = −1`: the link from `x` to `x+μ̂` becomes the link from `x'` to
//!   `x' − π(μ)^`, so `(gU)_{π(μ)}(x' − π(μ)^) = U_μ(x)†`.
//!
//! The Wilson action, the blocking kernel and so the fixed point action are
//! invariant: `A[gU] = A[U]`. The link derivatives
//! `D_{x,μ,a} A = d/dε A[exp(iε t^a) U_μ(x)]` move with the links and, on a
//! reflected link, change as the force matrix `X = Σ_a D_a t^a` does under
//! `U → U†`: perturbing `(gU)` by `exp(iε t^a)` perturbs `U_μ(x)` on the right,
//! `U e^{−iε t^a} = e^{−iε U t^a U†} U`, so `X' = −U† X U` with `U = U_μ(x)`.
//! An L-CNN has separate weights per direction and shift, so it is symmetric
//! only as far as training taught it; [`Hypercubic::apply`] and
//! [`Hypercubic::apply_derivative`] augment training data and measure that.

use super::field::GaugeField;
use super::geometry::{Geometry, MAX_DIM};
use crate::real::Real;
use crate::rng::Rng;
use crate::su3::algebra::{components, hermitian};
use crate::su3::Su3Alg;
use alloc::vec::Vec;
use core::fmt;

/// One element `(π, s)` of the hyperoctahedral group of a `nd`-dimensional lattice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hypercubic {
    nd: usize,
    /// `perm[μ] = π(μ)`: the axis that axis `μ` becomes.
    perm: [usize; MAX_DIM],
    /// `flip[μ]`: `s_μ = −1`.
    flip: [bool; MAX_DIM],
}

/// Why an element cannot be built or applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SymmetryError {
    /// `perm` is not a permutation of `0..nd`, or `flip` has the wrong length.
    NotPermutation,
    /// The permutation maps an axis onto one of a different extent.
    Extents { from: usize, to: usize },
}

impl fmt::Display for SymmetryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SymmetryError::NotPermutation => write!(f, "not a permutation of the lattice axes"),
            SymmetryError::Extents { from, to } => {
                write!(f, "the permutation maps axis {from} onto axis {to}, which has a different extent")
            }
        }
    }
}

impl Hypercubic {
    /// The element with `π = perm`, `s_μ = −1` where `flip[μ]`.
    pub fn new(perm: &[usize], flip: &[bool]) -> Result<Self, SymmetryError> {
        let nd = perm.len();
        if !(1..=MAX_DIM).contains(&nd) || flip.len() != nd {
            return Err(SymmetryError::NotPermutation);
        }
        let mut seen = [false; MAX_DIM];
        for &p in perm {
            if p >= nd || seen[p] {
                return Err(SymmetryError::NotPermutation);
            }
            seen[p] = true;
        }
        let mut g = Hypercubic { nd, perm: [0; MAX_DIM], flip: [false; MAX_DIM] };
        g.perm[..nd].copy_from_slice(perm);
        g.flip[..nd].copy_from_slice(flip);
        Ok(g)
    }

    /// The identity.
    pub fn identity(nd: usize) -> Self {
        let perm: Vec<usize> = (0..nd).collect();
        Hypercubic::new(&perm, &alloc::vec![false; nd]).expect("identity")
    }

    /// `2^nd · nd!`, the number of elements.
    pub fn order(nd: usize) -> usize {
        (1..=nd).product::<usize>() << nd
    }

    /// Element number `k` of [`Hypercubic::order`]: the low `nd` bits of `k`
    /// are the reflections (bit μ: `s_μ = −1`), `k >> nd` numbers the
    /// permutation in the factorial number system (0 is the identity).
    pub fn element(nd: usize, k: usize) -> Self {
        assert!(k < Self::order(nd), "element {k} of a group of order {}", Self::order(nd));
        let flip: Vec<bool> = (0..nd).map(|mu| (k >> mu) & 1 == 1).collect();
        let mut rest = k >> nd;
        let mut free: Vec<usize> = (0..nd).collect();
        let mut perm = Vec::with_capacity(nd);
        for i in 0..nd {
            let radix = nd - i;
            perm.push(free.remove(rest % radix));
            rest /= radix;
        }
        Hypercubic::new(&perm, &flip).expect("a permutation")
    }

    /// A uniformly drawn element.
    pub fn random(nd: usize, rng: &mut Rng) -> Self {
        Self::element(nd, rng.below(Self::order(nd) as u64) as usize)
    }

    pub fn nd(&self) -> usize {
        self.nd
    }

    /// `g⁻¹`: `π⁻¹`, with the reflection carried to the image axis.
    pub fn inverse(&self) -> Self {
        let mut inv = *self;
        for mu in 0..self.nd {
            inv.perm[self.perm[mu]] = mu;
            inv.flip[self.perm[mu]] = self.flip[mu];
        }
        inv
    }

    /// Whether `g` maps the lattice onto itself (permuted axes have equal extents).
    pub fn check(&self, geom: &Geometry) -> Result<(), SymmetryError> {
        if geom.nd() != self.nd {
            return Err(SymmetryError::NotPermutation);
        }
        let dims = geom.dims();
        for mu in 0..self.nd {
            if dims[mu] != dims[self.perm[mu]] {
                return Err(SymmetryError::Extents { from: mu, to: self.perm[mu] });
            }
        }
        Ok(())
    }

    /// The image `x'` of a site.
    pub fn site(&self, geom: &Geometry, x: usize) -> usize {
        let c = geom.coords(x);
        let dims = geom.dims();
        let mut out = [0usize; MAX_DIM];
        for mu in 0..self.nd {
            let l = dims[mu];
            out[self.perm[mu]] = if self.flip[mu] { (l - c[mu]) % l } else { c[mu] };
        }
        geom.index(&out[..self.nd])
    }

    /// Where each link of `u` goes: `(source, image, reversed)` as link
    /// indices of `u` and `gU`, `reversed` when `μ` is reflected (the image
    /// link is then `U†`).
    fn link_moves<'a, T: Real>(&'a self, u: &'a GaugeField<T>) -> impl Iterator<Item = (usize, usize, bool)> + 'a {
        let geom = u.geometry();
        (0..geom.volume()).flat_map(move |x| {
            (0..self.nd).map(move |mu| {
                let nu = self.perm[mu];
                let y = self.site(geom, x);
                let start = if self.flip[mu] { geom.dn(y, nu) } else { y };
                (u.link_index(x, mu), u.link_index(start, nu), self.flip[mu])
            })
        })
    }

    /// The transformed field `gU`. Panics when `g` does not map the lattice
    /// onto itself (see [`Hypercubic::check`]).
    pub fn apply<T: Real>(&self, u: &GaugeField<T>) -> GaugeField<T> {
        let geom = u.geometry().clone();
        self.check(&geom).expect("a symmetry of this lattice");
        let mut links = alloc::vec![crate::su3::Mat3::<T>::identity(); geom.n_links()];
        for (from, to, reversed) in self.link_moves(u) {
            let w = &u.links()[from];
            links[to] = if reversed { w.adj() } else { *w };
        }
        GaugeField::from_links(geom, links)
    }

    /// The derivatives of an invariant function at `gU`, given its derivatives
    /// `d` at `U` (indexed like the links of `u`): moved with the links, and
    /// `X → −U† X U` on reflected ones.
    pub fn apply_derivative<T: Real>(&self, u: &GaugeField<T>, d: &[Su3Alg<T>]) -> Vec<Su3Alg<T>> {
        self.check(u.geometry()).expect("a symmetry of this lattice");
        assert_eq!(d.len(), u.geometry().n_links(), "one derivative per link");
        let mut out = alloc::vec![[T::zero(); 8]; d.len()];
        for (from, to, reversed) in self.link_moves(u) {
            out[to] = if reversed {
                let w = &u.links()[from];
                let x_new = w.adj_mul(&hermitian(&d[from])) * *w;
                components(&x_new).map(|c| -c)
            } else {
                d[from]
            };
        }
        out
    }
}
