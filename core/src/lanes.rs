//! Packs of lanes: one value per lattice site for several sites at once
//! (Grid's "virtual node" idea; see [`crate::lattice::packed`]).
//!
//! [`SitePack`] (eight values of any [`Ring`]; [`F64x8`] for `f64`) implements
//! [`Ring`], so the generic SU(3) code (`Mat3` products, staples, SU(2)
//! subgroup hits) runs on eight sites at once, and it runs the *same*
//! operations in every lane as on one value: no fused multiply-adds, no
//! reassociation, lane-wise correctly rounded `√` and `/`. The results are
//! therefore the same bits as the scalar path's. The compiler turns the lane
//! loops into vector instructions of the width the function is compiled for
//! (see [`crate::mc::packed`] for the run-time choice of AVX-512 or AVX2). The
//! heatbath runs on [`F64x8`]; the L-CNN's per-site products run on packs of
//! `f32`, `f64` and dual numbers.
//!
//! [`Lanes`] abstracts over "one site" (any [`Real`], one lane) and "eight
//! sites" ([`F64x8`]), so per-site code with random draws (the heatbath)
//! is written once for both.

use crate::real::{Real, Ring};
use core::ops::{Add, AddAssign, Mul, MulAssign, Neg, Sub, SubAssign};

/// Number of lanes of a [`SitePack`].
pub const PACK: usize = 8;

/// Eight values, one per site; arithmetic is lane-wise.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[repr(C, align(64))]
pub struct SitePack<T>(pub [T; PACK]);

/// Eight `f64`, one per site (the heatbath's pack).
pub type F64x8 = SitePack<f64>;

/// `[f(a[0], b[0]), …, f(a[7], b[7])]`, written out: straight-line code that
/// the compiler maps onto vector registers (a loop here became gathers).
macro_rules! each_lane {
    ($a:ident, $b:ident, $e:expr) => {{
        let f = $e;
        SitePack([
            f($a.0[0], $b.0[0]),
            f($a.0[1], $b.0[1]),
            f($a.0[2], $b.0[2]),
            f($a.0[3], $b.0[3]),
            f($a.0[4], $b.0[4]),
            f($a.0[5], $b.0[5]),
            f($a.0[6], $b.0[6]),
            f($a.0[7], $b.0[7]),
        ])
    }};
}

/// Lane `i` of the result is lane `i ^ M` of `a`, indices written out so
/// that they compile to register shuffles.
macro_rules! flipped {
    ($a:expr, $m:literal) => {{
        let a = $a;
        [a[0 ^ $m], a[1 ^ $m], a[2 ^ $m], a[3 ^ $m], a[4 ^ $m], a[5 ^ $m], a[6 ^ $m], a[7 ^ $m]]
    }};
}

impl<T: Copy> SitePack<T> {
    /// Lane `i` of the result is lane `i ^ mask` of `self` (`mask < 8`).
    #[inline(always)]
    pub fn flip(self, mask: u8) -> Self {
        SitePack(match mask {
            0 => self.0,
            1 => flipped!(self.0, 1),
            2 => flipped!(self.0, 2),
            3 => flipped!(self.0, 3),
            4 => flipped!(self.0, 4),
            5 => flipped!(self.0, 5),
            6 => flipped!(self.0, 6),
            _ => flipped!(self.0, 7),
        })
    }
}

macro_rules! lanewise {
    ($tr:ident, $f:ident, $op:tt, $atr:ident, $af:ident) => {
        impl<T: Ring> $tr for SitePack<T> {
            type Output = Self;
            #[inline(always)]
            fn $f(self, o: Self) -> Self {
                each_lane!(self, o, |x: T, y: T| x $op y)
            }
        }
        impl<T: Ring> $atr for SitePack<T> {
            #[inline(always)]
            fn $af(&mut self, o: Self) {
                *self = *self $op o;
            }
        }
    };
}
lanewise!(Add, add, +, AddAssign, add_assign);
lanewise!(Sub, sub, -, SubAssign, sub_assign);
lanewise!(Mul, mul, *, MulAssign, mul_assign);

impl<T: Ring> Neg for SitePack<T> {
    type Output = Self;
    #[inline(always)]
    fn neg(self) -> Self {
        each_lane!(self, self, |x: T, _: T| -x)
    }
}

impl<T: Ring> Ring for SitePack<T> {
    #[inline(always)]
    fn from_f64(x: f64) -> Self {
        SitePack([T::from_f64(x); PACK])
    }
}

