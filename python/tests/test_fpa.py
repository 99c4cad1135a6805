"""Checks of the `fpa` Python package, with pytest (`cargo xtask test` runs them after
`pip install ./python`; `python -m pytest python/tests` from the repository root).

Layouts: links complex128 (Lt, Lz, Ly, Lx, 4, 3, 3); forces float64 (Lt, Lz, Ly, Lx, 4, 8),
D_a A = d/de A[U -> exp(i e t^a) U], t^a = lambda^a / 2 in Gell-Mann order. The reference
computations below use numpy only (no PyTorch, no fpa internals).
"""
import os
import struct
import zlib

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


def reflect(u, mu):
    """The field reflected along direction mu (x_mu -> -x_mu mod L), in numpy: links in direction mu
    run the other way, so the link from x goes to the site -x - mu and is daggered; the others move
    to -x."""
    axis = 3 - mu
    v = np.flip(u, axis=axis)  # site x -> L - 1 - x
    out = np.roll(v, 1, axis=axis)  # L - 1 - x -> -x (mod L)
    out[..., mu, :, :] = np.conj(np.swapaxes(v[..., mu, :, :], -1, -2))  # x -> -x - 1, daggered
    return out


def test_model_averaged_over_reflections(config):
    u, h = config, 1e-5
    plain = fpa.Model(MODEL)
    averaged = fpa.Model(MODEL, symmetrize="reflections")
    assert plain.symmetrize is None and averaged.symmetrize == "reflections"
    a = averaged.action(u)
    for mu in range(4):
        r = reflect(u, mu)
        assert abs(fpa.plaquette(r) - fpa.plaquette(u)) < 1e-13
        assert abs(averaged.action(r) - a) < 1e-11 * a, mu
        assert abs(plain.action(r) - plain.action(u)) > 1e-9 * a, "the network itself is not symmetric"
    af, d = averaged.force(u)
    assert af == a
    idx, c = (1, 3, 2, 0, 0), 2
    fd = (averaged.action(rotate(u, idx, c, h)) - averaged.action(rotate(u, idx, c, -h))) / (2 * h)
    assert abs(fd - d[idx][c]) < 1e-5 * (1 + abs(fd))
    averaged.symmetrize = None
    assert averaged.action(u) == plain.action(u)
    with pytest.raises(ValueError, match="unknown symmetrize"):
        fpa.Model(MODEL, symmetrize="rotations")


def test_buffer_pool_controls(config):
    model = fpa.Model(MODEL)
    a = model.action(config)
    model.force(config)
    limit = fpa.buffer_limit()
    assert limit == 1 << 30
    assert fpa.buffers_kept() > 0, "L-CNN evaluations keep the feature maps they free"
    fpa.release_buffers()
    assert fpa.buffers_kept() == 0
    fpa.set_buffer_limit(0)
    try:
        assert model.action(config) == a
        assert fpa.buffers_kept() == 0 and fpa.buffer_limit() == 0
    finally:
        fpa.set_buffer_limit(limit)
    assert model.action(config) == a and fpa.buffers_kept() > 0


def test_gauge_files_round_trip(config, tmp_path):
    for fmt in ["nersc", "nersc-2row", "ildg", "openqcd"]:
        path = str(tmp_path / f"u.{fmt}")
        fpa.write_gauge(path, config, format=fmt)
        back = fpa.read_gauge(path)
        assert np.abs(back - config).max() < 1e-14, fmt
        if fmt != "nersc-2row":
            assert np.array_equal(back, config), fmt  # bit for bit
    with pytest.raises(ValueError, match="milc"):
        fpa.write_gauge(str(tmp_path / "x"), config, format="milc")
    with pytest.raises(ValueError, match="precision 32"):
        fpa.write_gauge(str(tmp_path / "x"), config, format="openqcd", precision=32)


def lime_records(data):
    """(type, payload) of each LIME record, parsed from the documented header layout."""
    out, pos = [], 0
    while pos < len(data):
        magic, version, flags, length = struct.unpack(">IHHQ", data[pos : pos + 16])
        assert magic == 0x456789AB and version == 1
        kind = data[pos + 16 : pos + 144].split(b"\0")[0].decode()
        out.append((kind, data[pos + 144 : pos + 144 + length]))
        pos += 144 + (length + 7) // 8 * 8
    return dict(out)


def test_ildg_file_read_independently(config, tmp_path):
    """ILDG written by fpa, read with struct + numpy + zlib from the README's description."""
    path = str(tmp_path / "u.lime")
    fpa.write_gauge(path, config, format="ildg")
    rec = lime_records(open(path, "rb").read())
    fmt = rec["ildg-format"].decode()
    assert "<field>su3gauge</field>" in fmt and "<precision>64</precision>" in fmt
    data = rec["ildg-binary-data"]
    links = np.frombuffer(data, dtype=">f8").reshape(4, 4, 4, 4, 4, 3, 3, 2)
    assert np.array_equal(links[..., 0] + 1j * links[..., 1], config)
    suma = sumb = 0
    rot = lambda c, r: ((c << r) | (c >> (32 - r))) & 0xFFFFFFFF if r else c
    for rank in range(4**4):
        c = zlib.crc32(data[576 * rank : 576 * (rank + 1)])
        suma ^= rot(c, rank % 29)
        sumb ^= rot(c, rank % 31)
    ck = rec["scidac-checksum"].decode()
    assert f"<suma>{suma:x}</suma>" in ck and f"<sumb>{sumb:x}</sumb>" in ck, ck


