#!/usr/bin/env python3
"""Where a model's action-value error sits: per configuration, against the
Polyakov loops and the action density (README, model card, "Where the value
error at beta_wil = 5.5 comes from").

    fpa eval --model M --data DIR --json --out OUT > eval.json
    python3 scripts/value_error_profile.py eval.json ENSDIR [--list]

`eval.json` is `fpa eval --json` output (its "configs" entries name each
configuration `<ensemble>_<config>`, as `fpa fp-data` does); ENSDIR holds the
ensembles as `fpa generate` wrote them (`ENSDIR/<ensemble>/<config>.nersc`).
Per configuration: the relative error `(A_model - A_FP)/A_FP`, Wilson's, the
Polyakov loops `P_mu = (1/3) Tr prod_k U_mu(x + k mu)` through every line of
every direction (`|<P>|`: modulus of the mean over a direction's lines,
averaged over the 4 directions; `<|P|>`: mean modulus over all lines) and the
FP action density `A_FP/V`. Prints, per beta_wil, the mean error and its
correlation with each; then the errors binned in `A_FP/V` across all
ensembles. Needs numpy.
"""
import json
import os
import sys

import numpy as np


def read_nersc(path):
    """Links of a NERSC 3x3 (IEEE64BIG) file as `u[x, y, z, t, mu, i, j]`."""
    raw = open(path, "rb").read()
    end = raw.index(b"\n", raw.index(b"END_HEADER")) + 1
    header = raw[:end].decode()
    if "4D_SU3_GAUGE_3x3" not in header or "IEEE64BIG" not in header:
        sys.exit(f"{path}: only 4D_SU3_GAUGE_3x3 files in IEEE64BIG are read here")
    dims = [int(l.split("=")[1]) for l in header.splitlines() if l.startswith("DIMENSION_")]
    a = np.frombuffer(raw[end:], dtype=">f8").astype(np.float64)
    # File order: t, z, y, x (x fastest), then mu = x, y, z, t, then row-major 3x3 complex.
    a = a.reshape(dims[3], dims[2], dims[1], dims[0], 4, 3, 3, 2)
    return np.transpose(a[..., 0] + 1j * a[..., 1], (3, 2, 1, 0, 4, 5, 6))


def polyakov_lines(u):
    """For each direction, the traced loops through every line, `(1/3) Tr P`."""
    lines = []
    for mu in range(4):
        links = np.moveaxis(u[..., mu, :, :], mu, 0)
        p = links[0]
        for k in range(1, links.shape[0]):
            p = p @ links[k]
        lines.append(np.trace(p, axis1=-2, axis2=-1) / 3)
    return lines


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    ev = json.load(open(sys.argv[1]))
    rows = []
    for c in ev["configs"]:
        if c["beta_wil"] == 0:  # instantons
            continue
        ens, name = c["id"].split("_", 1)
        u = read_nersc(os.path.join(sys.argv[2], ens, name + ".nersc"))
        lines = polyakov_lines(u)
        vol = u.shape[0] * u.shape[1] * u.shape[2] * u.shape[3]
        rows.append((
            c["beta_wil"],
            (c["a_model"] - c["a_fp"]) / c["a_fp"],
            (c["a_wilson"] - c["a_fp"]) / c["a_fp"],
            np.mean([abs(p.mean()) for p in lines]),
            np.mean([np.abs(p).mean() for p in lines]),
            c["a_fp"] / vol,
        ))
    rows = np.array(rows)
    corr = lambda a, b: np.corrcoef(a, b)[0, 1]
    print("beta_wil  n   model err (mean, sd)   Wilson err   corr(err,|<P>|)  corr(err,<|P|>)  corr(err,A/V)")
    for beta in sorted(set(rows[:, 0])):
        r = rows[rows[:, 0] == beta]
        print(f"{beta:8.2f} {len(r):3d}   {r[:, 1].mean():+.2e} {r[:, 1].std():.1e}      {r[:, 2].mean():+.2e}"
              f"        {corr(r[:, 1], r[:, 3]):+.2f}            {corr(r[:, 1], r[:, 4]):+.2f}          {corr(r[:, 1], r[:, 5]):+.2f}")
        if "--list" in sys.argv:
            for x in r:
                print("    err %+.4f  Wilson %+.4f  |<P>| %.3f  <|P|> %.3f  A/V %.4f" % tuple(x[1:]))
    print("model error binned in A_FP/V (mean per beta_wil, configurations in brackets):")
    for lo in np.arange(np.floor(rows[:, 5].min() * 10) / 10, rows[:, 5].max(), 0.1):
        m = (rows[:, 5] >= lo) & (rows[:, 5] < lo + 0.1)
        if m.any():
            cells = [f"{b:.2f}: {rows[m & (rows[:, 0] == b), 1].mean():+.4f} ({(m & (rows[:, 0] == b)).sum()})"
                     for b in sorted(set(rows[m, 0]))]
            print(f"  {lo:.1f}-{lo + 0.1:.1f}   " + "   ".join(cells))


if __name__ == "__main__":
    main()
