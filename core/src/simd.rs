//! Explicit SIMD kernels, chosen at run time for the CPU at hand.
//!
//! One operation carries the L-CNN: `c += a·b` for a weight matrix `a`
//! (`m × k`, row stride `lda`) and a matrix `b` (`k × n`), `c` being
//! `m × n` (all row-major). Every L-CB forward and backward product, on `f64`
//! and on both planes of dual numbers, goes through [`gemm_f64`]; in `f32`
//! (training, `fpa train --precision f32`) through [`gemm_f32`], the same
//! tiles with twice the lanes.
//!
//! Kernels ([`Kernel`]):
//! * `Avx512`: 12 × 16 tiles (f64; 12 × 32 in f32) in 24 512-bit accumulators, FMA;
//! * `Avx2Fma`: 6 × 8 tiles (f64; 6 × 16 in f32) in 12 256-bit accumulators, FMA;
//! * `Neon` (aarch64): 12 × 4 tiles (f64; 12 × 8 in f32) in 24 128-bit accumulators, FMA;
//! * `Portable`: [`crate::gemm::gemm_weights_tiled`], plain Rust that the
//!   compiler vectorises for the build target (wasm32 builds use it with
//!   simd128), with separate multiply and add.
//!
//! Every kernel sums each entry over `k` in order into an accumulator that
//! starts at zero and is added to `c` at the end, so results never depend on
//! tiling or thread count. The three FMA kernels round identically (one
//! rounding per multiply-add, edges included), so they agree bit for bit,
//! x86-64 and aarch64 alike; the portable kernel rounds the product and the
//! sum separately and differs from them in the last bits (relative ~1e-16 per
//! term).
//!
//! The x86 kernels are built for `x86_64` targets with SSE2 (every hosted one),
//! the NEON kernel for `aarch64` targets with NEON (every hosted one: Linux,
//! macOS); soft-float targets such as `x86_64-unknown-none` get the portable
//! kernel.
//!
//! The choice: the best kernel the CPU supports, detected once (with the
//! `std` feature; without it, the best one the build's target features
//! enable). `FPA_SIMD=portable` (or `neon`, `avx2`) in the environment caps
//! it, e.g. to get the same bits as a wasm32 or non-FMA machine.

/// A GEMM kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernel {
    Portable,
    Neon,
    Avx2Fma,
    Avx512,
}

impl Kernel {
    pub fn name(self) -> &'static str {
        match self {
            Kernel::Portable => "portable",
            Kernel::Neon => "neon",
            Kernel::Avx2Fma => "avx2+fma",
            Kernel::Avx512 => "avx512",
        }
    }

    /// Whether this CPU (or, without `std`, this build) can run it.
    pub fn available(self) -> bool {
        match self {
            Kernel::Portable => true,
            #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
            Kernel::Avx2Fma => x86::has_avx2_fma(),
            #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
            Kernel::Avx512 => x86::has_avx512(),
            // NEON is part of every hosted aarch64 target (the build enables it).
            #[cfg(all(target_arch = "aarch64", target_feature = "neon"))]
            Kernel::Neon => true,
            _ => false,
        }
    }

    /// Whether the kernel has fused multiply–add (which the packed gauge
    /// updates use under [`crate::fused::Arithmetic::Fused`]).
    pub fn has_fma(self) -> bool {
        matches!(self, Kernel::Avx2Fma | Kernel::Avx512)
    }

    /// All kernels this machine can run, best last.
    pub fn all_available() -> alloc::vec::Vec<Kernel> {
        [Kernel::Portable, Kernel::Neon, Kernel::Avx2Fma, Kernel::Avx512]
            .into_iter()
            .filter(|k| k.available())
            .collect()
    }
}

/// The kernel [`gemm_f64`] uses (detected once).
pub fn kernel() -> Kernel {
    use core::sync::atomic::{AtomicU8, Ordering};
    static CHOSEN: AtomicU8 = AtomicU8::new(0);
    let code = |k: Kernel| match k {
        Kernel::Portable => 1,
        Kernel::Avx2Fma => 2,
        Kernel::Avx512 => 3,
        Kernel::Neon => 4,
    };
    match CHOSEN.load(Ordering::Relaxed) {
        1 => Kernel::Portable,
        2 => Kernel::Avx2Fma,
        3 => Kernel::Avx512,
        4 => Kernel::Neon,
        _ => {
            let k = detect();
            CHOSEN.store(code(k), Ordering::Relaxed);
            k
        }
    }
}

