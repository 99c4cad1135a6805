//! Periodic 2D convolutions for scalar fields, with their adjoints and weight
//! gradients (the layers of the block-spinning autoencoder and of the
//! finite-density regression networks).
//!
//! A [`Conv2d`] relates a *fine* grid `n₀ × n₁` with `fine` channels to a
//! *coarse* grid `(n₀/s) × (n₁/s)` with `coarse` channels (`s` the stride;
//! `s = 1`: the same grid). Sites are numbered `x₀ + n x₁` (direction 0
//! fastest), channels outermost: `field[c · sites + x]`. With kernel size `k`,
//! taps `d = (d₀, d₁) ∈ [0, k)²` and the offset `p = (k − 1)/2` for `s = 1`
//! (a centred kernel), `p = 0` for `s > 1` (the `s × s` block of a coarse site),
//! the fine site under tap `d` of coarse site `y` is
//! `t(y, d) = (s y₀ + d₀ − p mod n₀, s y₁ + d₁ − p mod n₁)`, and
//!
//! * [`Conv2d::gather`] (a convolution): `out[o, y] = Σ_{i,d} w[o, i, d] in[i, t(y, d)]`;
//! * [`Conv2d::scatter`] (its adjoint, a transposed convolution):
//!   `out[i, t(y, d)] += Σ_o w[o, i, d] in[o, y]`;
//! * [`Conv2d::weight_grad`]: `∂/∂w[o, i, d] of Σ_y g[o, y] gather(w, f)[o, y]`
//!   `= Σ_y g[o, y] f[i, t(y, d)]`, which is also the weight gradient of a
//!   scatter whose output gradient is `f` and input is `g`.
//!
//! Weights are stored `w[(o · fine + i) · k² + d₀ + k d₁]`. All three maps
//! commute with translations by `s` sites of the fine grid (one of the coarse).

use alloc::vec;
use alloc::vec::Vec;

/// The extents of a (fine) periodic grid, sites `x₀ + n0 · x₁`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Grid {
    pub n0: usize,
    pub n1: usize,
}

impl Grid {
    pub fn sites(&self) -> usize {
        self.n0 * self.n1
    }
    /// The grid coarser by `s` in both directions.
    pub fn coarse(&self, s: usize) -> Grid {
        Grid { n0: self.n0 / s, n1: self.n1 / s }
    }
    /// The field translated by `(a₀, a₁)` sites: `out[c, x + a] = f[c, x]`.
    pub fn translate(&self, f: &[f64], a: (usize, usize)) -> Vec<f64> {
        let v = self.sites();
        let mut out = vec![0.0; f.len()];
        for (c, chunk) in f.chunks_exact(v).enumerate() {
            for (x, &val) in chunk.iter().enumerate() {
                let (x0, x1) = ((x % self.n0 + a.0) % self.n0, (x / self.n0 + a.1) % self.n1);
                out[c * v + x0 + self.n0 * x1] = val;
            }
        }
        out
    }
}

/// A periodic convolution between a fine and a coarse grid (see the module).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2d {
    pub fine: usize,
    pub coarse: usize,
    pub kernel: usize,
    pub stride: usize,
}

impl Conv2d {
    pub fn n_weights(&self) -> usize {
        self.coarse * self.fine * self.kernel * self.kernel
    }

    /// Whether the fine grid `g` can be used (extents divisible by the stride,
    /// coarse grid at least one site).
    pub fn fits(&self, g: Grid) -> bool {
        self.stride >= 1
            && g.n0 >= self.stride
            && g.n1 >= self.stride
            && g.n0.is_multiple_of(self.stride)
            && g.n1.is_multiple_of(self.stride)
    }

    /// The fine sites under the taps of every coarse site: `taps[y · k² + d]`.
    fn taps(&self, g: Grid) -> Vec<usize> {
        assert!(self.fits(g), "{self:?} on a {}x{} grid", g.n0, g.n1);
        let (k, s) = (self.kernel, self.stride);
        let p = if s == 1 { (k - 1) / 2 } else { 0 };
        let c = g.coarse(s);
        let mut taps = Vec::with_capacity(c.sites() * k * k);
        for y1 in 0..c.n1 {
            for y0 in 0..c.n0 {
                for d1 in 0..k {
                    for d0 in 0..k {
                        let x0 = (s * y0 + d0 + g.n0 - p % g.n0) % g.n0;
                        let x1 = (s * y1 + d1 + g.n1 - p % g.n1) % g.n1;
                        taps.push(x0 + g.n0 * x1);
                    }
                }
            }
        }
        taps
    }

    /// `out[o, y] = Σ_{i,d} w[o, i, d] fine[i, t(y, d)]` on the coarse grid.
    pub fn gather(&self, w: &[f64], g: Grid, fine: &[f64]) -> Vec<f64> {
        let (v, vc, kk) = (g.sites(), g.coarse(self.stride).sites(), self.kernel * self.kernel);
        assert_eq!((w.len(), fine.len()), (self.n_weights(), self.fine * v));
        let taps = self.taps(g);
        let mut out = vec![0.0; self.coarse * vc];
        for o in 0..self.coarse {
            for i in 0..self.fine {
                let wk = &w[(o * self.fine + i) * kk..][..kk];
                let f = &fine[i * v..][..v];
                for (y, acc) in out[o * vc..][..vc].iter_mut().enumerate() {
                    let t = &taps[y * kk..][..kk];
                    *acc += wk.iter().zip(t).map(|(wd, &x)| wd * f[x]).sum::<f64>();
                }
            }
        }
        out
    }

    /// The adjoint of [`Conv2d::gather`]: `out[i, t(y, d)] += Σ_o w[o, i, d] coarse[o, y]`.
    pub fn scatter(&self, w: &[f64], g: Grid, coarse: &[f64]) -> Vec<f64> {
        let (v, vc, kk) = (g.sites(), g.coarse(self.stride).sites(), self.kernel * self.kernel);
        assert_eq!((w.len(), coarse.len()), (self.n_weights(), self.coarse * vc));
        let taps = self.taps(g);
        let mut out = vec![0.0; self.fine * v];
        for o in 0..self.coarse {
            for i in 0..self.fine {
                let wk = &w[(o * self.fine + i) * kk..][..kk];
                let f = &mut out[i * v..][..v];
                for (y, &c) in coarse[o * vc..][..vc].iter().enumerate() {
                    for (wd, &x) in wk.iter().zip(&taps[y * kk..][..kk]) {
                        f[x] += wd * c;
                    }
                }
            }
        }
        out
    }

    /// `dw[o, i, d] = Σ_y coarse[o, y] fine[i, t(y, d)]`.
    pub fn weight_grad(&self, g: Grid, fine: &[f64], coarse: &[f64]) -> Vec<f64> {
        let (v, vc, kk) = (g.sites(), g.coarse(self.stride).sites(), self.kernel * self.kernel);
        assert_eq!((fine.len(), coarse.len()), (self.fine * v, self.coarse * vc));
        let taps = self.taps(g);
        let mut dw = vec![0.0; self.n_weights()];
        for o in 0..self.coarse {
            for i in 0..self.fine {
                let d = &mut dw[(o * self.fine + i) * kk..][..kk];
                let f = &fine[i * v..][..v];
                for (y, &c) in coarse[o * vc..][..vc].iter().enumerate() {
                    for (dd, &x) in d.iter_mut().zip(&taps[y * kk..][..kk]) {
                        *dd += c * f[x];
                    }
                }
            }
        }
        dw
    }
}
