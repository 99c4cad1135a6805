//! Landau gauge fixing: the gauge transformation `Ω` that maximises
//! `F[Ω] = Σ_{x,μ} Re Tr(Ω(x) U_μ(x) Ω(x+μ̂)†)`, i.e. makes the links as close
//! to 1 as the field allows.
//!
//! Local maximisation (Los Alamos): at a site `x`, `F` depends on `Ω(x)` through
//! `Re Tr(g w)` with `w = Σ_μ [U_μ(x) + U_μ(x−μ̂)†]` (in the current gauge), and
//! `g = argmax Re Tr(g w)` is the SU(3) projection of `w†`. Overrelaxation
//! replaces `g` by `g^ω` (here the first-order form `proj(1 + ω(g − 1))`).
//! Sites of one parity are updated together (in parallel on even lattices).

use super::field::GaugeField;
use super::gauge::GaugeTransform;
use crate::su3::algebra::antihermitian_components;
use crate::su3::{project_su3, Mat3};
use alloc::vec::Vec;

/// How far gauge fixing got.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GaugeFixReport {
    pub sweeps: usize,
    /// `F / (3 · D · V)`: 1 for a field of unit links.
    pub functional: f64,
    /// `θ = (1/V) Σ_x ‖[w(x)]_TA‖²`, zero at a stationary point.
    pub theta: f64,
}

fn site_sum(u: &GaugeField<f64>, x: usize) -> Mat3<f64> {
    let g = u.geometry();
    let mut w = Mat3::zero();
    for mu in 0..u.nd() {
        w += *u.link(x, mu);
        w += u.link(g.dn(x, mu), mu).adj();
    }
    w
}

/// Applies a gauge transformation given only at the sites of one parity
/// (identity elsewhere): `U_μ(x) → g(x) U_μ(x)`, `U_μ(x−μ̂) → U_μ(x−μ̂) g(x)†`.
fn apply_at(u: &mut GaugeField<f64>, sites: &[u32], gs: &[Mat3<f64>]) {
    let geom = u.geometry().clone();
    for (&x, g) in sites.iter().zip(gs) {
        let x = x as usize;
        for mu in 0..u.nd() {
            let l = *g * *u.link(x, mu);
            u.set_link(x, mu, l);
            let xm = geom.dn(x, mu);
            let l = u.link(xm, mu).mul_adj(g);
            u.set_link(xm, mu, l);
        }
    }
}

/// Landau gauge: returns `Ω`, the transformed field and a report. Stops when
/// `θ < theta_tol` or after `max_sweeps`.
pub fn landau_gauge(
    u: &GaugeField<f64>,
    omega_or: f64,
    max_sweeps: usize,
    theta_tol: f64,
) -> (GaugeTransform<f64>, GaugeField<f64>, GaugeFixReport) {
    let geom = u.geometry().clone();
    let mut field = u.clone();
    let mut omega: Vec<Mat3<f64>> = alloc::vec![Mat3::identity(); geom.volume()];
    let groups: Vec<Vec<u32>> = if geom.has_checkerboard() {
        alloc::vec![geom.sites_of_parity(0).to_vec(), geom.sites_of_parity(1).to_vec()]
    } else {
        (0..geom.volume() as u32).map(|x| alloc::vec![x]).collect()
    };
    let theta_of = |f: &GaugeField<f64>| -> f64 {
        let s: f64 = crate::par::sum(geom.volume(), |x| {
            let c = antihermitian_components(&site_sum(f, x));
            c.iter().map(|v| v * v).sum::<f64>()
        });
        s / geom.volume() as f64
    };
    let mut sweeps = 0;
    let mut theta = theta_of(&field);
    while theta > theta_tol && sweeps < max_sweeps {
        for sites in &groups {
            let f: &GaugeField<f64> = &field;
            let gs: Vec<Mat3<f64>> = crate::par::map_slice(sites, |&x| {
                let w = site_sum(f, x as usize);
                let g = project_su3(&w.adj(), None, 1e-12, 200).w;
                if omega_or == 1.0 {
                    g
                } else {
                    let one = Mat3::identity();
                    project_su3(&(one + (g - one).scale(omega_or)), None, 1e-12, 200).w
                }
            });
            apply_at(&mut field, sites, &gs);
            for (&x, g) in sites.iter().zip(&gs) {
                omega[x as usize] = *g * omega[x as usize];
            }
        }
        sweeps += 1;
        theta = theta_of(&field);
    }
    let functional =
        crate::par::sum(field.links().len(), |l| field.links()[l].re_tr()) / (3.0 * field.links().len() as f64);
    (GaugeTransform::from_matrices(geom, omega), field, GaugeFixReport { sweeps, functional, theta })
}
