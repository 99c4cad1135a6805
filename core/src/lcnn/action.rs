//! A trained L-CNN as a gauge [`Action`]: its value and link derivatives
//! (the force used by the FP minimiser, HMC and gradient flow).

use super::model::Model;
use crate::action::Action;
use crate::lattice::GaugeField;
use crate::real::Real;
use crate::rg::kernel::derivatives_from_gradients;
use crate::su3::Su3Alg;
use alloc::string::String;
use alloc::vec::Vec;

/// A model with its parameters.
#[derive(Clone, Debug)]
pub struct LcnnAction {
    pub model: Model,
    pub params: Vec<f64>,
    /// `A[1]` per site, precomputed (0 when the spec does not subtract it).
    trivial: f64,
    pub label: String,
}

impl LcnnAction {
    pub fn new(model: Model, params: Vec<f64>, label: String) -> Self {
        let trivial = if model.spec.subtract_trivial { model.trivial_value_per_site(&params) } else { 0.0 };
        LcnnAction { model, params, trivial, label }
    }
}

impl<T: Real> Action<T> for LcnnAction {
    fn value(&self, u: &GaugeField<T>) -> T {
        let (a, _) = self.model.forward_raw(&self.params, u);
        a - T::from_f64(self.trivial * u.geometry().volume() as f64)
    }

    fn value_and_derivative(&self, u: &GaugeField<T>, out: &mut [Su3Alg<T>]) -> T {
        let (a, tape) = self.model.forward_raw(&self.params, u);
        let g = self.model.backward_links(&self.params, &tape, T::one());
        out.copy_from_slice(&derivatives_from_gradients(u, &g));
        a - T::from_f64(self.trivial * u.geometry().volume() as f64)
    }

    fn name(&self) -> String {
        self.label.clone()
    }
}