/// A value for `LANES` sites: a [`Real`] (one site) or an [`F64x8`].
pub trait Lanes: Ring {
    const LANES: usize;
    /// The scalar of one lane.
    type Scalar: Real;
    fn lane(&self, i: usize) -> Self::Scalar;
    fn set_lane(&mut self, i: usize, v: Self::Scalar);
    /// Lane-wise `√x`, correctly rounded.
    fn lane_sqrt(self) -> Self;
    /// Lane-wise `self / o`, correctly rounded.
    fn lane_div(self, o: Self) -> Self;
    /// The value whose lane `i` is `v[i]` (`v.len() == LANES`): one load, where
    /// setting lanes one by one would store and reload the whole pack each time.
    fn from_lanes(v: &[Self::Scalar]) -> Self;
    /// Every lane, `out[i]` = lane `i` (`out.len() == LANES`).
    fn to_lanes(&self, out: &mut [Self::Scalar]);
}

impl<T: Real> Lanes for T {
    const LANES: usize = 1;
    type Scalar = T;
    #[inline(always)]
    fn lane(&self, _: usize) -> T {
        *self
    }
    #[inline(always)]
    fn set_lane(&mut self, _: usize, v: T) {
        *self = v;
    }
    #[inline(always)]
    fn lane_sqrt(self) -> Self {
        self.sqrt()
    }
    #[inline(always)]
    fn lane_div(self, o: Self) -> Self {
        self / o
    }
    #[inline(always)]
    fn from_lanes(v: &[T]) -> Self {
        v[0]
    }
    #[inline(always)]
    fn to_lanes(&self, out: &mut [T]) {
        out[0] = *self;
    }
}

impl<T: Real> Lanes for SitePack<T> {
    const LANES: usize = PACK;
    type Scalar = T;
    #[inline(always)]
    fn lane(&self, i: usize) -> T {
        self.0[i]
    }
    #[inline(always)]
    fn set_lane(&mut self, i: usize, v: T) {
        self.0[i] = v;
    }
    #[inline(always)]
    fn lane_sqrt(self) -> Self {
        each_lane!(self, self, |x: T, _: T| x.sqrt())
    }
    #[inline(always)]
    fn lane_div(self, o: Self) -> Self {
        each_lane!(self, o, |x: T, y: T| x / y)
    }
    #[inline(always)]
    fn from_lanes(v: &[T]) -> Self {
        let mut r = SitePack::default();
        r.0.copy_from_slice(v);
        r
    }
    #[inline(always)]
    fn to_lanes(&self, out: &mut [T]) {
        out.copy_from_slice(&self.0);
    }
}

/// The matrices `m[0..PACK]` as one matrix of packs ([`Real::Pack`]; lane
/// `i` is `m[i]`).
#[inline(always)]
pub fn pack_mats<T: Real>(m: &[crate::su3::Mat3<T>; PACK]) -> crate::su3::Mat3<T::Pack> {
    let mut r = crate::su3::Mat3::<T::Pack>::zero();
    for (e, z) in r.m.iter_mut().flatten().enumerate() {
        let (re, im): ([T; PACK], [T; PACK]) =
            (core::array::from_fn(|i| m[i].m[e / 3][e % 3].re), core::array::from_fn(|i| m[i].m[e / 3][e % 3].im));
        z.re = T::pack(&re);
        z.im = T::pack(&im);
    }
    r
}

/// The [`PACK`] matrices of a matrix of packs ([`pack_mats`] undone).
#[inline(always)]
pub fn unpack_mats<T: Real>(p: &crate::su3::Mat3<T::Pack>) -> [crate::su3::Mat3<T>; PACK] {
    let mut r = [crate::su3::Mat3::<T>::zero(); PACK];
    unpack_slice::<T>(p, &mut r);
    r
}

/// `m` in every lane.
#[inline(always)]
pub fn splat_mat<T: Real>(m: &crate::su3::Mat3<T>) -> crate::su3::Mat3<T::Pack> {
    pack_mats(&[*m; PACK])
}

/// The up to [`PACK`] matrices of `m` as one matrix of packs (zero in the lanes past `m.len()`).
#[inline(always)]
pub fn pack_slice<T: Real>(m: &[crate::su3::Mat3<T>]) -> crate::su3::Mat3<T::Pack> {
    match <&[crate::su3::Mat3<T>; PACK]>::try_from(m) {
        // A whole pack is read in place (no copy into a padded array first).
        Ok(whole) => pack_mats(whole),
        Err(_) => {
            let mut a = [crate::su3::Mat3::<T>::zero(); PACK];
            a[..m.len()].copy_from_slice(m);
            pack_mats(&a)
        }
    }
}

