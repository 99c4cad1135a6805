//! The merged L-Conv + L-Bilin layer ("L-CB") of the reference code and of
//! HIMW 2024 (eq. 18), and plain L-Bilin as its kernel-1 case:
//!
//! `W'_{x,u} = Σ_{v,w} ω_{u,v,w} L_v(x) R_w(x)`
//!
//! * left factors `L = (W_1..W_n, W_1†..W_n†, 1)` — `2n+1` of them;
//! * right factors `R = (T W, (T W)†, 1)` where `T W` lists the transported
//!   copies: first every channel at `k = 0`, then for lattice axis
//!   `a = 0..D` (fpa direction `μ = D−1−a`, see below) the shifts
//!   `k = −1, −2, …` then `k = +1, +2, …` up to `|k| = K−1` (each a `dilation`
//!   of single transport steps), every block holding all `n` channels —
//!   `2nS+1` factors with `S = 1 + 2D(K−1)` (`1 + D(K−1)` without `symmetric`);
//! * weights `ω` of shape `[n_out, 2n+1, 2nS+1]`, real (as in lge-cnn) or complex.
//!
//! The orderings are those of lge-cnn's `LConvBilin`, so weights move between
//! the two codes unchanged. lge-cnn stores lattices row-major with the last
//! axis fastest; fpa's direction 0 (x) is fastest, so lge-cnn's axis `a` is
//! fpa's direction `D−1−a`.
//!
//! Backward (`δf = Re Tr(G† δX)`), with `tmp_{u,v} = Σ_w ω_{u,v,w} R_w` and
//! `H_{u,v} = L_v† G_u`: `G_{L_v} = Σ_u G_u tmp_{u,v}†`,
//! `G_{R_w} = Σ_{u,v} ω̄_{u,v,w} H_{u,v}`, `∂f/∂Re ω_{u,v,w} = Re Tr(H_{u,v}† R_w)`,
//! `∂f/∂Im ω_{u,v,w} = −Im Tr(H_{u,v}† R_w)`.

use super::features::Features;
use super::layer::{BackwardInput, LayerOp, Step};
use super::shifts::{ShiftTape, Shifts};
use crate::lanes::{pack_mats, unpack_mats, PACK};
use crate::lattice::GaugeField;
use crate::real::{Real, Ring};
use crate::rng::Rng;
use crate::su3::{Complex, Mat3};
use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::ops::Range;

/// Shape of an L-CB layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LcbShape {
    pub n_in: usize,
    pub n_out: usize,
    /// Kernel size K: shifts `|k| < K` (1 = no transport: plain L-Bilin).
    pub kernel: usize,
    pub dilation: usize,
    /// Shifts in both directions (lge-cnn `use_symmetric`).
    pub symmetric: bool,
    pub complex: bool,
    pub nd: usize,
}

impl LcbShape {
    /// The transported copies of the input.
    pub fn shifts(&self) -> Shifts {
        Shifts { nd: self.nd, kernel: self.kernel, dilation: self.dilation, symmetric: self.symmetric }
    }
    /// Number of transported blocks `S` (including the local one).
    pub fn blocks(&self) -> usize {
        self.shifts().blocks()
    }
    pub fn n_left(&self) -> usize {
        2 * self.n_in + 1
    }
    pub fn n_right(&self) -> usize {
        2 * self.n_in * self.blocks() + 1
    }
    /// Number of real parameters.
    pub fn n_params(&self) -> usize {
        self.n_out * self.n_left() * self.n_right() * if self.complex { 2 } else { 1 }
    }
}