/// The best available kernel no better than the cap of `FPA_SIMD` (kernels
/// ranked in the order of [`Kernel`]: a cap of `avx2` leaves NEON on aarch64,
/// a cap of `neon` leaves the portable kernel on x86-64).
fn detect() -> Kernel {
    #[cfg(feature = "std")]
    let cap = match std::env::var("FPA_SIMD").as_deref() {
        Ok("portable") => Kernel::Portable,
        Ok("neon") => Kernel::Neon,
        Ok("avx2") => Kernel::Avx2Fma,
        _ => Kernel::Avx512,
    };
    #[cfg(not(feature = "std"))]
    let cap = Kernel::Avx512;
    let rank = |k: &Kernel| *k as u8;
    Kernel::all_available().into_iter().rfind(|k| rank(k) <= rank(&cap)).unwrap_or(Kernel::Portable)
}

/// `c += a·b` with the kernel of [`kernel`].
#[inline]
pub fn gemm_f64(m: usize, n: usize, k: usize, a: &[f64], lda: usize, b: &[f64], c: &mut [f64]) {
    gemm_with(kernel(), m, n, k, a, lda, b, c)
}

/// `c += a·b` with a given kernel (panics if the CPU lacks it).
pub fn gemm_f64_with(kernel: Kernel, m: usize, n: usize, k: usize, a: &[f64], lda: usize, b: &[f64], c: &mut [f64]) {
    gemm_with(kernel, m, n, k, a, lda, b, c)
}

/// `c += a·b` in `f32` (`a` contiguous, `m × k`) with the kernel of [`kernel`]:
/// the same tiles as [`gemm_f64`] with twice the lanes per vector.
#[inline]
pub fn gemm_f32(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    gemm_with(kernel(), m, n, k, a, k, b, c)
}

/// [`gemm_f32`] with a given kernel (panics if the CPU lacks it).
pub fn gemm_f32_with(kernel: Kernel, m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    gemm_with(kernel, m, n, k, a, k, b, c)
}

/// An element type with GEMM kernels: `f64` and `f32`.
trait Element: Copy {
    /// The portable kernel (`a` with row stride `lda`).
    fn portable(m: usize, n: usize, k: usize, a: &[Self], lda: usize, b: &[Self], c: &mut [Self]);
    /// # Safety
    /// The CPU has AVX2 and FMA; the operands hold the entries the shapes name.
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    unsafe fn avx2(m: usize, n: usize, k: usize, a: *const Self, lda: usize, b: *const Self, c: *mut Self);
    /// # Safety
    /// The CPU has AVX-512F; the operands hold the entries the shapes name.
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    unsafe fn avx512(m: usize, n: usize, k: usize, a: *const Self, lda: usize, b: *const Self, c: *mut Self);
    /// # Safety
    /// The operands hold the entries the shapes name (NEON is in every build of the kernel).
    #[cfg(all(target_arch = "aarch64", target_feature = "neon"))]
    unsafe fn neon(m: usize, n: usize, k: usize, a: *const Self, lda: usize, b: *const Self, c: *mut Self);
}

impl Element for f64 {
    fn portable(m: usize, n: usize, k: usize, a: &[f64], lda: usize, b: &[f64], c: &mut [f64]) {
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        wasm::gemm_f64_simd128(m, n, k, a, lda, b, c);
        #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
        crate::gemm::gemm_weights_tiled(m, n, k, a, lda, b, c)
    }
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    unsafe fn avx2(m: usize, n: usize, k: usize, a: *const f64, lda: usize, b: *const f64, c: *mut f64) {
        x86::gemm_avx2(m, n, k, a, lda, b, c)
    }
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    unsafe fn avx512(m: usize, n: usize, k: usize, a: *const f64, lda: usize, b: *const f64, c: *mut f64) {
        x86::gemm_avx512(m, n, k, a, lda, b, c)
    }
    #[cfg(all(target_arch = "aarch64", target_feature = "neon"))]
    unsafe fn neon(m: usize, n: usize, k: usize, a: *const f64, lda: usize, b: *const f64, c: *mut f64) {
        neon::gemm_neon(m, n, k, a, lda, b, c)
    }
}

