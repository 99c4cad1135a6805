//! Function-preserving widening (the "Net2WiderNet" idea of Chen, Goodfellow
//! and Shlens, 2016): a trained L-CNN's weights embedded in a wider network of
//! the same layout, so that training the wider network starts exactly from the
//! action the narrow one learned instead of from scratch.
//!
//! Layer by layer, the narrow network's channel `c` becomes channel `map[c]`
//! of the wide one (L-CB outputs keep their index; `plaq`/`poly` append their
//! loops after the incoming channels, so the appended ones move when an
//! earlier layer was widened). Every old output channel reads only old
//! channels (its couplings to new inputs are zero) and the read-out weighs
//! only old channels, so the wide action equals the narrow one on every field.
//! The new channels start from the wide model's random initial weights, which
//! breaks the symmetry: the read-out and next-layer couplings to them start at
//! zero but get nonzero gradients.

use super::layer::{Layer, LayerOp};
use super::model::{Model, SpecError};
use alloc::format;
use alloc::vec::Vec;

/// The wide model's parameters: `wide.init_params(seed)` with `narrow`'s
/// weights embedded, or why `narrow` does not embed in `wide`. Supported:
/// `plaq`, `poly`, `lcb`/`lbilin` layers with the same kernel, dilation,
/// symmetry and weight type, at least as many channels each, and a linear
/// read-out (no hidden layers) with the same `imag` and `subtract_trivial`.
pub fn widen(narrow: &Model, narrow_params: &[f64], wide: &Model, seed: u64) -> Result<Vec<f64>, SpecError> {
    let err = |m: alloc::string::String| SpecError(format!("widening: {m}"));
    if narrow_params.len() != narrow.n_params {
        return Err(err(format!("{} parameters given, the narrow model has {}", narrow_params.len(), narrow.n_params)));
    }
    let (ns, ws) = (&narrow.spec, &wide.spec);
    if ns.dims != ws.dims || ns.subtract_trivial != ws.subtract_trivial || narrow.layers.len() != wide.layers.len() {
        return Err(err("the models differ in dims, subtract_trivial or number of layers".into()));
    }
    if !narrow.head.hidden.is_empty() || !wide.head.hidden.is_empty() || narrow.head.imag != wide.head.imag {
        return Err(err("needs linear read-outs (head.hidden = []) with the same imag".into()));
    }
    let mut p = wide.init_params(seed);
    let mut map: Vec<usize> = Vec::new();
    for (i, (ln, lw)) in narrow.layers.iter().zip(&wide.layers).enumerate() {
        map = match (ln, lw) {
            (Layer::Plaq(_), Layer::Plaq(_)) | (Layer::Poly(_), Layer::Poly(_)) => {
                let added = ln.n_out() - ln.n_in();
                map.iter().copied().chain((0..added).map(|j| lw.n_in() + j)).collect()
            }
            (Layer::Lcb(a), Layer::Lcb(b)) => {
                let from = &narrow_params[narrow.layer_offset(i)..narrow.layer_offset(i + 1)];
                let into = &mut p[wide.layer_offset(i)..wide.layer_offset(i + 1)];
                b.embed(a, &map, from, into).map_err(|m| err(format!("layer {i}: {m}")))?;
                (0..a.n_out).collect()
            }
            _ => {
                return Err(err(format!("layer {i}: {} into {} (only plaq, poly, lcb, lbilin)", ln.kind(), lw.kind())))
            }
        };
    }
    // Read-out: weights [1, n_in·per] then the bias.
    let per = if wide.head.imag { 2 } else { 1 };
    let (hn, hw) = (narrow.layer_offset(narrow.layers.len()), wide.layer_offset(wide.layers.len()));
    let n_w = wide.head.n_in * per;
    p[hw..hw + n_w].fill(0.0);
    for (c, &m) in map.iter().enumerate() {
        for k in 0..per {
            p[hw + m * per + k] = narrow_params[hn + c * per + k];
        }
    }
    p[hw + n_w] = narrow_params[hn + narrow.head.n_in * per];
    Ok(p)
}