impl LayerOp for LcbShape {
    fn kind(&self) -> &'static str {
        if self.kernel == 1 {
            "lbilin"
        } else {
            "lcb"
        }
    }
    fn n_in(&self) -> usize {
        self.n_in
    }
    fn n_out(&self) -> usize {
        self.n_out
    }
    fn n_params(&self) -> usize {
        LcbShape::n_params(self)
    }
    /// `[n_out, 2n+1, 2nS+1]`, and `[.., 2]` (re, im) when complex.
    fn weight_shape(&self) -> Option<Vec<usize>> {
        let mut v = alloc::vec![self.n_out, self.n_left(), self.n_right()];
        if self.complex {
            v.push(2);
        }
        Some(v)
    }
    /// lge-cnn's scheme: normal with `std = scale/√(n_left·n_right)` (and
    /// `/√2` per part when complex); the couplings to the unit factors
    /// (residual and bias terms) start at zero.
    fn init_weights(&self, p: &mut [f64], rng: &mut Rng, scale: f64) {
        let (nl, nr) = (self.n_left(), self.n_right());
        let c = if self.complex { 2 } else { 1 };
        let std = scale / crate::real::sqrt_f64((nl * nr) as f64) / crate::real::sqrt_f64(c as f64);
        for u in 0..self.n_out {
            for v in 0..nl {
                for r in 0..nr {
                    for k in 0..c {
                        let idx = ((u * nl + v) * nr + r) * c + k;
                        p[idx] = if v == nl - 1 || r == nr - 1 { 0.0 } else { std * rng.gaussian() };
                    }
                }
            }
        }
    }
    fn forward<T: Real>(&self, params: &[f64], links: &GaugeField<T>, w: &Features<T>) -> Step<T> {
        let (features, tape) = forward(self, params, links, w);
        Step { features, links: None, tape: Some(Box::new(tape)) }
    }
    fn backward<T: Real>(&self, b: BackwardInput<'_, T>, g_u: &mut Vec<Mat3<T>>) -> (Features<T>, Vec<T>) {
        backward(self, b.params, b.links, b.tape::<LcbTape<T>>("lcb"), b.g_out, g_u, b.need_params)
    }
    fn plaquettes_after(&self, plaq: Option<Range<usize>>) -> Result<Option<Range<usize>>, String> {
        match plaq {
            Some(r) if self.n_out < r.end => Err(alloc::format!(
                "init \"wilson\": {} output channels, fewer than the plaquette channels need",
                self.n_out
            )),
            other => Ok(other),
        }
    }
    /// `ω[out = ch, left = W_ch, right = 1] = 1` (real part) for each plaquette channel.
    fn pass_on(&self, p: &mut [f64], plaq: Range<usize>) {
        let (nl, nr, c) = (self.n_left(), self.n_right(), if self.complex { 2 } else { 1 });
        for ch in plaq.filter(|&ch| ch < self.n_in) {
            p[((ch * nl + ch) * nr + nr - 1) * c] = 1.0;
        }
    }
}

impl LcbShape {
    /// Whether `narrow` embeds in this layer with its input channel `c` at
    /// this layer's `map[c]` (same kernel, dilation, symmetry, weight type, and
    /// at least as many outputs).
    pub fn embed_check(&self, narrow: &LcbShape, map: &[usize]) -> Result<(), String> {
        let same = (self.kernel, self.dilation, self.symmetric, self.complex, self.nd)
            == (narrow.kernel, narrow.dilation, narrow.symmetric, narrow.complex, narrow.nd);
        if !same || self.n_out < narrow.n_out || map.len() != narrow.n_in || map.iter().any(|&m| m >= self.n_in) {
            return Err(alloc::format!("{narrow:?} does not embed in {self:?}"));
        }
        Ok(())
    }

    /// Sets `ω[out = u, left = W_{from[u]}, right = 1] = 1` (real part) for each
    /// `u`: output channel `u` is input channel `from[u]` unchanged (the other
    /// weights are left as they are).
    pub fn pass_through(&self, from: &[usize], p: &mut [f64]) {
        let (nl, nr, c) = (self.n_left(), self.n_right(), if self.complex { 2 } else { 1 });
        for (u, &v) in from.iter().enumerate() {
            p[((u * nl + v) * nr + nr - 1) * c] = 1.0;
        }
    }

