//! The fine-lattice neighbourhood that one coarse link's blocked link `Q`
//! depends on.
//!
//! `Q_μ(x_B) = S_μ(2x_B) S_μ(2x_B+μ̂)` involves fine sites `2x_B + a μ̂ + b`
//! with `a ∈ {0,1,2}` and every transverse coordinate of `b` in `{−1,0,1}`.
//! A box of `3^D` local sites, numbered `Σ_d c_d 3^d` with `c_μ = a` and
//! `c_ν = b_ν + 1`, covers it; its links are the slots `site·D + ν`. The table
//! maps slots to global link indices, so the smearing code works in local
//! coordinates on the global field without copying it.

use crate::lattice::{Geometry, Step};
use alloc::vec::Vec;

/// Slot tables for all coarse links of one blocking step.
#[derive(Clone, Debug)]
pub struct StencilTable {
    nd: usize,
    /// Local sites per box (3^D).
    sites: usize,
    /// `slots[(coarse_link)·sites·D + slot]` = global fine link index.
    slots: Vec<u32>,
    /// Local index of the origin `2x_B` for direction μ, per μ.
    origin: [usize; 4],
}

impl StencilTable {
    /// Tables for blocking the fine lattice `fine` onto `coarse` (`fine = 2·coarse`).
    pub fn new(fine: &Geometry, coarse: &Geometry) -> Self {
        let nd = fine.nd();
        assert_eq!(coarse.nd(), nd);
        for d in 0..nd {
            assert_eq!(fine.dims()[d], 2 * coarse.dims()[d], "fine lattice must be twice the coarse one");
        }
        let sites = 3usize.pow(nd as u32);
        let mut origin = [0; 4];
        for (mu, o) in origin.iter_mut().enumerate().take(nd) {
            *o = (0..nd).filter(|&d| d != mu).map(|d| 3usize.pow(d as u32)).sum();
        }
        let mut slots = Vec::with_capacity(coarse.n_links() * sites * nd);
        for xb in 0..coarse.volume() {
            let cb = coarse.coords(xb);
            let x0 = fine.index(&core::array::from_fn::<usize, 4, _>(|d| 2 * cb[d])[..nd]);
            for mu in 0..nd {
                for s in 0..sites {
                    // Local coordinates → global site.
                    let mut g = x0;
                    let mut rem = s;
                    for d in 0..nd {
                        let c = rem % 3;
                        rem /= 3;
                        let off = if d == mu { c as isize } else { c as isize - 1 };
                        g = fine.shift(g, d, off);
                    }
                    for nu in 0..nd {
                        slots.push((g * nd + nu) as u32);
                    }
                }
            }
        }
        StencilTable { nd, sites, slots, origin }
    }

    /// The slot table of coarse link `l = x_B·D + μ`.
    #[inline]
    pub fn slots(&self, coarse_link: usize) -> &[u32] {
        let n = self.sites * self.nd;
        &self.slots[coarse_link * n..(coarse_link + 1) * n]
    }

    #[inline]
    pub fn nd(&self) -> usize {
        self.nd
    }

    /// Number of local link slots per box.
    #[inline]
    pub fn n_slots(&self) -> usize {
        self.sites * self.nd
    }

    /// Local site `2x_B` of a box for direction μ.
    #[inline]
    pub fn origin(&self, mu: usize) -> usize {
        self.origin[mu]
    }
}

/// Moves a local site one step (the box is large enough for every path used).
#[inline(always)]
pub fn local_step(site: usize, e: Step) -> usize {
    let p = 3usize.pow(e.mu as u32);
    if e.forward {
        site + p
    } else {
        site - p
    }
}

/// The transverse displacements `d = e₁ + … + e_k` (one step along each of `k`
/// distinct directions orthogonal to μ, each with a sign) of the staples of
/// `S_μ`, for `k = 1, 2, 3`.
#[derive(Clone, Debug)]
pub struct Displacements {
    /// `by_k[k−1]` = list of step sets of length k.
    pub by_k: [Vec<Vec<Step>>; 3],
}

impl Displacements {
    pub fn new(nd: usize, mu: usize) -> Self {
        let perp: Vec<usize> = (0..nd).filter(|&d| d != mu).collect();
        let mut by_k: [Vec<Vec<Step>>; 3] = [Vec::new(), Vec::new(), Vec::new()];
        let n = perp.len();
        for mask in 1u32..(1 << n) {
            let dirs: Vec<usize> = (0..n).filter(|&i| mask & (1 << i) != 0).map(|i| perp[i]).collect();
            let k = dirs.len();
            if k > 3 {
                continue;
            }
            for signs in 0u32..(1 << k) {
                let d = dirs
                    .iter()
                    .enumerate()
                    .map(|(i, &nu)| if signs & (1 << i) == 0 { Step::fwd(nu) } else { Step::bwd(nu) })
                    .collect();
                by_k[k - 1].push(d);
            }
        }
        Displacements { by_k }
    }
}
