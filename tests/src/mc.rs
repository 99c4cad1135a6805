//! Monte Carlo: the SU(2) sampler, overrelaxation, plaquettes against
//! published values, and independence of the thread count.

use crate::util::{assert_close, lattice, random_field};
use fpa_core::action::{Action, Wilson};
use fpa_core::lattice::GaugeField;
use fpa_core::mc::heatbath::overrelax_sweep;
use fpa_core::mc::su2_sampler::{sample_su2, sample_y0};
use fpa_core::mc::WilsonChain;
use fpa_core::observe::average_plaquette;
use fpa_core::rng::{domain, Rng};
use fpa_core::stats::binned_mean_error;

/// Bin probabilities of `√(1−y²) e^{αy}` on `[−1, 1]` by Simpson's rule.
fn y0_bin_probabilities(alpha: f64, bins: usize) -> Vec<f64> {
    let f = |y: f64| (1.0 - y * y).max(0.0).sqrt() * (alpha * (y - 1.0)).exp();
    let mut p: Vec<f64> = (0..bins)
        .map(|b| {
            let (lo, hi) = (-1.0 + 2.0 * b as f64 / bins as f64, -1.0 + 2.0 * (b + 1) as f64 / bins as f64);
            let n = 2000;
            let h = (hi - lo) / n as f64;
            (0..=n)
                .map(|i| {
                    let w = if i == 0 || i == n {
                        1.0
                    } else if i % 2 == 1 {
                        4.0
                    } else {
                        2.0
                    };
                    w * f(lo + i as f64 * h)
                })
                .sum::<f64>()
                * h
                / 3.0
        })
        .collect();
    let z: f64 = p.iter().sum();
    p.iter_mut().for_each(|x| *x /= z);
    p
}

/// The SU(2) heatbath draws `y₀` from `√(1−y₀²) e^{αy₀}` (Creutz below α = 2,
/// Kennedy–Pendleton above, and the Haar limit): a χ² test over 40 bins with
/// 400k draws per α and a fixed seed. Bins expecting fewer than 5 counts are
/// left out; the threshold `dof + 4.5·√(2 dof)` is the χ² quantile at p ≈ 2e-4
/// for 39 degrees of freedom.
/// The vector part is isotropic: `⟨y_i²⟩ = (1 − ⟨y₀²⟩)/3`.
pub fn su2_heatbath_matches_target_distribution() {
    for (k, &alpha) in [0.0, 0.7, 1.99, 2.0, 5.0, 20.0].iter().enumerate() {
        let bins = 40;
        let n = 400_000;
        let p = y0_bin_probabilities(alpha, bins);
        let mut counts = vec![0usize; bins];
        let mut rng = Rng::stream(100 + k as u64, &[domain::TEST]);
        for _ in 0..n {
            let y = sample_y0(alpha, &mut rng);
            assert!((-1.0..=1.0).contains(&y));
            counts[(((y + 1.0) / 2.0 * bins as f64) as usize).min(bins - 1)] += 1;
        }
        // χ² over bins with an expected count ≥ 5.
        let (mut chi2, mut dof) = (0.0, 0usize);
        for b in 0..bins {
            let e = p[b] * n as f64;
            if e >= 5.0 {
                chi2 += (counts[b] as f64 - e).powi(2) / e;
                dof += 1;
            }
        }
        let limit = dof as f64 + 4.5 * (2.0 * dof as f64).sqrt();
        assert!(chi2 < limit.max(20.0), "alpha {alpha}: chi2 {chi2:.1} with {dof} bins (limit {limit:.1})");

        let mut rng = Rng::stream(200 + k as u64, &[domain::TEST]);
        let m = 100_000;
        let (mut s0, mut s) = (0.0, [0.0; 3]);
        for _ in 0..m {
            let y = sample_su2(alpha, &mut rng);
            let norm: f64 = y.iter().map(|v| v * v).sum();
            assert!((norm - 1.0).abs() < 1e-12);
            s0 += y[0] * y[0];
            for i in 0..3 {
                s[i] += y[i + 1] * y[i + 1];
            }
        }
        let want = (1.0 - s0 / m as f64) / 3.0;
        for v in s {
            assert!((v / m as f64 - want).abs() < 0.01, "alpha {alpha}: isotropy");
        }
    }
}

