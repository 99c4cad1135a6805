"""Pack `fpa fp-data` directories into one compact .npz for scripts/torch_fp_train.py.

Each configuration keeps what training needs, in lge-cnn's axis order (axis a = fpa's mu 3 - a,
the order scripts/torch_lcnn.py computes in):

* links: the first two rows of every link, complex64 `[L0, L1, L2, L3, 4, 2, 3]` (the third row of
  an SU(3) matrix is the complex conjugate of the cross product of the first two);
* d_fp: `D_FP[V]_{x,mu,a}`, float16 `[L0, L1, L2, L3, 4, 8]` (relative rounding 2^-11; its squared
  error is below 1e-6 of `|D_FP|^2`, far under any model's error);
* a_fp, beta_wil (float64) and the configuration's dataset weight.

Configurations are grouped by lattice shape; arrays are named `g<k>_links`, `g<k>_dfp`,
`g<k>_afp`, `g<k>_beta`, `g<k>_weight`, `g<k>_set` (index of the source directory), plus `sets`
(the directory names, JSON). A directory may be given as `DIR@W` (every configuration counts W
times, as with `fpa train --data DIR@W`).

usage: python3 scripts/pack_fp_data.py OUT.npz DIR[@W] [DIR[@W] ...]
"""
import json
import os
import sys

import numpy as np


def load_dir(path):
    index = json.load(open(os.path.join(path, "index.json")))
    for c in index["configs"]:
        links = np.load(os.path.join(path, c["links"]))
        d_fp = np.load(os.path.join(path, c["d_fp"]))
        # fpa: (Lt, Lz, Ly, Lx, mu, 3, 3) with mu = x, y, z, t -> lge axis a = 3 - mu
        yield links[..., ::-1, :, :], d_fp[..., ::-1, :], float(c["a_fp"]), float(c["beta_wil"])


def main(argv):
    if len(argv) < 2:
        raise SystemExit(__doc__)
    out, dirs = argv[0], argv[1:]
    groups = {}
    for k, spec in enumerate(dirs):
        path, _, w = spec.partition("@")
        weight = float(w) if w else 1.0
        for links, d_fp, a_fp, beta in load_dir(path):
            g = groups.setdefault(links.shape[:4], {"links": [], "dfp": [], "afp": [], "beta": [], "weight": [], "set": []})
            g["links"].append(links[..., :2, :].astype(np.complex64))
            g["dfp"].append(d_fp.astype(np.float16))
            g["afp"].append(a_fp)
            g["beta"].append(beta)
            g["weight"].append(weight)
            g["set"].append(k)
    arrays = {"sets": np.array(json.dumps([d.partition("@")[0] for d in dirs]))}
    for i, (shape, g) in enumerate(sorted(groups.items())):
        for name, v in g.items():
            arrays[f"g{i}_{name}"] = np.array(v)
        print(f"group {i}: lattice {list(shape)}, {len(g['afp'])} configurations")
    tmp = out + ".tmp.npz"
    np.savez(tmp, **arrays)
    os.replace(tmp, out)
    print(f"wrote {out} ({os.path.getsize(out) / 1e6:.1f} MB)")


if __name__ == "__main__":
    main(sys.argv[1:])
