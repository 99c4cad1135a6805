//! Loading FP datasets written by `fpa fp-data`.

use crate::fp_data::{Index, FORMAT};
use anyhow::{ensure, Context, Result};
use fpa_core::io::npy;
use fpa_core::lattice::{GaugeField, Geometry};
use fpa_core::lcnn::train::Sample;
use fpa_core::su3::{Complex, Mat3};
use std::path::Path;
use std::sync::Arc;

fn read_npy(path: &Path) -> Result<npy::Array> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    npy::decode(&bytes).with_context(|| format!("{} is not a usable array", path.display()))
}

/// Parses an FP dataset's `index.json` and checks what can be checked without its arrays:
/// the format, and per configuration a lattice of at most 4 dimensions, 2 to 2¹⁶ sites per
/// direction, finite numbers, and array file names inside the dataset directory.
pub fn parse_index(text: &str) -> Result<Index> {
    let idx: Index = serde_json::from_str(text)?;
    ensure!(idx.format == FORMAT, "the format is {:?}, not {FORMAT}", idx.format);
    for c in &idx.configs {
        ensure!(
            (2..=4).contains(&c.lattice.len()) && c.lattice.iter().all(|d| (2..=1 << 16).contains(d)),
            "{}: lattice {:?} is not a 2D–4D lattice with extents 2..65536",
            c.id,
            c.lattice
        );
        ensure!(c.a_fp.is_finite() && c.beta_wil.is_finite(), "{}: non-finite numbers", c.id);
        for f in [&c.links, &c.d_fp] {
            ensure!(
                !f.is_empty() && !f.contains('/') && !f.contains('\\') && f != ".." && f != ".",
                "{}: array file {f:?} is not a plain file name inside the dataset",
                c.id
            );
        }
    }
    Ok(idx)
}

/// A training source `DIR` or `DIR@W`: the dataset directory and how many times each of its
/// configurations counts (`W`, a positive number; 1 without `@`). A directory whose own name
/// ends in `@` and a number is taken whole when it exists.
pub fn weighted_source(arg: &str) -> Result<(&Path, f64)> {
    if let Some((dir, w)) = arg.rsplit_once('@') {
        if !Path::new(arg).is_dir() {
            let weight: f64 = w
                .parse()
                .ok()
                .with_context(|| format!("--data {arg}: the weight after '@' must be a number, not {w:?}"))?;
            ensure!(
                weight > 0.0 && weight.is_finite(),
                "--data {arg}: the weight after '@' must be a positive number (each configuration of {dir} counts that many times)"
            );
            return Ok((Path::new(dir), weight));
        }
    }
    Ok((Path::new(arg), 1.0))
}

/// Reads the configurations of a source `DIR` or `DIR@W` ([`weighted_source`]), each with weight W.
pub fn load_weighted(arg: &str) -> Result<Vec<Sample>> {
    let (dir, weight) = weighted_source(arg)?;
    let (_, samples) = load(dir)?;
    Ok(samples.into_iter().map(|s| Sample { weight, ..s }).collect())
}

/// Reads every configuration of a dataset directory.
pub fn load(dir: &Path) -> Result<(Index, Vec<Sample>)> {
    let ip = dir.join("index.json");
    let text = std::fs::read_to_string(&ip)
        .with_context(|| format!("{} is not an FP dataset (no index.json)", dir.display()))?;
    let idx = parse_index(&text).with_context(|| format!("{} is not a usable FP-data index", ip.display()))?;
    let mut samples = Vec::with_capacity(idx.configs.len());
    for c in &idx.configs {
        let sites: Vec<usize> = c.lattice.iter().rev().copied().collect();
        let nd = c.lattice.len();
        let links = read_npy(&dir.join(&c.links))?;
        let mut want = sites.clone();
        want.extend([nd, 3, 3]);
        ensure!(
            links.dtype == npy::Dtype::C128 && links.shape == want,
            "{}: links have shape {:?}, expected {want:?}",
            c.links,
            links.shape
        );
        // Built only once the array (whose size is the file's) has the lattice's shape.
        let geom = Arc::new(Geometry::new(&c.lattice).map_err(|e| anyhow::anyhow!("{}: {e}", c.id))?);
        let mats: Vec<Mat3<f64>> = links
            .data
            .chunks_exact(18)
            .map(|ch| {
                let mut m = Mat3::zero();
                for (i, z) in m.m.iter_mut().flatten().enumerate() {
                    *z = Complex::new(ch[2 * i], ch[2 * i + 1]);
                }
                m
            })
            .collect();
        let d = read_npy(&dir.join(&c.d_fp))?;
        let mut want = sites;
        want.extend([nd, 8]);
        ensure!(
            d.dtype == npy::Dtype::F64 && d.shape == want,
            "{}: D_FP has shape {:?}, expected {want:?}",
            c.d_fp,
            d.shape
        );
        ensure!(c.a_fp.is_finite() && d.data.iter().all(|x| x.is_finite()), "{}: non-finite FP data", c.id);
        let u = GaugeField::from_links(geom, mats);
        ensure!(u.is_finite() && u.unitarity_violation() < 1e-10, "{}: links are not SU(3)", c.links);
        samples.push(Sample {
            links: u,
            a_fp: c.a_fp,
            d_fp: d.data.chunks_exact(8).map(|x| core::array::from_fn(|a| x[a])).collect(),
            beta: c.beta_wil,
            weight: 1.0,
        });
    }
    Ok((idx, samples))
}

#[cfg(test)]
mod tests {
    use super::weighted_source;
    use std::path::Path;

    #[test]
    fn data_weights_parse_and_bad_ones_are_named() {
        assert_eq!(weighted_source("fp/train").unwrap(), (Path::new("fp/train"), 1.0));
        assert_eq!(weighted_source("fp/inst@4").unwrap(), (Path::new("fp/inst"), 4.0));
        assert_eq!(weighted_source("a@b/fp@0.5").unwrap(), (Path::new("a@b/fp"), 0.5));
        for bad in ["fp@0", "fp@-1", "fp@x", "fp@", "fp@inf", "fp@NaN"] {
            let e = weighted_source(bad).unwrap_err().to_string();
            assert!(e.contains(bad) && e.contains("weight"), "{bad}: {e}");
        }
        // An existing directory whose name ends in @ and a number is taken whole.
        let dir = std::env::temp_dir().join(format!("fpa-weight-{}@2", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let arg = dir.display().to_string();
        assert_eq!(weighted_source(&arg).unwrap(), (dir.as_path(), 1.0));
        std::fs::remove_dir(&dir).unwrap();
    }
}