/// The several-lane sampler gives every lane the bits of the one-stream
/// sampler and leaves each stream where the one-stream sampler leaves it: lanes
/// of mixed kinds (Kennedy–Pendleton, Creutz, the Haar limit, NaN, not wanted,
/// no stream) side by side, over many draws. Its logarithm is `libm::log` bit for bit, on random
/// inputs over the whole exponent range and on the edge cases.
pub fn lane_su2_draws_are_the_one_stream_draws() {
    use fpa_core::mc::su2_sampler::{log_lanes, sample_su2_lanes};
    let alphas = [0.0, 1e-7, 0.7, 1.99, 2.0, 5.0, 60.0, f64::NAN];
    let stream = |l: usize| Rng::stream(300 + l as u64, &[domain::TEST]);
    let mut lanes: [Rng; 8] = core::array::from_fn(stream);
    let mut one: [Rng; 8] = core::array::from_fn(stream);
    for round in 0..2000 {
        let alpha: [f64; 8] = core::array::from_fn(|l| alphas[(l + round) % 8]);
        let wanted: [bool; 8] = core::array::from_fn(|l| (l + round) % 11 != 0);
        // Seven streams for eight lanes in every third round: the last lane is not drawn.
        let n = if round % 3 == 0 { 7 } else { 8 };
        let y = sample_su2_lanes(&alpha, &wanted, &mut lanes[..n]);
        for l in 0..8 {
            let want = if wanted[l] && l < n { sample_su2(alpha[l], &mut one[l]) } else { [0.0; 4] };
            let got = [y[0][l], y[1][l], y[2][l], y[3][l]];
            assert_eq!(got.map(f64::to_bits), want.map(f64::to_bits), "round {round}, lane {l}, alpha {}", alpha[l]);
        }
    }
    for (l, r) in one.iter_mut().enumerate() {
        assert_eq!(lanes[l].next_u64(), r.next_u64(), "stream {l} after the draws");
    }

    let mut rng = Rng::stream(310, &[domain::TEST]);
    let edges = [
        1.0,
        0.5,
        2.0,
        f64::MIN_POSITIVE,
        5e-324,
        0.0,
        -0.0,
        -1.0,
        f64::INFINITY,
        f64::NAN,
        f64::MAX,
        1.0 - f64::EPSILON,
    ];
    for chunk in 0..4000 {
        let x: [f64; 8] = core::array::from_fn(|l| match chunk {
            0 => edges[l],
            1 => edges[(l + 8) % edges.len()],
            _ if l % 2 == 0 => rng.uniform_pos(),
            // Any bit pattern of a positive finite number.
            _ => f64::from_bits(rng.next_u64() >> 1).min(f64::MAX),
        });
        let got = log_lanes(&x);
        for l in 0..8 {
            let want = libm::log(x[l]);
            assert!(
                got[l].to_bits() == want.to_bits() || (got[l].is_nan() && want.is_nan()),
                "log({:e}) = {} vs libm {}",
                x[l],
                got[l],
                want
            );
        }
    }
}

/// Overrelaxation is microcanonical: the Wilson action is unchanged to rounding.
pub fn overrelaxation_conserves_action() {
    for dims in [&[4usize, 4, 4, 4][..], &[6, 4]] {
        let g = lattice(dims);
        let mut u = random_field(&g, Some(0.8), 41);
        let a0 = Wilson.value(&u);
        for _ in 0..3 {
            overrelax_sweep(&mut u);
        }
        assert_close(Wilson.value(&u), a0, 1e-12, "action after overrelaxation");
        assert!(u.unitarity_violation() < 1e-13);
    }
}

/// Plaquette history of a chain: `therm` sweeps dropped, then `meas` values.
fn plaquette_series(dims: &[usize], beta: f64, n_or: usize, therm: usize, meas: usize, seed: u64) -> Vec<f64> {
    let g = lattice(dims);
    let mut chain = WilsonChain::new(GaugeField::<f64>::hot(g, seed), beta, n_or, seed, 0).unwrap();
    for _ in 0..therm {
        chain.step();
    }
    (0..meas)
        .map(|_| {
            chain.step();
            average_plaquette(chain.field())
        })
        .collect()
}

