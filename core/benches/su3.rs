//! SU(3) kernels: matrix products, exponential, projection.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use fpa_core::rng::{domain, Rng};
use fpa_core::su3::random::haar_su3;
use fpa_core::su3::{exp_components, project_su3, Mat3};

fn bench(c: &mut Criterion) {
    let mut rng = Rng::stream(1, &[domain::TEST]);
    let a: Vec<Mat3<f64>> = (0..1024).map(|_| haar_su3(&mut rng)).collect();
    let b: Vec<Mat3<f64>> = (0..1024).map(|_| haar_su3(&mut rng)).collect();
    let mut out = vec![Mat3::<f64>::zero(); 1024];
    c.bench_function("su3 multiply A*B (1024 pairs, f64)", |bn| {
        bn.iter(|| {
            for i in 0..1024 {
                out[i] = a[i] * b[i];
            }
            black_box(&out);
        })
    });
    c.bench_function("su3 multiply A*B^dag (1024 pairs, f64)", |bn| {
        bn.iter(|| {
            for i in 0..1024 {
                out[i] = a[i].mul_adj(&b[i]);
            }
            black_box(&out);
        })
    });
    let af: Vec<Mat3<f32>> = a.iter().map(|m| m.cast()).collect();
    let bf: Vec<Mat3<f32>> = b.iter().map(|m| m.cast()).collect();
    let mut outf = vec![Mat3::<f32>::zero(); 1024];
    c.bench_function("su3 multiply A*B (1024 pairs, f32)", |bn| {
        bn.iter(|| {
            for i in 0..1024 {
                outf[i] = af[i] * bf[i];
            }
            black_box(&outf);
        })
    });
    let x = [0.3, -0.2, 0.5, 0.1, 0.7, -0.4, 0.2, 0.6];
    c.bench_function("su3 exp (Cayley-Hamilton)", |bn| bn.iter(|| exp_components(black_box(&x))));
    let q = a[0].scale(0.6) + b[0].scale(0.3);
    c.bench_function("su3 projection max Re Tr(W Q^dag)", |bn| {
        bn.iter(|| project_su3(black_box(&q), None, 1e-14, 500))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches, gemm_benches);

fn gemm(c: &mut Criterion) {
    use fpa_core::gemm::gemm_weights_tiled as gemm_weights;
    let (m, n, k) = (300usize, 288usize, 217usize);
    let a: Vec<f64> = (0..m * k).map(|i| (i % 7) as f64 * 0.1).collect();
    let b: Vec<f64> = (0..k * n).map(|i| (i % 5) as f64 * 0.2).collect();
    let mut out = vec![0.0; m * n];
    c.bench_function("gemm 300x217x288 f64 (37.5 MFLOP)", |bn| {
        bn.iter(|| gemm_weights(m, n, k, black_box(&a), k, black_box(&b), &mut out))
    });
}

criterion_group!(gemm_benches, gemm);
