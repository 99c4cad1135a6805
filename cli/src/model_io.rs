//! Saving and loading trained models (safetensors with the spec in the
//! metadata), and training checkpoints.

use crate::files::write_atomic;
use anyhow::{Context, Result};
use fpa_core::lcnn::Model;
use std::collections::BTreeMap;
use std::path::Path;

/// Writes `model.safetensors`: the weights, and in the metadata the spec,
/// the raw output per site on the trivial field, and `extra` entries.
pub fn save(path: &Path, model: &Model, params: &[f64], extra: &BTreeMap<String, String>) -> Result<()> {
    write_atomic(path, &fpa_core::lcnn::model_file::encode(model, params, extra))
}

/// Reads a model written by [`save`].
pub fn load(path: &Path) -> Result<(Model, Vec<f64>, BTreeMap<String, String>)> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    fpa_core::lcnn::model_file::decode(&bytes).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// Reads a model spec: a JSON file or one of the built-in names.
pub fn spec(arg: &str) -> Result<Model> {
    let m = match fpa_core::lcnn::ModelSpec::builtin(arg) {
        Some(spec) => Model::new(spec),
        None => {
            let path = arg;
            let text = std::fs::read_to_string(path).with_context(|| {
                format!("--model {path}: not a spec file (or one of: paper, paper-12-24-24, paper-k222, paper-deep, paper-quadratic)")
            })?;
            Model::from_json(&text)
        }
    };
    Ok(m?)
}