impl Element for f32 {
    fn portable(m: usize, n: usize, k: usize, a: &[f32], lda: usize, b: &[f32], c: &mut [f32]) {
        assert_eq!(lda, k, "the portable f32 product takes a contiguous a");
        crate::gemm::gemm_tiled(m, n, k, a, b, c)
    }
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    unsafe fn avx2(m: usize, n: usize, k: usize, a: *const f32, lda: usize, b: *const f32, c: *mut f32) {
        x86::gemm_avx2_f32(m, n, k, a, lda, b, c)
    }
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    unsafe fn avx512(m: usize, n: usize, k: usize, a: *const f32, lda: usize, b: *const f32, c: *mut f32) {
        x86::gemm_avx512_f32(m, n, k, a, lda, b, c)
    }
    #[cfg(all(target_arch = "aarch64", target_feature = "neon"))]
    unsafe fn neon(m: usize, n: usize, k: usize, a: *const f32, lda: usize, b: *const f32, c: *mut f32) {
        neon::gemm_neon_f32(m, n, k, a, lda, b, c)
    }
}

/// The bounds checks and the kernel dispatch, for both precisions.
#[allow(clippy::too_many_arguments)]
fn gemm_with<E: Element>(kernel: Kernel, m: usize, n: usize, k: usize, a: &[E], lda: usize, b: &[E], c: &mut [E]) {
    if m == 0 || n == 0 {
        return;
    }
    assert!(k == 0 || (lda >= k && a.len() >= (m - 1) * lda + k), "gemm: a is too short");
    assert!(b.len() >= k * n && c.len() >= m * n, "gemm: b or c is too short");
    match kernel {
        Kernel::Portable => E::portable(m, n, k, a, lda, b, c),
        #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
        Kernel::Avx2Fma => {
            assert!(x86::has_avx2_fma(), "this CPU has no AVX2+FMA");
            // SAFETY: the CPU supports the kernel's features; the bounds were checked above.
            unsafe { E::avx2(m, n, k, a.as_ptr(), lda, b.as_ptr(), c.as_mut_ptr()) }
        }
        #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
        Kernel::Avx512 => {
            assert!(x86::has_avx512(), "this CPU has no AVX-512");
            // SAFETY: as above.
            unsafe { E::avx512(m, n, k, a.as_ptr(), lda, b.as_ptr(), c.as_mut_ptr()) }
        }
        #[cfg(all(target_arch = "aarch64", target_feature = "neon"))]
        // SAFETY: as above (NEON is enabled for the whole build).
        Kernel::Neon => unsafe { E::neon(m, n, k, a.as_ptr(), lda, b.as_ptr(), c.as_mut_ptr()) },
        other => panic!("kernel {} is not built for this architecture", other.name()),
    }
}

/// The wasm32 `f64` product on simd128 registers: tiles of 4 rows × 4 columns
/// (8 `v128` accumulators, 2 for the row of `b`, 1 for the weight) with the
/// entries summed over `k` in order by separate multiply and add, exactly as
/// [`crate::gemm::gemm_weights_tiled`] does (which the edges use): the same
/// bits. Written with `core::arch::wasm32` because LLVM kept the generic
/// tile's `[f64; 4]` rows in memory.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod wasm {
    use core::arch::wasm32::*;

    const MR: usize = 4;
    const NR: usize = 4;

    pub fn gemm_f64_simd128(m: usize, n: usize, k: usize, a: &[f64], lda: usize, b: &[f64], c: &mut [f64]) {
        let (mt, nt) = (m / MR * MR, n / NR * NR);
        for i0 in (0..mt).step_by(MR) {
            for j0 in (0..nt).step_by(NR) {
                tile(k, &a[i0 * lda..], lda, &b[j0..], n, &mut c[i0 * n + j0..], n);
            }
        }
        // The edges, as the generic kernel (same tiles) sums them: the last
        // columns skip zero weights, the last rows of full column tiles do not.
        if nt < n {
            edge(m, n - nt, k, a, lda, &b[nt..], n, &mut c[nt..], n, true);
        }
        if mt < m {
            edge(m - mt, nt, k, &a[mt * lda..], lda, b, n, &mut c[mt * n..], n, false);
        }
    }

    /// `c[i][j] += Σ_k a[i][k] b[k][j]` for `i < m`, `j < nc`, with row
    /// strides, the terms with a zero weight left out if `skip_zero`.
    #[allow(clippy::too_many_arguments)]
    fn edge(
        m: usize,
        nc: usize,
        k: usize,
        a: &[f64],
        lda: usize,
        b: &[f64],
        ldb: usize,
        c: &mut [f64],
        ldc: usize,
        skip_zero: bool,
    ) {
        for i in 0..m {
            for j in 0..nc {
                let mut acc = 0.0;
                for kk in 0..k {
                    let w = a[i * lda + kk];
                    if !(skip_zero && w == 0.0) {
                        acc += b[kk * ldb + j] * w;
                    }
                }
                c[i * ldc + j] += acc;
            }
        }
    }

    #[inline(always)]
    fn tile(k: usize, a: &[f64], lda: usize, b: &[f64], ldb: usize, c: &mut [f64], ldc: usize) {
        assert!(a.len() >= (MR - 1) * lda + k && b.len() >= (k.max(1) - 1) * ldb + NR);
        assert!(c.len() >= (MR - 1) * ldc + NR);
        let mut acc = [[f64x2_splat(0.0); 2]; MR];
        let (ap, bp) = (a.as_ptr(), b.as_ptr());
        for kk in 0..k {
            // SAFETY: b[kk·ldb .. kk·ldb + 4] and a[ii·lda + kk] are in bounds
            // (asserted above); v128 loads need no alignment.
            unsafe {
                let p = bp.add(kk * ldb);
                let (b0, b1) = (v128_load(p as *const v128), v128_load(p.add(2) as *const v128));
                for (ii, row) in acc.iter_mut().enumerate() {
                    let w = f64x2_splat(*ap.add(ii * lda + kk));
                    row[0] = f64x2_add(row[0], f64x2_mul(b0, w));
                    row[1] = f64x2_add(row[1], f64x2_mul(b1, w));
                }
            }
        }
        for (ii, row) in acc.iter().enumerate() {
            let out = &mut c[ii * ldc..ii * ldc + NR];
            // SAFETY: out has 4 entries; v128 loads and stores need no alignment.
            unsafe {
                let p = out.as_mut_ptr();
                v128_store(p as *mut v128, f64x2_add(v128_load(p as *const v128), row[0]));
                v128_store(p.add(2) as *mut v128, f64x2_add(v128_load(p.add(2) as *const v128), row[1]));
            }
        }
    }
}

