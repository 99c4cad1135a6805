"""An independent numpy implementation of lge-cnn's conventions, to check that
fpa's L-CB models give the same action as the reference code with the same
weights.

It follows lge-cnn (gitlab openpixi/lge-cnn, `lge_cnn/nn/layers.py`): lattices
are row-major with the last axis fastest, links `u[site, axis]`; `Plaq`
(orientation -1) gives `U_a(x) U_b(x+a) U_a(x+b)^† U_b(x)^†` for `b < a`;
`transport(+1)`: `U(x) W(x+a) U(x)^†`, `transport(-1)`: `U(x-a)^† W(x-a) U(x-a)`;
`LConvBilin`: right factors = local, then per axis the -1 and +1 shifts, then
Hermitian conjugates, then 1; left factors = W, W^†, 1;
`out_u = sum_{v,w} weight[u,v,w] L_v R_w`; `LTrace` then `Linear(2n -> 1)` per
site, summed. fpa's configuration arrays are (L_t, L_z, L_y, L_x, mu, 3, 3)
with mu = x, y, z, t, so lge-cnn's axis a is fpa's mu = 3 - a.

usage: python3 scripts/lge_reference.py MODEL.safetensors DATA EVAL.json
"""
import json
import struct
import sys

import numpy as np


def load_safetensors(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    data = raw[8 + n:]
    out = {}
    for name, e in header.items():
        b, en = e["data_offsets"]
        dt = {"F64": "<f8", "F32": "<f4"}[e["dtype"]]
        out[name] = np.frombuffer(data[b:en], dtype=dt).reshape(e["shape"]).astype(np.float64)
    return out, meta


def dag(a):
    return np.conj(np.swapaxes(a, -1, -2))


def shift(a, dims, axis, orientation):
    return np.roll(a.reshape(*dims, *a.shape[1:]), orientation, axis).reshape(a.shape)


def transport(u, w, dims, axis, o):
    ws = shift(w, dims, axis, -o)
    ua = u[:, axis][:, None]
    if o > 0:
        return ua @ ws @ dag(ua)
    ua = shift(u[:, axis], dims, axis, +1)[:, None]
    return dag(ua) @ ws @ ua


def plaquettes(u, dims):
    d = len(dims)
    out = []
    for mu in range(d):
        for nu in range(mu):
            u1 = u[:, mu]
            u2 = shift(u, dims, mu, -1)[:, nu]
            u3 = shift(u, dims, nu, -1)[:, mu]
            u4 = u[:, nu]
            out.append(u1 @ u2 @ dag(u3) @ dag(u4))
    return np.stack(out, axis=1)


def lconvbilin(u, w, weight, kernel, dims, symmetric=True):
    tw = [w]
    for axis in range(len(dims)):
        for o in ([-1, +1] if symmetric else [+1]):
            wt = w
            for _ in range(kernel - 1):
                wt = transport(u, wt, dims, axis, o)
                tw.append(wt)
    tw = np.concatenate(tw, axis=1)
    unit = np.broadcast_to(np.eye(3), (w.shape[0], 1, 3, 3))
    left = np.concatenate([w, dag(w), unit], axis=1)
    right = np.concatenate([tw, dag(tw), unit], axis=1)
    return np.einsum("uvw,xvij,xwjk->xuik", weight, left, right)


def action(model, meta, links):
    spec = json.loads(meta["spec"])
    dims = links.shape[:4]
    u = links[..., ::-1, :, :].reshape(-1, 4, 3, 3)  # fpa mu -> lge-cnn axis 3 - mu
    w = None
    for i, layer in enumerate(spec["layers"]):
        if layer["type"] == "plaq":
            p = plaquettes(u, dims)
            w = p if w is None else np.concatenate([w, p], axis=1)
        elif layer["type"] == "lcb" and not layer.get("complex", False):
            w = lconvbilin(u, w, model[f"layers.{i}.weight"], layer.get("kernel", 1), dims, layer.get("symmetric", True))
        else:
            raise SystemExit(f"layer {layer} is outside this reference")
    tr = np.trace(w, axis1=-2, axis2=-1)
    feats = np.stack([tr.real, tr.imag], axis=-1).reshape(w.shape[0], -1) if spec["head"].get("imag", True) else tr.real
    j = 0
    while f"head.{j}.weight" in model:
        feats = feats @ model[f"head.{j}.weight"].T + model[f"head.{j}.bias"]
        if f"head.{j + 1}.weight" in model:
            feats = np.tanh(feats) if spec["head"].get("activation", "tanh") == "tanh" else feats
        j += 1
    a = feats.sum()
    if spec.get("subtract_trivial", True):
        a -= float(meta["trivial_per_site"]) * w.shape[0]
    return a


def main(model_path, data, eval_path):
    model, meta = load_safetensors(model_path)
    idx = json.load(open(f"{data}/index.json"))
    ev = json.load(open(eval_path))
    worst = 0.0
    for c, row in zip(idx["configs"], ev["configs"]):
        links = np.load(f"{data}/{c['links']}")
        a = action(model, meta, links)
        rel = abs(a - row["a_model"]) / max(abs(a), 1.0)
        worst = max(worst, rel)
        print(f"{c['id']}: lge-cnn conventions {a:.12f}, fpa {row['a_model']:.12f}")
    assert worst < 1e-10, f"fpa and the lge-cnn reference differ by {worst:.2e} (relative)"
    print(f"ok: fpa equals the lge-cnn reference to {worst:.1e} relative")


if __name__ == "__main__":
    main(*sys.argv[1:4])
