"""Checks of the `fpa` Python package, with pytest (`cargo xtask test` runs them after
`pip install ./python`; `python -m pytest python/tests` from the repository root).

Layouts: links complex128 (Lt, Lz, Ly, Lx, 4, 3, 3); forces float64 (Lt, Lz, Ly, Lx, 4, 8),
D_a A = d/de A[U -> exp(i e t^a) U], t^a = lambda^a / 2 in Gell-Mann order. The reference
computations below use numpy only (no PyTorch, no fpa internals).
"""
import os

import numpy as np
import pytest

import fpa

MODEL = os.path.join(os.path.dirname(__file__), "..", "..", "models", "fp-action.safetensors")

GELL_MANN = np.zeros((8, 3, 3), dtype=complex)
GELL_MANN[0][0, 1] = GELL_MANN[0][1, 0] = 1
GELL_MANN[1][0, 1], GELL_MANN[1][1, 0] = -1j, 1j
GELL_MANN[2][0, 0], GELL_MANN[2][1, 1] = 1, -1
GELL_MANN[3][0, 2] = GELL_MANN[3][2, 0] = 1
GELL_MANN[4][0, 2], GELL_MANN[4][2, 0] = -1j, 1j
GELL_MANN[5][1, 2] = GELL_MANN[5][2, 1] = 1
GELL_MANN[6][1, 2], GELL_MANN[6][2, 1] = -1j, 1j
GELL_MANN[7] = np.diag([1, 1, -2]) / np.sqrt(3)


def exp_i_hermitian(h):
    w, v = np.linalg.eigh(h)
    return (v * np.exp(1j * w)) @ v.conj().T


def random_su3(rng):
    z = rng.normal(size=(3, 3)) + 1j * rng.normal(size=(3, 3))
    q, r = np.linalg.qr(z)
    q = q * (np.diag(r) / np.abs(np.diag(r)))
    return q / np.linalg.det(q) ** (1 / 3)


def numpy_plaquette(u):
    """<Re Tr U_p>/3 over all sites and planes, in numpy (direction mu is array axis 3 - mu)."""
    total, n = 0.0, 0
    for mu in range(4):
        for nu in range(mu + 1, 4):
            u_mu, u_nu = u[..., mu, :, :], u[..., nu, :, :]
            u_nu_xmu = np.roll(u_nu, -1, axis=3 - mu)
            u_mu_xnu = np.roll(u_mu, -1, axis=3 - nu)
            dag = lambda m: np.conj(np.swapaxes(m, -1, -2))
            p = u_mu @ u_nu_xmu @ dag(u_mu_xnu) @ dag(u_nu)
            total += np.trace(p, axis1=-2, axis2=-1).real.sum() / 3
            n += p.shape[0] * p.shape[1] * p.shape[2] * p.shape[3]
    return total / n


def rotate(u, idx, c, s):
    v = u.copy()
    v[idx] = exp_i_hermitian(s * GELL_MANN[c] / 2) @ u[idx]
    return v


@pytest.fixture(scope="module")
def config():
    return fpa.wilson_configuration([4, 4, 4, 4], 6.0, 10, seed=3)


def test_layout_plaquette_and_action(config):
    u = config
    assert u.shape == (4, 4, 4, 4, 4, 3, 3) and u.dtype == np.complex128
    p = fpa.plaquette(u)
    assert 0.5 < p < 0.7
    assert abs(p - numpy_plaquette(u)) < 1e-13, "the package agrees with a numpy plaquette"
    a, d = fpa.wilson_force(u)
    assert abs(a - 6 * 256 * (1 - p)) < 1e-9 * a
    assert abs(fpa.wilson_action(u) - a) < 1e-12 * a
    assert d.shape == (4, 4, 4, 4, 4, 8)


def test_wilson_force_is_the_derivative(config):
    u, h = config, 1e-5
    _, d = fpa.wilson_force(u)
    for idx in [(0, 0, 0, 0, 0), (1, 2, 3, 0, 2), (3, 3, 3, 3, 3)]:
        for c in range(8):
            fd = (fpa.wilson_action(rotate(u, idx, c, h)) - fpa.wilson_action(rotate(u, idx, c, -h))) / (2 * h)
            assert abs(fd - d[idx][c]) < 1e-6, (idx, c)


def test_model_is_gauge_invariant_and_its_force_is_the_derivative(config):
    u, rng, h = config, np.random.default_rng(1), 1e-5
    model = fpa.Model.load(MODEL)
    am = model.action(u)
    om = np.array([random_su3(rng) for _ in range(256)]).reshape(4, 4, 4, 4, 3, 3)
    g = np.empty_like(u)
    for mu in range(4):
        shifted = np.roll(om, -1, axis=3 - mu)  # Omega(x + mu)
        g[..., mu, :, :] = om @ u[..., mu, :, :] @ np.conj(np.swapaxes(shifted, -1, -2))
    assert abs(model.action(g) - am) < 1e-10 * abs(am)
    assert abs(fpa.plaquette(g) - fpa.plaquette(u)) < 1e-13
    af, dm = model.force(u)
    assert af == am
    idx, c = (2, 1, 0, 3, 1), 5
    fd = (model.action(rotate(u, idx, c, h)) - model.action(rotate(u, idx, c, -h))) / (2 * h)
    assert abs(fd - dm[idx][c]) < 1e-5 * (1 + abs(fd))


def test_gauge_files_round_trip(config, tmp_path):
    for fmt in ["nersc", "nersc-2row"]:
        path = str(tmp_path / f"u.{fmt}")
        fpa.write_gauge(path, config, format=fmt)
        back = fpa.read_gauge(path)
        assert np.abs(back - config).max() < 1e-14, fmt
    with pytest.raises(ValueError, match="nersc"):
        fpa.write_gauge(str(tmp_path / "x"), config, format="ildg")


def test_ensemble_is_the_chain(config):
    ens = fpa.wilson_ensemble([4, 4, 4, 4], 6.0, therm=4, every=3, configs=2, seed=3)
    assert len(ens) == 2
    # wilson_configuration(10 sweeps, seed 3) is the same chain's configuration after 10 sweeps.
    assert np.array_equal(ens[1], config)


def test_bad_input_raises_with_a_message(config):
    with pytest.raises(ValueError, match="shape"):
        fpa.plaquette(config[..., :2, :, :])
    with pytest.raises(ValueError, match="SU\\(3\\)"):
        fpa.plaquette(config * 2)
    bad = config.copy()
    bad[0, 0, 0, 0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        fpa.wilson_action(bad)
    with pytest.raises(OSError, match="cannot read"):
        fpa.Model("/no/such/model.safetensors")
    with pytest.raises(ValueError):
        fpa.read_gauge(MODEL)  # not a gauge file
