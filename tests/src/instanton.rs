//! The lattice instanton constructor against its analytic action and charge.

use crate::util::lattice;
use fpa_core::observe::instanton::{
    open_box_wilson_action, topological_charge, Boundary, Instanton, InstantonGauge, ACTION,
};

/// On an open 24⁴ box, the discretised BPST instanton (singular gauge,
/// centred in a hypercube, 32 substeps) has the Wilson action of the
/// independent computation in `physics.md` §7.3 (box only: 0.745506 at
/// ρ = 1, 0.948165 at ρ = 2, in units of 4π²/3) to 2e-5. Regular and singular
/// gauge are related by a lattice gauge transformation: their actions agree
/// up to the substep error (4e-6 at 128 substeps, ρ = 1). The clover charge
/// is close to 1, and the anti-instanton has the opposite charge.
pub fn instanton_action_and_charge() {
    let g = lattice(&[24, 24, 24, 24]);
    for (rho, want) in [(1.0, 0.745506), (2.0, 0.948165)] {
        let inst = Instanton { boundary: Boundary::Open, ..Instanton::centred(&g, rho) };
        let u = inst.field(g.clone());
        let a = open_box_wilson_action(&u) / ACTION;
        eprintln!("rho {rho}: A_W/A_inst (open box) = {a:.6} (physics.md {want})");
        assert!((a - want).abs() < 2e-5, "rho {rho}: {a} vs {want}");
        if rho == 2.0 {
            let q = topological_charge(&u, true);
            let qa = topological_charge(&Instanton { anti: true, ..inst }.field(g.clone()), true);
            assert!((q + qa).abs() < 1e-9, "anti-instanton charge {qa} vs {q}");
            // The clover charge approaches 1 with an O(a²/ρ²) deficit.
            let q3 = topological_charge(
                &Instanton { boundary: Boundary::Open, ..Instanton::centred(&g, 3.0) }.field(g.clone()),
                true,
            );
            eprintln!("clover Q: rho 2 {q:.4}, rho 3 {q3:.4}, anti-instanton (rho 2) {qa:.4}");
            let ratio = (1.0 - q3) / (1.0 - q);
            assert!(q > 0.75 && q3 > 0.88 && q3 < 1.0, "charges {q}, {q3}");
            assert!((ratio - 4.0 / 9.0).abs() < 0.1, "deficit ratio {ratio} (1/rho^2 predicts 0.444)");
        }
    }
    let g = lattice(&[12, 12, 12, 12]);
    let s = Instanton { boundary: Boundary::Open, substeps: 128, ..Instanton::centred(&g, 1.0) };
    let r = Instanton { gauge: InstantonGauge::Regular, ..s };
    let (a_s, a_r) = (open_box_wilson_action(&s.field(g.clone())), open_box_wilson_action(&r.field(g.clone())));
    eprintln!("12^4 open box, rho 1, 128 substeps: singular {a_s:.7}, regular {a_r:.7}");
    assert!((a_s - a_r).abs() < 1e-5 * a_s, "regular gauge {a_r} vs singular {a_s}");
}
