//! `report.html`: one self-contained page (inline SVG and CSS, no network)
//! with every plot and headline number of a pipeline run.

use crate::files::write_atomic;
use crate::pipeline::Summary;
use anyhow::Result;
use std::fmt::Write;
use std::path::Path;

pub(crate) fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// The SVG file's content for inline use (empty note if missing).
pub(crate) fn svg(path: &Path) -> String {
    match std::fs::read_to_string(path) {
        Ok(s) => s.find("<svg").map(|i| s[i..].to_string()).unwrap_or(s),
        Err(_) => format!("<p><em>missing plot {}</em></p>", esc(&path.display().to_string())),
    }
}

fn e(x: f64) -> String {
    format!("{x:.3e}")
}

/// The start of a report page: head, title and the house style, up to `<body>`.
pub(crate) fn page_start(title: &str) -> String {
    let mut h = String::from("<!doctype html><html><head><meta charset=\"utf-8\"><title>");
    h.push_str(&esc(title));
    h.push_str(
        "</title><style>\
body{font-family:system-ui,sans-serif;max-width:1000px;margin:2em auto;color:#222;line-height:1.45}\
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}\
th{background:#f2f2f2}h1,h2{border-bottom:1px solid #ddd}.grid{display:flex;flex-wrap:wrap;gap:8px}\
.grid svg{width:480px;height:auto}svg{max-width:100%;height:auto}.good{color:#070}.bad{color:#a00}code{background:#f5f5f5}\
</style></head><body>",
    );
    h
}

