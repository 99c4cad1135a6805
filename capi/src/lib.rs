//! The C ABI of fpa-core (`libfpa`, header `capi/include/fpa.h`).
//!
//! Conventions (those of fpa, see the README):
//! * A gauge field is an opaque `FpaGauge`; as a plain array its links are
//!   complex doubles, real and imaginary part interleaved, in the order
//!   `[t][z][y][x][mu][row][col]` (x fastest among the sites, `mu` = 0..3 for
//!   x, y, z, t): `2 * 9 * 4 * V` doubles, the layout of fpa's FP datasets and
//!   of NERSC `4D_SU3_GAUGE_3x3` after byte-order conversion. Extents are given
//!   as `dims[4] = {Lx, Ly, Lz, Lt}`.
//! * Forces are the link derivatives `D_{x,mu,a} A = d/de A[U_mu(x) -> exp(i e t^a) U_mu(x)]`,
//!   `t^a = lambda^a / 2`, as `[t][z][y][x][mu][a]`, `8 * 4 * V` doubles.
//! * Actions are normalised as `Z = ∫DU exp(-beta A[U])`, `beta = 6/g^2`,
//!   `A_W = Σ_x Σ_{mu<nu} (1 - Re Tr U_mu,nu(x) / 3)`.
//! * Functions that can fail return 0 on success and a non-zero code
//!   otherwise; `fpa_last_error()` then gives the message (per thread). No
//!   panic crosses the boundary: an internal panic becomes an error code.
//! * Objects made by `fpa_*_read`/`_load`/`_from_array`/`_new`/`fpa_chain_gauge`
//!   are freed with the matching `fpa_*_free` (NULL is accepted).

use fpa_core::action::{Action, SymmetrySet, Wilson};
use fpa_core::io::link_array::{field_from_array, field_to_array};
use fpa_core::lattice::GaugeField;
use fpa_core::lcnn::action::LcnnAction;
use fpa_core::mc::WilsonChain;
use fpa_core::observe::average_plaquette;
use fpa_core::rg::{FixedPoint, FixedPointSettings};
use fpa_core::su3::Su3Alg;
use std::cell::RefCell;
use std::ffi::{c_char, c_int, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Success.
pub const FPA_OK: c_int = 0;
/// The call failed; `fpa_last_error()` says why.
pub const FPA_ERROR: c_int = 1;

/// A 4D SU(3) gauge field (opaque).
pub struct FpaGauge {
    field: GaugeField<f64>,
}

/// A Markov chain of Wilson-action configurations (opaque): each step is one
/// heatbath sweep and `n_or` overrelaxation sweeps, the chain of `fpa generate`.
/// It keeps its field in the lane-packed layout between steps, so a step costs
/// less than the same sweeps through `fpa_heatbath_sweep`.
pub struct FpaChain {
    chain: WilsonChain<f64>,
}

/// A trained L-CNN action (opaque), optionally averaged over lattice
/// symmetries (`fpa_model_symmetrize`).
pub struct FpaModel {
    action: LcnnAction,
    symmetrize: Option<SymmetrySet>,
}

impl FpaModel {
    /// `f` applied to the model's action as it is evaluated: plain, or averaged.
    fn with_action<R>(&self, f: impl FnOnce(&dyn Action<f64>) -> R) -> R {
        fpa_core::action::with_symmetry(&self.action, self.symmetrize, f)
    }
}

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

fn set_error(msg: &str) {
    let c = CString::new(msg.replace('\0', " ")).unwrap_or_default();
    LAST_ERROR.with(|e| *e.borrow_mut() = c);
}

/// Runs `f`, turning an error or a panic into `FPA_ERROR` with a message.
fn guard(f: impl FnOnce() -> Result<(), String>) -> c_int {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => FPA_OK,
        Ok(Err(msg)) => {
            set_error(&msg);
            FPA_ERROR
        }
        Err(_) => {
            set_error("internal error in fpa (a panic was caught at the C boundary)");
            FPA_ERROR
        }
    }
}

