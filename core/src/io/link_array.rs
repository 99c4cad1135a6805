//! The plain array of links that fpa exchanges with other programs (the FP
//! datasets, the C ABI, the Python package): sites in the order `t, z, y, x`
//! (x fastest), per site the links `mu = x, y, z, t`, per link the 3×3 matrix
//! row by row as interleaved `(re, im)` doubles, 72 doubles per site.

use crate::io::gauge_file::{from_row_major, push_row_major};
use crate::lattice::geometry::GeometryError;
use crate::lattice::{GaugeField, Geometry};
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;

/// Why an array of links was refused.
#[derive(Clone, Debug, PartialEq)]
pub enum LinkArrayError {
    Geometry(GeometryError),
    Length { found: usize, need: usize },
    NonFinite,
    NotSu3 { violation: f64 },
}

impl fmt::Display for LinkArrayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LinkArrayError::Geometry(e) => write!(f, "lattice: {e}"),
            LinkArrayError::Length { found, need } => {
                write!(f, "the links array holds {found} doubles, the lattice needs {need}")
            }
            LinkArrayError::NonFinite => write!(f, "links contain NaN or infinite values"),
            LinkArrayError::NotSu3 { violation } => {
                write!(f, "links are not SU(3): largest |U U^dag - 1| is {violation:.3e}")
            }
        }
    }
}

impl core::error::Error for LinkArrayError {}

/// A field with extents `dims = [Lx, Ly, Lz, Lt]` (or fewer dimensions, x
/// first) from its interleaved array. Links must be SU(3) to 1e-6; links
/// further than 1e-12 from SU(3) are re-unitarised, links that are SU(3) to
/// rounding keep their bits (so a field read and written again is unchanged).
pub fn field_from_array(dims: &[usize], data: &[f64]) -> Result<GaugeField<f64>, LinkArrayError> {
    let geom = Geometry::new(dims).map_err(LinkArrayError::Geometry)?;
    let need = 18 * geom.n_links();
    if data.len() != need {
        return Err(LinkArrayError::Length { found: data.len(), need });
    }
    if !data.iter().all(|x| x.is_finite()) {
        return Err(LinkArrayError::NonFinite);
    }
    let links: Vec<_> = data.chunks_exact(18).map(from_row_major).collect();
    let mut field = GaugeField::from_links(Arc::new(geom), links);
    let violation = field.unitarity_violation();
    if violation > 1e-6 {
        return Err(LinkArrayError::NotSu3 { violation });
    }
    if violation > 1e-12 {
        field.reunitarize();
    }
    Ok(field)
}

/// The interleaved array of a field.
pub fn field_to_array(u: &GaugeField<f64>) -> Vec<f64> {
    let mut out = Vec::with_capacity(18 * u.links().len());
    for l in u.links() {
        push_row_major(l, &mut out);
    }
    out
}
