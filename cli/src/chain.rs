//! What `fpa generate` and `fpa hmc` share: a Markov chain written to a run
//! directory as NERSC configurations and a `summary.json` that holds the
//! resume state (the number of steps done and the file with the field after
//! them).
//!
//! Saving policy: after step `n` (counted from 1), a configuration
//! `config_NNNN.nersc` when `n > therm` and `(n − therm)` is a multiple of
//! `every`; otherwise a `checkpoint_NNNNNN.nersc` when 30 s have passed since
//! the last save or the invocation stops. The summary names the newest file
//! and is written after it, so a killed run always finds a consistent pair.

use crate::files::{read_nersc, utc_now, write_json, write_nersc};
use anyhow::{ensure, Result};
use clap::ValueEnum;
use fpa_core::io::nersc::{Layout, Precision, WriteOptions};
use fpa_core::lattice::{GaugeField, Geometry};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Start {
    Hot,
    Cold,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
pub enum FileFormat {
    /// 4D_SU3_GAUGE_3x3, double precision
    #[value(name = "3x3")]
    #[serde(rename = "3x3")]
    Full,
    /// 4D_SU3_GAUGE (two rows), double precision
    #[value(name = "2row")]
    #[serde(rename = "2row")]
    TwoRow,
}

/// Where and how a chain's files are written (shared by `generate` and `hmc`).
#[derive(clap::Args, Debug, Clone)]
pub struct OutputArgs {
    /// NERSC layout of the saved configurations
    #[arg(long, value_enum, default_value = "3x3")]
    pub format: FileFormat,
    /// Output directory (created; an existing run there is resumed, or extended by a larger --configs)
    #[arg(long)]
    pub out: std::path::PathBuf,
    /// Stop after this many steps in this invocation (the run can be resumed)
    #[arg(long, hide = true)]
    pub stop_after: Option<u64>,
    /// No progress bar
    #[arg(long)]
    pub quiet: bool,
}

/// Where a chain job writes and how it reports (the library form of [`OutputArgs`] less the
/// file format, which is part of a run's settings).
#[derive(Clone, Debug)]
pub struct RunOutput {
    /// The run directory (created; an existing run there is resumed or extended).
    pub out: std::path::PathBuf,
    /// Stop after this many steps in this invocation (the run can be resumed).
    pub stop_after: Option<u64>,
    pub quiet: bool,
}

impl OutputArgs {
    pub fn run_output(&self) -> RunOutput {
        RunOutput { out: self.out.clone(), stop_after: self.stop_after, quiet: self.quiet }
    }
}

/// A 4D lattice for a chain (`8x8x8x8`, x fastest), `what` naming the runs in messages.
pub fn lattice_4d(lattice: &str, what: &str) -> anyhow::Result<Arc<Geometry>> {
    let geom = Geometry::parse(lattice).map_err(|e| anyhow::anyhow!("--lattice: {e}"))?;
    anyhow::ensure!(geom.nd() == 4, "--lattice {lattice}: {what} are 4D (NERSC files hold 4D lattices)");
    Ok(Arc::new(geom))
}

/// The field a chain starts from: Haar random (keyed by the seed) or unit links.
pub fn initial_field(start: Start, seed: u64, geom: Arc<Geometry>) -> GaugeField<f64> {
    match start {
        Start::Hot => GaugeField::hot(geom, seed),
        Start::Cold => GaugeField::cold(geom),
    }
}

/// NERSC write options of a chain's files (`SEQUENCE_NUMBER` = steps done).
pub fn write_options(format: FileFormat, ensemble_id: &str, label: String, steps: u64) -> WriteOptions {
    WriteOptions {
        layout: match format {
            FileFormat::Full => Layout::Full,
            FileFormat::TwoRow => Layout::TwoRow,
        },
        precision: Precision::F64,
        ensemble_id: ensemble_id.into(),
        ensemble_label: label,
        sequence_number: steps,
        creator: format!("fpa {}", env!("CARGO_PKG_VERSION")),
        creation_date: utc_now(),
        ..Default::default()
    }
}

/// A run's `summary.json`.
pub trait RunRecord: Serialize {
    /// The file holding the field after the steps done.
    fn checkpoint_mut(&mut self) -> &mut Option<String>;
    /// Brings derived statistics and the time stamp up to date before a save.
    fn finish(&mut self);
}

/// Writes `summary.json` (statistics brought up to date first).
pub fn save<R: RunRecord>(dir: &Path, rec: &mut R) -> Result<()> {
    rec.finish();
    write_json(&dir.join("summary.json"), rec)
}

/// Records `file` as the resume state, then removes the previous
/// checkpoint file (configuration files are kept).
fn set_checkpoint<R: RunRecord>(dir: &Path, rec: &mut R, file: String) -> Result<()> {
    let new = file.clone();
    let old = rec.checkpoint_mut().replace(file);
    save(dir, rec)?;
    if let Some(old) = old {
        if old.starts_with("checkpoint_") && old != new {
            let _ = std::fs::remove_file(dir.join(old));
        }
    }
    Ok(())
}

/// The field a resumed run continues from: its checkpoint, checked against
/// the lattice and the number of steps done (`unit` names them in messages),
/// or the initial field when none was written yet.
pub fn resume_field(
    dir: &Path,
    checkpoint: Option<&String>,
    geom: &Geometry,
    done: u64,
    unit: &str,
    initial: impl FnOnce() -> GaugeField<f64>,
) -> Result<GaugeField<f64>> {
    let Some(f) = checkpoint else { return Ok(initial()) };
    let (u, h) = read_nersc(&dir.join(f))?;
    ensure!(*u.geometry().as_ref() == *geom, "checkpoint {f} has lattice {}", u.geometry().label());
    let seq = h.get("SEQUENCE_NUMBER").and_then(|v| v.parse::<u64>().ok());
    ensure!(seq == Some(done), "checkpoint {f} is from {unit} {seq:?}, summary says {done}");
    Ok(u)
}

/// A run directory opened for more steps, or found complete (`S` the run's summary).
pub enum Opened<S> {
    Complete(S),
    /// The summary so far (settings normalised), the field after its steps, and the lock on
    /// the directory (held while the run goes on).
    Run {
        summary: S,
        field: GaugeField<f64>,
        lock: crate::lock::OutputLock,
    },
}

/// The saving policy of one invocation.
pub struct Saver {
    pub therm: u64,
    pub every: u64,
    pub total: u64,
    /// Stop after this many steps in this invocation.
    pub stop_after: Option<u64>,
    done_here: u64,
    last: Instant,
}

impl Saver {
    pub fn new(therm: u64, every: u64, total: u64, stop_after: Option<u64>) -> Self {
        Saver { therm, every, total, stop_after, done_here: 0, last: Instant::now() }
    }

    /// After step `n` (counted from 1): writes the engine's field as the configuration when
    /// one is due (and calls `on_config(rec, file, field)` before the summary is saved) or as a
    /// checkpoint when one is due. Returns `true` when this invocation should stop here
    /// (`--stop-after`, or the last step). Collective over the engine's processes: the
    /// writing one decides when 30 s have passed and the others follow.
    pub fn after_step<R: RunRecord>(
        &mut self,
        dir: &Path,
        engine: &mut dyn Engine,
        n: u64,
        rec: &mut R,
        opts: WriteOptions,
        on_config: impl FnOnce(&mut R, &str, &GaugeField<f64>),
    ) -> Result<bool> {
        self.done_here += 1;
        let stopping = self.stop_after.is_some_and(|s| self.done_here >= s) || n == self.total;
        let config = n > self.therm && (n - self.therm).is_multiple_of(self.every);
        let checkpoint = !config && engine.agree(stopping || self.last.elapsed().as_secs() >= 30);
        let file = if config {
            format!("config_{:04}.nersc", (n - self.therm) / self.every)
        } else if checkpoint {
            format!("checkpoint_{n:06}.nersc")
        } else {
            return Ok(stopping);
        };
        let mut on_config = config.then_some(on_config);
        engine.with_whole(&mut |field| {
            write_nersc(&dir.join(&file), field, &opts)?;
            if let Some(f) = on_config.take() {
                f(rec, &file, field);
            }
            Ok(())
        })?;
        if engine.writes() {
            set_checkpoint(dir, rec, file)?;
        }
        self.last = Instant::now();
        Ok(stopping)
    }
}

/// Where a chain's field lives: whole in this process, or cut into slabs over MPI ranks (one
/// engine per rank, all calling the collective methods in the same order).
pub trait Engine {
    /// `true` on the process that writes files and shows progress.
    fn writes(&self) -> bool {
        true
    }
    /// The writing process's `flag`, on every process (collective).
    fn agree(&mut self, flag: bool) -> bool {
        flag
    }
    /// The average plaquette of the whole field (collective).
    fn average_plaquette(&mut self) -> f64;
    /// Calls `f` with the whole field on the writing process (collective).
    fn with_whole(&mut self, f: &mut dyn FnMut(&GaugeField<f64>) -> Result<()>) -> Result<()>;
}
