//! Saving and loading trained models (safetensors with the spec in the
//! metadata), and training checkpoints.

use crate::files::write_atomic;
use anyhow::{bail, ensure, Context, Result};
use fpa_core::io::safetensors::{self, NamedTensor};
use fpa_core::lcnn::Model;
use std::collections::BTreeMap;
use std::path::Path;

pub const MODEL_FORMAT: &str = "fpa-lcnn";

/// Tensors of a parameter vector, named as in [`Model::tensors`].
pub fn tensors(model: &Model, params: &[f64]) -> Vec<NamedTensor> {
    model
        .tensors()
        .into_iter()
        .map(|t| {
            let n: usize = t.shape.iter().product();
            NamedTensor { name: t.name, shape: t.shape, data: params[t.offset..t.offset + n].to_vec() }
        })
        .collect()
}

/// Writes `model.safetensors`: the weights, and in the metadata the spec,
/// the raw output per site on the trivial field, and `extra` entries.
pub fn save(path: &Path, model: &Model, params: &[f64], extra: &BTreeMap<String, String>) -> Result<()> {
    let mut meta = extra.clone();
    meta.insert("format".into(), MODEL_FORMAT.into());
    meta.insert("spec".into(), serde_json::to_string(&model.spec)?);
    meta.insert("trivial_per_site".into(), format!("{:e}", model.trivial_value_per_site(params)));
    meta.insert("program".into(), format!("fpa {}", env!("CARGO_PKG_VERSION")));
    write_atomic(path, &safetensors::encode(&tensors(model, params), &meta))
}

/// Reads a model written by [`save`].
pub fn load(path: &Path) -> Result<(Model, Vec<f64>, BTreeMap<String, String>)> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let (ts, meta) = safetensors::decode(&bytes).with_context(|| format!("{} is not a model file", path.display()))?;
    ensure!(
        meta.get("format").map(String::as_str) == Some(MODEL_FORMAT),
        "{} is not an fpa L-CNN model",
        path.display()
    );
    let spec = meta.get("spec").with_context(|| format!("{} has no model spec", path.display()))?;
    let model = Model::from_json(spec).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let params = params_from(&model, &ts).with_context(|| format!("{}", path.display()))?;
    Ok((model, params, meta))
}

/// The flat parameter vector from named tensors (names and shapes checked).
pub fn params_from(model: &Model, ts: &[NamedTensor]) -> Result<Vec<f64>> {
    let mut p = vec![0.0; model.n_params];
    for t in model.tensors() {
        let Some(found) = ts.iter().find(|x| x.name == t.name) else { bail!("tensor {} is missing", t.name) };
        ensure!(found.shape == t.shape, "tensor {} has shape {:?}, the spec needs {:?}", t.name, found.shape, t.shape);
        ensure!(found.data.iter().all(|x| x.is_finite()), "tensor {} has non-finite entries", t.name);
        p[t.offset..t.offset + found.data.len()].copy_from_slice(&found.data);
    }
    Ok(p)
}

/// Reads a model spec: a JSON file or one of the built-in names.
pub fn spec(arg: &str) -> Result<Model> {
    let m = match arg {
        "paper" | "paper-12" => Model::new(fpa_core::lcnn::ModelSpec::paper_12()),
        "paper-12-24-24" => Model::new(fpa_core::lcnn::ModelSpec::paper_12_24_24()),
        path => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("--model {path}: not a spec file (or one of: paper, paper-12-24-24)"))?;
            Model::from_json(&text)
        }
    };
    m.map_err(|e| anyhow::anyhow!("{e}"))
}
