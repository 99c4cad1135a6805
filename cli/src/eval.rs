//! `fpa eval`: how well a model describes FP data, per β_wil, beside the
//! Wilson action evaluated the same way: relative action error
//! `⟨|A − A_FP| / A_FP⟩`, its signed mean (a bias), and the invariant loss
//! `⟨Σ (D − D_FP)² / (64 V)⟩`.

use crate::actions::ActionChoice;
use crate::files::write_json;
use crate::model_io;
use crate::plot::{line_chart, Series};
use anyhow::{Context, Result};
use clap::Args;
use fpa_core::action::{Action, Improved, Symmetrized, SymmetrySet, Wilson};
use fpa_core::lcnn::action::LcnnAction;
use fpa_core::lcnn::train::{invariant_loss, Sample};
use fpa_core::lcnn::Model;
use fpa_core::observe::instanton::ACTION;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// Trained model (safetensors written by `fpa train`)
    #[arg(long)]
    pub model: PathBuf,
    /// FP dataset directory (repeat to combine)
    #[arg(long = "data", required = true)]
    pub data: Vec<PathBuf>,
    /// Print JSON instead of the table
    #[arg(long)]
    pub json: bool,
    /// Where to write `<prefix>.json` and the plots (default: beside the model; missing directories are created)
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Evaluate the model averaged over lattice symmetries: `reflections` (16 evaluations per
    /// configuration) or `hypercubic` (all 384 rotations and reflections that map the lattice onto
    /// itself); the average is exactly symmetric and removes the part of the model's error that is not symmetric
    #[arg(long, value_parser = parse_symmetry)]
    pub symmetrize: Option<SymmetrySet>,
    /// Another action to tabulate beside Symanzik, Iwasaki and DBW2 (repeat): a name of `--action`
    /// or a classical parametrisation fitted by `fpa fit-classical` (`FILE.json`)
    #[arg(long = "baseline")]
    pub baselines: Vec<String>,
}

fn parse_symmetry(s: &str) -> Result<SymmetrySet, String> {
    SymmetrySet::named(s).ok_or_else(|| format!("{s:?} is not `reflections` or `hypercubic`"))
}

/// Metrics of one action on one coupling.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Metrics {
    pub rel_error: f64,
    pub rel_error_signed: f64,
    pub invariant_loss: f64,
}

/// One configuration's action values.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ConfigRow {
    #[serde(default)]
    pub id: String,
    pub beta_wil: f64,
    pub a_fp: f64,
    pub a_model: f64,
    pub a_wilson: f64,
    /// The Wilson-flow time of a flowed copy (`fpa fp-data --wilson-flow`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_time: Option<f64>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Report {
    /// Metrics per β_wil of the configurations from Wilson ensembles.
    pub per_beta: Vec<BetaRow>,
    /// With flowed copies in the data (`fpa fp-data --wilson-flow`): the metrics per β_wil and
    /// flow time (0 for configurations as they are), ordered by β_wil, then flow time.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub per_flow: Vec<BetaRow>,
    pub configs: Vec<ConfigRow>,
    /// Configurations that come from no ensemble (`beta_wil = 0`: instantons), one by one.
    #[serde(default)]
    pub instantons: Vec<ConfigRow>,
    /// The classical plaquette + rectangle actions (Symanzik, Iwasaki, DBW2) on the same
    /// configurations, per β_wil: how far the best-known classical improvements get.
    #[serde(default)]
    pub baselines: Vec<BaselineRow>,
    /// The symmetry set the model was averaged over (`fpa eval --symmetrize`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symmetrize: Option<String>,
}

/// One classical action's metrics per β_wil.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BaselineRow {
    pub action: String,
    pub per_beta: Vec<(f64, Metrics)>,
    /// `A / A_FP − 1` on the instantons of [`Report::instantons`], in that order.
    #[serde(default)]
    pub instantons: Vec<f64>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BetaRow {
    pub beta_wil: f64,
    /// Only in [`Report::per_flow`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_time: Option<f64>,
    pub configs: usize,
    pub lcnn: Metrics,
    pub wilson: Metrics,
}

/// `(A, A_FP, invariant loss)` of one configuration for one action.
type Prediction = (f64, f64, f64);

fn metrics(rows: &[Prediction]) -> Metrics {
    let n = rows.len() as f64;
    Metrics {
        rel_error: rows.iter().map(|r| ((r.0 - r.1) / r.1).abs()).sum::<f64>() / n,
        rel_error_signed: rows.iter().map(|r| (r.0 - r.1) / r.1).sum::<f64>() / n,
        invariant_loss: rows.iter().map(|r| r.2).sum::<f64>() / n,
    }
}

