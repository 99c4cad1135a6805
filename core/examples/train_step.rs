//! One training step (both losses, Adam) of the paper's 12-12-12 L-CNN on an L⁴ lattice, for the
//! memory and time of lattices the criterion benchmarks do not cover. The targets are `A = V`,
//! `D = 0` (what the step costs does not depend on them), so the process's peak memory is the
//! step's.
//! `RAYON_NUM_THREADS=2 /usr/bin/time -v cargo run --release -p fpa-core --example train_step -- 16 f32`
//! (L, then `f64` or `f32` passes); prints the seconds of the step.
use fpa_core::lattice::{GaugeField, Geometry};
use fpa_core::lcnn::train::{batch_loss_with, Adam, LocalSamples, LossWeights, Precision, Sample};
use fpa_core::lcnn::{Model, ModelSpec};
use std::sync::Arc;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let l: usize = args.first().map_or(8, |s| s.parse().expect("L: an even lattice extent"));
    let precision = Precision::named(args.get(1).map_or("f32", String::as_str)).expect("f64 or f32");
    let m = Model::new(ModelSpec::paper_12()).unwrap();
    let mut p = m.init_params(1);
    let u = GaugeField::<f64>::hot(Arc::new(Geometry::new(&[l; 4]).unwrap()), 1);
    let (vol, n_links) = (u.geometry().volume() as f64, u.links().len());
    let sample = Sample { links: u, a_fp: vol, d_fp: vec![[0.0; 8]; n_links], beta: 6.0, weight: 1.0 };
    let mut adam = Adam::new(p.len());
    let t = Instant::now();
    let (_, grad) = batch_loss_with(&m, &p, &[&sample], LossWeights::new(1.0, 1.0), true, precision, &LocalSamples);
    adam.step(&mut p, &grad.unwrap(), 1e-4);
    println!("{l}^4, {precision:?} passes: one training step in {:.2} s", t.elapsed().as_secs_f64());
}