    /// Copies the weights of a narrower layer of the same kind into this one's
    /// (function-preserving widening, see [`super::widen`]): the narrow layer's
    /// input channel `c` is this layer's `map[c]`, its output channel `u` is `u`.
    /// Only the narrow rows `u < narrow.n_out` are written: their couplings to
    /// the new input channels are set to zero, so those outputs are unchanged;
    /// the new rows keep what `wide` held (their random initial weights).
    pub fn embed(&self, narrow: &LcbShape, map: &[usize], narrow_p: &[f64], wide: &mut [f64]) -> Result<(), String> {
        self.embed_check(narrow, map)?;
        let (n, nw, s) = (narrow.n_in, self.n_in, self.blocks());
        let c = if self.complex { 2 } else { 1 };
        // Left factors (W_c, W_c†, 1); right factors ((T W)_{b,c}, (T W)_{b,c}†, 1), block-major.
        let left = |v: usize| if v == 2 * n { 2 * nw } else { (v / n) * nw + map[v % n] };
        let right = |r: usize| {
            if r == 2 * n * s {
                2 * nw * s
            } else {
                let (dag, rest) = (r / (n * s), r % (n * s));
                dag * nw * s + (rest / n) * nw + map[rest % n]
            }
        };
        let (nl, nr, nl_n, nr_n) = (self.n_left(), self.n_right(), narrow.n_left(), narrow.n_right());
        for u in 0..narrow.n_out {
            wide[u * nl * nr * c..(u + 1) * nl * nr * c].fill(0.0);
            for v in 0..nl_n {
                for r in 0..nr_n {
                    for k in 0..c {
                        wide[((u * nl + left(v)) * nr + right(r)) * c + k] =
                            narrow_p[((u * nl_n + v) * nr_n + r) * c + k];
                    }
                }
            }
        }
        Ok(())
    }
}

/// What the backward pass needs from the forward pass.
#[derive(Clone, Debug)]
pub struct LcbTape<T: crate::real::Ring> {
    shift_tape: ShiftTape<T>,
    /// All transported blocks `T W` (n·S channels), block-major; block 0 is the input.
    blocks: Features<T>,
}

/// Sites packed into the columns of one matrix product.
const SITE_BLOCK: usize = 16;
/// Output channels per weight-row group (forward and backward passes).
const OUT_GROUP: usize = 4;
/// Real components of a 3x3 complex matrix.
const COMP: usize = 18;
/// Lane packs of [`PACK`] sites per site block.
const PACKS: usize = SITE_BLOCK / PACK;
/// Columns of a block's rows (a short last block is padded with zeros).
const COLS: usize = SITE_BLOCK * COMP;

/// Column of real component `comp` (`2(3i + j)`: `Re z_ij`, `+1`: `Im z_ij`) of
/// site `b` of a block, in the packed right factors and in the rows computed
/// from them (`tmp`, `H`, `G_R'`): the block's sites in packs of [`PACK`], each
/// pack its matrices' components one after the other with the sites
/// innermost. So the matrices of one pack are one contiguous run of
/// `COMP · PACK` numbers, a `Mat3<T::Pack>`, and the per-site 3 × 3
/// products run on eight sites at once ([`crate::lanes`]: the same operations
/// in every lane, the same bits as on one site). The order of the columns
/// does not matter to the products `ω · R'` and `Aᵀ H`, whose columns are
/// independent.
#[inline(always)]
fn col(b: usize, comp: usize) -> usize {
    (b / PACK) * COMP * PACK + comp * PACK + b % PACK
}

/// The matrices of pack `p` of a block row (`COLS` numbers).
#[inline(always)]
fn load_pack<T: Real>(row: &[T], p: usize) -> Mat3<T::Pack> {
    let v = &row[p * COMP * PACK..(p + 1) * COMP * PACK];
    let mut m = Mat3::<T::Pack>::zero();
    for (e, z) in m.m.iter_mut().flatten().enumerate() {
        z.re = T::pack(&v[2 * e * PACK..]);
        z.im = T::pack(&v[(2 * e + 1) * PACK..]);
    }
    m
}

