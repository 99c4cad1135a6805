"""Reads an fpa FP dataset with numpy alone and cross-checks its layout.

For every configuration: the links are SU(3), the Wilson action recomputed
here from the (L_t, L_z, L_y, L_x, 4, 3, 3) array equals the `a_wilson` that
fpa recorded, and D_FP has the documented shape and is finite.

usage: python3 scripts/check_fp_data.py DATA
"""
import json
import sys

import numpy as np


def wilson_action(U):
    """A_W = sum_x sum_{mu<nu} (1 - Re Tr U_mu,nu(x) / 3) with numpy rolls.

    Direction mu (x, y, z, t) is array axis 3 - mu (the site axes are t, z, y, x).
    """
    def shift(A, mu):  # A(x + mu)
        return np.roll(A, -1, axis=3 - mu)

    total = 0.0
    for mu in range(4):
        for nu in range(mu + 1, 4):
            a = U[..., mu, :, :] @ shift(U[..., nu, :, :], mu)
            b = U[..., nu, :, :] @ shift(U[..., mu, :, :], nu)
            p = a @ np.conj(np.swapaxes(b, -1, -2))
            total += np.sum(1.0 - np.trace(p, axis1=-2, axis2=-1).real / 3.0)
    return total


def main(data):
    idx = json.load(open(f"{data}/index.json"))
    assert idx["format"] == "fpa-fp-data", idx["format"]
    for c in idx["configs"]:
        V = np.load(f"{data}/{c['links']}")
        D = np.load(f"{data}/{c['d_fp']}")
        sites = tuple(reversed(c["lattice"]))
        assert V.shape == sites + (4, 3, 3) and V.dtype == np.complex128, V.shape
        assert D.shape == sites + (4, 8) and D.dtype == np.float64, D.shape
        eye = np.eye(3)
        assert np.abs(V @ np.conj(np.swapaxes(V, -1, -2)) - eye).max() < 1e-12, "links not unitary"
        assert np.abs(np.linalg.det(V) - 1).max() < 1e-12, "links not special"
        aw = wilson_action(V)
        assert abs(aw - c["a_wilson"]) < 1e-9 * abs(aw), (aw, c["a_wilson"])
        assert np.isfinite(D).all() and np.isfinite(c["a_fp"])
        print(f"{c['id']}: beta_wil {c['beta_wil']}, A_FP {c['a_fp']:.6f}, A_W {aw:.6f} (numpy), |D_FP| {np.linalg.norm(D):.4f}")
    print(f"ok: {len(idx['configs'])} configurations")


if __name__ == "__main__":
    main(sys.argv[1])