/// The first `out.len()` (up to [`PACK`]) lanes of `p`, written into `out` in place.
#[inline(always)]
pub fn unpack_slice<T: Real>(p: &crate::su3::Mat3<T::Pack>, out: &mut [crate::su3::Mat3<T>]) {
    let (mut re, mut im) = ([T::zero(); PACK], [T::zero(); PACK]);
    for (e, z) in p.m.iter().flatten().enumerate() {
        T::unpack(&z.re, &mut re);
        T::unpack(&z.im, &mut im);
        for (i, m) in out.iter_mut().enumerate() {
            m.m[e / 3][e % 3] = crate::su3::Complex::new(re[i], im[i]);
        }
    }
}

/// Lane `i` of a matrix of lane packs.
#[inline(always)]
pub fn mat_lane<V: Lanes>(m: &crate::su3::Mat3<V>, i: usize) -> crate::su3::Mat3<V::Scalar> {
    let mut r = crate::su3::Mat3::zero();
    for (ro, rm) in r.m.iter_mut().zip(&m.m) {
        for (z, w) in ro.iter_mut().zip(rm) {
            z.re = w.re.lane(i);
            z.im = w.im.lane(i);
        }
    }
    r
}

/// Sets lane `i` of a matrix of lane packs.
#[inline(always)]
pub fn set_mat_lane<V: Lanes>(m: &mut crate::su3::Mat3<V>, i: usize, v: &crate::su3::Mat3<V::Scalar>) {
    for (rm, ro) in m.m.iter_mut().zip(&v.m) {
        for (w, z) in rm.iter_mut().zip(ro) {
            w.re.set_lane(i, z.re);
            w.im.set_lane(i, z.im);
        }
    }
}

/// A register form of [`F64x8`] for the kernels: `F64x8` itself, or, inside
/// the kernels of [`crate::mc::packed`], one 512-bit register (AVX-512) or a
/// 256-bit register holding one half of a pack (AVX2: a kernel then runs the
/// two halves of a pack one after the other, so that a matrix of packs needs
/// 18 registers, not 36). A pack is `PARTS` values of `LANES` lanes each.
pub trait Pack: Lanes<Scalar = f64> {
    /// How many values of this form make one [`F64x8`] (`LANES · PARTS = 8`).
    const PARTS: usize;
    /// Part `part` of `p` with its lanes permuted by `mask < 8`: lane `i` of the
    /// result is lane `(part · LANES + i) ^ mask` of `p` (so a mask may take the
    /// lanes from the other part).
    fn load(p: &F64x8, part: usize, mask: u8) -> Self;
    /// Writes the lanes of part `part` of `p`.
    fn store(self, p: &mut F64x8, part: usize);
}

impl Pack for F64x8 {
    const PARTS: usize = 1;
    #[inline(always)]
    fn load(p: &F64x8, _: usize, mask: u8) -> Self {
        p.flip(mask)
    }
    #[inline(always)]
    fn store(self, p: &mut F64x8, _: usize) {
        *p = self;
    }
}

/// Part `part` of a stored matrix of packs in register form, lanes permuted by
/// `mask` (see [`Pack::load`]).
#[inline(always)]
pub fn load_mat<P: Pack>(m: &crate::su3::Mat3<F64x8>, part: usize, mask: u8) -> crate::su3::Mat3<P> {
    let mut r = crate::su3::Mat3::<P>::zero();
    for (ro, rm) in r.m.iter_mut().zip(&m.m) {
        for (z, w) in ro.iter_mut().zip(rm) {
            z.re = P::load(&w.re, part, mask);
            z.im = P::load(&w.im, part, mask);
        }
    }
    r
}