/// Writes the matrices of pack `p` of a block row.
#[inline(always)]
fn store_pack<T: Real>(m: &Mat3<T::Pack>, row: &mut [T], p: usize) {
    let v = &mut row[p * COMP * PACK..(p + 1) * COMP * PACK];
    for (e, z) in m.m.iter().flatten().enumerate() {
        T::unpack(&z.re, &mut v[2 * e * PACK..]);
        T::unpack(&z.im, &mut v[(2 * e + 1) * PACK..]);
    }
}

/// Sites of pack `p` of the block of `nb` sites from `x0` (fewer than
/// [`PACK`] in a short last pack).
#[inline(always)]
fn lanes_of(nb: usize, p: usize) -> usize {
    nb.saturating_sub(p * PACK).min(PACK)
}

/// Channel `c` of the sites of pack `p` of a block, with `f` applied (zero
/// in the lanes past the block's end).
#[inline(always)]
fn gather<T: Real>(
    x: &Features<T>,
    x0: usize,
    nb: usize,
    p: usize,
    c: usize,
    f: impl Fn(&Mat3<T>) -> Mat3<T>,
) -> Mat3<T::Pack> {
    let mut m = [Mat3::zero(); PACK];
    for (i, mi) in m.iter_mut().enumerate().take(lanes_of(nb, p)) {
        *mi = f(x.at(x0 + p * PACK + i, c));
    }
    pack_mats(&m)
}

/// The left factors `W_1..W_n, W_1†..W_n†` of a block's sites (the unit
/// factor apart), `lp[v · PACKS + p]` for pack `p`.
fn left_packs<T: Real>(w: &Features<T>, x0: usize, nb: usize, lp: &mut Vec<Mat3<T::Pack>>) {
    let n = w.channels;
    lp.clear();
    for v in 0..2 * n {
        lp.extend((0..PACKS).map(|p| {
            if v < n {
                gather(w, x0, nb, p, v, |m| *m)
            } else {
                gather(w, x0, nb, p, v - n, |m| m.adj())
            }
        }));
    }
}

/// Packed right factors of the sites `x0..x0+nb`: row `k'` holds factor
/// `R_k` (and, with complex weights, row `2k+1` holds `i R_k`), the sites'
/// components in the columns [`col`]. The trailing unit factor is handled apart.
fn pack_right<T: Real>(s: &LcbShape, blocks: &Features<T>, x0: usize, nb: usize, rp: &mut Vec<T>) {
    let nr1 = s.n_right() - 1;
    let c = if s.complex { 2 } else { 1 };
    // Every entry is written below (short packs' missing lanes as zeros), so
    // the buffer is not cleared first.
    rp.resize(nr1 * c * COLS, T::zero());
    let half = nr1 / 2;
    debug_assert_eq!(2 * half, nr1);
    let mut store = |k: usize, p: usize, m: &Mat3<T::Pack>| {
        let row = k * c;
        store_pack(m, &mut rp[row * COLS..(row + 1) * COLS], p);
        if s.complex {
            // i·R: (re, im) → (−im, re)
            let mut im = *m;
            for z in im.m.iter_mut().flatten() {
                *z = Complex::new(-z.im, z.re);
            }
            store_pack(&im, &mut rp[(row + 1) * COLS..(row + 2) * COLS], p);
        }
    };
    for k in 0..half {
        for p in 0..PACKS {
            let m = gather(blocks, x0, nb, p, k, |m| *m);
            store(k, p, &m);
            store(half + k, p, &m.adj());
        }
    }
}

