//! `import fpa`: fpa-core from Python, numpy arrays in and out.
//!
//! Links are `complex128` arrays of shape `(Lt, Lz, Ly, Lx, 4, 3, 3)` (x
//! fastest among the sites, `mu` = 0..3 for x, y, z, t): the layout of fpa's
//! FP datasets (`*.links.npy`). Forces are `float64` arrays of shape
//! `(Lt, Lz, Ly, Lx, 4, 8)`: `D_{x,mu,a} A = d/de A[U_mu(x) -> exp(i e t^a) U_mu(x)]`,
//! `t^a = lambda^a/2`. Actions: `Z = ∫DU exp(-beta A[U])`, `beta = 6/g^2`.

use fpa_core::action::{Action, Wilson};
use fpa_core::io::link_array::{field_from_array, field_to_array};
use fpa_core::lattice::{GaugeField, Geometry};
use fpa_core::lcnn::action::LcnnAction;
use fpa_core::rg::{FixedPoint, FixedPointSettings};
use fpa_core::su3::Su3Alg;
use numpy::{Complex64, IntoPyArray, PyArrayDyn, PyArrayMethods, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::exceptions::{PyIOError, PyValueError};
use pyo3::prelude::*;
use std::sync::Arc;

fn field_from(links: &PyReadonlyArrayDyn<'_, Complex64>) -> PyResult<GaugeField<f64>> {
    let shape = links.shape();
    if shape.len() != 7 || shape[4] != 4 || shape[5] != 3 || shape[6] != 3 {
        return Err(PyValueError::new_err(format!("links must have shape (Lt, Lz, Ly, Lx, 4, 3, 3), got {shape:?}")));
    }
    let dims = [shape[3], shape[2], shape[1], shape[0]];
    let data: Vec<f64> = links.as_array().iter().flat_map(|z| [z.re, z.im]).collect();
    field_from_array(&dims, &data).map_err(|e| PyValueError::new_err(format!("lattice {dims:?}: {e}")))
}

fn site_shape(u: &GaugeField<f64>) -> Vec<usize> {
    u.geometry().dims().iter().rev().copied().collect()
}

fn links_to<'py>(py: Python<'py>, u: &GaugeField<f64>) -> PyResult<Bound<'py, PyArrayDyn<Complex64>>> {
    let mut shape = site_shape(u);
    shape.extend([4, 3, 3]);
    let data: Vec<Complex64> = field_to_array(u).chunks_exact(2).map(|z| Complex64::new(z[0], z[1])).collect();
    data.into_pyarray(py).reshape(shape)
}

fn force_to<'py>(py: Python<'py>, u: &GaugeField<f64>, d: &[Su3Alg<f64>]) -> PyResult<Bound<'py, PyArrayDyn<f64>>> {
    let mut shape = site_shape(u);
    shape.extend([4, 8]);
    let data: Vec<f64> = d.iter().flatten().copied().collect();
    data.into_pyarray(py).reshape(shape)
}

/// Reads a gauge file as a links array: NERSC, ILDG, openQCD or MILC,
/// recognised from its bytes and verified (checksums, plaquette, SU(3), length).
#[pyfunction]
fn read_gauge<'py>(py: Python<'py>, path: &str) -> PyResult<Bound<'py, PyArrayDyn<Complex64>>> {
    let bytes = std::fs::read(path).map_err(|e| PyIOError::new_err(format!("cannot read {path}: {e}")))?;
    let d = py
        .allow_threads(|| fpa_core::io::gauge_file::decode(&bytes))
        .map_err(|e| PyValueError::new_err(format!("{path}: {e}")))?;
    links_to(py, &d.field)
}

