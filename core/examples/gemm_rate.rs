//! GFLOP/s of the run-time-selected GEMM kernels (`FPA_SIMD` chooses
//! another) at the shapes of the 12-12-12 L-CB layers on blocks of 16 sites:
//! forward `tmp = ω·R` (m = 4 output channels × 25 left factors, n = 16 × 18
//! reals, k = right factors), the weight gradient `H·R'ᵀ` (n = right factors,
//! which need not fill whole vectors) and `ωᵀ·H`; in `f64`, then in `f32`.
//! `cargo run --release -p fpa-core --example gemm_rate`
use std::time::Instant;

const SHAPES: [(usize, usize, usize); 6] =
    [(100, 288, 216), (100, 288, 24), (100, 216, 288), (100, 24, 288), (216, 288, 100), (52, 288, 216)];

fn rate(m: usize, n: usize, k: usize, mut product: impl FnMut()) -> f64 {
    let reps = (2e9 / (2.0 * (m * n * k) as f64)).ceil() as usize;
    let t = Instant::now();
    for _ in 0..reps {
        product();
    }
    2.0 * (m * n * k * reps) as f64 / t.elapsed().as_secs_f64() / 1e9
}

fn main() {
    let name = fpa_core::simd::kernel().name();
    for (m, n, k) in SHAPES {
        let a: Vec<f64> = (0..m * k).map(|i| ((i * 7) % 13) as f64 * 0.1).collect();
        let b: Vec<f64> = (0..k * n).map(|i| ((i * 5) % 11) as f64 * 0.1).collect();
        let mut c = vec![0.0; m * n];
        let g = rate(m, n, k, || fpa_core::simd::gemm_f64(m, n, k, &a, k, &b, &mut c));
        let (a32, b32): (Vec<f32>, Vec<f32>) =
            (a.iter().map(|&x| x as f32).collect(), b.iter().map(|&x| x as f32).collect());
        let mut c32 = vec![0.0f32; m * n];
        let g32 = rate(m, n, k, || fpa_core::simd::gemm_f32(m, n, k, &a32, &b32, &mut c32));
        println!(
            "{name:>8} m {m:4} n {n:5} k {k:4}: f64 {g:5.1} GFLOP/s, f32 {g32:5.1} GFLOP/s ({}, {})",
            c[0], c32[0]
        );
    }
}