def test_openqcd_file_read_independently(config, tmp_path):
    """openQCD written by fpa, read with numpy from the README's description."""
    path = str(tmp_path / "u.cnfg")
    fpa.write_gauge(path, config, format="openqcd")
    raw = open(path, "rb").read()
    n = struct.unpack("<4i", raw[:16])
    plaq = struct.unpack("<d", raw[16:24])[0]
    assert n == (4, 4, 4, 4)
    assert abs(plaq - 3 * numpy_plaquette(config)) < 1e-12
    links = np.frombuffer(raw[24:], dtype="<f8").reshape(-1, 18)
    links = links[:, 0::2] + 1j * links[:, 1::2]
    # openQCD (x0, x1, x2, x3) = (t, x, y, z), direction 0 = t; numpy axes are (t, z, y, x), mu = x, y, z, t.
    mu_of = [3, 0, 1, 2]
    k = 0
    for x0 in range(4):
        for x1 in range(4):
            for x2 in range(4):
                for x3 in range(4):
                    if (x0 + x1 + x2 + x3) % 2 == 0:
                        continue
                    for d in range(4):
                        mu = mu_of[d]
                        site = [x0, x3, x2, x1]  # numpy index (t, z, y, x)
                        back = list(site)
                        axis = 3 - mu  # numpy axis of direction mu
                        back[axis] = (back[axis] - 1) % 4
                        assert np.array_equal(links[k].reshape(3, 3), config[tuple(site) + (mu,)])
                        assert np.array_equal(links[k + 1].reshape(3, 3), config[tuple(back) + (mu,)])
                        k += 2
    assert k == len(links)


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


def test_train_from_numpy_arrays(tmp_path):
    """fpa.train: the training loop of `fpa train` on FP data held in numpy arrays."""
    configs = [fpa.wilson_configuration([2, 2, 2, 2], b, 6, seed=s) for s, b in [(1, 5.5), (2, 6.0), (3, 6.5), (4, 7.0)]]
    data = [fpa.fp_action(u) for u in configs]
    a_fp = [a for a, _ in data]
    d_fp = [d for _, d in data]
    spec = '{"layers": [{"type": "plaq"}, {"type": "lcb", "out": 2, "kernel": 2}], "head": {"imag": true}, "init_scale": 0.3}'
    model, history = fpa.train(configs, a_fp, d_fp, model=spec, epochs=3, batch=2, lr=3e-3, val=0.25, seed=5)
    assert [h["epoch"] for h in history] == [0, 1, 2]
    assert all(np.isfinite(h["train_l1"]) and np.isfinite(h["val_l2"]) for h in history)
    again, history2 = fpa.train(configs, a_fp, d_fp, model=spec, epochs=3, batch=2, lr=3e-3, val=0.25, seed=5)
    assert history == history2  # deterministic
    assert model.action(configs[0]) == again.action(configs[0])
    # Saved in fpa's model format and read back with the same action.
    path = str(tmp_path / "m.safetensors")
    model.save(path)
    assert fpa.Model(path).action(configs[1]) == model.action(configs[1])
    with pytest.raises(ValueError, match="one entry per configuration"):
        fpa.train(configs, a_fp[:2], d_fp)
    with pytest.raises(ValueError, match="d_fp\\[0\\] has shape"):
        fpa.train(configs, a_fp, [d[..., :4] for d in d_fp])
    with pytest.raises(ValueError, match="built-in name"):
        fpa.train(configs, a_fp, d_fp, model="no-such-model")
    # The squared relative value loss (fpa train --value-loss relative-squared).
    _, history3 = fpa.train(configs, a_fp, d_fp, model=spec, epochs=2, batch=2, lr=3e-3, val=0.25, seed=5,
                            w1=100.0, value_loss="relative-squared")
    assert all(np.isfinite(h["train_l1"]) for h in history3)
    assert history3[0]["train_l1"] != history[0]["train_l1"]
    with pytest.raises(ValueError, match="value_loss"):
        fpa.train(configs, a_fp, d_fp, model=spec, value_loss="l3")
    with pytest.raises(ValueError, match="divides by A_FP"):
        fpa.train(configs, [0.0] + a_fp[1:], d_fp, model=spec, value_loss="relative-squared")
    # Training passes in f32 (fpa train --precision f32): the same loop; the validation losses
    # (always f64) follow the f64 run's closely but not bit for bit.
    _, history4 = fpa.train(configs, a_fp, d_fp, model=spec, epochs=3, batch=2, lr=3e-3, val=0.25, seed=5,
                            precision="f32")
    for h64, h32 in zip(history, history4):
        assert h32["val_l2"] == pytest.approx(h64["val_l2"], rel=1e-3)
    assert [h["val_l2"] for h in history4] != [h["val_l2"] for h in history]
    with pytest.raises(ValueError, match="precision"):
        fpa.train(configs, a_fp, d_fp, model=spec, precision="f16")
    # Per-configuration weights (fpa train --data DIR@W): all 1 is the plain run bit for bit;
    # other weights change the run; bad ones are refused.
    _, history5 = fpa.train(configs, a_fp, d_fp, model=spec, epochs=3, batch=2, lr=3e-3, val=0.25, seed=5,
                            weights=[1.0] * 4)
    assert history5 == history
    _, history6 = fpa.train(configs, a_fp, d_fp, model=spec, epochs=3, batch=2, lr=3e-3, val=0.25, seed=5,
                            weights=[1.0, 4.0, 1.0, 1.0])
    assert history6 != history
    for bad in ([1.0] * 3, [1.0, 0.0, 1.0, 1.0], [1.0, float("nan"), 1.0, 1.0]):
        with pytest.raises(ValueError, match="weights"):
            fpa.train(configs, a_fp, d_fp, model=spec, weights=bad)