/// Cold start gives P = 1; β = 0 gives ⟨P⟩ = 0 (Haar); small β follows the
/// strong-coupling series `β/18 + β²/216`.
pub fn plaquette_limits() {
    let g = lattice(&[4, 4, 4, 4]);
    assert_eq!(average_plaquette(&GaugeField::<f64>::cold(g)), 1.0);
    for (beta, want) in [(0.0, 0.0), (0.5, 0.5 / 18.0 + 0.25 / 216.0)] {
        let s = plaquette_series(&[4, 4, 4, 4], beta, 1, 20, 400, 7);
        let (m, e) = binned_mean_error(&s, 20);
        assert!((m - want).abs() < 4.0 * e + 1e-4, "beta {beta}: <P> = {m} ± {e}, want {want}");
    }
}

/// ⟨P⟩ on 4⁴ at β = 5.0, 6.0, 6.5, 7.0 against the independent 4⁴ values of
/// `physics.md` §6.1 ([C], 2000 measurements) and, at β = 6.0, MILC's
/// `su3_ora` 4⁴ value from `baselines.md`. The comparison allows 3 combined
/// standard errors (reference errors × 1.5, as physics.md advises).
pub fn plaquette_matches_reference_4x4x4x4() {
    let refs: [(f64, &[(f64, f64)]); 4] = [
        (5.0, &[(0.40046, 0.00033)]),
        (6.0, &[(0.59667, 0.00026), (0.59729, 0.00027)]),
        (6.5, &[(0.63988, 0.00018)]),
        (7.0, &[(0.67287, 0.00017)]),
    ];
    for (i, (beta, values)) in refs.iter().enumerate() {
        let s = plaquette_series(&[4, 4, 4, 4], *beta, 4, 200, 2000, 1000 + i as u64);
        let (m, e) = binned_mean_error(&s, 20);
        eprintln!("4^4 beta {beta}: <P> = {m:.6} +- {e:.6}");
        for &(r, re) in values.iter() {
            let tol = 3.0 * (e * e + (1.5 * re) * (1.5 * re)).sqrt();
            assert!((m - r).abs() < tol, "beta {beta}, 4^4: <P> = {m:.5} ± {e:.5}, reference {r} ± {re}");
        }
    }
}

/// ⟨P⟩ on 8⁴ at β = 6.0 against MILC's 0.59434(5) and physics.md's 0.59396(24).
pub fn plaquette_matches_reference_8x8x8x8() {
    let s = plaquette_series(&[8, 8, 8, 8], 6.0, 4, 100, 400, 2024);
    let (m, e) = binned_mean_error(&s, 20);
    eprintln!("8^4 beta 6.0: <P> = {m:.6} +- {e:.6}");
    for (r, re) in [(0.59434, 0.00005), (0.59396, 0.00024)] {
        let tol = 3.0 * (e * e + (1.5 * re) * (1.5 * re)).sqrt();
        assert!((m - r).abs() < tol, "beta 6.0, 8^4: <P> = {m:.5} ± {e:.5}, reference {r} ± {re}");
    }
}

/// The chain is a pure function of (seed, sweep): 1 or 2 threads give the
/// same bits, and resuming from a saved field and sweep count continues
/// exactly as the uninterrupted chain.
pub fn chain_is_thread_count_and_resume_invariant() {
    let g = lattice(&[4, 4, 4, 8]);
    let run = |sweeps: u64, start: Option<(GaugeField<f64>, u64)>| {
        let (field, done) = start.unwrap_or_else(|| (GaugeField::hot(g.clone(), 5), 0));
        let mut c = WilsonChain::new(field, 5.7, 2, 5, done).unwrap();
        while c.sweeps < sweeps {
            c.step();
        }
        c.into_field()
    };
    let reference = run(6, None);
    let half = run(3, None);
    let resumed = run(6, Some((half, 3)));
    assert!(reference == resumed, "resumed chain differs from the uninterrupted one");
    #[cfg(feature = "rayon")]
    for threads in [1, 2, 3] {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        let other = pool.install(|| run(6, None));
        assert!(reference == other, "{threads} threads give different links");
        let p = pool.install(|| average_plaquette(&reference));
        assert_eq!(p.to_bits(), average_plaquette(&reference).to_bits(), "plaquette sum order");
    }
}

