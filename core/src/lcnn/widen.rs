//! Function-preserving widening and deepening (the "Net2WiderNet" and
//! "Net2DeeperNet" ideas of Chen, Goodfellow and Shlens, 2016): a trained
//! L-CNN's weights embedded in a wider or deeper network of the same layout,
//! so that training the larger network starts exactly from the action the
//! smaller one learned instead of from scratch.
//!
//! **Widening.** Layer by layer, the narrow network's channel `c` becomes
//! channel `map[c]` of the wide one (L-CB outputs keep their index;
//! `plaq`/`poly` append their loops after the incoming channels, so the
//! appended ones move when an earlier layer was widened). Every old output
//! channel reads only old channels (its couplings to new inputs are zero) and
//! the read-out weighs only old channels, so the wide action equals the narrow
//! one on every field. The new channels start from the wide model's random
//! initial weights, which breaks the symmetry: the read-out and next-layer
//! couplings to them start at zero but get nonzero gradients.
//!
//! **Deepening.** An L-CB layer of the large model that has no partner in the
//! small one starts as the identity: `W'_c = W_{map[c]} · 1`, i.e. the weight
//! `ω_{c, map[c], unit}` (left factor `W_{map[c]}`, right factor the unit
//! matrix) is 1 and every other weight of the layer 0. It passes its inputs
//! on unchanged, so again the action is the small model's on every field,
//! while its bilinear weights (products with transported neighbours, which
//! grow the receptive field by the layer's kernel) get nonzero gradients.
//! Layers are paired greedily in order: a large-model L-CB layer takes the
//! small model's next L-CB layer if that one embeds in it, and is an inserted
//! identity otherwise (or when the small model has no layers left). So
//! `paper` (kernels 2, 2, 1) embeds in kernels 2, 2, 2, 1 with the identity
//! third, and in 2, 2, 1, 1 with the identity last.
//!
//! An inserted `lact` layer, `f(a Re Tr W + b) W`, starts as the identity with
//! `a = 0` and `f(b) = 1` (activations `identity` and `relu`, `b = 1`); with
//! `identity` its slopes then train trace-modulated channels
//! `(1 + a Re Tr W) W`, products of a trace and a matrix.

use super::layer::{Layer, LayerOp};
use super::lcb::LcbShape;
use super::model::{Model, SpecError};
use alloc::format;
use alloc::vec::Vec;

