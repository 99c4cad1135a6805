"""Moving L-CNN models between fpa and lge-cnn, and an independent numpy
implementation of lge-cnn's forward pass that checks the conversion.

lge-cnn (gitlab openpixi/lge-cnn, `lge_cnn/nn/layers.py`) conventions, as
used here:

* tensors are real pairs: links `u[batch, site, axis, 3, 3, 2]`, features
  `w[batch, site, channel, 3, 3, 2]` (last index: real, imaginary part);
  sites row-major with the last lattice axis fastest. fpa's links arrays are
  `(Lt, Lz, Ly, Lx, mu, 3, 3)` complex with mu = x, y, z, t, so the sites
  already match and lge-cnn's axis `a` is fpa's direction `3 - a`:
  `u = np.stack([V.real, V.imag], -1)[..., ::-1, :, :, :].reshape(1, -1, 4, 3, 3, 2)`.
* `Plaq` (orientation -1): `U_a(x) U_b(x+a) U_a(x+b)^dag U_b(x)^dag` for `b < a`.
* `LConvBilin` (`convs.<i>.weight`, real, `[n_out, 2 n_in + 1, 2 n_in S + 1]`):
  right factors = local, then per axis `kernel - 1` transports by -1 and by +1,
  then the Hermitian conjugates of all of them, then 1; left factors = W,
  W^dag, 1; `out_u = sum_{v,w} weight[u,v,w] L_v R_w`. The converter handles
  lge-cnn's `use_symmetric=True`, `dilation=1` layers (the paper's): the
  kernel size is read off the weight shape, `S = 1 + 2 (kernel - 1) D`.
* head: `LTrace` gives `(re, im)` of every channel's trace, flattened to
  `[re_0, im_0, re_1, im_1, ...]`, then `linears.<j>` (`Linear`, weight
  `[out, in]`, bias `[out]`) with tanh between them, per site, summed over
  sites. lge-cnn does not subtract the value at the trivial field; the
  converter folds fpa's `trivial_per_site` into the last bias, so the summed
  output is fpa's action exactly.

usage:
  python3 scripts/lge_cnn.py to-lge MODEL.safetensors OUT.npz|OUT.pt
  python3 scripts/lge_cnn.py from-lge STATE.npz|STATE.pt OUT.safetensors [--kernel K]
  python3 scripts/lge_cnn.py check STATE.npz|MODEL.safetensors DATA EVAL.json

`.pt` files are PyTorch state dicts (`torch.save`; needs torch); `.npz` holds
the same names as numpy arrays (no torch needed). `check` runs the numpy
lge-cnn forward pass on every configuration of an `fpa fp-data` directory and
compares it with the actions in an `fpa eval` JSON report.
"""
import json
import struct
import sys

import numpy as np

D = 4


# ---------------------------------------------------------------- file I/O
def load_safetensors(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8 : 8 + n])
    meta = header.pop("__metadata__", {})
    data = raw[8 + n :]
    out = {}
    for name, e in header.items():
        b, en = e["data_offsets"]
        dt = {"F64": "<f8", "F32": "<f4"}[e["dtype"]]
        out[name] = np.frombuffer(data[b:en], dtype=dt).reshape(e["shape"]).astype(np.float64)
    return out, meta


def save_safetensors(path, tensors, meta):
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name], dtype="<f8")
        header[name] = {"dtype": "F64", "shape": list(a.shape), "data_offsets": [off, off + a.nbytes]}
        blobs.append(a.tobytes())
        off += a.nbytes
    header["__metadata__"] = meta
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def load_state(path):
    if path.endswith(".pt"):
        import torch

        return {k: v.detach().double().numpy() for k, v in torch.load(path, map_location="cpu").items()}
    return dict(np.load(path))


def save_state(path, state):
    if path.endswith(".pt"):
        import torch

        torch.save({k: torch.tensor(v) for k, v in state.items()}, path)
    else:
        np.savez(path, **state)