/// The lane-packed heatbath and overrelaxation (eight sites per pack, the
/// per-pack kernel compiled for AVX-512, AVX2 and the build target) give the
/// one-site-at-a-time chain's links bit for bit: every kernel this machine
/// runs, lattices with unequal extents (one direction not halved), strong
/// coupling (Creutz draws) and weak (Kennedy–Pendleton). A 6⁴ lattice has no
/// packed layout and takes the one-site path through the same entry point.
pub fn packed_updates_are_the_one_site_updates_bit_for_bit() {
    use fpa_core::mc::heatbath::{apply_updates, apply_updates_one_site, compound_sweep_updates};
    use fpa_core::mc::packed::run_packed;
    use fpa_core::simd::Kernel;
    for (dims, beta) in [(&[4usize, 4, 4, 4][..], 6.0), (&[4, 8, 6, 4], 0.9), (&[8, 4, 4, 4], 11.0)] {
        let g = lattice(dims);
        let start = random_field(&g, None, 21);
        let mut reference = start.clone();
        apply_updates_one_site(&mut reference, compound_sweep_updates(4, 2), beta, 3, 7);
        assert_ne!(reference, start);
        for kernel in Kernel::all_available() {
            let mut packed = start.clone();
            assert!(run_packed(&mut packed, compound_sweep_updates(4, 2), beta, 3, 7, kernel));
            assert!(packed == reference, "{dims:?} beta {beta}: the {} packed path differs", kernel.name());
        }
        let mut dispatched = start.clone();
        apply_updates(&mut dispatched, compound_sweep_updates(4, 2), beta, 3, 7);
        assert!(dispatched == reference);
    }
    let g = lattice(&[6, 6, 6, 6]);
    let mut u = random_field(&g, None, 22);
    assert!(!run_packed(&mut u, compound_sweep_updates(4, 0), 6.0, 3, 7, Kernel::Portable));
}

