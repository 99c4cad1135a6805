//! GFLOP/s of the run-time-selected f64 GEMM kernel (`FPA_SIMD` chooses
//! another) at the shapes of the 12-12-12 L-CB layers on blocks of 16 sites:
//! forward `tmp = ω·R` (m = 4 output channels × 25 left factors, n = 16 × 18
//! reals, k = right factors), the weight gradient `H·R'ᵀ` and `ωᵀ·H`.
//! `cargo run --release -p fpa-core --example gemm_rate`
use std::time::Instant;
fn main() {
    for (m, n, k) in [(100usize, 288usize, 216usize), (100, 288, 24), (100, 216, 288), (216, 288, 100), (52, 288, 216)]
    {
        let a: Vec<f64> = (0..m * k).map(|i| ((i * 7) % 13) as f64 * 0.1).collect();
        let b: Vec<f64> = (0..k * n).map(|i| ((i * 5) % 11) as f64 * 0.1).collect();
        let mut c = vec![0.0; m * n];
        let reps = (2e9 / (2.0 * (m * n * k) as f64)).ceil() as usize;
        let t = Instant::now();
        for _ in 0..reps {
            fpa_core::simd::gemm_f64(m, n, k, &a, k, &b, &mut c);
        }
        let s = t.elapsed().as_secs_f64();
        println!(
            "{:>8} m {m:4} n {n:5} k {k:4}: {:.1} GFLOP/s ({})",
            fpa_core::simd::kernel().name(),
            2.0 * (m * n * k * reps) as f64 / s / 1e9,
            c[0]
        );
    }
}
