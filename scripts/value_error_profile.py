#!/usr/bin/env python3
"""Where a model's action-value error sits: per configuration, against the
Polyakov loops and the action density (README, model card, "Where the value
error at beta_wil = 5.5 comes from").

    fpa eval --model M --data DIR [--data DIR2 ...] --json --out OUT > eval.json
    python3 scripts/value_error_profile.py eval.json DIR [DIR2 ...] [--list]

`eval.json` is `fpa eval --json` output; DIR are the FP datasets it evaluated
(`fpa fp-data` output), whose `<id>.links.npy` hold each configuration's links
(complex128, `(L_t, L_z, L_y, L_x, mu, 3, 3)`, mu = x, y, z, t; README, "Fixed
point action data").
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


def links_of(config_id, dirs):
    """The links of configuration `config_id` from the first dataset that holds it."""
    for d in dirs:
        path = os.path.join(d, config_id + ".links.npy")
        if os.path.exists(path):
            return np.load(path)
    sys.exit(f"{config_id}.links.npy is in none of {dirs}")


def polyakov_lines(u):
    """For each direction, the traced loops through every line, `(1/3) Tr P`."""
    lines = []
    for mu in range(4):
        # Array axes are (t, z, y, x): direction mu runs along axis 3 - mu.
        links = np.moveaxis(u[..., mu, :, :], 3 - mu, 0)
        p = links[0]
        for k in range(1, links.shape[0]):
            p = p @ links[k]
        lines.append(np.trace(p, axis1=-2, axis2=-1) / 3)
    return lines


def main():
    args = [a for a in sys.argv[1:] if a != "--list"]
    if len(args) < 2:
        sys.exit(__doc__)
    ev = json.load(open(args[0]))
    rows = []
    for c in ev["configs"]:
        if c["beta_wil"] == 0:  # instantons
            continue
        u = links_of(c["id"], args[1:])
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
