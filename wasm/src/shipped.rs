//! The shipped fixed point action (`models/fp-action.safetensors`, compiled
//! into the module) against the Wilson action on configurations generated in
//! the page: a Wilson configuration at β_wil, its exact FP value and
//! derivatives by the RG minimisation, and both actions' errors.

use fpa_core::action::{Action, Wilson};
use fpa_core::lattice::{GaugeField, Geometry};
use fpa_core::lcnn::action::LcnnAction;
use fpa_core::lcnn::train::L2_NORM;
use fpa_core::mc::WilsonChain;
use fpa_core::rg::{FixedPoint, FixedPointSettings};
use fpa_core::su3::Su3Alg;
use std::sync::Arc;
use wasm_bindgen::prelude::*;

const MODEL: &[u8] = include_bytes!("../../models/fp-action.safetensors");

fn invariant_loss(d: &[Su3Alg<f64>], t: &[Su3Alg<f64>], vol: f64) -> f64 {
    d.iter().zip(t).flat_map(|(a, b)| (0..8).map(move |c| (a[c] - b[c]).powi(2))).sum::<f64>() / (L2_NORM * vol)
}

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
        let mut c = WilsonChain::new(GaugeField::hot(self.geom.clone(), seed as u64), beta, 2, seed as u64, 0)
            .map_err(|e| JsError::new(&e.to_string()))?;
        for _ in 0..40 {
            c.step();
        }
        let fp = FixedPoint::new(self.geom.clone(), FixedPointSettings::default(), &Wilson)
            .map_err(|e| JsError::new(&e.to_string()))?;
        let r = fp.solve(&c.field, None).map_err(|e| JsError::new(&e.to_string()))?;
        if !r.report.converged {
            return Err(JsError::new(&format!("the FP minimisation did not converge ({})", r.report.reason)));
        }
        let v = &c.field;
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