/// The large model's parameters: `large.init_params(seed)` with `small`'s
/// weights embedded (and identity weights in inserted layers), or why
/// `small` does not embed in `large`. Supported: `plaq`, `poly`,
/// `lcb`/`lbilin` layers with the same kernel, dilation, symmetry and weight
/// type and at least as many channels each, inserted `lcb`/`lbilin` layers with
/// at least as many outputs as they receive channels from the small model,
/// inserted `lact` layers with activation `identity` or `relu`,
/// and a linear read-out (no hidden layers) with the same `imag` and
/// `subtract_trivial`; the large read-out may add quadratic terms (they start
/// at 0, or at the small model's own coefficients, moved with the channels).
pub fn widen(small: &Model, small_params: &[f64], large: &Model, seed: u64) -> Result<Vec<f64>, SpecError> {
    let err = |m: alloc::string::String| SpecError(format!("embedding: {m}"));
    if small_params.len() != small.n_params {
        return Err(err(format!("{} parameters given, the small model has {}", small_params.len(), small.n_params)));
    }
    let (ss, ls) = (&small.spec, &large.spec);
    if ss.dims != ls.dims || ss.subtract_trivial != ls.subtract_trivial || large.layers.len() < small.layers.len() {
        return Err(err("the models differ in dims or subtract_trivial, or the large one has fewer layers".into()));
    }
    if !small.head.hidden.is_empty() || !large.head.hidden.is_empty() || small.head.imag != large.head.imag {
        return Err(err("needs linear read-outs (head.hidden = []) with the same imag".into()));
    }
    if small.head.quadratic && !large.head.quadratic {
        return Err(err("the small model's read-out has quadratic terms, the large one's not".into()));
    }
    let mut p = large.init_params(seed);
    // map[c]: the large model's index of the small model's channel c at this depth.
    let mut map: Vec<usize> = Vec::new();
    let mut j = 0; // the small model's next layer
    for (i, ll) in large.layers.iter().enumerate() {
        let into = large.layer_offset(i)..large.layer_offset(i + 1);
        let small_left = small.layers.len() - j;
        let large_left = large.layers.len() - i;
        let partner = small.layers.get(j);
        map = match (partner, ll) {
            (Some(ls @ Layer::Plaq(_)), Layer::Plaq(_)) | (Some(ls @ Layer::Poly(_)), Layer::Poly(_)) => {
                j += 1;
                let added = ls.n_out() - ls.n_in();
                map.iter().copied().chain((0..added).map(|k| ll.n_in() + k)).collect()
            }
            (Some(Layer::Lcb(a)), Layer::Lcb(b)) if b.embed_check(a, &map).is_ok() || large_left == small_left => {
                let from = &small_params[small.layer_offset(j)..small.layer_offset(j + 1)];
                b.embed(a, &map, from, &mut p[into]).map_err(|m| err(format!("layer {i}: {m}")))?;
                j += 1;
                (0..a.n_out).collect()
            }
            (_, Layer::Lcb(b)) if large_left > small_left => {
                identity(b, &map, &mut p[into]).map_err(|m| err(format!("inserted layer {i}: {m}")))?;
                (0..map.len()).collect()
            }
            (_, Layer::Lact(b)) if large_left > small_left => {
                // f(0 · Re Tr W + b) W = W: a_c = 0, b_c with f(b_c) = 1 on every channel.
                let one = super::lact::identity_offset(b.activation).ok_or_else(|| {
                    err(format!(
                        "inserted layer {i}: an lact layer with {:?} cannot start as the identity",
                        b.activation
                    ))
                })?;
                let q = &mut p[into];
                q[..b.n].fill(0.0);
                q[b.n..].fill(one);
                map
            }
            (partner, _) => {
                let kind = partner.map_or("nothing", |l| l.kind());
                return Err(err(format!(
                    "layer {i}: {kind} into {} (only plaq, poly, lcb, lbilin; lact inserted)",
                    ll.kind()
                )));
            }
        };
    }
    if j != small.layers.len() {
        return Err(err(format!("{} of the small model's layers found no place", small.layers.len() - j)));
    }
    // Read-out: weights [1, n_in·per] then the bias.
    let per = if large.head.imag { 2 } else { 1 };
    let (hs, hl) = (small.layer_offset(small.layers.len()), large.layer_offset(large.layers.len()));
    let n_w = large.head.n_in * per;
    p[hl..hl + n_w].fill(0.0);
    for (c, &m) in map.iter().enumerate() {
        for k in 0..per {
            p[hl + m * per + k] = small_params[hs + c * per + k];
        }
    }
    p[hl + n_w] = small_params[hs + small.head.n_in * per];
    if large.head.quadratic {
        // q_ij packed over i ≤ j; feature index = channel · per + (0: Re, 1: Im).
        let packed = |n: usize, i: usize, j: usize| i * n - i * (i + 1) / 2 + j;
        let (ql, nl) = (hl + large.head.n_dense_params(), large.head.n_features());
        p[ql..ql + large.head.n_quadratic()].fill(0.0);
        if small.head.quadratic {
            let (qs, ns) = (hs + small.head.n_dense_params(), small.head.n_features());
            let feature = |c: usize, k: usize| map[c] * per + k;
            for i in 0..ns {
                for j in i..ns {
                    let (a, b) = (feature(i / per, i % per), feature(j / per, j % per));
                    p[ql + packed(nl, a.min(b), a.max(b))] = small_params[qs + packed(ns, i, j)];
                }
            }
        }
    }
    Ok(p)
}

/// Weights of an L-CB layer that passes channel `map[c]` of its input on as
/// output channel `c`: `ω_{c, map[c], unit} = 1` (real part), all else 0.
fn identity(shape: &LcbShape, map: &[usize], p: &mut [f64]) -> Result<(), alloc::string::String> {
    if shape.n_out < map.len() || map.iter().any(|&m| m >= shape.n_in) {
        return Err(format!("{shape:?} cannot pass on {} channels", map.len()));
    }
    p.fill(0.0);
    shape.pass_through(map, p);
    Ok(())
}
