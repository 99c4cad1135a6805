//! The fixed point action of a lattice instanton: the lowest of the minima
//! reached from two starts.
//!
//! `A_FP[V] = min_U {A[U] + T[U, V]}` is a global minimum, and for small
//! instantons the minimisation has two: one whose fine field carries the
//! instanton smoothly (small kernel term `T`), and one whose fine field does
//! not reproduce the instanton core (`T` of order 2–3). The standard start
//! (Landau gauge, square roots of the coarse links) can end in either, and
//! which one is lower depends on ρ and the lattice:
//!
//! | lattice, ρ/a | standard start: `A`, `T` | continuation: `A`, `T` |
//! |---|---|---|
//! | 8⁴, 1.1 | 14.47, 2.13 | 12.87, 0.050 |
//! | 8⁴, 1.0 | 12.79, 2.25 | 12.68, 0.042 |
//! | 4⁴, 1.2 | 17.35, 3.32 | 14.92, 0.59 |
//! | 4⁴, 0.9 | 11.50, 3.04 | 13.37, 0.29 |
//!
//! *Continuation in ρ* follows the smooth branch: minimise the same instanton
//! at ρ₀ = [`CONTINUATION_FROM`] from the standard start (on 8⁴ it ends on the
//! smooth branch), then step ρ down to the target in equal steps of at most
//! [`CONTINUATION_STEP`], each minimisation started from the previous
//! minimiser. [`instanton_fp`] runs both and keeps the lower converged minimum.

use super::fixed_point::FixedPointError;
use super::{FixedPoint, FixedPointResult};
use crate::observe::instanton::Instanton;
use alloc::vec::Vec;

/// The radius the continuation starts from (lattice units).
pub const CONTINUATION_FROM: f64 = 1.5;
/// The largest step of ρ between two minimisations of the continuation.
pub const CONTINUATION_STEP: f64 = 0.25;

/// The two minimisations of an instanton and which one is `A_FP`.
#[derive(Clone, Debug)]
pub struct InstantonMinimum {
    /// From the standard start.
    pub standard: FixedPointResult,
    /// By continuation from ρ₀, with the radii it went through (`None` for
    /// ρ ≥ ρ₀, where the standard start is the only one).
    pub continued: Option<(FixedPointResult, Vec<f64>)>,
    /// Whether the continuation's minimum is kept: the lower converged one
    /// (an unconverged one only when neither converged).
    pub from_continuation: bool,
}

impl InstantonMinimum {
    /// The kept minimum: `A_FP`, `D_FP` and the minimiser.
    pub fn kept(&self) -> &FixedPointResult {
        match &self.continued {
            Some((r, _)) if self.from_continuation => r,
            _ => &self.standard,
        }
    }

    /// The kept minimum, by value.
    pub fn into_kept(self) -> FixedPointResult {
        match self.continued {
            Some((r, _)) if self.from_continuation => r,
            _ => self.standard,
        }
    }
}

/// The radii of the continuation from [`CONTINUATION_FROM`] down to `rho`
/// (empty for `rho ≥` [`CONTINUATION_FROM`]): equal steps of at most
/// [`CONTINUATION_STEP`], the last one `rho` itself.
pub fn continuation_radii(rho: f64) -> Vec<f64> {
    if rho >= CONTINUATION_FROM {
        return Vec::new();
    }
    let span = CONTINUATION_FROM - rho;
    let steps = libm::ceil(span / CONTINUATION_STEP - 1e-9).max(1.0) as usize;
    (0..=steps).map(|k| if k == steps { rho } else { CONTINUATION_FROM - span * k as f64 / steps as f64 }).collect()
}

/// `A_FP` and `D_FP` of `inst` on `fp`'s coarse lattice: the lower of the
/// minima from the standard start and from continuation in ρ (module docs).
/// Deterministic: the same bits on any thread count.
pub fn instanton_fp(fp: &FixedPoint, inst: &Instanton) -> Result<InstantonMinimum, FixedPointError> {
    let geom = fp.coarse().clone();
    let v = inst.field(geom.clone());
    let standard = fp.solve(&v, None)?;
    let radii = continuation_radii(inst.rho);
    if radii.is_empty() {
        return Ok(InstantonMinimum { standard, continued: None, from_continuation: false });
    }
    // Each step starts from the previous step's minimiser (moved, not copied).
    let mut last: Option<FixedPointResult> = None;
    for &rho in &radii {
        let step = Instanton { rho, ..*inst };
        last = Some(fp.solve(&step.field(geom.clone()), last.take().map(|r| r.minimizers))?);
    }
    let continued = last.expect("at least one radius");
    let from_continuation = match (standard.report.converged, continued.report.converged) {
        (true, false) => false,
        (false, true) => true,
        _ => continued.action < standard.action,
    };
    Ok(InstantonMinimum { standard, continued: Some((continued, radii)), from_continuation })
}
