//! Gauge transformations `U_mu(x) → Ω(x) U_mu(x) Ω(x+mu)†`, `W(x) → Ω(x) W(x) Ω(x)†`.

use super::field::GaugeField;
use super::geometry::Geometry;
use crate::real::Real;
use crate::rng::{domain, Rng};
use crate::su3::random::haar_su3;
use crate::su3::Mat3;
use alloc::sync::Arc;
use alloc::vec::Vec;

/// One SU(3) matrix `Ω(x)` per site.
#[derive(Clone, Debug)]
pub struct GaugeTransform<T> {
    geom: Arc<Geometry>,
    omega: Vec<Mat3<T>>,
}

impl<T: Real> GaugeTransform<T> {
    /// A Haar-random transformation.
    pub fn random(geom: Arc<Geometry>, seed: u64) -> Self {
        let omega = crate::par::map_range(geom.volume(), |s| {
            haar_su3(&mut Rng::stream(seed, &[domain::GAUGE_TRANSFORM, s as u64]))
        });
        GaugeTransform { geom, omega }
    }

    /// Wraps given matrices (one per site).
    pub fn from_matrices(geom: Arc<Geometry>, omega: Vec<Mat3<T>>) -> Self {
        assert_eq!(omega.len(), geom.volume());
        GaugeTransform { geom, omega }
    }

    #[inline(always)]
    pub fn at(&self, site: usize) -> &Mat3<T> {
        &self.omega[site]
    }

    /// The transformed field.
    pub fn apply(&self, u: &GaugeField<T>) -> GaugeField<T> {
        assert_eq!(**u.geometry(), *self.geom, "gauge transformation on a different lattice");
        let mut out = u.clone();
        let g = &self.geom;
        out.for_each_link_mut(|site, mu, link| {
            *link = (self.omega[site] * *link).mul_adj(&self.omega[g.up(site, mu)]);
        });
        out
    }

    /// `Ω(x) W Ω(x)†` for a matrix living at `site`.
    #[inline]
    pub fn apply_site(&self, site: usize, w: &Mat3<T>) -> Mat3<T> {
        (self.omega[site] * *w).mul_adj(&self.omega[site])
    }

    /// The inverse transformation `Ω†`.
    pub fn inverse(&self) -> Self {
        GaugeTransform { geom: self.geom.clone(), omega: self.omega.iter().map(|o| o.adj()).collect() }
    }
}