/// `tmp_{u,v} = Σ_k ω_{u,v,k} R_k` for the packed sites (unit factor
/// included), for the weight rows `rows` (row `u·n_left + v`) only.
fn combine_block<T: Real>(s: &LcbShape, weights: &[f64], rp: &[T], rows: core::ops::Range<usize>, tmp: &mut Vec<T>) {
    let c = if s.complex { 2 } else { 1 };
    let nr = s.n_right();
    let kp = (nr - 1) * c;
    let lda = nr * c;
    tmp.clear();
    tmp.resize(rows.len() * COLS, T::zero());
    T::gemm_weights(rows.len(), COLS, kp, &weights[rows.start * lda..], lda, rp, tmp);
    for (i, row) in rows.enumerate() {
        let (re, im) = if s.complex {
            (weights[row * lda + kp], weights[row * lda + kp + 1])
        } else {
            (weights[row * lda + kp], 0.0)
        };
        if re == 0.0 && im == 0.0 {
            continue;
        }
        for b in 0..SITE_BLOCK {
            for d in 0..3 {
                let e = i * COLS + col(b, 2 * (3 * d + d));
                tmp[e] += T::from_f64(re);
                tmp[e + PACK] += T::from_f64(im);
            }
        }
    }
}

impl<T: Real> Mat3<T> {
    /// Multiplies by a plain `f64`.
    #[inline(always)]
    pub fn scale_f64(&self, s: f64) -> Self {
        let mut r = *self;
        for z in r.m.iter_mut().flatten() {
            z.re = z.re.mul_f64(s);
            z.im = z.im.mul_f64(s);
        }
        r
    }
}

/// Forward pass.
pub fn forward<T: Real>(
    s: &LcbShape,
    weights: &[f64],
    u: &GaugeField<T>,
    w: &Features<T>,
) -> (Features<T>, LcbTape<T>) {
    assert_eq!(w.channels, s.n_in);
    let vol = u.geometry().volume();
    let (blocks, shift_tape) = s.shifts().forward(u, w);
    let mut out = Features::zeros(vol, s.n_out);
    let nl = s.n_left();
    out.for_each_site_block_mut_init(
        SITE_BLOCK,
        || (Vec::new(), Vec::new(), Vec::new()),
        |(rp, tmp, lp), blk, o| {
            let x0 = blk * SITE_BLOCK;
            let nb = o.len() / s.n_out;
            pack_right(s, &blocks, x0, nb, rp);
            left_packs(w, x0, nb, lp);
            // A few output channels at a time keep tmp and their weight rows
            // in cache while the packed right factors are reused.
            let mut u0 = 0;
            while u0 < s.n_out {
                let u1 = (u0 + OUT_GROUP).min(s.n_out);
                combine_block(s, weights, rp, u0 * nl..u1 * nl, tmp);
                for uo in u0..u1 {
                    let row = |v: usize| &tmp[((uo - u0) * nl + v) * COLS..((uo - u0) * nl + v + 1) * COLS];
                    for p in (0..PACKS).filter(|&p| lanes_of(nb, p) > 0) {
                        // W'_u = tmp_{u,unit} + Σ_v L_v tmp_{u,v}, eight sites at once
                        let mut acc = load_pack(row(nl - 1), p);
                        for v in 0..nl - 1 {
                            acc += lp[v * PACKS + p] * load_pack(row(v), p);
                        }
                        let ms = unpack_mats::<T>(&acc);
                        for (i, m) in ms.iter().take(lanes_of(nb, p)).enumerate() {
                            o[(p * PACK + i) * s.n_out + uo] = *m;
                        }
                    }
                }
                u0 = u1;
            }
        },
    );
    (out, LcbTape { shift_tape, blocks })
}

/// Sites per partial sum of the weight gradient (fixed: thread-independent sums).
const GRAD_CHUNK: usize = 8 * SITE_BLOCK;