/// What the x86 and the NEON kernels share: the tile, masked tile, row
/// blocking and driver macros, and the guard against unrolling.
#[cfg(any(
    all(target_arch = "x86_64", target_feature = "sse2"),
    all(target_arch = "aarch64", target_feature = "neon")
))]
#[macro_use]
mod tiles {
    pub const MR: usize = 4;

    /// An empty `asm!` block: it emits nothing, but LLVM does not unroll a
    /// loop that holds inline assembly (it counts as a call). Under Zen 4's
    /// tuning (`target-cpu=native` on a Zen 4) LLVM unrolled the `k` loop of
    /// the tiles twice, which needs more than the 32 vector registers: half
    /// of the accumulators lived on the stack and the `f64` AVX-512 kernel
    /// ran at 37 GFLOP/s per core instead of 56 (`gemm_rate`, 100 × 288 × 216).
    #[inline(always)]
    pub fn no_unroll() {
        // SAFETY: an empty block that reads and writes nothing.
        unsafe { core::arch::asm!("", options(nomem, nostack, preserves_flags)) }
    }

    /// One `R × 2W` tile of `c += a·b` (rows `i0..i0+R`, columns `j0..j0+2W`
    /// for vectors of `W` elements; `b` and `c` with row stride `ld`): per `k`,
    /// two loads of `b`, `R` broadcasts of `a` and `2R` FMAs into `2R`
    /// accumulator registers. Every entry is one FMA chain over `k` in order,
    /// whatever `R` is. One definition for every instruction set, vector width
    /// and precision: `$fma(w, b, acc) = w·b + acc` rounded once; the caller has
    /// `no_unroll` in scope.
    macro_rules! tile {
        ($name:ident, $t:ty, $features:literal, $w:literal, $zero:ident, $load:ident, $set1:ident, $fma:ident, $add:ident, $store:ident) => {
            #[target_feature(enable = $features)]
            #[inline]
            unsafe fn $name<const R: usize>(
                (i0, j0): (usize, usize),
                ld: usize,
                k: usize,
                a: *const $t,
                lda: usize,
                b: *const $t,
                c: *mut $t,
            ) {
                let mut acc = [[$zero(); 2]; R];
                for kk in 0..k {
                    no_unroll();
                    let bk = b.add(kk * ld + j0);
                    let (b0, b1) = ($load(bk), $load(bk.add($w)));
                    for (ii, row) in acc.iter_mut().enumerate() {
                        let w = $set1(*a.add((i0 + ii) * lda + kk));
                        row[0] = $fma(w, b0, row[0]);
                        row[1] = $fma(w, b1, row[1]);
                    }
                }
                for (ii, row) in acc.iter().enumerate() {
                    let ci = c.add((i0 + ii) * ld + j0);
                    $store(ci, $add($load(ci), row[0]));
                    $store(ci.add($w), $add($load(ci.add($w)), row[1]));
                }
            }
        };
    }