# ---------------------------------------------------------------- conversion
def fpa_to_lge(model, meta):
    """lge-cnn state dict (numpy) of an fpa model with lcb layers after one plaq layer."""
    spec = json.loads(meta["spec"])
    layers = spec["layers"]
    if layers[0]["type"] != "plaq" or any(
        l["type"] != "lcb" or l.get("complex", False) or not l.get("symmetric", True) or l.get("dilation", 1) != 1
        for l in layers[1:]
    ):
        raise SystemExit(
            "to-lge: this converter handles a plaq layer followed by real, symmetric, dilation-1 lcb layers "
            "(lge-cnn's kernel shape and dilation are constructor arguments, not part of its state dict)"
        )
    if spec["head"].get("quadratic", False):
        raise SystemExit("to-lge: lge-cnn has no quadratic read-out (products of traces); this model has one")
    state = {}
    for i in range(1, len(layers)):
        state[f"convs.{i - 1}.weight"] = model[f"layers.{i}.weight"].copy()
    j = 0
    while f"head.{j}.weight" in model:
        state[f"linears.{j}.weight"] = model[f"head.{j}.weight"].copy()
        state[f"linears.{j}.bias"] = model[f"head.{j}.bias"].copy()
        j += 1
    if not spec["head"].get("imag", True):  # fpa read Re Tr only: zero columns for Im Tr
        w = state["linears.0.weight"]
        wide = np.zeros((w.shape[0], 2 * w.shape[1]))
        wide[:, 0::2] = w
        state["linears.0.weight"] = wide
    if spec["head"].get("activation", "tanh") != "tanh" and j > 1:
        raise SystemExit("to-lge: lge-cnn heads use tanh between linear layers")
    if spec.get("subtract_trivial", True):
        state[f"linears.{j - 1}.bias"] = state[f"linears.{j - 1}.bias"] - float(meta["trivial_per_site"])
    return state


def lge_to_fpa(state, kernel=None):
    """fpa model (tensors, metadata) of an lge-cnn state dict; the spec is read off the shapes."""
    layers = [{"type": "plaq"}]
    tensors = {}
    n_in = D * (D - 1) // 2
    i = 0
    while f"convs.{i}.weight" in state:
        w = state[f"convs.{i}.weight"]
        n_out, left, right = w.shape
        if left != 2 * n_in + 1 or (right - 1) % (2 * n_in):
            raise SystemExit(f"convs.{i}.weight has shape {w.shape}; expected [n_out, {2 * n_in + 1}, 2*{n_in}*S+1]")
        s = (right - 1) // (2 * n_in)  # S = 1 + 2 (k - 1) D transported terms (symmetric kernel)
        if (s - 1) % (2 * D):
            raise SystemExit(f"convs.{i}: {s} transported terms do not fit a symmetric kernel")
        k = (s - 1) // (2 * D) + 1
        if kernel is not None and i == 0 and k != kernel:
            raise SystemExit(f"convs.0 has kernel size {k}, not {kernel}")
        layers.append({"type": "lcb", "out": n_out, "kernel": k, "dilation": 1, "symmetric": True, "complex": False})
        tensors[f"layers.{i + 1}.weight"] = w
        n_in = n_out
        i += 1
    j, hidden = 0, []
    while f"linears.{j}.weight" in state:
        tensors[f"head.{j}.weight"] = state[f"linears.{j}.weight"]
        tensors[f"head.{j}.bias"] = state[f"linears.{j}.bias"].reshape(-1)
        hidden.append(state[f"linears.{j}.weight"].shape[0])
        j += 1
    if j == 0 or hidden[-1] != 1 or state["linears.0.weight"].shape[1] != 2 * n_in:
        raise SystemExit(f"linears: expected Linear layers from {2 * n_in} inputs to 1 output")
    spec = {
        "dims": D,
        "layers": layers,
        "head": {"hidden": hidden[:-1], "activation": "tanh", "imag": True},
        "subtract_trivial": False,
    }
    return tensors, {"format": "fpa-lcnn", "program": "scripts/lge_cnn.py from-lge", "spec": json.dumps(spec)}


# ---------------------------------------------------------------- lge-cnn forward, in numpy
def pair(z):
    return np.stack([z.real, z.imag], axis=-1)


def unpair(a):
    return a[..., 0] + 1j * a[..., 1]


def dag(a):
    return np.conj(np.swapaxes(a, -1, -2))


