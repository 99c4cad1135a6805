//! Dense matrix products with register tiling, generic over the scalar.
//!
//! The [`Real`] trait dispatches to these kernels through
//! [`Real::gemm`] and [`Real::gemm_weights`]; dual numbers override them to
//! split their value and tangent planes into separate `f64` products, which
//! vectorise far better than interleaved dual arithmetic.
//!
//! The L-CB layer is dominated by linear combinations of many 3x3 matrices
//! with the same weights at every site; packing the matrices of a block of
//! sites as the columns of one operand turns them into matrix products that
//! the compiler vectorises (contiguous tiles of `NR` columns, `MR` rows of
//! accumulators kept in registers). Results do not depend on the thread
//! count: every entry is summed over `k` in order.
//!
//! The kernels are `#[inline(never)]`: inlined into their callers, LLVM's
//! code for them changed from build to build (an unrelated edit moved the 8⁴
//! L-CNN forward from 190 to 260 ms). Known issue: with `codegen-units` 1 or 2
//! LLVM vectorises the tile across its rows, keeps it in memory behind
//! gather/scatter instructions and runs ~15x slower; the workspace builds
//! with 4 (16, Cargo's default, is as fast).

use crate::real::Real;

const MR: usize = 4;
/// Columns per tile: 4x16 accumulators fill 8 AVX-512 registers natively;
/// wasm's 128-bit vectors need a narrower tile to stay in the engine's 16
/// registers (NR = 4: 8 vectors. 4⁴ L-CNN forward in Chromium: 62 ms on one
/// thread and 39 ms on two, against 67 and 52 with NR = 16; NR = 8 was no
/// better). The tile shape never changes the order of the sums.
#[cfg(not(target_arch = "wasm32"))]
const NR: usize = 16;
#[cfg(target_arch = "wasm32")]
const NR: usize = 4;

/// `c[i][j] += Σ_k a[i][k] · b[k][j]` with `f64` weights `a` (`m × k`,
/// row-major with row stride `lda`), `b` (`k × n`) and `c` (`m × n`).
#[inline(never)]
pub fn gemm_weights_tiled<T: Real>(m: usize, n: usize, k: usize, a: &[f64], lda: usize, b: &[T], c: &mut [T]) {
    debug_assert!(lda >= k && b.len() >= k * n && c.len() >= m * n);
    let mut j0 = 0;
    while j0 < n {
        let nr = NR.min(n - j0);
        let mut i0 = 0;
        while i0 < m {
            let mr = MR.min(m - i0);
            let mut acc = [[T::zero(); NR]; MR];
            if nr == NR {
                if mr == MR {
                    for kk in 0..k {
                        let bk: &[T; NR] = b[kk * n + j0..kk * n + j0 + NR].try_into().unwrap();
                        let w: [f64; MR] = core::array::from_fn(|ii| a[(i0 + ii) * lda + kk]);
                        for ii in 0..MR {
                            for jj in 0..NR {
                                acc[ii][jj] += bk[jj].mul_f64(w[ii]);
                            }
                        }
                    }
                } else {
                    for kk in 0..k {
                        let bk: &[T; NR] = b[kk * n + j0..kk * n + j0 + NR].try_into().unwrap();
                        for ii in 0..mr {
                            let w = a[(i0 + ii) * lda + kk];
                            for jj in 0..NR {
                                acc[ii][jj] += bk[jj].mul_f64(w);
                            }
                        }
                    }
                }
            } else {
                for kk in 0..k {
                    for ii in 0..mr {
                        let w = a[(i0 + ii) * lda + kk];
                        if w != 0.0 {
                            for jj in 0..nr {
                                acc[ii][jj] += b[kk * n + j0 + jj].mul_f64(w);
                            }
                        }
                    }
                }
            }
            for ii in 0..mr {
                for jj in 0..nr {
                    c[(i0 + ii) * n + j0 + jj] += acc[ii][jj];
                }
            }
            i0 += MR;
        }
        j0 += NR;
    }
}