fn non_null<'a, T>(p: *const T, what: &str) -> Result<&'a T, String> {
    // SAFETY: the caller passes a pointer from the matching constructor or NULL.
    unsafe { p.as_ref() }.ok_or_else(|| format!("{what} is NULL"))
}

unsafe fn path_arg(path: *const c_char) -> Result<String, String> {
    if path.is_null() {
        return Err("path is NULL".into());
    }
    // SAFETY: a non-NULL path is a NUL-terminated C string (documented contract).
    Ok(unsafe { CStr::from_ptr(path) }.to_string_lossy().into_owned())
}

unsafe fn out_slice<'a>(p: *mut f64, len: usize, need: usize, what: &str) -> Result<&'a mut [f64], String> {
    if p.is_null() {
        return Err(format!("{what} is NULL"));
    }
    if len < need {
        return Err(format!("{what} holds {len} doubles, {need} are needed"));
    }
    // SAFETY: the caller guarantees `len` writable doubles at `p`.
    Ok(unsafe { std::slice::from_raw_parts_mut(p, need) })
}

/// The caller's storage for a new handle, checked before any work is done; the
/// constructor then stores `Box::into_raw` of the new object in it.
fn out_handle<'a, T>(p: *mut *mut T, what: &str) -> Result<&'a mut *mut T, String> {
    // SAFETY: the caller passes writable storage for a pointer or NULL.
    unsafe { p.as_mut() }.ok_or_else(|| format!("{what} (the output pointer) is NULL"))
}

/// Frees an object made by `Box::into_raw` in a constructor (NULL is accepted).
unsafe fn free_handle<T>(p: *mut T) {
    if !p.is_null() {
        // SAFETY: `p` came from Box::into_raw in a constructor and is not used afterwards.
        drop(unsafe { Box::from_raw(p) });
    }
}

fn write_force(out: &mut [f64], d: &[Su3Alg<f64>]) {
    for (o, v) in out.chunks_exact_mut(8).zip(d) {
        o.copy_from_slice(v);
    }
}

/// The message of the last failed call on this thread ("" if none). The
/// pointer stays valid until the next fpa call on this thread.
#[no_mangle]
pub extern "C" fn fpa_last_error() -> *const c_char {
    LAST_ERROR.with(|e| e.borrow().as_ptr())
}

/// Reads a gauge file into `*gauge`: NERSC (`4D_SU3_GAUGE`, `4D_SU3_GAUGE_3x3`),
/// ILDG (LIME), openQCD or MILC, recognised from its bytes, with every check its
/// format allows (checksums, plaquette, SU(3), length).
///
/// # Safety
/// `path` is a NUL-terminated string; `gauge` points to writable storage for a pointer.
#[no_mangle]
pub unsafe extern "C" fn fpa_gauge_read(path: *const c_char, gauge: *mut *mut FpaGauge) -> c_int {
    guard(|| {
        let out = out_handle(gauge, "gauge")?;
        let p = unsafe { path_arg(path) }?;
        let bytes = std::fs::read(&p).map_err(|e| format!("cannot read {p}: {e}"))?;
        let field = fpa_core::io::gauge_file::decode(&bytes).map_err(|e| format!("{p}: {e}"))?.field;
        *out = Box::into_raw(Box::new(FpaGauge { field }));
        Ok(())
    })
}

/// Writes `gauge` to `path` in `format`: `"nersc"` (`4D_SU3_GAUGE_3x3`, IEEE64BIG),
/// `"nersc-2row"` (`4D_SU3_GAUGE`), `"ildg"` (LIME, 64-bit, SciDAC checksums) or `"openqcd"`;
/// through a temporary file and a rename, so `path` is never half-written.
///
/// # Safety
/// `gauge` comes from an fpa constructor; `path` and `format` are NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn fpa_gauge_write(gauge: *const FpaGauge, path: *const c_char, format: *const c_char) -> c_int {
    use fpa_core::io::gauge_file::{encode, write_format};
    use fpa_core::io::nersc::WriteOptions;
    guard(|| {
        let g = non_null(gauge, "gauge")?;
        let p = unsafe { path_arg(path) }?;
        let f = unsafe { path_arg(format) }?;
        let (fmt, layout) =
            write_format(&f).ok_or_else(|| format!("format {f:?}: use nersc, nersc-2row, ildg or openqcd"))?;
        let opts = WriteOptions { layout, creator: "fpa (C ABI)".into(), ..Default::default() };
        let bytes = encode(&g.field, fmt, &opts).map_err(|e| format!("{p}: {e}"))?;
        fpa_core::host::write_atomic(std::path::Path::new(&p), &bytes).map_err(|e| format!("cannot write {p}: {e}"))
    })
}

