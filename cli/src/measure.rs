//! `fpa measure`: plaquette, Polyakov loop and Wilson loops of gauge files.

use crate::files::read_gauge;
use anyhow::Result;
use clap::Args;
use fpa_core::observe::plaquette::plaquette_spatial_temporal;
use fpa_core::observe::{average_plaquette, polyakov_loop, temporal_wilson_loop, wilson_loop};
use serde::Serialize;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct MeasureArgs {
    /// Gauge files (NERSC, ILDG, openQCD or MILC; the format is recognised)
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Largest side of the R x T Wilson loops (all R, T up to it)
    #[arg(long, default_value_t = 2)]
    pub loops: usize,
    /// Print JSON instead of a table
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct WilsonLoop {
    r: usize,
    t: usize,
    /// averaged over all planes and orientations
    all: f64,
    /// T along the time direction
    temporal: f64,
}

#[derive(Serialize)]
struct Measurement {
    file: String,
    format: String,
    lattice: String,
    plaquette: f64,
    plaquette_spatial: f64,
    plaquette_temporal: f64,
    polyakov: [f64; 2],
    polyakov_abs: f64,
    wilson_loops: Vec<WilsonLoop>,
}

/// Runs `fpa measure`. Every file is read and checked before anything is printed.
pub fn run(args: &MeasureArgs) -> Result<()> {
    anyhow::ensure!(args.loops >= 1, "--loops must be at least 1");
    let mut out = Vec::new();
    for f in &args.files {
        let d = read_gauge(f)?;
        let u = d.field;
        let (ps, pt) = plaquette_spatial_temporal(&u);
        let pl = polyakov_loop(&u);
        let mut loops = Vec::new();
        for r in 1..=args.loops {
            for t in 1..=args.loops {
                loops.push(WilsonLoop { r, t, all: wilson_loop(&u, r, t), temporal: temporal_wilson_loop(&u, r, t) });
            }
        }
        out.push(Measurement {
            file: f.display().to_string(),
            format: d.format.name().into(),
            lattice: u.geometry().label(),
            plaquette: average_plaquette(&u),
            plaquette_spatial: ps,
            plaquette_temporal: pt,
            polyakov: [pl.re, pl.im],
            polyakov_abs: pl.abs(),
            wilson_loops: loops,
        });
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    let mut header =
        format!("{:<28} {:>10} {:>10} {:>10} {:>21}", "file", "plaquette", "spatial", "temporal", "polyakov (re, im)");
    for w in &out[0].wilson_loops {
        header.push_str(&format!(" {:>10}", format!("W({}x{})", w.r, w.t)));
    }
    println!("{header}");
    for m in &out {
        let name = std::path::Path::new(&m.file).file_name().map_or(m.file.clone(), |n| n.to_string_lossy().into());
        let mut line = format!(
            "{:<28} {:>10.6} {:>10.6} {:>10.6} {:>10.6},{:>10.6}",
            name, m.plaquette, m.plaquette_spatial, m.plaquette_temporal, m.polyakov[0], m.polyakov[1]
        );
        for w in &m.wilson_loops {
            line.push_str(&format!(" {:>10.6}", w.all));
        }
        println!("{line}");
    }
    Ok(())
}
