//! Small helpers shared by the checks.

use fpa_core::lattice::{GaugeField, Geometry};
use fpa_core::rng::{domain, Rng};
use fpa_core::su3::random::near_identity;
use fpa_core::su3::Mat3;
use std::sync::Arc;

/// A lattice from its extents.
pub fn lattice(dims: &[usize]) -> Arc<Geometry> {
    Arc::new(Geometry::new(dims).expect("valid test lattice"))
}

/// A field of links `exp(i ε g·t)` near the identity (smooth-ish), or Haar
/// random for `eps = None`.
pub fn random_field(geom: &Arc<Geometry>, eps: Option<f64>, seed: u64) -> GaugeField<f64> {
    match eps {
        None => GaugeField::hot(geom.clone(), seed),
        Some(e) => {
            let mut u = GaugeField::cold(geom.clone());
            u.for_each_link_mut(|x, mu, l| {
                let mut rng = Rng::stream(seed, &[domain::TEST, x as u64, mu as u64]);
                *l = near_identity(&mut rng, e);
            });
            u
        }
    }
}

/// `|a − b| ≤ tol·(1 + |b|)` with a message.
#[track_caller]
pub fn assert_close(a: f64, b: f64, tol: f64, what: &str) {
    assert!(
        (a - b).abs() <= tol * (1.0 + b.abs()),
        "{what}: {a} vs {b} (difference {:.3e}, tolerance {tol:.1e})",
        (a - b).abs()
    );
}

/// `exp(i s t^a) U`
pub fn rotate(u: &Mat3<f64>, a: usize, s: f64) -> Mat3<f64> {
    let mut c = [0.0; 8];
    c[a] = s;
    fpa_core::su3::exp_components(&c) * *u
}

/// The largest `|U − V|` (Frobenius) over the links of two fields.
pub fn max_link_distance(a: &GaugeField<f64>, b: &GaugeField<f64>) -> f64 {
    a.links().iter().zip(b.links()).map(|(x, y)| x.dist(y)).fold(0.0, f64::max)
}