pub fn write(dir: &Path, s: &Summary) -> Result<()> {
    let mut h = page_start("fpa: fixed point action report");
    let last = &s.rounds[s.best_round];
    let _ = write!(
        h,
        "<h1>Learned fixed point action</h1><p>{} — run finished in {:.0} s. Coarse lattice {}, β<sub>wil</sub> = {:?}, \
         right-hand side of the first round: <code>{}</code>, model <code>{}</code>.</p>",
        esc(&s.program),
        s.seconds,
        esc(&s.config.ensembles.lattice),
        s.config.ensembles.betas,
        esc(&s.config.fp.rhs),
        esc(&s.config.train.model)
    );
    let better = last.lcnn_rel_error < last.wilson_rel_error;
    let _ = write!(
        h,
        "<h2>Headline</h2><p class=\"{}\">Relative error of the action values, averaged over β<sub>wil</sub>: \
         L-CNN {} against Wilson {} ({:.1}x {}); invariant loss of the derivatives: L-CNN {} against Wilson {} \
         (round {}, the model used below).</p>",
        if better { "good" } else { "bad" },
        e(last.lcnn_rel_error),
        e(last.wilson_rel_error),
        if better { last.wilson_rel_error / last.lcnn_rel_error } else { last.lcnn_rel_error / last.wilson_rel_error },
        if better { "better" } else { "worse" },
        e(last.lcnn_invariant_loss),
        e(last.wilson_invariant_loss),
        s.best_round
    );
    h.push_str("<h2>Action values and derivatives per coupling</h2>");
    for r in &s.rounds {
        let _ = write!(h, "<h3>Round {} (right-hand side: <code>{}</code>; evaluated on {})</h3><table><tr><th>β<sub>wil</sub></th><th>configs</th><th>L-CNN rel. error</th><th>signed</th><th>inv. loss</th><th>Wilson rel. error</th><th>signed</th><th>inv. loss</th></tr>", r.round, esc(&r.rhs), esc(&r.evaluated_on));
        for b in &r.per_beta {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                b.beta_wil,
                b.configs,
                e(b.lcnn.rel_error),
                e(b.lcnn.rel_error_signed),
                e(b.lcnn.invariant_loss),
                e(b.wilson.rel_error),
                e(b.wilson.rel_error_signed),
                e(b.wilson.invariant_loss)
            );
        }
        h.push_str("</table><div class=\"grid\">");
        h.push_str(&svg(&dir.join("eval").join(format!("round{}.relerr.svg", r.round))));
        h.push_str(&svg(&dir.join("eval").join(format!("round{}.invloss.svg", r.round))));
        h.push_str("</div>");
        if let Some(c) = r.fp_change {
            let _ = write!(h, "<p>Mean relative change of A<sub>FP</sub> from the previous round: {}.</p>", e(c));
        }
    }
    if let Some((round, n, reason)) = &s.failed_round {
        let _ = write!(
            h,
            "<p class=\"bad\">Round {round}: {n} minimisations with the previous round's L-CNN as the right-hand side failed ({}); the iteration stopped there and the later stages use the last good model.</p>",
            esc(reason)
        );
    }
    if s.rounds.len() > 1 {
        h.push_str("<h2>Self-consistent iteration</h2><p>Each round uses the previous round's L-CNN as the right-hand side of the FP equation.</p>");
        h.push_str(&svg(&dir.join("plots").join("rounds.svg")));
    }
    h.push_str("<h2>Training curves</h2><div class=\"grid\">");
    if let Ok(rd) = std::fs::read_dir(dir.join("models")) {
        let mut curves: Vec<_> = rd
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.to_string_lossy().ends_with(".loss.svg"))
            .collect();
        curves.sort();
        for c in curves {
            h.push_str(&svg(&c));
        }
    }
    h.push_str("</div>");
    if let Some(r) = &s.instanton_refit {
        let _ = write!(
            h,
            "<h2>Instanton refit</h2><p>Last layer and read-out refitted exactly (w2 = {}) with instantons of ρ/a = {:?} \
             added to the round-0 data: A_L-CNN/A_FP {:?} → {:?}. On the Wilson ensembles afterwards:</p>\
             <table><tr><th>β_wil</th><th>rel. error L-CNN</th><th>Wilson</th><th>inv. loss L-CNN</th><th>Wilson</th></tr>",
            r.w2,
            r.rhos,
            r.lcnn_over_fp_before.iter().map(|x| format!("{x:.4}")).collect::<Vec<_>>(),
            r.lcnn_over_fp_after.iter().map(|x| format!("{x:.4}")).collect::<Vec<_>>(),
        );
        for row in &r.per_beta {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                row.beta_wil,
                e(row.lcnn.rel_error),
                e(row.wilson.rel_error),
                e(row.lcnn.invariant_loss),
                e(row.wilson.invariant_loss)
            );
        }
        h.push_str("</table>");
    }
    if let Some(t) = &s.transfer {
        let _ = write!(
            h,
            "<h2>Transfer to {}</h2><p>Relative action error L-CNN {} vs Wilson {}; invariant loss {} vs {}.</p>",
            esc(&t.lattice),
            e(t.lcnn_rel_error),
            e(t.wilson_rel_error),
            e(t.lcnn_invariant_loss),
            e(t.wilson_invariant_loss)
        );
    }
    let _ = write!(h, "<h2>Instantons on {}</h2><p>SU(2) instanton in SU(3), singular gauge, windowed on the periodic lattice, centred in a hypercube. Actions in units of the continuum value 4π²/3; on a periodic box the window adds a little action, the same configuration is given to every action.</p><table><tr><th>ρ/a</th><th>Wilson</th><th>FP (minimisation)</th><th>L-CNN</th></tr>", esc(&s.config.instantons.lattice));
    for r in &s.instantons {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{:.4}</td><td>{:.4}{}</td><td>{:.4}</td></tr>",
            r.rho,
            r.wilson,
            r.fp,
            if r.fp_converged { "" } else { " (not converged)" },
            r.lcnn
        );
    }
    h.push_str("</table>");
    h.push_str(&svg(&dir.join("plots").join("instantons.svg")));
    let _ = write!(
        h,
        "<h2>Locality</h2><p>Frobenius norm of the 8x8 blocks of ∂²A<sub>L-CNN</sub>/∂V∂V against the distance of the links (exact Hessian columns, configuration at β<sub>wil</sub> = {}). Decay length of an exponential fit: {}.</p>",
        s.config.locality.beta,
        s.locality_decay_length.map_or("—".into(), |r| format!("{r:.3} a"))
    );
    h.push_str(&svg(&dir.join("plots").join("locality.svg")));
    let _ = write!(
        h,
        "<h2>Configuration</h2><pre>{}</pre><p>Every number on this page is in <code>summary.json</code>.</p></body></html>",
        esc(&toml::to_string_pretty(&s.config).unwrap_or_default())
    );
    write_atomic(&dir.join("report.html"), h.as_bytes())
}
