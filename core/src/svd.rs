//! Singular value decomposition of a small dense real matrix by one-sided
//! Jacobi rotations (Hestenes): plane rotations of pairs of columns of `A`
//! until all columns are mutually orthogonal; then `A V = U Σ` with `V` the
//! accumulated rotations, the singular values the column norms. Accurate to a
//! few ulps relative to the largest singular value, no squaring of `A` (small
//! singular values keep their digits, unlike eigenvalues of `AᵀA`).

use alloc::vec::Vec;

/// `A = U diag(s) Vᵀ` of an `m × n` matrix: singular values `s` (length
/// `n`, descending) and the right singular vectors, `v[j]` the one of `s[j]`
/// (length `n` each).
#[derive(Clone, Debug)]
pub struct Svd {
    pub s: Vec<f64>,
    pub v: Vec<Vec<f64>>,
}

/// The SVD of the row-major `m × n` matrix `a` (`a[i * n + j]`).
pub fn svd(a: &[f64], m: usize, n: usize) -> Svd {
    assert_eq!(a.len(), m * n, "svd: {} entries for {m} x {n}", a.len());
    // Columns of A and of V, each contiguous.
    let mut col: Vec<Vec<f64>> = (0..n).map(|j| (0..m).map(|i| a[i * n + j]).collect()).collect();
    let mut v: Vec<Vec<f64>> = (0..n).map(|j| (0..n).map(|i| f64::from(u8::from(i == j))).collect()).collect();
    let dot = |x: &[f64], y: &[f64]| x.iter().zip(y).map(|(a, b)| a * b).sum::<f64>();
    let rotate = |x: &mut Vec<f64>, y: &mut Vec<f64>, c: f64, s: f64| {
        for (a, b) in x.iter_mut().zip(y.iter_mut()) {
            let (p, q) = (*a, *b);
            *a = c * p - s * q;
            *b = s * p + c * q;
        }
    };
    let eps = f64::EPSILON;
    for _sweep in 0..60 {
        let mut rotated = false;
        for p in 0..n {
            for q in p + 1..n {
                let (alpha, beta, gamma) = (dot(&col[p], &col[p]), dot(&col[q], &col[q]), dot(&col[p], &col[q]));
                if gamma == 0.0 || gamma.abs() <= eps * crate::real::sqrt_f64(alpha * beta) {
                    continue;
                }
                rotated = true;
                // Zero the (p, q) entry of AᵀA: t = tan θ, the smaller root of t² + 2ζt − 1 = 0.
                let zeta = (beta - alpha) / (2.0 * gamma);
                let t = zeta.signum() / (zeta.abs() + crate::real::sqrt_f64(1.0 + zeta * zeta));
                let c = 1.0 / crate::real::sqrt_f64(1.0 + t * t);
                let s = c * t;
                let (lo, hi) = col.split_at_mut(q);
                rotate(&mut lo[p], &mut hi[0], c, s);
                let (lo, hi) = v.split_at_mut(q);
                rotate(&mut lo[p], &mut hi[0], c, s);
            }
        }
        if !rotated {
            break;
        }
    }
    // `v[j]` is column j of V: the columns of V turn with those of A.
    let mut order: Vec<(f64, usize)> =
        col.iter().enumerate().map(|(j, c)| (crate::real::sqrt_f64(dot(c, c)), j)).collect();
    order.sort_by(|a, b| b.0.total_cmp(&a.0));
    Svd { s: order.iter().map(|o| o.0).collect(), v: order.iter().map(|o| v[o.1].clone()).collect() }
}

/// The singular values of `a` (`m × n`, row-major), descending.
pub fn singular_values(a: &[f64], m: usize, n: usize) -> Vec<f64> {
    svd(a, m, n).s
}