/// Writes `links` as a gauge file: `format="nersc"` (`4D_SU3_GAUGE_3x3`),
/// `"nersc-2row"` (`4D_SU3_GAUGE`), `"ildg"` (LIME with SciDAC checksum) or
/// `"openqcd"`; double precision (`precision=32` for single, NERSC and ILDG);
/// written to a temporary file and renamed.
#[pyfunction]
#[pyo3(signature = (path, links, format="nersc", precision=64))]
fn write_gauge(path: &str, links: PyReadonlyArrayDyn<'_, Complex64>, format: &str, precision: u32) -> PyResult<()> {
    use fpa_core::io::gauge_file::{encode, Format};
    use fpa_core::io::nersc::{Layout, Precision, WriteOptions};
    let (fmt, layout) = match format {
        "nersc" => (Format::Nersc, Layout::Full),
        "nersc-2row" => (Format::Nersc, Layout::TwoRow),
        "ildg" => (Format::Ildg, Layout::Full),
        "openqcd" => (Format::OpenQcd, Layout::Full),
        other => {
            return Err(PyValueError::new_err(format!(
                "format {other:?}: use \"nersc\", \"nersc-2row\", \"ildg\" or \"openqcd\""
            )))
        }
    };
    let precision = match (precision, fmt) {
        (64, _) => Precision::F64,
        (32, Format::Nersc | Format::Ildg) => Precision::F32,
        (p, f) => return Err(PyValueError::new_err(format!("precision {p} is not available for {f} files"))),
    };
    let u = field_from(&links)?;
    let opts = WriteOptions { layout, precision, creator: "fpa (Python)".into(), ..Default::default() };
    let bytes = encode(&u, fmt, &opts).map_err(|e| PyValueError::new_err(e.to_string()))?;
    let tmp = format!("{path}.{}.tmp", std::process::id());
    let io = |e: std::io::Error| PyIOError::new_err(format!("cannot write {path}: {e}"));
    std::fs::write(&tmp, &bytes).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io(e)
    })
}

/// The average plaquette `<Re Tr U_p>/3`.
#[pyfunction]
fn plaquette(links: PyReadonlyArrayDyn<'_, Complex64>) -> PyResult<f64> {
    Ok(fpa_core::observe::average_plaquette(&field_from(&links)?))
}

/// The Wilson action `A_W = Σ_x Σ_{mu<nu} (1 - Re Tr U_mu,nu(x)/3)`.
#[pyfunction]
fn wilson_action(links: PyReadonlyArrayDyn<'_, Complex64>) -> PyResult<f64> {
    Ok(Wilson.value(&field_from(&links)?))
}

/// `(A_W, D A_W)`: the Wilson action and its link derivatives.
#[pyfunction]
fn wilson_force<'py>(
    py: Python<'py>,
    links: PyReadonlyArrayDyn<'_, Complex64>,
) -> PyResult<(f64, Bound<'py, PyArrayDyn<f64>>)> {
    let u = field_from(&links)?;
    let mut d = vec![[0.0; 8]; u.links().len()];
    let a = Wilson.value_and_derivative(&u, &mut d);
    Ok((a, force_to(py, &u, &d)?))
}

/// The Wilson chain of `fpa generate --or 4` on `dims`, from a hot or cold start.
fn wilson_chain(dims: [usize; 4], beta: f64, seed: u64, hot: bool) -> PyResult<fpa_core::mc::WilsonChain<f64>> {
    let geom = Arc::new(Geometry::new(&dims).map_err(|e| PyValueError::new_err(format!("dims {dims:?}: {e}")))?);
    let field = if hot { GaugeField::hot(geom, seed) } else { GaugeField::cold(geom) };
    fpa_core::mc::WilsonChain::new(field, beta, 4, seed, 0).map_err(|e| PyValueError::new_err(e.to_string()))
}

/// A hot (`hot=True`, Haar random from `seed`) or cold start, then `sweeps`
/// compound sweeps (heatbath + 4 overrelaxation) of the Wilson action: the
/// chain of `fpa generate --beta beta --seed seed --or 4`.
#[pyfunction]
#[pyo3(signature = (dims, beta, sweeps, seed=1, hot=true))]
fn wilson_configuration<'py>(
    py: Python<'py>,
    dims: [usize; 4],
    beta: f64,
    sweeps: u64,
    seed: u64,
    hot: bool,
) -> PyResult<Bound<'py, PyArrayDyn<Complex64>>> {
    let mut chain = wilson_chain(dims, beta, seed, hot)?;
    py.allow_threads(|| {
        for _ in 0..sweeps {
            chain.step();
        }
    });
    links_to(py, &chain.field)
}