    /// A `R × 2W` tile over the last `cols < 2W` columns, with masked loads
    /// and stores (masked-off lanes are neither read nor written): the same
    /// FMA chains as [`tile!`], so the same bits. `$mask(cols)` gives the masks
    /// of the two vectors; `$load(mask, p)` and `$store(p, mask, v)` wrap the
    /// instructions. The second vector's address may lie past the end of the
    /// row (`cols ≤ W`: nothing is read there), hence `wrapping_add`.
    macro_rules! tile_masked {
        ($name:ident, $t:ty, $features:literal, $w:literal, $mask:ident, $zero:ident, $load:ident, $set1:ident, $fma:ident, $add:ident, $store:ident) => {
            #[target_feature(enable = $features)]
            #[inline]
            unsafe fn $name<const R: usize>(
                (i0, j0, cols): (usize, usize, usize),
                ld: usize,
                k: usize,
                a: *const $t,
                lda: usize,
                b: *const $t,
                c: *mut $t,
            ) {
                let (m0, m1) = ($mask(cols.min($w)), $mask(cols.saturating_sub($w)));
                let mut acc = [[$zero(); 2]; R];
                for kk in 0..k {
                    no_unroll();
                    let bk = b.add(kk * ld + j0);
                    let (b0, b1) = ($load(m0, bk), $load(m1, bk.wrapping_add($w)));
                    for (ii, row) in acc.iter_mut().enumerate() {
                        let w = $set1(*a.add((i0 + ii) * lda + kk));
                        row[0] = $fma(w, b0, row[0]);
                        row[1] = $fma(w, b1, row[1]);
                    }
                }
                for (ii, row) in acc.iter().enumerate() {
                    let ci = c.add((i0 + ii) * ld + j0);
                    $store(ci, m0, $add($load(m0, ci), row[0]));
                    $store(ci.wrapping_add($w), m1, $add($load(m1, ci.wrapping_add($w)), row[1]));
                }
            }
        };
    }

    /// The tiles of one column block: `tall`-row tiles over rows `0..m_tall`,
    /// then `MR`-row tiles while `MR` rows are left, then one tile of the last
    /// `m mod MR` rows (`i0` names the first row in `args`; `MR` is the
    /// caller's, [`tiles::MR`]).
    macro_rules! row_tiles {
        ($tile:ident::<$tall:literal>, $m_tall:expr, $m:expr, |$i0:ident| ($($arg:expr),*)) => {
            let m_full = $m_tall + ($m - $m_tall) / MR * MR;
            for $i0 in (0..$m_tall).step_by($tall) {
                $tile::<$tall>($($arg),*);
            }
            for $i0 in ($m_tall..m_full).step_by(MR) {
                $tile::<MR>($($arg),*);
            }
            let $i0 = m_full;
            match $m - m_full {
                1 => $tile::<1>($($arg),*),
                2 => $tile::<2>($($arg),*),
                3 => $tile::<3>($($arg),*),
                _ => {}
            }
        };
    }

    /// A driver `$gemm(m, n, k, a, lda, b, c)`: `c += a·b` with `b` and `c` of
    /// `n` columns, `$tall × 2W` tiles `$tile` over the whole column blocks (then
    /// 4-row tiles and one tile of the last `m mod 4` rows) and the masked tiles
    /// `$masked` over the last `n mod 2W` columns, so no entry is left to scalar code.
    macro_rules! driver {
        ($gemm:ident, $t:ty, $features:literal, $w:literal, $tall:literal, $tile:ident, $masked:ident) => {
            #[target_feature(enable = $features)]
            pub unsafe fn $gemm(m: usize, n: usize, k: usize, a: *const $t, lda: usize, b: *const $t, c: *mut $t) {
                const NR: usize = 2 * $w;
                let (m_tall, n_full) = (m / $tall * $tall, n / NR * NR);
                for j0 in (0..n_full).step_by(NR) {
                    row_tiles!($tile::<$tall>, m_tall, m, |i0| ((i0, j0), n, k, a, lda, b, c));
                }
                if n > n_full {
                    row_tiles!($masked::<$tall>, m_tall, m, |i0| ((i0, n_full, n - n_full), n, k, a, lda, b, c));
                }
            }
        };
    }
}

