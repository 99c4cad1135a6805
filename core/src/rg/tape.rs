//! The smearing of one coarse link's box compiled into a fixed program.
//!
//! Every coarse link in direction μ needs the same legs and staples in its
//! local box coordinates, so the computation graph of
//! `S_μ(2x_B)` and `S_μ(2x_B+μ̂)` (see [`super::smear`] for the formulas) is
//! built once per μ: a list of leg nodes in dependency order, each leg
//! computed once and shared, and the staple terms that combine them. Running
//! it forward gives the two smeared links; running it backward accumulates
//! gradient matrices node by node in reverse order (each node's backward once),
//! which is several times cheaper than differentiating the recursive
//! definition path by path.

use super::params::Blocking;
use super::smear::{BoxLinks, SlotGrad};
use super::stencil::{local_step, Displacements};
use crate::lattice::Step;
use crate::real::Real;
use crate::su3::Mat3;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;

/// A leg node: `Y_e(s)` (one link, possibly daggered), or the average
/// `(1/k) Σ_i Y_{e_i}(s) · child_i` over the orderings of `k ≥ 2` steps.
#[derive(Clone, Debug)]
enum Node {
    Link { slot: u32, dagger: bool },
    Average { terms: Vec<(u32, bool, u32)>, inv_k: f64 },
}

/// `w_k · L(s,d) U_μ(s+d) L(s+μ̂,d)†`
#[derive(Clone, Copy, Debug)]
struct StapleTerm {
    k: usize,
    left: u32,
    mid_slot: u32,
    right: u32,
}

#[derive(Clone, Debug)]
struct SmearedLink {
    link_slot: u32,
    staples: Vec<StapleTerm>,
}

/// The program for one direction μ.
#[derive(Clone, Debug)]
pub struct SmearProgram {
    nodes: Vec<Node>,
    smeared: [SmearedLink; 2],
}

/// Node values and gradients of one run (reused between coarse links).
#[derive(Clone, Debug, Default)]
pub struct TapeScratch<T> {
    vals: Vec<Mat3<T>>,
    grads: Vec<Mat3<T>>,
}

struct Builder {
    nd: usize,
    nodes: Vec<Node>,
    memo: BTreeMap<(usize, Vec<(usize, bool)>), u32>,
}

impl Builder {
    /// Index of the link slot `Y_e(s)` stands for, and whether it is daggered.
    fn y(&self, s: usize, e: Step) -> (u32, bool) {
        if e.forward {
            ((s * self.nd + e.mu) as u32, false)
        } else {
            ((local_step(s, e) * self.nd + e.mu) as u32, true)
        }
    }

    fn leg(&mut self, s: usize, d: &[Step]) -> u32 {
        let mut key: Vec<(usize, bool)> = d.iter().map(|e| (e.mu, e.forward)).collect();
        key.sort();
        if let Some(&i) = self.memo.get(&(s, key.clone())) {
            return i;
        }
        let node = if d.len() == 1 {
            let (slot, dagger) = self.y(s, d[0]);
            Node::Link { slot, dagger }
        } else {
            let mut terms = Vec::with_capacity(d.len());
            for i in 0..d.len() {
                let rest: Vec<Step> = d.iter().enumerate().filter(|&(j, _)| j != i).map(|(_, &e)| e).collect();
                let child = self.leg(local_step(s, d[i]), &rest);
                let (slot, dagger) = self.y(s, d[i]);
                terms.push((slot, dagger, child));
            }
            Node::Average { terms, inv_k: 1.0 / d.len() as f64 }
        };
        self.nodes.push(node);
        let i = (self.nodes.len() - 1) as u32;
        self.memo.insert((s, key), i);
        i
    }

    fn smeared(&mut self, disp: &Displacements, s: usize, mu: usize) -> SmearedLink {
        let sm = local_step(s, Step::fwd(mu));
        let mut staples = Vec::new();
        for (k, list) in disp.by_k.iter().enumerate() {
            for d in list {
                let mut sd = s;
                for &e in d {
                    sd = local_step(sd, e);
                }
                let left = self.leg(s, d);
                let right = self.leg(sm, d);
                staples.push(StapleTerm { k: k + 1, left, mid_slot: (sd * self.nd + mu) as u32, right });
            }
        }
        SmearedLink { link_slot: (s * self.nd + mu) as u32, staples }
    }
}

impl SmearProgram {
    /// The program for `S_μ(o)` and `S_μ(o+μ̂)` with `o` the box origin.
    pub fn new(nd: usize, mu: usize, origin: usize) -> Self {
        let disp = Displacements::new(nd, mu);
        let mut b = Builder { nd, nodes: Vec::new(), memo: BTreeMap::new() };
        let first = b.smeared(&disp, origin, mu);
        let second = b.smeared(&disp, local_step(origin, Step::fwd(mu)), mu);
        SmearProgram { nodes: b.nodes, smeared: [first, second] }
    }

    #[inline(always)]
    fn y<T: Real>(bx: &BoxLinks<T>, slot: u32, dagger: bool) -> Mat3<T> {
        let u = &bx.links[bx.slots[slot as usize] as usize];
        if dagger {
            u.adj()
        } else {
            *u
        }
    }