/// Metrics per β_wil (and flow time, with flowed copies in the data) for a model and for the
/// Wilson action, and every configuration's action values.
pub fn evaluate(
    model: &Model,
    params: &[f64],
    symmetrize: Option<SymmetrySet>,
    data: &Loaded,
    extra_baselines: &[ActionChoice],
) -> Report {
    let (samples, ids, flow) = (&data.samples, &data.ids, &data.flow_times);
    let plain = LcnnAction::new(model.clone(), params.to_vec(), "model".into());
    let lcnn: Box<dyn Action<f64>> = match symmetrize {
        Some(set) => Box::new(Symmetrized::new(plain, set)),
        None => Box::new(plain),
    };
    let per: Vec<(f64, Prediction, Prediction)> = samples
        .iter()
        .map(|s| {
            let vol = s.links.geometry().volume() as f64;
            let mut d = vec![[0.0; 8]; s.links.links().len()];
            let a = lcnn.value_and_derivative(&s.links, &mut d);
            let dw = Wilson.derivative(&s.links);
            (
                s.beta,
                (a, s.a_fp, invariant_loss(&d, &s.d_fp, vol)),
                (Wilson.value(&s.links), s.a_fp, invariant_loss(&dw, &s.d_fp, vol)),
            )
        })
        .collect();
    let configs: Vec<ConfigRow> = per
        .iter()
        .zip(ids)
        .zip(flow)
        .map(|((p, id), &flow_time)| ConfigRow {
            id: id.clone(),
            beta_wil: p.0,
            a_fp: p.1 .1,
            a_model: p.1 .0,
            a_wilson: p.2 .0,
            flow_time,
        })
        .collect();
    let instantons = configs.iter().filter(|c| c.beta_wil == 0.0).cloned().collect();
    let with_beta: Vec<(f64, ())> = per.iter().filter(|p| p.0 != 0.0).map(|p| (p.0, ())).collect();
    let per_beta = per_beta_values(&with_beta)
        .into_iter()
        .map(|b| {
            let l: Vec<_> = per.iter().filter(|p| p.0 == b).map(|p| p.1).collect();
            let w: Vec<_> = per.iter().filter(|p| p.0 == b).map(|p| p.2).collect();
            BetaRow { beta_wil: b, flow_time: None, configs: l.len(), lcnn: metrics(&l), wilson: metrics(&w) }
        })
        .collect();
    let mut keys: Vec<(f64, f64)> =
        per.iter().zip(flow).filter(|(p, _)| p.0 != 0.0).map(|(p, t)| (p.0, t.unwrap_or(0.0))).collect();
    keys.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    keys.dedup();
    let per_flow = if flow.iter().any(Option::is_some) {
        keys.into_iter()
            .map(|(b, t)| {
                let at: Vec<_> = per.iter().zip(flow).filter(|(p, f)| p.0 == b && f.unwrap_or(0.0) == t).collect();
                let l: Vec<_> = at.iter().map(|(p, _)| p.1).collect();
                let w: Vec<_> = at.iter().map(|(p, _)| p.2).collect();
                BetaRow { beta_wil: b, flow_time: Some(t), configs: l.len(), lcnn: metrics(&l), wilson: metrics(&w) }
            })
            .collect()
    } else {
        Vec::new()
    };
    let classical = [Improved::SYMANZIK, Improved::IWASAKI, Improved::DBW2];
    let baselines = classical
        .iter()
        .map(|a| (a.label.to_string(), a as &dyn Action<f64>))
        .chain(extra_baselines.iter().map(|c| (c.action.name(), &*c.action as &dyn Action<f64>)))
        .map(|(label, act)| {
            let rows: Vec<(f64, Prediction)> = samples
                .iter()
                .filter(|s| s.beta != 0.0)
                .map(|s| {
                    let vol = s.links.geometry().volume() as f64;
                    let mut d = vec![[0.0; 8]; s.links.links().len()];
                    let a = act.value_and_derivative(&s.links, &mut d);
                    (s.beta, (a, s.a_fp, invariant_loss(&d, &s.d_fp, vol)))
                })
                .collect();
            let per_beta = per_beta_values(&rows)
                .into_iter()
                .map(|b| {
                    let at: Vec<Prediction> = rows.iter().filter(|r| r.0 == b).map(|r| r.1).collect();
                    (b, metrics(&at))
                })
                .collect();
            let instantons =
                samples.iter().filter(|s| s.beta == 0.0).map(|s| act.value(&s.links) / s.a_fp - 1.0).collect();
            BaselineRow { action: label, per_beta, instantons }
        })
        .collect();
    Report { per_beta, per_flow, configs, instantons, baselines, symmetrize: symmetrize.map(|s| s.name().to_string()) }
}

