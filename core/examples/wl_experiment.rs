use fpa_core::lattice::path::rectangle;
use fpa_core::lattice::{path_product, GaugeField, Geometry};
use fpa_core::lcnn::model::{HeadSpec, LayerSpec, Model, ModelSpec};
use fpa_core::lcnn::train::{shuffled, site_regression, Adam};
use fpa_core::lcnn::Activation;
use fpa_core::mc::WilsonChain;
use std::sync::Arc;

fn wl(u: &GaugeField<f64>) -> Vec<f64> {
    let p = rectangle(0, 1, 2, 2);
    (0..u.geometry().volume()).map(|x| path_product(u, x, &p).0.re_tr() / 3.0).collect()
}
fn main() {
    let args: Vec<f64> = std::env::args().skip(1).map(|a| a.parse().unwrap()).collect();
    let (ch, lr0, epochs, init, nper, batch) =
        (args[0] as usize, args[1], args[2] as usize, args[3], args[4] as usize, args[5] as usize);
    let g = Arc::new(Geometry::new(&[8, 8]).unwrap());
    let betas = [0.5, 1.0, 2.0, 3.0, 4.5, 6.0, 8.0, 12.0];
    let mut train = vec![];
    for (i, &b) in betas.iter().enumerate() {
        let mut c = WilsonChain::new(GaugeField::hot(g.clone(), 1 + i as u64), b, 1, 1 + i as u64, 0).unwrap();
        for _ in 0..20 {
            c.step();
        }
        for _ in 0..nper {
            for _ in 0..3 {
                c.step();
            }
            train.push(c.field.clone());
        }
    }
    let t: Vec<Vec<f64>> = train.iter().map(wl).collect();
    let spec = ModelSpec {
        dims: 2,
        layers: vec![
            LayerSpec::Plaq,
            LayerSpec::Lcb { out: ch, kernel: 2, dilation: 1, symmetric: true, complex: false },
            LayerSpec::Lcb { out: ch, kernel: 2, dilation: 1, symmetric: true, complex: false },
        ],
        head: HeadSpec { hidden: vec![], activation: Activation::Tanh, imag: false },
        subtract_trivial: false,
        init_scale: init,
    };
    let m = Model::new(spec).unwrap();
    let mut p = m.init_params(std::env::var("SEED").map(|s| s.parse().unwrap()).unwrap_or(7));
    let mut adam = Adam::new(p.len());
    let t0 = std::time::Instant::now();
    for epoch in 0..epochs {
        let lr = lr0 * (0.01f64).powf(epoch as f64 / epochs as f64);
        for chunk in shuffled(train.len(), 3, epoch as u64).chunks(batch) {
            let mut gsum = vec![0.0; p.len()];
            for &i in chunk {
                let (_, gi) = site_regression(&m, &p, &train[i], &t[i], true);
                for (a, b) in gsum.iter_mut().zip(gi.unwrap()) {
                    *a += b / chunk.len() as f64;
                }
            }
            adam.step(&mut p, &gsum, lr);
        }
        if epoch % (epochs / 10).max(1) == 0 || epoch == epochs - 1 {
            let mse: f64 = train.iter().zip(&t).map(|(u, tt)| site_regression(&m, &p, u, tt, false).0).sum::<f64>()
                / train.len() as f64;
            println!("epoch {epoch} lr {lr:.2e} train mse {mse:.3e} ({:.1}s)", t0.elapsed().as_secs_f64());
        }
    }
}