def shift(a, dims, axis, o):
    return np.roll(a.reshape(*dims, *a.shape[1:]), o, axis).reshape(a.shape)


def transport(u, w, dims, axis, o):
    ws = shift(w, dims, axis, -o)
    if o > 0:
        ua = u[:, axis][:, None]
        return ua @ ws @ dag(ua)
    ua = shift(u[:, axis], dims, axis, +1)[:, None]
    return dag(ua) @ ws @ ua


def plaquettes(u, dims):
    out = []
    for a in range(D):
        for b in range(a):
            out.append(u[:, a] @ shift(u, dims, a, -1)[:, b] @ dag(shift(u, dims, b, -1)[:, a]) @ dag(u[:, b]))
    return np.stack(out, axis=1)


def lconvbilin(u, w, weight, dims):
    n_in = w.shape[1]
    kernel = ((weight.shape[2] - 1) // (2 * n_in) - 1) // (2 * D) + 1  # S = 1 + 2 (kernel - 1) D
    tw = [w]
    for axis in range(D):
        for o in [-1, +1]:
            wt = w
            for _ in range(kernel - 1):
                wt = transport(u, wt, dims, axis, o)
                tw.append(wt)
    tw = np.concatenate(tw, axis=1)
    unit = np.broadcast_to(np.eye(3), (w.shape[0], 1, 3, 3))
    left = np.concatenate([w, dag(w), unit], axis=1)
    right = np.concatenate([tw, dag(tw), unit], axis=1)
    return np.einsum("uvw,xvij,xwjk->xuik", weight, left, right)


def lge_action(state, u_pairs, dims):
    """lge-cnn's summed output for one configuration `u_pairs[site, axis, 3, 3, 2]`."""
    u = unpair(u_pairs)
    w = plaquettes(u, dims)
    i = 0
    while f"convs.{i}.weight" in state:
        w = lconvbilin(u, w, state[f"convs.{i}.weight"], dims)
        i += 1
    x = pair(np.trace(w, axis1=-2, axis2=-1)).reshape(w.shape[0], -1)  # LTrace, flattened (re, im)
    j = 0
    while f"linears.{j}.weight" in state:
        x = x @ state[f"linears.{j}.weight"].T + state[f"linears.{j}.bias"].reshape(-1)
        if f"linears.{j + 1}.weight" in state:
            x = np.tanh(x)
        j += 1
    return float(x.sum())


def to_lge_layout(links):
    """fpa links (Lt, Lz, Ly, Lx, mu, 3, 3) -> lge-cnn u[site, axis, 3, 3, 2] (axis a = mu 3 - a)."""
    return pair(links)[..., ::-1, :, :, :].reshape(-1, D, 3, 3, 2)


def check(path, data, eval_path):
    state = fpa_to_lge(*load_safetensors(path)) if path.endswith(".safetensors") else load_state(path)
    idx = json.load(open(f"{data}/index.json"))
    ev = json.load(open(eval_path))
    worst = 0.0
    for c, row in zip(idx["configs"], ev["configs"]):
        links = np.load(f"{data}/{c['links']}")
        a = lge_action(state, to_lge_layout(links), links.shape[:4])
        rel = abs(a - row["a_model"]) / max(abs(a), 1.0)
        worst = max(worst, rel)
        print(f"{c['id']}: lge-cnn {a:.12f}, fpa {row['a_model']:.12f}")
    assert worst < 1e-10, f"fpa and the lge-cnn reference differ by {worst:.2e} (relative)"
    print(f"ok: fpa equals the lge-cnn reference to {worst:.1e} relative")


def main(argv):
    if len(argv) >= 3 and argv[0] == "to-lge":
        save_state(argv[2], fpa_to_lge(*load_safetensors(argv[1])))
    elif len(argv) >= 3 and argv[0] == "from-lge":
        kernel = int(argv[argv.index("--kernel") + 1]) if "--kernel" in argv else None
        tensors, meta = lge_to_fpa(load_state(argv[1]), kernel)
        save_safetensors(argv[2], tensors, meta)
    elif len(argv) == 4 and argv[0] == "check":
        check(*argv[1:4])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