#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
mod x86 {
    use super::tiles::{no_unroll, MR};
    use core::arch::x86_64::*;

    pub fn has_avx2_fma() -> bool {
        #[cfg(feature = "std")]
        {
            std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
        }
        #[cfg(not(feature = "std"))]
        {
            cfg!(all(target_feature = "avx2", target_feature = "fma"))
        }
    }

    pub fn has_avx512() -> bool {
        #[cfg(feature = "std")]
        {
            std::is_x86_feature_detected!("avx512f") && has_avx2_fma()
        }
        #[cfg(not(feature = "std"))]
        {
            cfg!(target_feature = "avx512f") && has_avx2_fma()
        }
    }

    #[rustfmt::skip]
    tile!(tile_avx2_f64, f64, "avx2,fma", 4, _mm256_setzero_pd, _mm256_loadu_pd, _mm256_set1_pd, _mm256_fmadd_pd, _mm256_add_pd, _mm256_storeu_pd);
    #[rustfmt::skip]
    tile!(tile_avx512_f64, f64, "avx512f,avx2,fma", 8, _mm512_setzero_pd, _mm512_loadu_pd, _mm512_set1_pd, _mm512_fmadd_pd, _mm512_add_pd, _mm512_storeu_pd);
    #[rustfmt::skip]
    tile!(tile_avx2_f32, f32, "avx2,fma", 8, _mm256_setzero_ps, _mm256_loadu_ps, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_add_ps, _mm256_storeu_ps);
    #[rustfmt::skip]
    tile!(tile_avx512_f32, f32, "avx512f,avx2,fma", 16, _mm512_setzero_ps, _mm512_loadu_ps, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_add_ps, _mm512_storeu_ps);

    /// Masks of the first `n` lanes (`n ≤` the lanes of a vector), and the
    /// AVX2 masked moves in the argument order of the AVX-512 ones.
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn mask16(n: usize) -> __mmask16 {
        ((1u32 << n) - 1) as __mmask16
    }
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn mask8(n: usize) -> __mmask8 {
        ((1u32 << n) - 1) as __mmask8
    }
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn mask_ps(n: usize) -> __m256i {
        _mm256_cmpgt_epi32(_mm256_set1_epi32(n as i32), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7))
    }
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn mask_pd(n: usize) -> __m256i {
        _mm256_cmpgt_epi64(_mm256_set1_epi64x(n as i64), _mm256_setr_epi64x(0, 1, 2, 3))
    }
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn maskload_ps(m: __m256i, p: *const f32) -> __m256 {
        _mm256_maskload_ps(p, m)
    }
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn maskload_pd(m: __m256i, p: *const f64) -> __m256d {
        _mm256_maskload_pd(p, m)
    }
    #[rustfmt::skip]
    tile_masked!(tile_masked_f64, f64, "avx512f,avx2,fma", 8, mask8, _mm512_setzero_pd, _mm512_maskz_loadu_pd, _mm512_set1_pd, _mm512_fmadd_pd, _mm512_add_pd, _mm512_mask_storeu_pd);
    #[rustfmt::skip]
    tile_masked!(tile_masked_f32, f32, "avx512f,avx2,fma", 16, mask16, _mm512_setzero_ps, _mm512_maskz_loadu_ps, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_add_ps, _mm512_mask_storeu_ps);
    #[rustfmt::skip]
    tile_masked!(tile_masked_avx2_f64, f64, "avx2,fma", 4, mask_pd, _mm256_setzero_pd, maskload_pd, _mm256_set1_pd, _mm256_fmadd_pd, _mm256_add_pd, _mm256_maskstore_pd);
    #[rustfmt::skip]
    tile_masked!(tile_masked_avx2_f32, f32, "avx2,fma", 8, mask_ps, _mm256_setzero_ps, maskload_ps, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_add_ps, _mm256_maskstore_ps);

    // AVX2 with 6 × 2W tiles (12 of the 16 vector registers hold
    // accumulators), AVX-512 with 12 × 2W tiles (24 of the 32 registers: per
    // `k`, fourteen loads for twenty-four FMAs). At the L-CB shapes (`cargo
    // run --release -p fpa-core --example gemm_rate`) the f64 AVX-512 tiles
    // ran at 49-75 GFLOP/s per core with 4 rows, 63-65 with 8, 74-85 with 12.
    driver!(gemm_avx2, f64, "avx2,fma", 4, 6, tile_avx2_f64, tile_masked_avx2_f64);
    driver!(gemm_avx512, f64, "avx512f,avx2,fma", 8, 12, tile_avx512_f64, tile_masked_f64);
    driver!(gemm_avx2_f32, f32, "avx2,fma", 8, 6, tile_avx2_f32, tile_masked_avx2_f32);
    driver!(gemm_avx512_f32, f32, "avx512f,avx2,fma", 16, 12, tile_avx512_f32, tile_masked_f32);
}