    /// `(S_μ(o), S_μ(o+μ̂))`; node values stay in `scratch` for [`Self::backward`].
    pub fn forward<T: Real>(&self, bx: &BoxLinks<T>, p: &Blocking, scratch: &mut TapeScratch<T>) -> [Mat3<T>; 2] {
        scratch.vals.clear();
        for node in &self.nodes {
            let v = match node {
                Node::Link { slot, dagger } => Self::y(bx, *slot, *dagger),
                Node::Average { terms, inv_k } => {
                    let mut acc = Mat3::zero();
                    for &(slot, dagger, child) in terms {
                        acc += Self::y(bx, slot, dagger) * scratch.vals[child as usize];
                    }
                    acc.scale(T::from_f64(*inv_k))
                }
            };
            scratch.vals.push(v);
        }
        let w: [T; 4] = core::array::from_fn(|k| T::from_f64(p.weight(k)));
        self.smeared.each_ref().map(|sl| {
            let mut s = Self::y(bx, sl.link_slot, false).scale(w[0]);
            for t in &sl.staples {
                let a = scratch.vals[t.left as usize] * Self::y(bx, t.mid_slot, false);
                s.add_scaled(&a.mul_adj(&scratch.vals[t.right as usize]), w[t.k]);
            }
            s
        })
    }

    /// Adds the gradient of `Re Tr(G₀† S_μ(o)) + Re Tr(G₁† S_μ(o+μ̂))` with
    /// respect to the box links to `grad` (after [`Self::forward`] on the same box).
    pub fn backward<T: Real>(
        &self,
        bx: &BoxLinks<T>,
        p: &Blocking,
        g: &[Mat3<T>; 2],
        scratch: &mut TapeScratch<T>,
        grad: &mut SlotGrad<T>,
    ) {
        let w: [T; 4] = core::array::from_fn(|k| T::from_f64(p.weight(k)));
        scratch.grads.clear();
        scratch.grads.resize(self.nodes.len(), Mat3::zero());
        for (sl, gs) in self.smeared.iter().zip(g) {
            grad.add_slot(sl.link_slot as usize, &gs.scale(w[0]));
            for t in &sl.staples {
                // term = w A M B†: G_A = w G B M†, G_M = w A† G B, G_B = w G† A M
                let gw = gs.scale(w[t.k]);
                let a = scratch.vals[t.left as usize];
                let bl = scratch.vals[t.right as usize];
                let m = Self::y(bx, t.mid_slot, false);
                scratch.grads[t.left as usize] += (gw * bl).mul_adj(&m);
                grad.add_slot(t.mid_slot as usize, &(a.adj_mul(&gw) * bl));
                scratch.grads[t.right as usize] += gw.adj_mul(&a) * m;
            }
        }
        for (i, node) in self.nodes.iter().enumerate().rev() {
            let gi = scratch.grads[i];
            match node {
                Node::Link { slot, dagger } => {
                    grad.add_slot(*slot as usize, &if *dagger { gi.adj() } else { gi });
                }
                Node::Average { terms, inv_k } => {
                    let gw = gi.scale(T::from_f64(*inv_k));
                    for &(slot, dagger, child) in terms {
                        // P = Y Z: G_Y = G Z†, G_Z = Y† G
                        let y = Self::y(bx, slot, dagger);
                        let gy = gw.mul_adj(&scratch.vals[child as usize]);
                        grad.add_slot(slot as usize, &if dagger { gy.adj() } else { gy });
                        scratch.grads[child as usize] += y.adj_mul(&gw);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lattice::{GaugeField, Geometry};
    use crate::rg::smear::smeared_link;
    use crate::rg::stencil::StencilTable;
    use alloc::sync::Arc;

    /// The compiled program computes exactly the smeared links of the
    /// recursive definition, in 2D, 3D and 4D.
    #[test]
    fn program_matches_recursive_definition() {
        for coarse in [&[2usize, 3][..], &[2, 2, 3], &[2, 2, 2, 2]] {
            let nd = coarse.len();
            let c = Geometry::new(coarse).unwrap();
            let f = Arc::new(Geometry::new(&coarse.iter().map(|l| 2 * l).collect::<Vec<_>>()).unwrap());
            let u = GaugeField::<f64>::hot(f.clone(), 4);
            let table = StencilTable::new(&f, &c);
            let p = Blocking::normalised(3.0, 0.1, 0.03, 0.007, nd);
            let mut scratch = TapeScratch::default();
            for l in 0..c.n_links() {
                let mu = l % nd;
                let bx = BoxLinks { links: u.links(), slots: table.slots(l), nd };
                let prog = SmearProgram::new(nd, mu, table.origin(mu));
                let [s0, s1] = prog.forward(&bx, &p, &mut scratch);
                let o = table.origin(mu);
                let disp = Displacements::new(nd, mu);
                assert!(s0.dist(&smeared_link(&bx, &p, &disp, o, mu)) < 1e-13);
                assert!(s1.dist(&smeared_link(&bx, &p, &disp, local_step(o, Step::fwd(mu)), mu)) < 1e-13);
            }
        }
    }
}