/// Stores a matrix in register form as part `part` of the matrix of packs `out`.
#[inline(always)]
pub fn store_mat<P: Pack>(m: &crate::su3::Mat3<P>, out: &mut crate::su3::Mat3<F64x8>, part: usize) {
    for (ro, rm) in out.m.iter_mut().zip(&m.m) {
        for (z, w) in ro.iter_mut().zip(rm) {
            w.re.store(&mut z.re, part);
            w.im.store(&mut z.im, part);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::real::sqrt_f64;
    use crate::su3::Mat3;

    #[test]
    fn flips_are_involutions_and_compose_by_xor() {
        let a = SitePack(core::array::from_fn(|i| i as f64));
        for m in 0..8u8 {
            assert_eq!(a.flip(m).flip(m), a);
            for n in 0..8u8 {
                assert_eq!(a.flip(m).flip(n), a.flip(m ^ n));
            }
            assert_eq!(a.flip(m).0[0], m as f64);
        }
    }

    #[test]
    fn products_of_packs_are_the_lanes_products_bit_for_bit() {
        let mut rng = crate::rng::Rng::stream(1, &[crate::rng::domain::TEST]);
        let mats: alloc::vec::Vec<Mat3<f64>> = (0..16).map(|_| crate::su3::random::haar_su3(&mut rng)).collect();
        let (mut a, mut b) = (Mat3::<F64x8>::zero(), Mat3::<F64x8>::zero());
        for i in 0..PACK {
            set_mat_lane(&mut a, i, &mats[i]);
            set_mat_lane(&mut b, i, &mats[8 + i]);
        }
        let (p, q) = (a.mul_adj(&b) * a, a.adj_mul(&b) - b);
        for i in 0..PACK {
            assert_eq!(mat_lane(&p, i), mats[i].mul_adj(&mats[8 + i]) * mats[i]);
            assert_eq!(mat_lane(&q, i), mats[i].adj_mul(&mats[8 + i]) - mats[8 + i]);
        }
        let v: [f64; PACK] = core::array::from_fn(|i| 0.5 - i as f64);
        let mut w = [0.0; PACK];
        F64x8::from_lanes(&v).to_lanes(&mut w);
        assert_eq!((F64x8::from_lanes(&v).0, w), (v, v));
        let s = SitePack(core::array::from_fn(|i| 0.1 + i as f64)).lane_sqrt();
        assert!((0..PACK).all(|i| s.0[i].to_bits() == sqrt_f64(0.1 + i as f64).to_bits()));
    }

    /// The L-CNN's packs ([`Real::Pack`]): `f32`, `f64` and dual numbers over
    /// both, products of packs lane for lane the products of the lanes.
    #[test]
    fn real_packs_give_the_lanes_products_bit_for_bit() {
        fn check<T: Real>(mats: &[Mat3<T>]) {
            let a: [Mat3<T>; PACK] = core::array::from_fn(|i| mats[i]);
            let b: [Mat3<T>; PACK] = core::array::from_fn(|i| mats[PACK + i]);
            let (pa, pb) = (pack_mats(&a), pack_mats(&b));
            assert!(unpack_mats::<T>(&pa) == a, "pack_mats, unpack_mats");
            let (p, q) = (unpack_mats::<T>(&(pa.mul_adj(&pb) * pa + pb)), unpack_mats::<T>(&pa.adj_mul(&pb)));
            for i in 0..PACK {
                assert!(p[i] == a[i].mul_adj(&b[i]) * a[i] + b[i], "lane {i}");
                assert!(q[i] == a[i].adj_mul(&b[i]), "lane {i}");
            }
        }
        let mut rng = crate::rng::Rng::stream(2, &[crate::rng::domain::TEST]);
        let mats: alloc::vec::Vec<Mat3<f64>> = (0..2 * PACK).map(|_| crate::su3::random::haar_su3(&mut rng)).collect();
        let tangents: alloc::vec::Vec<Mat3<f64>> =
            (0..2 * PACK).map(|_| crate::su3::random::haar_su3(&mut rng)).collect();
        let cast = |m: &Mat3<f64>, f: &dyn Fn(f64) -> f32| {
            let mut r = Mat3::<f32>::zero();
            for (z, w) in r.m.iter_mut().flatten().zip(m.m.iter().flatten()) {
                *z = crate::su3::Complex::new(f(w.re), f(w.im));
            }
            r
        };
        let dual = |m: &Mat3<f64>, t: &Mat3<f64>| {
            let mut r = Mat3::<crate::dual::Dual<f64>>::zero();
            for (z, (w, d)) in r.m.iter_mut().flatten().zip(m.m.iter().flatten().zip(t.m.iter().flatten())) {
                *z = crate::su3::Complex::new(crate::dual::Dual::new(w.re, d.re), crate::dual::Dual::new(w.im, d.im));
            }
            r
        };
        check(&mats);
        let m32: alloc::vec::Vec<Mat3<f32>> = mats.iter().map(|m| cast(m, &|x| x as f32)).collect();
        check(&m32);
        let d64: alloc::vec::Vec<_> = mats.iter().zip(&tangents).map(|(m, t)| dual(m, t)).collect();
        check(&d64);
        let d32: alloc::vec::Vec<Mat3<crate::dual::Dual<f32>>> = d64
            .iter()
            .map(|m| {
                let mut r = Mat3::zero();
                for (z, w) in r.m.iter_mut().flatten().zip(m.m.iter().flatten()) {
                    *z = crate::su3::Complex::new(
                        crate::dual::Dual::new(w.re.v as f32, w.re.d as f32),
                        crate::dual::Dual::new(w.im.v as f32, w.im.d as f32),
                    );
                }
                r
            })
            .collect();
        check(&d32);
    }
}