/// Backward pass: returns `G_W` and the weight gradient (empty unless
/// `need_params`: a force needs only the input gradient); adds link gradients to `g_u`.
pub fn backward<T: Real>(
    s: &LcbShape,
    weights: &[f64],
    u: &GaugeField<T>,
    tape: &LcbTape<T>,
    g_out: &Features<T>,
    g_u: &mut [Mat3<T>],
    need_params: bool,
) -> (Features<T>, Vec<T>) {
    let n_in = s.n_in;
    let w = tape.shift_tape.input();
    let vol = u.geometry().volume();
    let c = if s.complex { 2 } else { 1 };
    let (nl, nr, nbk) = (s.n_left(), s.n_right(), s.blocks());
    let m = s.n_out * nl;
    let kp = (nr - 1) * c;
    // Aᵀ: the weights without the unit column, transposed (kp × m).
    let mut at = alloc::vec![0.0; kp * m];
    for row in 0..m {
        for k in 0..kp {
            at[k * m + row] = weights[row * nr * c + k];
        }
    }
    struct Part<T> {
        g_w: Vec<Mat3<T>>,
        g_blocks: Vec<Mat3<T>>,
        g_weights: Vec<T>,
    }
    struct Scratch<T: Real> {
        rp: Vec<T>,
        rpt: Vec<T>,
        tmp: Vec<T>,
        h: Vec<T>,
        gr: Vec<T>,
        gw_main: Vec<T>,
        lp: Vec<Mat3<T::Pack>>,
        gp: Vec<Mat3<T::Pack>>,
        glp: Vec<Mat3<T::Pack>>,
    }
    // Each worker's buffers, kept from one chunk of sites to the next (every
    // one is cleared or overwritten before it is read).
    let scratch = || Scratch::<T> {
        rp: Vec::new(),
        rpt: Vec::new(),
        tmp: Vec::new(),
        h: Vec::new(),
        gr: Vec::new(),
        gw_main: Vec::new(),
        lp: Vec::new(),
        gp: Vec::new(),
        glp: Vec::new(),
    };
    let parts: Vec<Part<T>> = crate::par::map_range_init(vol.div_ceil(GRAD_CHUNK), scratch, |sc, ch| {
        let (start, end) = (ch * GRAD_CHUNK, ((ch + 1) * GRAD_CHUNK).min(vol));
        let mut part = Part {
            g_w: crate::recycle::with_capacity((end - start) * n_in),
            g_blocks: crate::recycle::with_capacity((end - start) * n_in * nbk),
            g_weights: if need_params { alloc::vec![T::zero(); s.n_params()] } else { Vec::new() },
        };
        let Scratch { rp, rpt, tmp, h, gr, gw_main, lp, gp, glp } = sc;
        gw_main.clear();
        if need_params {
            gw_main.resize(m * kp, T::zero());
        }
        let unit = Mat3::<T::Pack>::identity();
        let mut x0 = start;
        while x0 < end {
            let nb = SITE_BLOCK.min(end - x0);
            let n = COLS;
            pack_right(s, &tape.blocks, x0, nb, rp);
            left_packs(w, x0, nb, lp);
            gp.clear();
            for uo in 0..s.n_out {
                gp.extend((0..PACKS).map(|p| gather(g_out, x0, nb, p, uo, |m| *m)));
            }
            if need_params {
                // R'ᵀ for the weight gradient Σ_sites ⟨H_row, R'_k⟩ = H · R'ᵀ
                rpt.clear();
                rpt.resize(n * kp, T::zero());
                for k in 0..kp {
                    for j in 0..n {
                        rpt[j * kp + k] = rp[k * n + j];
                    }
                }
            }
            gr.clear();
            gr.resize(kp * n, T::zero());
            // G_{L_v} for v < nl − 1 (the unit factor's is not needed), per pack
            glp.clear();
            glp.resize((nl - 1) * PACKS, Mat3::zero());
            // Output channels in groups, as in the forward pass.
            let mut u0 = 0;
            while u0 < s.n_out {
                let u1 = (u0 + OUT_GROUP).min(s.n_out);
                let rows = u0 * nl..u1 * nl;
                combine_block(s, weights, rp, rows.clone(), tmp);
                h.clear();
                h.resize(rows.len() * n, T::zero());
                for uo in u0..u1 {
                    for v in 0..nl {
                        let row = uo * nl + v;
                        let r = row - rows.start;
                        for p in (0..PACKS).filter(|&p| lanes_of(nb, p) > 0) {
                            let t = load_pack(&tmp[r * n..(r + 1) * n], p);
                            let g = &gp[uo * PACKS + p];
                            let l = if v < nl - 1 {
                                glp[v * PACKS + p] += g.mul_adj(&t); // G_L += G_u tmp†
                                &lp[v * PACKS + p]
                            } else {
                                &unit
                            };
                            let hm = l.adj_mul(g); // H = L_v† G_u
                            store_pack(&hm, &mut h[r * n..(r + 1) * n], p);
                            if !need_params {
                                continue;
                            }
                            // unit column: ∂/∂Re ω = Re Tr H, ∂/∂Im ω = Im Tr H (sites in order)
                            let tr = hm.trace();
                            let (mut re, mut im) = ([T::zero(); PACK], [T::zero(); PACK]);
                            T::unpack(&tr.re, &mut re);
                            T::unpack(&tr.im, &mut im);
                            let idx = row * nr + nr - 1;
                            for i in 0..lanes_of(nb, p) {
                                if s.complex {
                                    part.g_weights[2 * idx] += re[i];
                                    part.g_weights[2 * idx + 1] += im[i];
                                } else {
                                    part.g_weights[idx] += re[i];
                                }
                            }
                        }
                    }
                }
                // ∂/∂ω (without the unit column): Σ_sites ⟨H_row, R'_k⟩
                if need_params {
                    T::gemm(rows.len(), kp, n, h, rpt, &mut gw_main[rows.start * kp..rows.end * kp]);
                }
                // G_R' += Aᵀ H over this group's rows
                T::gemm_weights(kp, n, rows.len(), &at[rows.start..], m, h, gr);
                u0 = u1;
            }
            let half = (nr - 1) / 2;
            let (gw0, gb0) = (part.g_w.len(), part.g_blocks.len());
            part.g_w.resize(gw0 + nb * n_in, Mat3::zero());
            part.g_blocks.resize(gb0 + nb * half, Mat3::zero());
            for p in (0..PACKS).filter(|&p| lanes_of(nb, p) > 0) {
                let sites = p * PACK..p * PACK + lanes_of(nb, p);
                for j in 0..n_in {
                    let g = unpack_mats::<T>(&(glp[j * PACKS + p] + glp[(n_in + j) * PACKS + p].adj()));
                    for b in sites.clone() {
                        part.g_w[gw0 + b * n_in + j] = g[b % PACK];
                    }
                }
                let gr_at = |k: usize| -> Mat3<T::Pack> {
                    let re = load_pack(&gr[(k * c) * n..(k * c + 1) * n], p);
                    if s.complex {
                        // R'_{2k+1} = i R_k: G_{R_k} += −i G_{R'_{2k+1}}
                        let gi = load_pack(&gr[(k * c + 1) * n..(k * c + 2) * n], p);
                        re + gi.scale_c(Complex::new(T::Pack::zero(), -T::Pack::one()))
                    } else {
                        re
                    }
                };
                for k in 0..half {
                    let g = unpack_mats::<T>(&(gr_at(k) + gr_at(half + k).adj()));
                    for b in sites.clone() {
                        part.g_blocks[gb0 + b * half + k] = g[b % PACK];
                    }
                }
            }
            x0 += nb;
        }
        if need_params {
            for row in 0..m {
                for k in 0..kp {
                    part.g_weights[row * nr * c + k] += gw_main[row * kp + k];
                }
            }
        }
        part
    });
    let mut g_weights = if need_params { alloc::vec![T::zero(); s.n_params()] } else { Vec::new() };
    let mut g_w = crate::recycle::with_capacity(vol * n_in);
    let mut g_blocks = crate::recycle::with_capacity(vol * n_in * nbk);
    for p in parts {
        for (a, b) in g_weights.iter_mut().zip(p.g_weights) {
            *a += b;
        }
        g_w.extend_from_slice(&p.g_w);
        g_blocks.extend_from_slice(&p.g_blocks);
        crate::recycle::recycle(p.g_w);
        crate::recycle::recycle(p.g_blocks);
    }
    let mut g_w = Features::from_site_major(n_in, g_w);
    let g_blocks = Features::from_site_major(n_in * nbk, g_blocks);
    g_w.add_assign(&s.shifts().backward(u, &tape.shift_tape, &g_blocks, g_u));
    (g_w, g_weights)
}