/// `c[i][j] += Σ_l a[i][l] · b[l][j]` for scalar matrices `a` (`m × k`),
/// `b` (`k × n`), `c` (`m × n`), all row-major.
///
/// The same tiling as [`gemm_weights_tiled`], written out again on purpose:
/// one generic kernel with the multiplication passed as a closure measured
/// 9–24 % slower (`cargo bench --bench su3 gemm`).
#[inline(never)]
pub fn gemm_tiled<T: Real>(m: usize, n: usize, k: usize, a: &[T], b: &[T], c: &mut [T]) {
    let mut j0 = 0;
    while j0 < n {
        let nr = NR.min(n - j0);
        let mut i0 = 0;
        while i0 < m {
            let mr = MR.min(m - i0);
            let mut acc = [[T::zero(); NR]; MR];
            if nr == NR && mr == MR {
                for kk in 0..k {
                    let bk: &[T; NR] = b[kk * n + j0..kk * n + j0 + NR].try_into().unwrap();
                    let w: [T; MR] = core::array::from_fn(|ii| a[(i0 + ii) * k + kk]);
                    for ii in 0..MR {
                        for jj in 0..NR {
                            acc[ii][jj] += bk[jj] * w[ii];
                        }
                    }
                }
            } else {
                for kk in 0..k {
                    for ii in 0..mr {
                        let w = a[(i0 + ii) * k + kk];
                        for jj in 0..nr {
                            acc[ii][jj] += b[kk * n + j0 + jj] * w;
                        }
                    }
                }
            }
            for ii in 0..mr {
                for jj in 0..nr {
                    c[(i0 + ii) * n + j0 + jj] += acc[ii][jj];
                }
            }
            i0 += MR;
        }
        j0 += NR;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::real::Real;

    #[test]
    fn products_match_naive() {
        let (m, n, k) = (7, 21, 11);
        let a: alloc::vec::Vec<f64> = (0..m * k).map(|i| ((i * 37 % 17) as f64 - 8.0) / 5.0).collect();
        let b: alloc::vec::Vec<f64> = (0..k * n).map(|i| ((i * 53 % 23) as f64 - 11.0) / 7.0).collect();
        let mut c = alloc::vec![1.0; m * n];
        gemm_weights_tiled(m, n, k, &a, k, &b, &mut c);
        for i in 0..m {
            for j in 0..n {
                let want = 1.0 + (0..k).map(|l| a[i * k + l] * b[l * n + j]).sum::<f64>();
                assert!((c[i * n + j] - want).abs() < 1e-12);
            }
        }
        let bt: alloc::vec::Vec<f64> = (0..k * n).map(|i| ((i * 29 % 13) as f64 - 6.0) / 3.0).collect();
        let a2: alloc::vec::Vec<f64> = (0..m * n).map(|i| ((i * 31 % 19) as f64 - 9.0) / 4.0).collect();
        // c2 = a2 · btᵀ (inner products of rows), through the transpose.
        let transpose = |x: &[f64]| -> alloc::vec::Vec<f64> { (0..n * k).map(|i| x[(i % k) * n + i / k]).collect() };
        let btt = transpose(&bt);
        let mut c2 = alloc::vec![0.0; m * k];
        f64::gemm(m, k, n, &a2, &btt, &mut c2);
        // Dual numbers: the plane-split products equal the dual arithmetic.
        use crate::dual::Dual;
        let ad: alloc::vec::Vec<Dual<f64>> = a2.iter().map(|&x| Dual::new(x, 0.5 * x - 1.0)).collect();
        let bd: alloc::vec::Vec<Dual<f64>> = bt.iter().map(|&x| Dual::new(x, x * x)).collect();
        let bdt: alloc::vec::Vec<Dual<f64>> = btt.iter().map(|&x| Dual::new(x, x * x)).collect();
        let mut cd = alloc::vec![Dual::new(0.0, 0.0); m * k];
        Dual::gemm(m, k, n, &ad, &bdt, &mut cd);
        for i in 0..m {
            for j in 0..k {
                let want: Dual<f64> = (0..n).map(|l| ad[i * n + l] * bd[j * n + l]).sum();
                assert!((cd[i * k + j].v - want.v).abs() < 1e-10 && (cd[i * k + j].d - want.d).abs() < 1e-9);
            }
        }
        let mut cw = alloc::vec![Dual::new(0.0, 0.0); m * n];
        let bw: alloc::vec::Vec<Dual<f64>> = b.iter().map(|&x| Dual::new(x, -x)).collect();
        Dual::gemm_weights(m, n, k, &a, k, &bw, &mut cw);
        for i in 0..m {
            for j in 0..n {
                let want = (0..k).map(|l| a[i * k + l] * b[l * n + j]).sum::<f64>();
                assert!((cw[i * n + j].v - want).abs() < 1e-12 && (cw[i * n + j].d + want).abs() < 1e-12);
            }
        }
        // On interleaved planes: the same bits as one product per plane
        // (a start in c, tangents unrelated to the values).
        let c0: alloc::vec::Vec<Dual<f64>> = (0..m * n).map(|i| Dual::new(i as f64 / 3.0, 1.0 - i as f64)).collect();
        let bw: alloc::vec::Vec<Dual<f64>> =
            b.iter().enumerate().map(|(i, &x)| Dual::new(x, x * x - i as f64)).collect();
        let mut cw = c0.clone();
        Dual::gemm_weights(m, n, k, &a, k, &bw, &mut cw);
        let plane = |f: fn(&Dual<f64>) -> f64| {
            let mut c: alloc::vec::Vec<f64> = c0.iter().map(f).collect();
            f64::gemm_weights(m, n, k, &a, k, &bw.iter().map(f).collect::<alloc::vec::Vec<_>>(), &mut c);
            c
        };
        let (cv, cdd) = (plane(|x| x.v), plane(|x| x.d));
        assert!(cw.iter().zip(cv.iter().zip(&cdd)).all(|(x, (v, d))| x.v == *v && x.d == *d));
        for i in 0..m {
            for j in 0..k {
                let want = (0..n).map(|l| a2[i * n + l] * bt[j * n + l]).sum::<f64>();
                assert!((c2[i * k + j] - want).abs() < 1e-10);
            }
        }
    }
}
