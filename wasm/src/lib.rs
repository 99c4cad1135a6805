//! fpa in the browser: a wasm-bindgen API over fpa-core.
//!
//! Heavy work (heatbath sweeps, FP data, training) runs in a Web Worker that
//! owns the rayon thread pool (`initThreadPool` in the threaded build); the
//! page's main thread draws the charts with plotters-canvas ([`draw_chart`]).
//! Every error reaches JavaScript as an exception with a message, never a trap.

mod chart;
mod learn;
mod shipped;

pub use chart::draw_chart;
pub use learn::Learner;
pub use shipped::ShippedModel;

use fpa_core::lattice::{GaugeField, Geometry};
use fpa_core::mc::WilsonChain;
use fpa_core::observe::average_plaquette;
use std::sync::Arc;
use wasm_bindgen::prelude::*;

#[cfg(feature = "threads")]
pub use wasm_bindgen_rayon::init_thread_pool;

/// Worker threads available to fpa-core (1 in the single-threaded build).
#[wasm_bindgen]
pub fn threads() -> usize {
    #[cfg(feature = "threads")]
    {
        rayon::current_num_threads()
    }
    #[cfg(not(feature = "threads"))]
    {
        1
    }
}

/// `true` in the multithreaded build.
#[wasm_bindgen]
pub fn threaded_build() -> bool {
    cfg!(feature = "threads")
}

#[wasm_bindgen]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").into()
}

/// Largest lattice the page accepts (sites), so that a typo cannot freeze the tab.
pub const MAX_SITES: usize = 16 * 16 * 16 * 16;

/// Parses and checks a lattice size for the browser.
pub fn parse_lattice(s: &str) -> Result<Arc<Geometry>, JsError> {
    // Check the size before building the lattice: its tables could exhaust memory.
    let dims = Geometry::parse_dims(s).map_err(|e| JsError::new(&e.to_string()))?;
    let sites = dims.iter().try_fold(1usize, |v, &l| v.checked_mul(l)).unwrap_or(usize::MAX);
    if sites > MAX_SITES {
        return Err(JsError::new(&format!("lattice {s} has {sites} sites; the page accepts at most {MAX_SITES}")));
    }
    let g = Geometry::new(&dims).map_err(|e| JsError::new(&format!("lattice {s}: {e}")))?;
    if !g.has_checkerboard() {
        return Err(JsError::new(&format!("lattice {s}: every extent must be even for the checkerboard heatbath")));
    }
    Ok(Arc::new(g))
}

/// Sweeps of plaquette history a chain keeps (the most recent ones): a tab left
/// running for hours keeps a bounded memory and bounded messages.
pub const HISTORY_CAP: usize = 5000;

/// A live Wilson-action Markov chain (Cabibbo–Marinari heatbath + overrelaxation).
#[wasm_bindgen]
pub struct Heatbath {
    chain: WilsonChain<f64>,
    /// Plaquettes of the last at most [`HISTORY_CAP`] sweeps.
    history: std::collections::VecDeque<f64>,
}

#[wasm_bindgen]
impl Heatbath {
    /// A hot start on `lattice` (e.g. "4x4x4x4" or "16x16").
    #[wasm_bindgen(constructor)]
    pub fn new(lattice: &str, beta: f64, seed: u32, n_or: u32) -> Result<Heatbath, JsError> {
        let g = parse_lattice(lattice)?;
        check_beta(beta)?;
        let chain = WilsonChain::new(GaugeField::hot(g, seed as u64), beta, n_or as usize, seed as u64, 0)
            .map_err(|e| JsError::new(&e.to_string()))?;
        Ok(Heatbath { chain, history: std::collections::VecDeque::new() })
    }

    /// `n` compound sweeps; returns the last average plaquette.
    pub fn sweep(&mut self, n: u32) -> Result<f64, JsError> {
        if !self.chain.field().is_finite() {
            return Err(JsError::new("the configuration contains NaN or infinite entries: restart the chain"));
        }
        for _ in 0..n {
            self.chain.step();
            if self.history.len() == HISTORY_CAP {
                self.history.pop_front();
            }
            self.history.push_back(average_plaquette(self.chain.field()));
        }
        Ok(*self.history.back().unwrap_or(&1.0))
    }

