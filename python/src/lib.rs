//! `import fpa`: fpa-core from Python, numpy arrays in and out.
//!
//! Links are `complex128` arrays of shape `(Lt, Lz, Ly, Lx, 4, 3, 3)` (x
//! fastest among the sites, `mu` = 0..3 for x, y, z, t): the layout of fpa's
//! FP datasets (`*.links.npy`). Forces are `float64` arrays of shape
//! `(Lt, Lz, Ly, Lx, 4, 8)`: `D_{x,mu,a} A = d/de A[U_mu(x) -> exp(i e t^a) U_mu(x)]`,
//! `t^a = lambda^a/2`. Actions: `Z = ∫DU exp(-beta A[U])`, `beta = 6/g^2`.

use fpa_core::action::{Action, SymmetrySet, Wilson};
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
    use fpa_core::io::gauge_file::{encode, write_format, Format};
    use fpa_core::io::nersc::{Precision, WriteOptions};
    let (fmt, layout) = write_format(format).ok_or_else(|| {
        PyValueError::new_err(format!("format {format:?}: use \"nersc\", \"nersc-2row\", \"ildg\" or \"openqcd\""))
    })?;
    let precision = match (precision, fmt) {
        (64, _) => Precision::F64,
        (32, Format::Nersc | Format::Ildg) => Precision::F32,
        (p, f) => return Err(PyValueError::new_err(format!("precision {p} is not available for {f} files"))),
    };
    let u = field_from(&links)?;
    let opts = WriteOptions { layout, precision, creator: "fpa (Python)".into(), ..Default::default() };
    let bytes = encode(&u, fmt, &opts).map_err(|e| PyValueError::new_err(e.to_string()))?;
    write_atomic(path, &bytes)
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
    links_to(py, chain.field())
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
                out.push(chain.field().clone());
            }
        }
        out
    });
    fields.iter().map(|u| links_to(py, u)).collect()
}

/// A trained L-CNN action, loaded from a `.safetensors` file written by `fpa train`.
///
/// `symmetrize`: `None` (the network itself), `"reflections"` or
/// `"hypercubic"`: the action averaged over the 16 axis reflections or the 384
/// hypercubic elements, `A_S[U] = (1/|S|) Σ_g A[gU]` (exactly symmetric, at
/// |S| times the cost; README, "Lattice symmetries").
#[pyclass]
struct Model {
    action: LcnnAction,
    symmetrize: Option<SymmetrySet>,
}

impl Model {
    /// `f` applied to the action as it is evaluated: plain, or averaged.
    fn with_action<R>(&self, f: impl FnOnce(&dyn Action<f64>) -> R) -> R {
        fpa_core::action::with_symmetry(&self.action, self.symmetrize, f)
    }
}

fn symmetry_set(name: Option<&str>) -> PyResult<Option<SymmetrySet>> {
    name.map(|n| {
        SymmetrySet::named(n).ok_or_else(|| {
            PyValueError::new_err(format!("unknown symmetrize {n:?}: use None, \"reflections\" or \"hypercubic\""))
        })
    })
    .transpose()
}

#[pymethods]
impl Model {
    /// `Model.load(path, symmetrize=None)`, the same as `Model(path, symmetrize)`.
    #[staticmethod]
    #[pyo3(signature = (path, symmetrize=None))]
    fn load(path: &str, symmetrize: Option<&str>) -> PyResult<Self> {
        Model::new(path, symmetrize)
    }

    #[new]
    #[pyo3(signature = (path, symmetrize=None))]
    fn new(path: &str, symmetrize: Option<&str>) -> PyResult<Self> {
        let symmetrize = symmetry_set(symmetrize)?;
        let bytes = std::fs::read(path).map_err(|e| PyIOError::new_err(format!("cannot read {path}: {e}")))?;
        let (m, p, _) =
            fpa_core::lcnn::model_file::decode(&bytes).map_err(|e| PyValueError::new_err(format!("{path}: {e}")))?;
        Ok(Model { action: LcnnAction::new(m, p, path.into()), symmetrize })
    }