/// Makes a gauge field from `links` (layout at the top of this header: `len` must be
/// `72 * Lx * Ly * Lz * Lt`) with extents `dims[4] = {Lx, Ly, Lz, Lt}`. The
/// links must be SU(3) to 1e-6 (links further than 1e-12 from SU(3) are
/// re-unitarised; links that are SU(3) to rounding keep their bits).
///
/// # Safety
/// `dims` points to 4 values, `links` to `len` doubles, `gauge` to writable storage for a pointer.
#[no_mangle]
pub unsafe extern "C" fn fpa_gauge_from_array(
    dims: *const usize,
    links: *const f64,
    len: usize,
    gauge: *mut *mut FpaGauge,
) -> c_int {
    guard(|| {
        if dims.is_null() || links.is_null() || gauge.is_null() {
            return Err("dims, links and gauge must not be NULL".into());
        }
        // SAFETY: the caller guarantees 4 extents at `dims` and `len` readable doubles at `links`.
        let (d, data) = unsafe { (std::slice::from_raw_parts(dims, 4), std::slice::from_raw_parts(links, len)) };
        let field = field_from_array(d, data).map_err(|e| format!("dims {d:?}: {e}"))?;
        *out_handle(gauge, "gauge")? = Box::into_raw(Box::new(FpaGauge { field }));
        Ok(())
    })
}

/// Copies the links of `gauge` into `links` (`len >= 72 V` doubles, layout at
/// the top of this header).
///
/// # Safety
/// `gauge` comes from an fpa constructor; `links` points to `len` writable doubles.
#[no_mangle]
pub unsafe extern "C" fn fpa_gauge_to_array(gauge: *const FpaGauge, links: *mut f64, len: usize) -> c_int {
    guard(|| {
        let g = non_null(gauge, "gauge")?;
        let out = unsafe { out_slice(links, len, 72 * g.field.geometry().volume(), "links") }?;
        out.copy_from_slice(&field_to_array(&g.field));
        Ok(())
    })
}

/// Writes the extents `{Lx, Ly, Lz, Lt}` of `gauge` to `dims[4]`.
///
/// # Safety
/// `gauge` comes from an fpa constructor; `dims` points to 4 writable values.
#[no_mangle]
pub unsafe extern "C" fn fpa_gauge_dims(gauge: *const FpaGauge, dims: *mut usize) -> c_int {
    guard(|| {
        let g = non_null(gauge, "gauge")?;
        if dims.is_null() {
            return Err("dims is NULL".into());
        }
        // SAFETY: the caller guarantees 4 writable values.
        let out = unsafe { std::slice::from_raw_parts_mut(dims, 4) };
        out.copy_from_slice(g.field.geometry().dims());
        Ok(())
    })
}

/// The average plaquette `<Re Tr U_p> / 3` of `gauge` (NaN for NULL).
///
/// # Safety
/// `gauge` comes from an fpa constructor or is NULL.
#[no_mangle]
pub unsafe extern "C" fn fpa_gauge_plaquette(gauge: *const FpaGauge) -> f64 {
    // SAFETY: see the function's contract.
    match unsafe { gauge.as_ref() } {
        Some(g) => average_plaquette(&g.field),
        None => f64::NAN,
    }
}

/// Frees a gauge field (NULL is accepted).
///
/// # Safety
/// `gauge` comes from an fpa constructor and is not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn fpa_gauge_free(gauge: *mut FpaGauge) {
    unsafe { free_handle(gauge) }
}

