//! Every L-CNN layer on its own, through the core's layer check
//! ([`fpa_core::lcnn::layer_check`]): weight, link and input-feature
//! gradients against central differences, and gauge covariance
//! `layer(U^Ω, Ω W Ω†) = Ω layer(U, W) Ω†`. One check per layer, named after it,
//! on two 4D lattices and a 3D one with random links, random input features
//! and random weights of order one. Their volumes (24, 54, 24) are not
//! multiples of the L-CB layers' 16-site blocks and 8-site lane packs, so the
//! short blocks and packs are checked too.

use crate::util::{lattice, random_field};
use fpa_core::lcnn::layer::{Layer, LayerOp};
use fpa_core::lcnn::layer_check::{check_layer, random_features, LayerCheck};
use fpa_core::lcnn::model::LayerSpec;
use fpa_core::lcnn::Activation;
use fpa_core::rng::{domain, Rng};

/// Builds the layer `spec` on `n_in` channels and checks it on both lattices.
fn check(spec: LayerSpec, n_in: usize) {
    for dims in [vec![2usize, 3, 2, 2], vec![3, 3, 2, 3], vec![3, 2, 4]] {
        let layer = Layer::resolve(&spec, n_in, dims.len()).unwrap();
        let g = lattice(&dims);
        let u = random_field(&g, None, 21);
        // Features of size ~1/3 keep products of several of them near 1.
        let mut w = random_features(g.volume(), n_in, 22);
        for m in w.iter_mut() {
            *m = m.scale(1.0 / 3.0);
        }
        let mut rng = Rng::stream(23, &[domain::TEST, 3]);
        let params: Vec<f64> = (0..layer.n_params()).map(|_| 0.5 * rng.gaussian()).collect();
        let r: LayerCheck = check_layer(&layer, &params, &u, &w, 24, 1e-5, 12);
        let what = format!("{} on {dims:?}", layer.kind());
        assert!(r.weights < 1e-7, "{what}: weight gradient {r:?}");
        assert!(r.links < 1e-7, "{what}: link gradient {r:?}");
        assert!(r.features < 1e-7, "{what}: feature gradient {r:?}");
        assert!(r.covariance < 1e-12, "{what}: gauge covariance {r:?}");
        // The check sees every kind of input it claims to test.
        assert!(layer.n_params() == 0 || r.weights > 0.0, "{what}: no weight was probed");
    }
}

pub fn plaq_layer_gradients_and_covariance() {
    check(LayerSpec::Plaq {}, 2);
}

pub fn poly_layer_gradients_and_covariance() {
    check(LayerSpec::Poly {}, 1);
}

pub fn lcb_layer_gradients_and_covariance() {
    check(LayerSpec::Lcb { out: 3, kernel: 2, dilation: 1, symmetric: true, complex: false }, 2);
    check(LayerSpec::Lcb { out: 2, kernel: 3, dilation: 1, symmetric: false, complex: true }, 2);
}

pub fn lbilin_layer_gradients_and_covariance() {
    check(LayerSpec::Lbilin { out: 3, complex: true }, 2);
}

pub fn lconv_layer_gradients_and_covariance() {
    check(LayerSpec::Lconv { out: 3, kernel: 2, dilation: 2, symmetric: true, unit: true }, 2);
}

pub fn lact_layer_gradients_and_covariance() {
    for activation in [Activation::Tanh, Activation::Softplus] {
        check(LayerSpec::Lact { activation }, 3);
    }
}

pub fn lexp_layer_gradients_and_covariance() {
    check(LayerSpec::Lexp {}, 2);
}