/// The aarch64 kernel: the tiles of the x86 kernels ([`tile!`],
/// [`tile_masked!`]) on NEON's 32 128-bit registers, 12 rows × 2W columns
/// (`W` = 2 in `f64`, 4 in `f32`; 24 accumulators, per `k` two loads of `b`,
/// twelve broadcast loads of `a` and twenty-four FMAs). NEON has no masked
/// loads: the last `n mod 2W` columns go through copies padded with zeros
/// (the padded lanes are computed and dropped). `vfmaq` is a fused
/// multiply-add, so every entry is the FMA chain over `k` in order that the
/// x86 kernels compute: the same bits on aarch64 as with AVX2 or AVX-512.
#[cfg(all(target_arch = "aarch64", target_feature = "neon"))]
mod neon {
    use super::tiles::{no_unroll, MR};
    use core::arch::aarch64::*;
    use core::ptr::copy_nonoverlapping;

    /// The register operations of the tiles in the x86 intrinsics' form, for
    /// one precision: `$zero()`, `$fma(w, b, acc) = w·b + acc` (one rounding),
    /// and the loads and stores of the first `n` lanes through a zero-padded
    /// copy (`$mask(n) = n`).
    macro_rules! neon_ops {
        ($t:ty, $v:ty, $w:literal, $zero:ident, $fma:ident, $mask:ident, $load_n:ident, $store_n:ident, $dupq:ident, $fmaq:ident, $ld:ident, $st:ident) => {
            #[inline(always)]
            unsafe fn $zero() -> $v {
                $dupq(0.0)
            }
            #[inline(always)]
            unsafe fn $fma(w: $v, b: $v, acc: $v) -> $v {
                $fmaq(acc, w, b)
            }
            #[inline(always)]
            fn $mask(n: usize) -> usize {
                n
            }
            #[inline(always)]
            unsafe fn $load_n(n: usize, p: *const $t) -> $v {
                let mut buf = [0.0 as $t; $w];
                copy_nonoverlapping(p, buf.as_mut_ptr(), n);
                $ld(buf.as_ptr())
            }
            #[inline(always)]
            unsafe fn $store_n(p: *mut $t, n: usize, v: $v) {
                let mut buf = [0.0 as $t; $w];
                $st(buf.as_mut_ptr(), v);
                copy_nonoverlapping(buf.as_ptr(), p, n);
            }
        };
    }
    #[rustfmt::skip]
    neon_ops!(f64, float64x2_t, 2, zero_f64, fma_f64, mask_f64, load_n_f64, store_n_f64, vdupq_n_f64, vfmaq_f64, vld1q_f64, vst1q_f64);
    #[rustfmt::skip]
    neon_ops!(f32, float32x4_t, 4, zero_f32, fma_f32, mask_f32, load_n_f32, store_n_f32, vdupq_n_f32, vfmaq_f32, vld1q_f32, vst1q_f32);

    #[rustfmt::skip]
    tile!(tile_f64, f64, "neon", 2, zero_f64, vld1q_f64, vdupq_n_f64, fma_f64, vaddq_f64, vst1q_f64);
    #[rustfmt::skip]
    tile!(tile_f32, f32, "neon", 4, zero_f32, vld1q_f32, vdupq_n_f32, fma_f32, vaddq_f32, vst1q_f32);
    #[rustfmt::skip]
    tile_masked!(tile_padded_f64, f64, "neon", 2, mask_f64, zero_f64, load_n_f64, vdupq_n_f64, fma_f64, vaddq_f64, store_n_f64);
    #[rustfmt::skip]
    tile_masked!(tile_padded_f32, f32, "neon", 4, mask_f32, zero_f32, load_n_f32, vdupq_n_f32, fma_f32, vaddq_f32, store_n_f32);

    driver!(gemm_neon, f64, "neon", 2, 12, tile_f64, tile_padded_f64);
    driver!(gemm_neon_f32, f32, "neon", 4, 12, tile_f32, tile_padded_f32);
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn data(len: usize, mul: usize, modulo: usize) -> Vec<f64> {
        (0..len).map(|i| ((i * mul % modulo) as f64 - (modulo / 2) as f64) / 7.3).collect()
    }