/// The distinct couplings of `rows`, ascending.
fn per_beta_values<T>(rows: &[(f64, T)]) -> Vec<f64> {
    let mut betas: Vec<f64> = rows.iter().map(|p| p.0).collect();
    betas.sort_by(f64::total_cmp);
    betas.dedup();
    betas
}

/// Relative error and invariant loss against β_wil (log scale), L-CNN beside Wilson.
pub fn plot_rows(prefix: &Path, rows: &[BetaRow], label: &str) -> Result<()> {
    let with = |suffix: &str| {
        let mut s = prefix.as_os_str().to_owned();
        s.push(suffix);
        PathBuf::from(s)
    };
    let series = |f: &dyn Fn(&BetaRow) -> (f64, f64)| -> Vec<Series> {
        vec![
            Series { name: label, points: rows.iter().map(|r| (r.beta_wil, f(r).0)).collect() },
            Series { name: "Wilson", points: rows.iter().map(|r| (r.beta_wil, f(r).1)).collect() },
        ]
    };
    line_chart(
        &with(".relerr.svg"),
        "relative error of the action",
        "beta_wil",
        "<|A - A_FP| / A_FP>",
        &series(&|r| (r.lcnn.rel_error, r.wilson.rel_error)),
        true,
    )?;
    line_chart(
        &with(".invloss.svg"),
        "invariant loss (derivatives)",
        "beta_wil",
        "<sum (D - D_FP)^2 / (64 V)>",
        &series(&|r| (r.lcnn.invariant_loss, r.wilson.invariant_loss)),
        true,
    )
}

/// The configurations of one or more datasets, with their ids and flow times.
pub struct Loaded {
    pub samples: Vec<Sample>,
    pub ids: Vec<String>,
    /// `Some(t)` for a copy smoothed by the Wilson flow to `t` (`fpa fp-data --wilson-flow`).
    pub flow_times: Vec<Option<f64>>,
}

/// The configurations of several datasets.
pub fn load_all(dirs: &[PathBuf]) -> Result<Loaded> {
    let mut out = Loaded { samples: Vec::new(), ids: Vec::new(), flow_times: Vec::new() };
    for d in dirs {
        let (idx, s) = crate::dataset::load(d)?;
        out.ids.extend(idx.configs.iter().map(|c| c.id.clone()));
        out.flow_times.extend(idx.configs.iter().map(|c| c.flow_time));
        out.samples.extend(s);
    }
    anyhow::ensure!(!out.samples.is_empty(), "no configurations in the data");
    Ok(out)
}

/// The report of the model in `model` (a safetensors file) on the FP datasets `data`.
pub fn evaluate_files(
    model: &Path,
    data: &[PathBuf],
    symmetrize: Option<SymmetrySet>,
    baselines: &[String],
) -> Result<Report> {
    let extra = baselines
        .iter()
        .map(|b| crate::actions::parse(b).with_context(|| format!("--baseline {b}")))
        .collect::<Result<Vec<_>>>()?;
    let (model, params, _) = model_io::load(model)?;
    let data = load_all(data)?;
    for s in &data.samples {
        anyhow::ensure!(
            s.links.nd() == model.dims(),
            "the data are {}D, the model is for {}D lattices",
            s.links.nd(),
            model.dims()
        );
    }
    Ok(evaluate(&model, &params, symmetrize, &data, &extra))
}

/// The table of `rows` on standard output (nothing when empty), with a flow-time column for
/// [`Report::per_flow`].
fn print_rows(rows: &[BetaRow], with_flow: bool) {
    let key = |beta: &dyn std::fmt::Display, t: &dyn std::fmt::Display, n: &dyn std::fmt::Display| {
        if with_flow {
            format!("{beta:>8} {t:>7} {n:>7}")
        } else {
            format!("{beta:>8} {n:>7}")
        }
    };
    if rows.is_empty() {
        return;
    }
    println!(
        "{} | {:>12} {:>12} {:>12} | {:>12} {:>12} {:>12}",
        key(&"beta_wil", &"flow t", &"configs"),
        "L-CNN relerr",
        "signed",
        "inv. loss",
        "Wilson relerr",
        "signed",
        "inv. loss"
    );
    for r in rows {
        println!(
            "{} | {:>12.3e} {:>12.3e} {:>12.3e} | {:>12.3e} {:>12.3e} {:>12.3e}",
            key(&r.beta_wil, &r.flow_time.unwrap_or(0.0), &r.configs),
            r.lcnn.rel_error,
            r.lcnn.rel_error_signed,
            r.lcnn.invariant_loss,
            r.wilson.rel_error,
            r.wilson.rel_error_signed,
            r.wilson.invariant_loss
        );
    }
}

