//! `fpa convert IN OUT --format F`: reads a gauge file in any supported format
//! (with all the checks its format allows) and writes it in another.

use crate::chain::{write_options, FileFormat};
use crate::files::{read_gauge, write_atomic};
use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use fpa_core::io::gauge_file::{self, Format};
use fpa_core::io::nersc::Precision;
use fpa_core::observe::average_plaquette;
use std::path::PathBuf;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutFormat {
    /// NERSC archive (3x3 or two rows with --nersc-layout), big-endian
    Nersc,
    /// ILDG / LIME with SciDAC checksum, big-endian
    Ildg,
    /// openQCD export format (the "CERN" format), f64 little-endian
    Openqcd,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Width {
    F64,
    F32,
}

#[derive(Args, Debug)]
pub struct ConvertArgs {
    /// Gauge file to read (NERSC, ILDG, openQCD or MILC; recognised from its bytes)
    pub input: PathBuf,
    /// File to write (atomically: a temporary file, then a rename)
    pub output: PathBuf,
    /// Format of the output
    #[arg(long, value_enum)]
    pub format: OutFormat,
    /// Width of the stored numbers (NERSC and ILDG; openQCD is always f64)
    #[arg(long, value_enum, default_value = "f64")]
    pub precision: Width,
    /// NERSC layout
    #[arg(long, value_enum, default_value = "3x3")]
    pub nersc_layout: FileFormat,
    /// Ensemble id written into NERSC/ILDG headers
    #[arg(long, default_value = "fpa")]
    pub ensemble_id: String,
    /// Sequence number written into NERSC/ILDG headers
    #[arg(long, default_value_t = 0)]
    pub sequence: u64,
}

/// Runs `fpa convert`.
pub fn run(a: &ConvertArgs) -> Result<()> {
    let format = match a.format {
        OutFormat::Nersc => Format::Nersc,
        OutFormat::Ildg => Format::Ildg,
        OutFormat::Openqcd => Format::OpenQcd,
    };
    if format == Format::OpenQcd && a.precision == Width::F32 {
        bail!("openQCD files hold double-precision numbers only; drop --precision f32");
    }
    let d = read_gauge(&a.input)?;
    let u = &d.field;
    if u.geometry().nd() != 4 {
        bail!("{} holds a {}D lattice; gauge files are 4D", a.input.display(), u.geometry().nd());
    }
    let mut opts = write_options(a.nersc_layout, &a.ensemble_id, String::new(), a.sequence);
    opts.precision = match a.precision {
        Width::F64 => Precision::F64,
        Width::F32 => Precision::F32,
    };
    let bytes = gauge_file::encode(u, format, &opts)
        .with_context(|| format!("cannot write {} as {format}", a.output.display()))?;
    write_atomic(&a.output, &bytes)?;
    let width = |p: Precision| if p == Precision::F64 { "f64" } else { "f32" };
    println!(
        "read  {}: {}, {}, {}, verified: {}",
        a.input.display(),
        d.format,
        u.geometry().label(),
        width(d.precision),
        d.verified.join(", ")
    );
    println!(
        "wrote {}: {format}, {}, {} bytes; plaquette {:.15}",
        a.output.display(),
        if format == Format::OpenQcd { "f64" } else { width(opts.precision) },
        bytes.len(),
        average_plaquette(u)
    );
    Ok(())
}
