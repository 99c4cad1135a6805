//! Locality of a learned action: the second derivatives
//! `H_{(x,μ,a),(y,ν,b)} = D_{y,ν,b} D_{x,μ,a} A` as a function of the distance
//! between the links, with the gauge-invariant Frobenius norm over (a, b)
//! (gauge transformations rotate a and b by orthogonal adjoint matrices).
//!
//! A Hessian column is an exact Hessian-vector product: the forward and
//! backward passes run on dual numbers whose tangent is the perturbation
//! `i t^a U` of one link; the tangent of every link derivative is the column.

use super::model::Model;
use crate::dual::Dual;
use crate::lattice::GaugeField;
use crate::rg::kernel::derivatives_from_gradients;
use crate::su3::algebra::anti_hermitian;
use crate::su3::{Complex, Mat3, Su3Alg};
use alloc::vec::Vec;

/// `∂D_{l',b}/∂ε` for every link `l'` under `U_l → exp(iε t^a) U_l`.
pub fn hessian_column(model: &Model, params: &[f64], u: &GaugeField<f64>, link: usize, a: usize) -> Vec<Su3Alg<f64>> {
    let mut dir = [0.0; 8];
    dir[a] = 1.0;
    let t = anti_hermitian(&dir) * u.links()[link];
    let links: Vec<Mat3<Dual<f64>>> = u
        .links()
        .iter()
        .enumerate()
        .map(|(l, m)| {
            let mut d = Mat3::zero();
            for i in 0..3 {
                for j in 0..3 {
                    let (tr, ti) = if l == link { (t.m[i][j].re, t.m[i][j].im) } else { (0.0, 0.0) };
                    d.m[i][j] = Complex::new(Dual::new(m.m[i][j].re, tr), Dual::new(m.m[i][j].im, ti));
                }
            }
            d
        })
        .collect();
    let ud = GaugeField::from_links(u.geometry().clone(), links);
    let (_, tape) = model.forward_raw(params, &ud);
    let g = model.backward_links(params, &tape, Dual::constant(1.0));
    derivatives_from_gradients(&ud, &g).into_iter().map(|d| d.map(|x| x.d)).collect()
}

/// One distance bin of `D²S(r)`.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LocalityPoint {
    /// Distance between link midpoints (lattice units, minimal image).
    pub r: f64,
    pub mean: f64,
    pub max: f64,
    pub pairs: usize,
}

/// `D²S(r)`: the Frobenius norms of the 8x8 Hessian blocks between the links
/// at `site` (all directions) and every link, binned by the distance of the
/// link midpoints.
pub fn locality_profile(model: &Model, params: &[f64], u: &GaugeField<f64>, site: usize) -> Vec<LocalityPoint> {
    let g = u.geometry();
    let nd = u.nd();
    let n = u.links().len();
    let mut entries: Vec<(f64, f64)> = Vec::new();
    for mu in 0..nd {
        let l = site * nd + mu;
        let cols: Vec<Vec<Su3Alg<f64>>> = (0..8).map(|a| hessian_column(model, params, u, l, a)).collect();
        let cx = g.coords(site);
        for m in 0..n {
            let (y, nu) = (m / nd, m % nd);
            let cy = g.coords(y);
            let mut r2 = 0.0;
            for d in 0..nd {
                let ext = g.dims()[d] as f64;
                let mut dx =
                    cy[d] as f64 + if d == nu { 0.5 } else { 0.0 } - cx[d] as f64 - if d == mu { 0.5 } else { 0.0 };
                dx -= ext * libm::round(dx / ext);
                r2 += dx * dx;
            }
            let norm2: f64 = cols.iter().map(|c| c[m].iter().map(|v| v * v).sum::<f64>()).sum();
            entries.push((crate::real::sqrt_f64(r2), crate::real::sqrt_f64(norm2)));
        }
    }
    entries.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut out: Vec<LocalityPoint> = Vec::new();
    for (r, v) in entries {
        match out.last_mut() {
            Some(p) if (p.r - r).abs() < 1e-9 => {
                p.mean += v;
                p.max = p.max.max(v);
                p.pairs += 1;
            }
            _ => out.push(LocalityPoint { r, mean: v, max: v, pairs: 1 }),
        }
    }
    for p in out.iter_mut() {
        p.mean /= p.pairs as f64;
    }
    out
}

/// Decay length `r₀` of `D²S ∝ e^{−r/r₀}` from a least-squares line through
/// `ln D²S(r)` (points with `r > 0` and a nonzero mean).
pub fn decay_length(points: &[LocalityPoint]) -> Option<f64> {
    let pts: Vec<(f64, f64)> =
        points.iter().filter(|p| p.r > 0.0 && p.mean > 1e-300).map(|p| (p.r, libm::log(p.mean))).collect();
    if pts.len() < 3 {
        return None;
    }
    let n = pts.len() as f64;
    let (sx, sy) = (pts.iter().map(|p| p.0).sum::<f64>(), pts.iter().map(|p| p.1).sum::<f64>());
    let sxx = pts.iter().map(|p| p.0 * p.0).sum::<f64>();
    let sxy = pts.iter().map(|p| p.0 * p.1).sum::<f64>();
    let slope = (n * sxy - sx * sy) / (n * sxx - sx * sx);
    if slope < 0.0 {
        Some(-1.0 / slope)
    } else {
        None
    }
}