/// The Wilson action `A_W` of `gauge` into `*action`.
///
/// # Safety
/// `gauge` comes from an fpa constructor; `action` points to a writable double.
#[no_mangle]
pub unsafe extern "C" fn fpa_wilson_action(gauge: *const FpaGauge, action: *mut f64) -> c_int {
    guard(|| {
        let g = non_null(gauge, "gauge")?;
        let out = unsafe { out_slice(action, 1, 1, "action") }?;
        out[0] = Wilson.value(&g.field);
        Ok(())
    })
}

/// The Wilson action's link derivatives into `force` (`len >= 32 V` doubles).
///
/// # Safety
/// `gauge` comes from an fpa constructor; `force` points to `len` writable doubles.
#[no_mangle]
pub unsafe extern "C" fn fpa_wilson_force(gauge: *const FpaGauge, force: *mut f64, len: usize) -> c_int {
    guard(|| {
        let g = non_null(gauge, "gauge")?;
        let out = unsafe { out_slice(force, len, 32 * g.field.geometry().volume(), "force") }?;
        write_force(out, &Wilson.derivative(&g.field));
        Ok(())
    })
}

/// One Cabibbo–Marinari heatbath sweep of the Wilson action at `beta`, with
/// the random streams of sweep number `sweep` of a chain seeded `seed` (the
/// same numbers as `fpa generate`; needs even extents).
///
/// # Safety
/// `gauge` comes from an fpa constructor.
#[no_mangle]
pub unsafe extern "C" fn fpa_heatbath_sweep(gauge: *mut FpaGauge, beta: f64, seed: u64, sweep: u64) -> c_int {
    guard(|| {
        // SAFETY: see the function's contract.
        let g = unsafe { gauge.as_mut() }.ok_or("gauge is NULL")?;
        fpa_core::mc::heatbath::check_updatable(&g.field, beta).map_err(|e| e.to_string())?;
        fpa_core::mc::heatbath_sweep(&mut g.field, beta, seed, sweep);
        Ok(())
    })
}

/// Starts a Markov chain from a copy of `gauge` into `*chain`: Wilson action at
/// `beta`, `n_or` overrelaxation sweeps after each heatbath sweep, random streams
/// of the chain seeded `seed`, `sweeps` compound sweeps already done (0 for a
/// new chain; a saved chain continues with its count). A chain `(seed, sweeps)`
/// with `n_or = 0` draws exactly what `fpa_heatbath_sweep(gauge, beta, seed, s)`
/// draws for `s = sweeps, sweeps + 1, ...`, and its steps are the updates of
/// `fpa generate --or n_or --seed seed` (the same bits from the same field).
/// Needs even extents and a finite `beta >= 0`.
///
/// # Safety
/// `gauge` comes from an fpa constructor; `chain` points to writable storage for a pointer.
#[no_mangle]
pub unsafe extern "C" fn fpa_chain_new(
    gauge: *const FpaGauge,
    beta: f64,
    n_or: usize,
    seed: u64,
    sweeps: u64,
    chain: *mut *mut FpaChain,
) -> c_int {
    guard(|| {
        let g = non_null(gauge, "gauge")?;
        let out = out_handle(chain, "chain")?;
        let c = WilsonChain::new(g.field.clone(), beta, n_or, seed, sweeps).map_err(|e| e.to_string())?;
        *out = Box::into_raw(Box::new(FpaChain { chain: c }));
        Ok(())
    })
}

/// Runs `n` compound sweeps of `chain`.
///
/// # Safety
/// `chain` comes from `fpa_chain_new`.
#[no_mangle]
pub unsafe extern "C" fn fpa_chain_step(chain: *mut FpaChain, n: u64) -> c_int {
    guard(|| {
        // SAFETY: see the function's contract.
        let c = unsafe { chain.as_mut() }.ok_or("chain is NULL")?;
        for _ in 0..n {
            c.chain.step();
        }
        Ok(())
    })
}

/// The compound sweeps done by `chain` (counting the `sweeps` it started with;
/// 0 for NULL).
///
/// # Safety
/// `chain` comes from `fpa_chain_new` or is NULL.
#[no_mangle]
pub unsafe extern "C" fn fpa_chain_sweeps(chain: *const FpaChain) -> u64 {
    // SAFETY: see the function's contract.
    unsafe { chain.as_ref() }.map_or(0, |c| c.chain.sweeps)
}

