"""Checks of the `fpa` Python package (run by `cargo xtask test` after `pip install ./python`).

Layouts: links complex128 (Lt, Lz, Ly, Lx, 4, 3, 3); forces float64 (Lt, Lz, Ly, Lx, 4, 8),
D_a A = d/de A[U -> exp(i e t^a) U], t^a = lambda^a / 2.
"""
import sys

import numpy as np

import fpa

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


def check(cond, what):
    if not cond:
        print("FAILED:", what)
        sys.exit(1)


def main():
    rng = np.random.default_rng(1)
    u = fpa.wilson_configuration([4, 4, 4, 4], 6.0, 10, seed=3)
    check(u.shape == (4, 4, 4, 4, 4, 3, 3) and u.dtype == np.complex128, f"links shape {u.shape} {u.dtype}")
    p = fpa.plaquette(u)
    check(0.5 < p < 0.7, f"plaquette {p}")
    a, d = fpa.wilson_force(u)
    check(abs(a - 6 * 256 * (1 - p)) < 1e-9 * a, "A_W = 6 V (1 - <P>)")
    check(abs(fpa.wilson_action(u) - a) < 1e-12 * a, "wilson_action = wilson_force's action")
    check(d.shape == (4, 4, 4, 4, 4, 8), f"force shape {d.shape}")

    # The force is the derivative: central differences on a few links, all colours.
    h = 1e-5
    for idx in [(0, 0, 0, 0, 0), (1, 2, 3, 0, 2), (3, 3, 3, 3, 3)]:
        for c in range(8):
            rot = exp_i_hermitian(h * GELL_MANN[c] / 2)
            up, dn = u.copy(), u.copy()
            up[idx] = rot @ u[idx]
            dn[idx] = rot.conj().T @ u[idx]
            fd = (fpa.wilson_action(up) - fpa.wilson_action(dn)) / (2 * h)
            check(abs(fd - d[idx][c]) < 1e-6, f"D at {idx}, colour {c}: {d[idx][c]} vs {fd}")

    # Gauge invariance of the L-CNN action; its force is the derivative of its action.
    model = fpa.Model(sys.argv[1])
    am = model.action(u)
    om = np.array([random_su3(rng) for _ in range(256)]).reshape(4, 4, 4, 4, 3, 3)
    g = np.empty_like(u)
    for mu in range(4):
        shifted = np.roll(om, -1, axis=3 - mu)  # Omega(x + mu): direction mu is array axis 3 - mu
        g[..., mu, :, :] = om @ u[..., mu, :, :] @ np.conj(np.swapaxes(shifted, -1, -2))
    check(abs(model.action(g) - am) < 1e-10 * abs(am), f"L-CNN gauge invariance: {model.action(g)} vs {am}")
    check(abs(fpa.plaquette(g) - p) < 1e-13, "plaquette gauge invariance")
    af, dm = model.force(u)
    check(af == am, "force returns the action")
    idx, c = (2, 1, 0, 3, 1), 5
    rot = exp_i_hermitian(h * GELL_MANN[c] / 2)
    up, dn = u.copy(), u.copy()
    up[idx] = rot @ u[idx]
    dn[idx] = rot.conj().T @ u[idx]
    fd = (model.action(up) - model.action(dn)) / (2 * h)
    check(abs(fd - dm[idx][c]) < 1e-5 * (1 + abs(fd)), f"L-CNN force {dm[idx][c]} vs {fd}")

    # Bad input is a Python exception that names the problem.
    for bad, needle in [(u[..., :2, :, :], "shape"), (u * 2, "SU(3)")]:
        try:
            fpa.plaquette(bad)
            check(False, f"{needle}: no exception")
        except ValueError as e:
            check(needle in str(e), f"message {e} does not name {needle}")
    try:
        fpa.Model("/no/such/model.safetensors")
        check(False, "missing model: no exception")
    except OSError as e:
        check("cannot read" in str(e), str(e))
    print(f"fpa Python package: ok (plaquette {p:.5f}, A_W {a:.4f}, L-CNN {am:.4f})")


if __name__ == "__main__":
    main()
