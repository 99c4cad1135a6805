//! The shipped fixed point action (`models/fp-action.safetensors`, compiled
//! into the module) against the Wilson action on configurations generated in
//! the page: a Wilson configuration at β_wil, its exact FP value and
//! derivatives by the RG minimisation, and both actions' errors.

use crate::learn::wilson_config_with_fp;
use fpa_core::action::{Action, Wilson};
use fpa_core::lattice::Geometry;
use fpa_core::lcnn::action::LcnnAction;
use fpa_core::lcnn::train::invariant_loss;
use std::sync::Arc;
use wasm_bindgen::prelude::*;

const MODEL: &[u8] = include_bytes!("../../models/fp-action.safetensors");

/// The shipped model and the configurations compared so far.
#[wasm_bindgen]
pub struct ShippedModel {
    action: LcnnAction,
    geom: Arc<Geometry>,
}

#[wasm_bindgen]
impl ShippedModel {
    #[wasm_bindgen(constructor)]
    pub fn new() -> Result<ShippedModel, JsError> {
        let (model, params, _) =
            fpa_core::lcnn::model_file::decode(MODEL).map_err(|e| JsError::new(&format!("shipped model: {e}")))?;
        Ok(ShippedModel {
            action: LcnnAction::new(model, params, "shipped FP action".into()),
            geom: Arc::new(Geometry::new(&[4, 4, 4, 4]).unwrap()),
        })
    }

    /// Number of weights.
    pub fn parameters(&self) -> usize {
        self.action.model.n_params
    }

    /// One 4⁴ Wilson configuration at `beta` (hot start, 40 compound sweeps),
    /// its FP data, and `[A_FP, A_model, A_Wilson, inv. loss model, inv. loss Wilson]`.
    pub fn compare(&self, beta: f64, seed: u32) -> Result<Vec<f64>, JsError> {
        if !(beta.is_finite() && (4.0..=10.0).contains(&beta)) {
            return Err(JsError::new("beta_wil must be between 4 and 10 for this comparison"));
        }
        let (v, r) = wilson_config_with_fp(&self.geom, beta, seed as u64, 40)?;
        if !r.report.converged {
            return Err(JsError::new(&format!("the FP minimisation did not converge ({})", r.report.reason)));
        }
        let v = &v;
        let vol = self.geom.volume() as f64;
        let mut d = vec![[0.0; 8]; v.links().len()];
        let a = self.action.value_and_derivative(v, &mut d);
        Ok(vec![
            r.action,
            a,
            Wilson.value(v),
            invariant_loss(&d, &r.derivative, vol),
            invariant_loss(&Wilson.derivative(v), &r.derivative, vol),
        ])
    }
}