    /// What every FMA kernel computes, entry by entry: `acc = fma(a, b, acc)`
    /// over `k` in order from zero, then `c + acc` (one rounding each).
    fn fma_chains<T: Copy>(
        (m, n, k, lda): (usize, usize, usize, usize),
        (a, b, c): (&[T], &[T], &mut [T]),
        zero: T,
        fma: impl Fn(T, T, T) -> T,
        add: impl Fn(T, T) -> T,
    ) {
        for i in 0..m {
            for j in 0..n {
                let acc = (0..k).fold(zero, |acc, kk| fma(a[i * lda + kk], b[kk * n + j], acc));
                c[i * n + j] = add(c[i * n + j], acc);
            }
        }
    }

    /// Shapes that reach every tile size (12 and 4 rows with AVX-512, 6 and 4
    /// with AVX2), every count of last rows (1-3) and last columns (in one or
    /// both vectors of a masked tile), and the L-CB weight-gradient shape
    /// `100 × 216` with `k = 288`.
    const SHAPES: [(usize, usize, usize, usize); 14] = [
        (7, 45, 13, 13),
        (8, 32, 20, 25),
        (4, 16, 1, 1),
        (9, 3, 5, 6),
        (1, 17, 0, 0),
        (30, 40, 9, 11),
        (17, 50, 31, 31),
        (100, 72, 24, 25),
        (24, 30, 5, 5),
        (14, 27, 6, 6),
        (15, 21, 7, 7),
        (2, 9, 4, 4),
        (3, 5, 3, 3),
        (100, 216, 288, 288),
    ];

    /// Every kernel this CPU runs against the portable one; the FMA kernels
    /// are the FMA chains bit for bit (so they agree with each other).
    #[test]
    fn kernels_agree_with_the_portable_path() {
        for &(m, n, k, lda) in &SHAPES {
            let a = data(m * lda.max(1), 37, 17);
            let b = data(k * n, 53, 23);
            let c0 = data(m * n, 11, 5);
            let run = |kern: Kernel| {
                let mut c = c0.clone();
                gemm_f64_with(kern, m, n, k, &a, lda, &b, &mut c);
                c
            };
            let reference = run(Kernel::Portable);
            let mut chains = c0.clone();
            fma_chains((m, n, k, lda), (&a, &b, &mut chains), 0.0, libm::fma, |x, y| x + y);
            for kern in Kernel::all_available() {
                let c = run(kern);
                for (x, y) in c.iter().zip(&reference) {
                    assert!((x - y).abs() <= 1e-13 * (1.0 + y.abs()), "{} on {m}x{n}x{k}: {x} vs {y}", kern.name());
                }
                if kern != Kernel::Portable {
                    assert!(c == chains, "{} is not the FMA chains on {m}x{n}x{k}", kern.name());
                }
            }
        }
    }

    /// The f32 kernels against an f64 reference to f32 accuracy, on the same
    /// shapes and three more; the FMA kernels are the f32 FMA chains bit for bit.
    #[test]
    fn f32_kernels_agree_with_the_portable_path() {
        for (m, n, k) in SHAPES.iter().map(|&(m, n, k, _)| (m, n, k)).chain([(12, 60, 7), (8, 64, 20), (4, 32, 1)]) {
            let a = data(m * k, 37, 17);
            let b = data(k * n, 53, 23);
            let c0 = data(m * n, 11, 5);
            let mut exact = c0.clone();
            gemm_f64_with(Kernel::Portable, m, n, k, &a, k, &b, &mut exact);
            let f = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<f32>>();
            let (a, b) = (f(&a), f(&b));
            let mut chains = f(&c0);
            fma_chains((m, n, k, k), (&a, &b, &mut chains), 0.0, libm::fmaf, |x, y| x + y);
            for kern in Kernel::all_available() {
                let mut c = f(&c0);
                gemm_f32_with(kern, m, n, k, &a, &b, &mut c);
                for (x, y) in c.iter().zip(&exact) {
                    let scale = 1.0 + (k as f64) * 10.0;
                    assert!((*x as f64 - y).abs() <= 1e-6 * scale, "{} f32 on {m}x{n}x{k}: {x} vs {y}", kern.name());
                }
                if kern != Kernel::Portable {
                    assert!(c == chains, "{} f32 is not the FMA chains on {m}x{n}x{k}", kern.name());
                }
            }
        }
    }
}
