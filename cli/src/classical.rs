//! `fpa fit-classical`: the classical, APE-type parametrisation of the FP action
//! ([`fpa_core::action::FatPolynomial`]) fitted to FP data, the baseline the L-CNN is compared
//! with in the FP literature; and the JSON file that holds it (an action for `--action`,
//! `--flow` and `fpa eval --baseline`).

use crate::files::write_json;
use anyhow::{ensure, Context, Result};
use clap::Args;
use fpa_core::action::fat_polynomial::{fit, terms_up_to, FitConfig};
use fpa_core::action::FatPolynomial;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// What the file's `kind` says.
pub const KIND: &str = "fat-polynomial";

#[derive(Args, Debug)]
pub struct FitClassicalArgs {
    /// FP dataset directory, `DIR` or `DIR@W` (each configuration counts W times); repeat to combine
    #[arg(long = "data", required = true)]
    pub data: Vec<String>,
    /// Smearing coefficient s of the fat links to try (repeat); the fit with the lowest objective is kept
    #[arg(long = "smear", default_values_t = [0.05, 0.1, 0.15, 0.2, 0.25, 0.3])]
    pub smear: Vec<f64>,
    /// Highest total degree k + l of the terms u^k w^l (4: 14 terms)
    #[arg(long, default_value_t = 4)]
    pub degree: u32,
    /// Weight of the relative-squared value loss (A/A_FP − 1)^2
    #[arg(long, default_value_t = 100.0)]
    pub w1: f64,
    /// Weight of the invariant loss of the derivatives
    #[arg(long, default_value_t = 100.0)]
    pub w2: f64,
    /// Leave c_(1,0) + c_(0,1) free instead of imposing the continuum normalisation (= 1)
    #[arg(long)]
    pub free_normalisation: bool,
    /// Ridge, relative to the mean squared column norm of the least-squares problem
    #[arg(long, default_value_t = 1e-12)]
    pub ridge: f64,
    /// The JSON file to write
    #[arg(long)]
    pub out: PathBuf,
}

/// One smearing coefficient of the scan.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ScanRow {
    pub smear: f64,
    pub objective: f64,
    pub leading_sum: f64,
}

/// The file `fpa fit-classical` writes (and `--action FILE.json` reads).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ClassicalFile {
    /// Always `fat-polynomial`.
    pub kind: String,
    /// `A = (1/3) Σ_{x, μ<ν} Σ_j coeffs[j] u^terms[j][0] w^terms[j][1]`, see the README.
    pub smear: f64,
    pub terms: Vec<(u32, u32)>,
    pub coeffs: Vec<f64>,
    /// `Σ_{k+l=1} c`: 1 for the continuum normalisation (imposed unless `normalised` is false).
    pub leading_sum: f64,
    pub normalised: bool,
    /// The fit's objective (per configuration, weighted mean) and Wilson's.
    pub objective: f64,
    pub objective_wilson: f64,
    pub w1: f64,
    pub w2: f64,
    pub ridge: f64,
    pub data: Vec<String>,
    pub configs: usize,
    pub scan: Vec<ScanRow>,
    pub program: String,
    /// The command line that wrote the file.
    #[serde(default)]
    pub command: String,
}

/// Reads a file written by `fpa fit-classical`, with checks that name what is wrong.
pub fn load(path: &Path) -> Result<FatPolynomial> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let f: ClassicalFile = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a classical-action file of `fpa fit-classical`", path.display()))?;
    ensure!(f.kind == KIND, "{}: kind {:?}, expected {KIND:?}", path.display(), f.kind);
    ensure!(
        f.terms.len() == f.coeffs.len() && !f.terms.is_empty(),
        "{}: {} terms but {} coefficients",
        path.display(),
        f.terms.len(),
        f.coeffs.len()
    );
    ensure!(
        f.terms.iter().all(|&(k, l)| k + l >= 1 && k + l <= 16),
        "{}: every term needs a total degree from 1 to 16",
        path.display()
    );
    ensure!(
        f.coeffs.iter().all(|c| c.is_finite()) && f.smear.is_finite(),
        "{}: the coefficients and the smearing must be finite numbers",
        path.display()
    );
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    Ok(FatPolynomial::new(f.smear, f.terms, f.coeffs, name))
}

pub fn run(args: &FitClassicalArgs) -> Result<()> {
    ensure!(!args.smear.is_empty(), "give at least one --smear");
    ensure!(
        args.smear.iter().all(|s| s.is_finite() && *s > 0.0 && *s < 1.0),
        "--smear: each coefficient must be in (0, 1) (at 0 the fat plaquette is the thin one)"
    );
    ensure!((1..=8).contains(&args.degree), "--degree must be from 1 to 8");
    ensure!(
        args.w1 >= 0.0 && args.w2 >= 0.0 && args.w1 + args.w2 > 0.0 && args.w1.is_finite() && args.w2.is_finite(),
        "--w1 and --w2 must be non-negative, finite and not both 0"
    );
    ensure!(args.ridge >= 0.0 && args.ridge.is_finite(), "--ridge must be a non-negative number");
    let mut samples = Vec::new();
    for d in &args.data {
        samples.extend(crate::dataset::load_weighted(d)?);
    }
    ensure!(!samples.is_empty(), "no configurations in the data");
    let configs: Vec<FitConfig<'_>> =
        samples.iter().map(|s| FitConfig { links: &s.links, a_fp: s.a_fp, d_fp: &s.d_fp, weight: s.weight }).collect();
    let terms = terms_up_to(args.degree);
    println!(
        "fitting {} terms u^k w^l (k + l <= {}) to {} configurations, w1 = {}, w2 = {}",
        terms.len(),
        args.degree,
        configs.len(),
        args.w1,
        args.w2
    );
    let mut best: Option<fpa_core::action::fat_polynomial::FitResult> = None;
    let mut scan = Vec::new();
    for &s in &args.smear {
        let t = std::time::Instant::now();
        let r = fit(&configs, s, &terms, args.w1, args.w2, args.ridge, !args.free_normalisation)
            .map_err(|e| anyhow::anyhow!("fit at s = {s}: {e}"))?;
        println!(
            "  s = {s:<6} objective {:.6e} (Wilson {:.6e}), sum of the leading coefficients {:.6}  [{:.1} s]",
            r.objective,
            r.objective_wilson,
            r.action.leading_sum(),
            t.elapsed().as_secs_f64()
        );
        scan.push(ScanRow { smear: s, objective: r.objective, leading_sum: r.action.leading_sum() });
        if best.as_ref().is_none_or(|b| r.objective < b.objective) {
            best = Some(r);
        }
    }
    let best = best.expect("one smearing at least");
    let file = ClassicalFile {
        kind: KIND.into(),
        smear: best.action.smear,
        terms: best.action.terms.clone(),
        leading_sum: best.action.leading_sum(),
        normalised: !args.free_normalisation,
        coeffs: best.action.coeffs.clone(),
        objective: best.objective,
        objective_wilson: best.objective_wilson,
        w1: args.w1,
        w2: args.w2,
        ridge: args.ridge,
        data: args.data.clone(),
        configs: configs.len(),
        scan,
        program: format!("fpa {}", env!("CARGO_PKG_VERSION")),
        command: std::env::args().skip(1).collect::<Vec<_>>().join(" "),
    };
    if let Some(dir) = args.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    write_json(&args.out, &file)?;
    println!(
        "kept s = {}: objective {:.6e}, {:.2}x below Wilson's; wrote {}",
        file.smear,
        file.objective,
        file.objective_wilson / file.objective,
        args.out.display()
    );
    Ok(())
}