    /// The symmetry set the action is averaged over (`None`, `"reflections"`,
    /// `"hypercubic"`); settable.
    #[getter]
    fn get_symmetrize(&self) -> Option<&'static str> {
        self.symmetrize.map(SymmetrySet::name)
    }

    #[setter]
    fn set_symmetrize(&mut self, name: Option<&str>) -> PyResult<()> {
        self.symmetrize = symmetry_set(name)?;
        Ok(())
    }

    /// The model's action `A[U]` (`A[1] = 0`).
    fn action(&self, py: Python<'_>, links: PyReadonlyArrayDyn<'_, Complex64>) -> PyResult<f64> {
        let u = field_from(&links)?;
        Ok(py.allow_threads(|| self.with_action(|a| a.value(&u))))
    }

    /// `(A, D A)`: the action and its link derivatives (the HMC force).
    fn force<'py>(
        &self,
        py: Python<'py>,
        links: PyReadonlyArrayDyn<'_, Complex64>,
    ) -> PyResult<(f64, Bound<'py, PyArrayDyn<f64>>)> {
        let u = field_from(&links)?;
        let mut d = vec![[0.0; 8]; u.links().len()];
        let a = py.allow_threads(|| self.with_action(|a| a.value_and_derivative(&u, &mut d)));
        Ok((a, force_to(py, &u, &d)?))
    }

    /// Writes the model as a `.safetensors` file (the format `fpa` reads), atomically.
    fn save(&self, path: &str) -> PyResult<()> {
        let bytes = fpa_core::lcnn::model_file::encode(&self.action.model, &self.action.params, &Default::default());
        write_atomic(path, &bytes)
    }

    /// Number of weights.
    #[getter]
    fn parameters(&self) -> usize {
        self.action.model.n_params
    }
}

fn write_atomic(path: &str, bytes: &[u8]) -> PyResult<()> {
    fpa_core::host::write_atomic(std::path::Path::new(path), bytes)
        .map_err(|e| PyIOError::new_err(format!("cannot write {path}: {e}")))
}

/// Trains an L-CNN on FP data held in numpy arrays, with the training loop of
/// `fpa train` (Adam, mini-batches, validation split, learning-rate schedule,
/// divergence control, best-epoch selection, early stopping).
///
/// `links`: a list of link arrays `(Lt, Lz, Ly, Lx, 4, 3, 3)`; `a_fp`: their FP
/// actions; `d_fp`: their FP derivatives `(Lt, Lz, Ly, Lx, 4, 8)` (Gell-Mann
/// order) — the layout of `fpa fp-data`'s `*.links.npy`, `a_fp` and
/// `*.dfp.npy`. `model`: a built-in name (`paper`, `paper-12-24-24`,
/// `paper-k222`, `paper-deep`) or a spec as JSON text. Returns `(Model, history)`, history a
/// list of dicts per kept epoch (`epoch`, `lr`, `train_l1`, `train_l2`,
/// `val_l1`, `val_l2`). `value_loss`: `"density"` (`|A − A_FP|/V`, HIMW's L1) or
/// `"relative-squared"` (`((A − A_FP)/A_FP)²`), as `fpa train --value-loss`.
/// `precision`: `"f64"` or `"f32"`, the scalar of the passes behind each
/// optimiser step (`fpa train --precision`); `warmup`: linear learning-rate
/// warm-up over that many optimiser steps (`fpa train --warmup`); `weights`: how many times
/// each configuration counts (positive numbers, one per configuration; `fpa train --data DIR@W`).
/// Same data, settings and seed give the same weights as `fpa train`.
#[pyfunction]
#[pyo3(signature = (links, a_fp, d_fp, model="paper", epochs=20, batch=4, lr=1e-3, schedule="cosine",
    w1=1.0, w2=1.0, val=0.2, seed=1, patience=0, value_loss="density", precision="f64", warmup=0, weights=None))]