/// Runs `fpa eval`: [`evaluate_files`], the report and its plots beside the model (or at
/// `--out`), and the table on standard output.
pub fn run(args: &EvalArgs) -> Result<()> {
    let prefix = args.out.clone().unwrap_or_else(|| {
        let mut s = args.model.as_os_str().to_owned();
        s.push(".eval");
        PathBuf::from(s)
    });
    // The directory of the report first, so that a long evaluation is not lost to a missing one.
    if let Some(dir) = prefix.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let report = evaluate_files(&args.model, &args.data, args.symmetrize, &args.baselines)?;
    let rows = &report.per_beta;
    let mut json_path = prefix.as_os_str().to_owned();
    json_path.push(".json");
    write_json(Path::new(&json_path), &report)?;
    plot_rows(&prefix, rows, "L-CNN")?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    print_rows(rows, false);
    if !rows.is_empty() && !report.baselines.is_empty() {
        print!("classical actions, relerr / inv. loss:");
        for b in &report.baselines {
            print!("  {:>21}", b.action);
        }
        println!();
        for (i, r) in rows.iter().enumerate() {
            print!("{:>38}", r.beta_wil);
            for b in &report.baselines {
                let m = &b.per_beta[i].1;
                print!("  {:>10.3e} {:>10.3e}", m.rel_error, m.invariant_loss);
            }
            println!();
        }
    }
    print_rows(&report.per_flow, true);
    if !report.instantons.is_empty() {
        print!("{:<32} | {:>10} {:>10} {:>10} | {:>12}", "instanton", "A_FP/A_inst", "L-CNN", "Wilson", "L-CNN/FP - 1");
        for b in &report.baselines {
            print!(" {:>14}", format!("{}/FP - 1", b.action.chars().take(9).collect::<String>()));
        }
        println!();
        for (i, c) in report.instantons.iter().enumerate() {
            print!(
                "{:<32} | {:>10.4} {:>10.4} {:>10.4} | {:>12.3e}",
                c.id,
                c.a_fp / ACTION,
                c.a_model / ACTION,
                c.a_wilson / ACTION,
                c.a_model / c.a_fp - 1.0
            );
            for b in &report.baselines {
                print!(" {:>14.3e}", b.instantons[i]);
            }
            println!();
        }
    }
    eprintln!("wrote {} and the plots {}.relerr.svg, .invloss.svg", Path::new(&json_path).display(), prefix.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use fpa_core::lattice::{GaugeField, Geometry};
    use fpa_core::lcnn::ModelSpec;
    use std::sync::Arc;

    /// With flowed copies in the data, the report adds rows per (β_wil, flow time), whose
    /// configurations are exactly those of their coupling's row.
    #[test]
    fn flowed_copies_get_rows_per_flow_time() {
        let m = Model::new(ModelSpec::lcb_stack(&[(2, 1)])).unwrap();
        let p = m.init_params(1);
        let g = Arc::new(Geometry::new(&[2, 2, 2, 2]).unwrap());
        let samples: Vec<Sample> = (0..4)
            .map(|i| {
                let links = GaugeField::hot(g.clone(), 5 + i);
                let d_fp = vec![[0.01; 8]; links.links().len()];
                Sample { links, a_fp: 30.0 + i as f64, d_fp, beta: 6.0, weight: 1.0 }
            })
            .collect();
        let ids: Vec<String> = (0..4).map(|i| format!("c{i}")).collect();
        let plain = Loaded { samples: samples.clone(), ids: ids.clone(), flow_times: vec![None; 4] };
        assert!(evaluate(&m, &p, None, &plain, &[]).per_flow.is_empty());
        let flowed = Loaded { samples, ids, flow_times: vec![None, Some(0.2), None, Some(0.2)] };
        let r = evaluate(&m, &p, None, &flowed, &[]);
        assert_eq!(r.per_beta.len(), 1);
        assert_eq!(
            r.per_flow.iter().map(|x| (x.flow_time, x.configs)).collect::<Vec<_>>(),
            [(Some(0.0), 2), (Some(0.2), 2)]
        );
        let mean = (r.per_flow[0].lcnn.rel_error + r.per_flow[1].lcnn.rel_error) / 2.0;
        assert!((mean - r.per_beta[0].lcnn.rel_error).abs() < 1e-15 * mean);
        assert_eq!(r.configs[1].flow_time, Some(0.2));
    }
}
