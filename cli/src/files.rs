//! File handling: atomic writes, gauge files with context, dates.

use anyhow::{bail, Context, Result};
use fpa_core::io::{gauge_file, nersc};
use fpa_core::lattice::GaugeField;
use std::fs;
use std::path::Path;

/// Writes `bytes` to `path` atomically ([`fpa_core::host::write_atomic`]), with the path in the error.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    fpa_core::host::write_atomic(path, bytes).with_context(|| format!("cannot write {}", path.display()))
}

/// Serialises `value` as pretty JSON and writes it atomically.
pub fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<()> {
    let mut s = serde_json::to_string_pretty(value)?;
    s.push('\n');
    write_atomic(path, s.as_bytes())
}

/// Reads and verifies a NERSC gauge file.
pub fn read_nersc(path: &Path) -> Result<(GaugeField<f64>, nersc::Header)> {
    let bytes = fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    nersc::decode(&bytes).with_context(|| format!("{} is not a usable gauge file", path.display()))
}

/// Reads and verifies a gauge file in any supported format (NERSC, ILDG,
/// openQCD, MILC), recognised from its bytes.
pub fn read_gauge(path: &Path) -> Result<gauge_file::Decoded> {
    let bytes = fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    gauge_file::decode(&bytes).with_context(|| format!("{} is not a usable gauge file", path.display()))
}

/// Writes a NERSC gauge file atomically.
pub fn write_nersc(path: &Path, u: &GaugeField<f64>, opts: &nersc::WriteOptions) -> Result<()> {
    let bytes = nersc::encode(u, opts)?;
    write_atomic(path, &bytes)
}

/// The current UTC time as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn utc_now() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil-from-days (H. Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// Creates `dir` if needed; refuses a path that is a file.
pub fn ensure_dir(dir: &Path) -> Result<()> {
    if dir.exists() && !dir.is_dir() {
        bail!("{} exists and is not a directory", dir.display());
    }
    fs::create_dir_all(dir).with_context(|| format!("cannot create directory {}", dir.display()))
}

/// The record of an earlier run in `dir` (its `summary.json`), or `None` for an
/// empty directory. Refuses a non-empty directory without a summary, a corrupt
/// summary, and a run whose settings (as `settings_of` reads them) differ from
/// `settings`: resuming is only safe with the same settings.
pub fn load_run<R, S>(dir: &Path, settings: &S, settings_of: impl Fn(&R) -> &S) -> Result<Option<R>>
where
    R: serde::de::DeserializeOwned,
    S: PartialEq + std::fmt::Debug,
{
    let path = dir.join("summary.json");
    if !path.exists() {
        let foreign =
            fs::read_dir(dir)?.filter_map(|e| e.ok()).any(|e| !e.file_name().to_string_lossy().starts_with('.'));
        if foreign {
            bail!("{} is not empty and holds no fpa run (no summary.json); choose a new --out", dir.display());
        }
        return Ok(None);
    }
    let text = fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let r: R = serde_json::from_str(&text)
        .with_context(|| format!("{} is corrupt; move it away to start a new run", path.display()))?;
    if settings_of(&r) != settings {
        bail!(
            "{} holds a run with different settings:\n  existing: {:?}\n  requested: {:?}\nuse the same settings to resume or extend it, or a new --out",
            dir.display(),
            settings_of(&r),
            settings
        );
    }
    Ok(Some(r))
}