/// A copy of the chain's current configuration into `*gauge` (a new gauge field,
/// freed with `fpa_gauge_free`; the chain is unchanged).
///
/// # Safety
/// `chain` comes from `fpa_chain_new`; `gauge` points to writable storage for a pointer.
#[no_mangle]
pub unsafe extern "C" fn fpa_chain_gauge(chain: *const FpaChain, gauge: *mut *mut FpaGauge) -> c_int {
    guard(|| {
        let c = non_null(chain, "chain")?;
        *out_handle(gauge, "gauge")? = Box::into_raw(Box::new(FpaGauge { field: c.chain.field().clone() }));
        Ok(())
    })
}

/// Frees a chain (NULL is accepted).
///
/// # Safety
/// `chain` comes from `fpa_chain_new` and is not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn fpa_chain_free(chain: *mut FpaChain) {
    unsafe { free_handle(chain) }
}

/// Loads a trained L-CNN action (a `.safetensors` file written by `fpa train`).
///
/// # Safety
/// `path` is a NUL-terminated string; `model` points to writable storage for a pointer.
#[no_mangle]
pub unsafe extern "C" fn fpa_model_load(path: *const c_char, model: *mut *mut FpaModel) -> c_int {
    guard(|| {
        let out = out_handle(model, "model")?;
        let p = unsafe { path_arg(path) }?;
        let bytes = std::fs::read(&p).map_err(|e| format!("cannot read {p}: {e}"))?;
        let (m, params, _) = fpa_core::lcnn::model_file::decode(&bytes).map_err(|e| format!("{p}: {e}"))?;
        let action = LcnnAction::new(m, params, p);
        *out = Box::into_raw(Box::new(FpaModel { action, symmetrize: None }));
        Ok(())
    })
}

fn model_fits(m: &FpaModel, g: &FpaGauge) -> Result<(), String> {
    let (dm, dg) = (m.action.model.dims(), g.field.nd());
    if dm != dg {
        return Err(format!("the model is for {dm}D lattices, the field is {dg}D"));
    }
    Ok(())
}

/// The model's action `A[U]` (with `A[1] = 0`) into `*action`.
///
/// # Safety
/// `model` and `gauge` come from fpa constructors; `action` points to a writable double.
#[no_mangle]
pub unsafe extern "C" fn fpa_model_action(model: *const FpaModel, gauge: *const FpaGauge, action: *mut f64) -> c_int {
    guard(|| {
        let (m, g) = (non_null(model, "model")?, non_null(gauge, "gauge")?);
        model_fits(m, g)?;
        let out = unsafe { out_slice(action, 1, 1, "action") }?;
        out[0] = m.with_action(|a| a.value(&g.field));
        Ok(())
    })
}

/// The model's action into `*action` and its link derivatives into `force`
/// (`len >= 32 V` doubles): the HMC force of the learned action.
///
/// # Safety
/// `model` and `gauge` come from fpa constructors; `action` points to a
/// writable double, `force` to `len` writable doubles.
#[no_mangle]
pub unsafe extern "C" fn fpa_model_force(
    model: *const FpaModel,
    gauge: *const FpaGauge,
    action: *mut f64,
    force: *mut f64,
    len: usize,
) -> c_int {
    guard(|| {
        let (m, g) = (non_null(model, "model")?, non_null(gauge, "gauge")?);
        model_fits(m, g)?;
        let a = unsafe { out_slice(action, 1, 1, "action") }?;
        let out = unsafe { out_slice(force, len, 32 * g.field.geometry().volume(), "force") }?;
        let mut d = vec![[0.0; 8]; g.field.links().len()];
        a[0] = m.with_action(|a| a.value_and_derivative(&g.field, &mut d));
        write_force(out, &d);
        Ok(())
    })
}

