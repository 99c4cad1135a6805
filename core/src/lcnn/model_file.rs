//! Model files: the weights as safetensors (tensor names and shapes of
//! [`Model::tensors`]), the spec as JSON under the metadata key `spec`,
//! `format = "fpa-lcnn"`. The `fpa` CLI writes them; the CLI, the browser
//! module and embedders read them with [`decode`].

use super::model::{Model, SpecError};
use crate::io::safetensors::{self, NamedTensor};
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

/// The `format` metadata value of an fpa model file.
pub const FORMAT: &str = "fpa-lcnn";

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

/// The flat parameter vector from named tensors (names, shapes and finiteness checked).
pub fn params_from(model: &Model, ts: &[NamedTensor]) -> Result<Vec<f64>, SpecError> {
    let mut p = alloc::vec![0.0; model.n_params];
    for t in model.tensors() {
        let Some(found) = ts.iter().find(|x| x.name == t.name) else {
            return Err(SpecError(alloc::format!("tensor {} is missing", t.name)));
        };
        if found.shape != t.shape {
            return Err(SpecError(alloc::format!(
                "tensor {} has shape {:?}, the spec needs {:?}",
                t.name,
                found.shape,
                t.shape
            )));
        }
        if !found.data.iter().all(|x| x.is_finite()) {
            return Err(SpecError(alloc::format!("tensor {} has non-finite entries", t.name)));
        }
        p[t.offset..t.offset + found.data.len()].copy_from_slice(&found.data);
    }
    Ok(p)
}

/// A model file: the weights, and in the metadata `format`, the spec as JSON,
/// `trivial_per_site` (the raw output per site on the trivial field), the
/// program, and the `extra` entries.
pub fn encode(model: &Model, params: &[f64], extra: &BTreeMap<String, String>) -> Vec<u8> {
    let mut meta = extra.clone();
    meta.insert("format".into(), FORMAT.into());
    meta.insert("spec".into(), serde_json::to_string(&model.spec).expect("a spec serialises"));
    meta.insert("trivial_per_site".into(), alloc::format!("{:e}", model.trivial_value_per_site(params)));
    meta.insert("program".into(), alloc::format!("fpa {}", env!("CARGO_PKG_VERSION")));
    safetensors::encode(&tensors(model, params), &meta)
}

/// A model, its parameters and the file's metadata.
pub type ModelFile = (Model, Vec<f64>, BTreeMap<String, String>);

/// Reads a model file: the model, its parameters and the metadata.
pub fn decode(bytes: &[u8]) -> Result<ModelFile, SpecError> {
    let (ts, meta) = safetensors::decode(bytes).map_err(|e| SpecError(alloc::format!("not a model file: {e}")))?;
    if meta.get("format").map(String::as_str) != Some(FORMAT) {
        return Err(SpecError("not an fpa L-CNN model (metadata format is not fpa-lcnn)".into()));
    }
    let spec = meta.get("spec").ok_or_else(|| SpecError("the file has no model spec".into()))?;
    let model = Model::from_json(spec)?;
    let params = params_from(&model, &ts)?;
    Ok((model, params, meta))
}