/// A Wilson-action ensemble: `therm` compound sweeps, then `configs`
/// configurations `every` sweeps apart (the chain of `fpa generate --or 4`
/// with this seed, hot start): a list of links arrays.
#[pyfunction]
#[pyo3(signature = (dims, beta, therm, every, configs, seed=1))]
fn wilson_ensemble<'py>(
    py: Python<'py>,
    dims: [usize; 4],
    beta: f64,
    therm: u64,
    every: u64,
    configs: usize,
    seed: u64,
) -> PyResult<Vec<Bound<'py, PyArrayDyn<Complex64>>>> {
    if every == 0 {
        return Err(PyValueError::new_err("every must be at least 1"));
    }
    let mut chain = wilson_chain(dims, beta, seed, true)?;
    let fields = py.allow_threads(|| {
        let mut out = Vec::with_capacity(configs);
        for k in 0..therm + every * configs as u64 {
            chain.step();
            if k + 1 > therm && (k + 1 - therm).is_multiple_of(every) {
                out.push(chain.field.clone());
            }
        }
        out
    });
    fields.iter().map(|u| links_to(py, u)).collect()
}

/// A trained L-CNN action, loaded from a `.safetensors` file written by `fpa train`.
#[pyclass]
struct Model {
    action: LcnnAction,
}

#[pymethods]
impl Model {
    /// `Model.load(path)`, the same as `Model(path)`.
    #[staticmethod]
    fn load(path: &str) -> PyResult<Self> {
        Model::new(path)
    }

    #[new]
    fn new(path: &str) -> PyResult<Self> {
        let bytes = std::fs::read(path).map_err(|e| PyIOError::new_err(format!("cannot read {path}: {e}")))?;
        let (m, p, _) =
            fpa_core::lcnn::model_file::decode(&bytes).map_err(|e| PyValueError::new_err(format!("{path}: {e}")))?;
        Ok(Model { action: LcnnAction::new(m, p, path.into()) })
    }

    /// The model's action `A[U]` (`A[1] = 0`).
    fn action(&self, py: Python<'_>, links: PyReadonlyArrayDyn<'_, Complex64>) -> PyResult<f64> {
        let u = field_from(&links)?;
        Ok(py.allow_threads(|| Action::<f64>::value(&self.action, &u)))
    }

    /// `(A, D A)`: the action and its link derivatives (the HMC force).
    fn force<'py>(
        &self,
        py: Python<'py>,
        links: PyReadonlyArrayDyn<'_, Complex64>,
    ) -> PyResult<(f64, Bound<'py, PyArrayDyn<f64>>)> {
        let u = field_from(&links)?;
        let mut d = vec![[0.0; 8]; u.links().len()];
        let a = py.allow_threads(|| self.action.value_and_derivative(&u, &mut d));
        Ok((a, force_to(py, &u, &d)?))
    }
}

/// `(A_FP, D A_FP)` of a coarse configuration by minimisation (the default RG
/// transformation, the Wilson action on the fine lattice).
#[pyfunction]
fn fp_action<'py>(
    py: Python<'py>,
    links: PyReadonlyArrayDyn<'_, Complex64>,
) -> PyResult<(f64, Bound<'py, PyArrayDyn<f64>>)> {
    let u = field_from(&links)?;
    let r = py.allow_threads(|| {
        let fp =
            FixedPoint::new(u.geometry().clone(), FixedPointSettings::default(), &Wilson).map_err(|e| e.to_string())?;
        fp.solve(&u, None).map_err(|e| e.to_string())
    });
    let r = r.map_err(PyValueError::new_err)?;
    if !r.report.converged {
        return Err(PyValueError::new_err(format!(
            "the minimiser did not converge (largest gradient {:.3e})",
            r.report.max_gradient
        )));
    }
    Ok((r.action, force_to(py, &u, &r.derivative)?))
}

#[pymodule]
#[pyo3(name = "fpa")]
fn fpa_module(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(read_gauge, m)?)?;
    m.add_function(wrap_pyfunction!(write_gauge, m)?)?;
    m.add_function(wrap_pyfunction!(wilson_ensemble, m)?)?;
    m.add_function(wrap_pyfunction!(plaquette, m)?)?;
    m.add_function(wrap_pyfunction!(wilson_action, m)?)?;
    m.add_function(wrap_pyfunction!(wilson_force, m)?)?;
    m.add_function(wrap_pyfunction!(wilson_configuration, m)?)?;
    m.add_function(wrap_pyfunction!(fp_action, m)?)?;
    m.add_class::<Model>()?;
    Ok(())
}