/// From now on evaluates the model averaged over lattice symmetries,
/// `A_S[U] = (1/|S|) Σ_{g∈S} A[gU]` (derivatives moved back with `g⁻¹`; README,
/// "Lattice symmetries"): `set` = `"reflections"` (the 16 axis reflections,
/// 16 evaluations per call), `"hypercubic"` (all 384 axis permutations and
/// reflections that map the lattice onto itself), or `"none"` (the plain model,
/// the state after `fpa_model_load`). The average is exactly symmetric; the
/// plain network is not (it has weights per direction and shift).
///
/// # Safety
/// `model` comes from `fpa_model_load`; `set` is a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn fpa_model_symmetrize(model: *mut FpaModel, set: *const c_char) -> c_int {
    guard(|| {
        // SAFETY: the caller passes a model from fpa_model_load or NULL.
        let m = unsafe { model.as_mut() }.ok_or("model is NULL")?;
        let name = unsafe { path_arg(set) }.map_err(|_| "set is NULL".to_string())?;
        m.symmetrize = match name.as_str() {
            "none" => None,
            other => Some(SymmetrySet::named(other).ok_or_else(|| {
                format!("unknown symmetry set {other:?}: use \"reflections\", \"hypercubic\" or \"none\"")
            })?),
        };
        Ok(())
    })
}

/// Frees a model (NULL is accepted).
///
/// # Safety
/// `model` comes from `fpa_model_load` and is not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn fpa_model_free(model: *mut FpaModel) {
    unsafe { free_handle(model) }
}

/// The fixed point action of a coarse configuration by minimisation:
/// `A_FP[V] = min_U (A_W[U] + T[V, U])` on the twice finer lattice with the
/// default RG transformation of fpa (κ = 8.8; README), minimised to a largest
/// link gradient of 1e-9; `*action = A_FP[V]` and its link derivatives into
/// `force` (`len >= 32 V` doubles). Fails if the minimiser does not converge.
///
/// # Safety
/// `gauge` comes from an fpa constructor; `action` points to a writable
/// double, `force` to `len` writable doubles.
#[no_mangle]
pub unsafe extern "C" fn fpa_fp_action(gauge: *const FpaGauge, action: *mut f64, force: *mut f64, len: usize) -> c_int {
    guard(|| {
        let g = non_null(gauge, "gauge")?;
        let a = unsafe { out_slice(action, 1, 1, "action") }?;
        let out = unsafe { out_slice(force, len, 32 * g.field.geometry().volume(), "force") }?;
        let fp = FixedPoint::new(g.field.geometry().clone(), FixedPointSettings::default(), &Wilson)
            .map_err(|e| e.to_string())?;
        let r = fp.solve(&g.field, None).map_err(|e| e.to_string())?;
        if !r.report.converged {
            return Err(format!("the minimiser did not converge (largest gradient {:.3e})", r.report.max_gradient));
        }
        a[0] = r.action;
        write_force(out, &r.derivative);
        Ok(())
    })
}

/// Bytes held now by fpa's pool of freed feature-map buffers. L-CNN
/// evaluations keep the large buffers they free (>= 256 KiB each, at most
/// `fpa_buffers_limit()` bytes in all, 1 GiB by default) and reuse them in the
/// next evaluation instead of returning them to the system; values never
/// depend on the pool.
#[no_mangle]
pub extern "C" fn fpa_buffers_kept() -> usize {
    fpa_core::recycle::kept_bytes()
}

/// The bound on the bytes the buffer pool keeps.
#[no_mangle]
pub extern "C" fn fpa_buffers_limit() -> usize {
    fpa_core::recycle::limit()
}

/// Sets the bound on the bytes the buffer pool keeps (0: keep nothing, every
/// buffer goes back to the system when freed); frees the oldest kept buffers
/// until the pool is within it.
#[no_mangle]
pub extern "C" fn fpa_buffers_set_limit(bytes: usize) {
    fpa_core::recycle::set_limit(bytes)
}

/// Frees every kept buffer now (the bound stays): for a program that is done
/// with L-CNN evaluations for a while and wants the memory back.
#[no_mangle]
pub extern "C" fn fpa_buffers_release() {
    fpa_core::recycle::release()
}