/// `Arithmetic::Fused` (opt-in: fused multiply–add in the packed kernels'
/// matrix products). On the kernels with FMA the links differ from the exact
/// arithmetic's, but only by rounding: a heatbath sweep (the same streams) and
/// three overrelaxation sweeps from one smooth field move no link by more than
/// 1e-12 (`Σ|ΔU_ij|`; on a random field the reflections amplify rounding by
/// the inverse of small SU(2) block norms, so the bound is for a smooth one);
/// overrelaxation still conserves the action, the links stay in SU(3), and the
/// kernels with FMA (AVX-512, AVX2) give each other's bits. Kernels without
/// FMA run the exact arithmetic (the same bits). A fused chain is the same for
/// 1, 2 and 3 threads.
pub fn fused_updates_are_the_exact_updates_to_rounding() {
    use fpa_core::fused::Arithmetic;
    use fpa_core::lattice::packed::{PackedField, PackedLayout};
    use fpa_core::mc::heatbath::{compound_sweep_updates, overrelax_updates, Update};
    use fpa_core::mc::packed::apply_updates_with;
    use fpa_core::simd::Kernel;
    let max_link_change = |a: &GaugeField<f64>, b: &GaugeField<f64>| {
        (0..a.geometry().volume())
            .flat_map(|x| (0..a.nd()).map(move |mu| (x, mu)))
            .map(|(x, mu)| a.link(x, mu).dist(b.link(x, mu)))
            .fold(0.0, f64::max)
    };
    for (dims, beta) in [(&[4usize, 4, 4, 4][..], 6.0), (&[8, 4, 4, 4], 0.9)] {
        let g = lattice(dims);
        let start = random_field(&g, Some(0.5), 23);
        let layout = std::sync::Arc::new(PackedLayout::new(start.geometry()).unwrap());
        let run = |kernel: Kernel, arithmetic: Arithmetic, updates: &[Update]| {
            let mut f = PackedField::pack(&layout, &start);
            apply_updates_with(&mut f, updates.iter().copied(), beta, 3, 7, kernel, arithmetic);
            let mut u = start.clone();
            f.unpack_into(&mut u);
            u
        };
        let heatbath: Vec<Update> = compound_sweep_updates(4, 0).collect();
        let overrelax: Vec<Update> = (0..3).flat_map(|_| overrelax_updates(4)).collect();
        let mut first_fused: Option<GaugeField<f64>> = None;
        for kernel in Kernel::all_available() {
            let name = kernel.name();
            for (sweep, updates) in [("heatbath", &heatbath), ("overrelaxation", &overrelax)] {
                let exact = run(kernel, Arithmetic::Exact, updates);
                let fused = run(kernel, Arithmetic::Fused, updates);
                if !kernel.has_fma() {
                    assert!(fused == exact, "{dims:?}: the {name} kernel has no FMA and must stay exact");
                    continue;
                }
                assert!(fused != exact, "{dims:?}: the {name} kernel did not fuse");
                let d = max_link_change(&fused, &exact);
                assert!(d < 1e-12, "{dims:?} beta {beta}: {name} fused {sweep} moved a link by {d:e}");
                assert!(fused.unitarity_violation() < 1e-13, "{name}: fused {sweep} left SU(3)");
                if sweep == "overrelaxation" {
                    assert_close(
                        Wilson.value(&fused),
                        Wilson.value(&start),
                        1e-12,
                        "action after fused overrelaxation",
                    );
                } else {
                    // Every x86 kernel with FMA fuses the same operations: the same bits.
                    let first = first_fused.get_or_insert_with(|| fused.clone());
                    assert!(*first == fused, "{dims:?}: the {name} fused heatbath differs from another FMA kernel's");
                }
            }
        }
    }
    #[cfg(feature = "rayon")]
    {
        let g = lattice(&[4, 4, 4, 8]);
        let run = || {
            let mut c = WilsonChain::new(GaugeField::<f64>::hot(g.clone(), 5), 5.7, 2, 5, 0).unwrap();
            c.arithmetic = Arithmetic::Fused;
            for _ in 0..3 {
                c.step();
            }
            c.into_field()
        };
        let reference = run();
        for threads in [1, 2, 3] {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            assert!(reference == pool.install(run), "fused chain: {threads} threads give different links");
        }
    }
}

/// FNV-1a checksum of the links after 5 compound sweeps (β = 6, one OR) on 4⁴
/// from a hot start with seed 1: equal on every target and thread count.
pub fn short_chain_checksum() -> String {
    short_chain_field().checksum()
}

/// The field of [`short_chain_checksum`]: 5 compound sweeps at β = 6 on 4⁴ from a hot start.
pub fn short_chain_field() -> GaugeField<f64> {
    let g = lattice(&[4, 4, 4, 4]);
    let mut c = WilsonChain::new(GaugeField::<f64>::hot(g, 1), 6.0, 1, 1, 0).unwrap();
    for _ in 0..5 {
        c.step();
    }
    c.into_field()
}

/// The checkerboard write-back of the sweeps (`set_links_of_parity`, run in
/// parallel over pairs of sites) sets exactly the links `U_mu(x)` of the sites
/// of one parity, in the order of `sites_of_parity`, and no other link:
/// compared with `set_link` one site at a time on 2D, 3D and 4D lattices with
/// unequal even extents.
pub fn checkerboard_write_back_sets_one_parity() {
    for dims in [&[6usize, 4][..], &[4, 2, 6], &[2, 4, 6, 4], &[8, 8, 8, 8]] {
        let geom = lattice(dims);
        for mu in 0..geom.nd() {
            for parity in 0..2 {
                let u = random_field(&geom, None, 11);
                let other = random_field(&geom, None, 12);
                let sites = geom.sites_of_parity(parity);
                let new: Vec<_> = sites.iter().map(|&x| *other.link(x as usize, mu)).collect();
                let mut fast = u.clone();
                fast.set_links_of_parity(mu, parity, &new);
                let mut slow = u.clone();
                for (&x, l) in sites.iter().zip(&new) {
                    slow.set_link(x as usize, mu, *l);
                }
                assert!(fast == slow, "write-back differs on {dims:?}, mu {mu}, parity {parity}");
                assert!(fast != u, "nothing was written on {dims:?}");
            }
        }
    }
}