    pub fn set_beta(&mut self, beta: f64) -> Result<(), JsError> {
        check_beta(beta)?;
        self.chain.beta = beta;
        Ok(())
    }

    /// The plaquettes of the last at most 5000 sweeps (the first is sweep
    /// [`Self::first_sweep`]).
    pub fn history(&self) -> Vec<f64> {
        self.history.iter().copied().collect()
    }

    /// The sweep number (from 1) of the first entry of [`Self::history`].
    pub fn first_sweep(&self) -> f64 {
        (self.chain.sweeps - self.history.len() as u64 + 1) as f64
    }

    /// Compound sweeps done.
    pub fn sweeps(&self) -> f64 {
        self.chain.sweeps as f64
    }

    /// Link updates done so far (heatbath and overrelaxation).
    pub fn link_updates(&self) -> f64 {
        // Each compound sweep updates every link once by heatbath and `n_or` times by overrelaxation.
        // (In f64: on wasm32 the product overflows usize after a few thousand sweeps of 16⁴.)
        self.chain.sweeps as f64 * ((1 + self.chain.n_or) * self.chain.field().links().len()) as f64
    }

    pub fn checksum(&self) -> String {
        self.chain.field().checksum()
    }

    /// Puts a NaN into one link (to show how bad input is reported).
    pub fn corrupt(&mut self) {
        self.chain.field_mut().links_mut()[0].m[0][0].re = f64::NAN;
    }
}

fn check_beta(beta: f64) -> Result<(), JsError> {
    if beta.is_finite() && (0.0..=100.0).contains(&beta) {
        Ok(())
    } else {
        // Short for huge values (1e308 would print 309 digits).
        let shown = if beta.abs() < 1e6 { format!("{beta}") } else { format!("{beta:e}") };
        Err(JsError::new(&format!("beta = {shown} must be a number between 0 and 100")))
    }
}

/// The paper's 3 x 12-channel L-CNN (`ModelSpec::paper_12`, weights
/// `init_params(1)`) and a hot `l`⁴ configuration, built once, for timing
/// forward passes from JavaScript: [`LcnnBench::forward`] is what the native
/// benchmark `cargo bench -p fpa-core --bench lcnn -- 'forward/4\^4'` times
/// (`Model::action`, the trivial-field value included).
#[wasm_bindgen]
pub struct LcnnBench {
    model: fpa_core::lcnn::Model,
    params: Vec<f64>,
    field: GaugeField<f64>,
}

#[wasm_bindgen]
impl LcnnBench {
    #[wasm_bindgen(constructor)]
    pub fn new(l: u32) -> Result<LcnnBench, JsError> {
        if !(2..=8).contains(&l) {
            return Err(JsError::new("LcnnBench: l must be between 2 and 8"));
        }
        let g = Arc::new(Geometry::new(&[l as usize; 4]).unwrap());
        let model = fpa_core::lcnn::Model::new(fpa_core::lcnn::ModelSpec::paper_12())
            .map_err(|e| JsError::new(&e.to_string()))?;
        let params = model.init_params(1);
        Ok(LcnnBench { model, params, field: GaugeField::<f64>::hot(g, 1) })
    }

    /// One forward pass; returns the action.
    pub fn forward(&self) -> f64 {
        self.model.action(&self.params, &self.field)
    }
}

/// The checksum of a chain after `sweeps` compound sweeps: the same computation
/// the native tests run, to compare bits across targets and thread counts.
#[wasm_bindgen]
pub fn chain_checksum(lattice: &str, beta: f64, seed: u32, n_or: u32, sweeps: u32) -> Result<String, JsError> {
    let mut h = Heatbath::new(lattice, beta, seed, n_or)?;
    h.sweep(sweeps)?;
    Ok(h.checksum())
}