#[allow(clippy::too_many_arguments)]
fn train<'py>(
    py: Python<'py>,
    links: Vec<PyReadonlyArrayDyn<'py, Complex64>>,
    a_fp: Vec<f64>,
    d_fp: Vec<PyReadonlyArrayDyn<'py, f64>>,
    model: &str,
    epochs: usize,
    batch: usize,
    lr: f64,
    schedule: &str,
    w1: f64,
    w2: f64,
    val: f64,
    seed: u64,
    patience: usize,
    value_loss: &str,
    precision: &str,
    warmup: u64,
    weights: Option<Vec<f64>>,
) -> PyResult<(Model, Vec<Bound<'py, pyo3::types::PyDict>>)> {
    use fpa_core::lcnn::train::{LossWeights, Precision, Sample, Schedule, ValueLoss};
    use fpa_core::lcnn::trainer::{validation_split, LoopSettings, Trainer};
    use fpa_core::lcnn::{Model as Net, ModelSpec};
    let err = |m: String| PyValueError::new_err(m);
    if links.len() != a_fp.len() || links.len() != d_fp.len() {
        return Err(err(format!(
            "links, a_fp and d_fp must have one entry per configuration ({}, {}, {})",
            links.len(),
            a_fp.len(),
            d_fp.len()
        )));
    }
    if links.len() < 2 {
        return Err(err("training needs at least 2 configurations".into()));
    }
    let weights = weights.unwrap_or_else(|| vec![1.0; links.len()]);
    if weights.len() != links.len() || !weights.iter().all(|w| *w > 0.0 && w.is_finite()) {
        return Err(err(format!(
            "weights must be {} positive numbers, one per configuration",
            links.len()
        )));
    }
    if batch == 0 || !(lr > 0.0 && lr.is_finite()) || !(0.0..1.0).contains(&val) || w1 < 0.0 || w2 < 0.0 {
        return Err(err("need batch >= 1, lr > 0, 0 <= val < 1, w1, w2 >= 0".into()));
    }
    let schedule = Schedule::named(schedule)
        .ok_or_else(|| err(format!("schedule {schedule:?}: use \"constant\", \"cosine\" or \"step\"")))?;
    let value = ValueLoss::named(value_loss)
        .ok_or_else(|| err(format!("value_loss {value_loss:?}: use \"density\" or \"relative-squared\"")))?;
    let precision = Precision::named(precision)
        .ok_or_else(|| err(format!("precision {precision:?}: use \"f64\" or \"f32\"")))?;
    if !a_fp.iter().all(|&a| value.accepts(a)) {
        return Err(err(
            "value_loss \"relative-squared\" divides by A_FP, which must be > 0 on every configuration".into()
        ));
    }
    let net = match ModelSpec::builtin(model) {
        Some(spec) => Net::new(spec),
        None => Net::from_json(model),
    }
    .map_err(|e| err(format!("model {model:?} (a built-in name or a JSON spec): {e}")))?;
    let mut samples = Vec::with_capacity(links.len());
    for (k, (((l, &a), d), &weight)) in links.iter().zip(&a_fp).zip(&d_fp).zip(&weights).enumerate() {
        let u = field_from(l).map_err(|e| err(format!("configuration {k}: {e}")))?;
        let want: Vec<usize> = site_shape(&u).into_iter().chain([4, 8]).collect();
        if d.shape() != want.as_slice() {
            return Err(err(format!("d_fp[{k}] has shape {:?}, expected {want:?}", d.shape())));
        }
        let dv: Vec<f64> = d.as_array().iter().copied().collect();
        if !a.is_finite() || !dv.iter().all(|x| x.is_finite()) {
            return Err(err(format!("configuration {k}: non-finite FP data")));
        }
        let d_fp = dv.chunks_exact(8).map(|x| std::array::from_fn(|c| x[c])).collect();
        samples.push(Sample { links: u, a_fp: a, d_fp, beta: 0.0, weight });
    }
    let (train_set, val_set) = validation_split(&samples, val, seed);
    let settings = LoopSettings { epochs, batch, lr, schedule, weights: LossWeights { w1, w2, value }, seed, patience, precision, warmup, augment: false };
    let params = net.init_params(seed);
    let (best, history) = py
        .allow_threads(|| {
            let mut t = Trainer::new(&net, &train_set, &val_set, settings, params);
            t.run(&mut || {}, &mut |_, _| {}).map(|_| (t.best.clone(), t.history.clone()))
        })
        .map_err(|e| err(e.to_string()))?;
    let rows = history
        .epochs
        .iter()
        .map(|e| {
            let d = pyo3::types::PyDict::new(py);
            d.set_item("epoch", e.epoch)?;
            d.set_item("lr", e.lr)?;
            d.set_item("train_l1", e.train_l1)?;
            d.set_item("train_l2", e.train_l2)?;
            d.set_item("val_l1", e.val_l1)?;
            d.set_item("val_l2", e.val_l2)?;
            Ok(d)
        })
        .collect::<PyResult<Vec<_>>>()?;
    Ok((Model { action: LcnnAction::new(net, best, "trained in Python".into()), symmetrize: None }, rows))
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

/// Bytes held now by fpa's pool of freed feature-map buffers (L-CNN
/// evaluations keep the large buffers they free, at most `buffer_limit()`
/// bytes, and reuse them; values never depend on the pool).
#[pyfunction]
fn buffers_kept() -> usize {
    fpa_core::recycle::kept_bytes()
}

/// The bound on the bytes the buffer pool keeps (1 GiB by default).
#[pyfunction]
fn buffer_limit() -> usize {
    fpa_core::recycle::limit()
}

/// Sets the bound on the bytes the buffer pool keeps (0: keep nothing) and
/// frees the oldest kept buffers until the pool is within it.
#[pyfunction]
fn set_buffer_limit(bytes: usize) {
    fpa_core::recycle::set_limit(bytes)
}

/// Frees every kept buffer now (the bound stays).
#[pyfunction]
fn release_buffers() {
    fpa_core::recycle::release()
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
    m.add_function(wrap_pyfunction!(train, m)?)?;
    m.add_function(wrap_pyfunction!(buffers_kept, m)?)?;
    m.add_function(wrap_pyfunction!(buffer_limit, m)?)?;
    m.add_function(wrap_pyfunction!(set_buffer_limit, m)?)?;
    m.add_function(wrap_pyfunction!(release_buffers, m)?)?;
    m.add_class::<Model>()?;
    Ok(())
}
