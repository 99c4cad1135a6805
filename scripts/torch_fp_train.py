"""Train fpa's L-CNN (lge-cnn's layers) in PyTorch on a GPU: the capacity experiment of the model card.

fpa trains with its own hand-written gradients on the CPU. This script asked whether more capacity
(wider, deeper) and a GPU's throughput would give much more, on the same data and objective as
`fpa train --value-loss relative-squared --w1 W1 --w2 W2 --augment`:

    loss = sum over the batch of  weight * [ W1 ((A - A_FP)/A_FP)^2 + W2 sum (D - D_FP)^2 / (64 V) ] / 16

with `D_{x,mu,a} = d/de A[U_mu(x) -> exp(i e t^a) U_mu(x)]`, `t^a = lambda^a/2` (autograd through
`U -> U + i (omega.t) U` at omega = 0, double backprop for the weights), Adam (AMSGrad), a cosine
learning rate over the run's time budget (`--seconds`, counted from the first step) after a linear
warm-up over the first `--warmup` steps (100). A step holds 16 configurations of 4^4 (`--batch`) or
one of 8^4 (at most 16 * 256 sites; an 8^4 configuration then counts as one of the 16); every
configuration of every epoch has its lattice axes permuted at random (a hypercubic symmetry of the FP
action; fpa's `--augment` also reflects). A divergent epoch (non-finite, or a validation loss 50x
the best) is redone from the last good weights at half the rate.

The network starts from an fpa model (INIT), optionally widened (`--widths`: new channels with small
random couplings, `--noise` (0.01) times lge-cnn's initial scale, and zero read-out, so the start is
the model's action up to that noise) and deepened (`--deep`: one more kernel-2 layer before the
last, started as the identity). Training runs in complex64 unless `--f64`. The state with the lowest
validation loss (15 % of the 4^4 configurations, seed 3) is written as an lge-cnn state (`.npz`, see
scripts/lge_cnn.py; the last epoch's state beside it as OUT.last.npz; `from-lge` makes it an fpa model, the value at U = 1 folded into the bias).
DATA is made by scripts/pack_fp_data.py.

usage: python3 scripts/torch_fp_train.py DATA.npz INIT.safetensors OUT.npz --seconds S
           [--lr 1e-4] [--warmup 100] [--widths 24,24,24] [--deep] [--noise 0.01] [--w1 100]
           [--w2 100] [--batch 16] [--log LOG.jsonl] [--name NAME] [--threads 2] [--f64]
           [--set-weight DIR=W[,DIR=W ...]]   (overrides the packed weight of a source directory)
"""
import copy
import itertools
import json
import math
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lge_cnn  # noqa: E402
from torch_lcnn import dag, gell_mann_generators  # noqa: E402

D = 4
N_PLAQ = D * (D - 1) // 2


def roll(a, o, axis):
    """a[B, L0, L1, L2, L3, ...] shifted: roll(a, -1, axis)(x) = a(x + axis)."""
    return torch.roll(a, o, 1 + axis)


def third_row(r):
    """SU(3) links from their first two rows r[..., 2, 3]."""
    a, b = r[..., 0, :], r[..., 1, :]
    c = torch.stack(
        [a[..., 1] * b[..., 2] - a[..., 2] * b[..., 1], a[..., 2] * b[..., 0] - a[..., 0] * b[..., 2], a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]],
        dim=-1,
    ).conj()
    return torch.cat([r, c[..., None, :]], dim=-2)


class Net(torch.nn.Module):
    """Plaq -> LConvBilin layers -> (Re, Im) Tr -> Linear head (tanh between), summed over sites."""

    def __init__(self, state):
        super().__init__()
        n = 0
        while f"convs.{n}.weight" in state:
            n += 1
        self.convs = torch.nn.ParameterList([torch.nn.Parameter(torch.tensor(state[f"convs.{i}.weight"])) for i in range(n)])
        m = 0
        while f"linears.{m}.weight" in state:
            m += 1
        self.weights = torch.nn.ParameterList([torch.nn.Parameter(torch.tensor(state[f"linears.{j}.weight"])) for j in range(m)])
        self.biases = torch.nn.ParameterList([torch.nn.Parameter(torch.tensor(state[f"linears.{j}.bias"])) for j in range(m)])

    def state(self):
        """lge-cnn state dict; the value at U = 1 is folded into the last bias, so the summed
        output is the action with A[1] = 0, as `forward` computes it."""
        trivial = self.trivial_per_site()
        # copies: on the CPU, .double().cpu().numpy() of f64 parameters would share their memory
        def copy_of(p):
            return p.detach().double().cpu().numpy().copy()

        out = {f"convs.{i}.weight": copy_of(p) for i, p in enumerate(self.convs)}
        for j, (w, b) in enumerate(zip(self.weights, self.biases)):
            out[f"linears.{j}.weight"] = copy_of(w)
            out[f"linears.{j}.bias"] = copy_of(b)
        out[f"linears.{len(self.weights) - 1}.bias"] = out[f"linears.{len(self.weights) - 1}.bias"] - trivial
        return out

    @staticmethod
    def plaquettes(u):
        out = []
        for a in range(D):
            for b in range(a):
                ua, ub = u[..., a, :, :], u[..., b, :, :]
                out.append(ua @ roll(ub, -1, a) @ dag(roll(ua, -1, b)) @ dag(ub))
        return torch.stack(out, dim=-3)

    @staticmethod
    def transport(u, w, axis, o):
        ws = roll(w, -o, axis)
        if o > 0:
            ua = u[..., axis, :, :].unsqueeze(-3)
            return ua @ ws @ dag(ua)
        ua = roll(u[..., axis, :, :], 1, axis).unsqueeze(-3)
        return dag(ua) @ ws @ ua

    def lcb(self, u, w, weight):
        n_in = w.shape[-3]
        n_out, nl, nr = weight.shape
        kernel = ((nr - 1) // (2 * n_in) - 1) // (2 * D) + 1
        tw = [w]
        for axis in range(D):
            for o in (-1, 1):
                wt = w
                for _ in range(kernel - 1):
                    wt = self.transport(u, wt, axis, o)
                    tw.append(wt)
        tw = torch.cat(tw, dim=-3)
        lead = w.shape[:-3]
        unit = torch.eye(3, dtype=w.dtype, device=w.device).expand(*lead, 1, 3, 3)
        left = torch.cat([w, dag(w), unit], dim=-3).reshape(-1, nl, 3, 3)
        right = torch.cat([tw, dag(tw), unit], dim=-3).reshape(-1, nr, 9)
        sites = right.shape[0]
        # T[x, (u, l)] = sum_r weight[u, l, r] R_r, on real and imaginary parts at once
        rr = torch.view_as_real(right).reshape(sites, nr, 18)
        t = torch.matmul(weight.reshape(n_out * nl, nr).to(rr.dtype), rr)  # [x, u l, 18]
        t = torch.view_as_complex(t.reshape(sites, n_out, nl, 3, 3, 2).contiguous())
        lcat = left.permute(0, 2, 1, 3).reshape(sites, 1, 3, nl * 3)
        out = lcat @ t.reshape(sites, n_out, nl * 3, 3)
        return out.reshape(*lead, n_out, 3, 3)

    def forward(self, u):
        """Actions [B] of links u[B, L0..L3, 4, 3, 3], minus their value at U = 1 (A[1] = 0)."""
        one = torch.eye(3, dtype=u.dtype, device=u.device).expand(1, 1, 1, 1, 1, D, 3, 3)
        vol = float(np.prod(u.shape[1:5]))
        return self.raw(u) - vol * self.raw(one)

    def trivial_per_site(self):
        """The network's value per site on the trivial field, in f64 on a copy (a 1^4 lattice: rolls
        are identities)."""
        net = copy.deepcopy(self).double()
        with torch.no_grad():
            one = torch.eye(3, dtype=torch.complex128, device=self.convs[0].device).expand(1, 1, 1, 1, 1, D, 3, 3)
            return net.raw(one).item()

    def raw(self, u):
        w = self.plaquettes(u)
        for weight in self.convs:
            w = self.lcb(u, w, weight)
        tr = torch.diagonal(w, dim1=-2, dim2=-1).sum(-1)
        x = torch.stack([tr.real, tr.imag], dim=-1).reshape(*tr.shape[:-1], -1)
        for j, (wt, b) in enumerate(zip(self.weights, self.biases)):
            x = x @ wt.T.to(x.dtype) + b.to(x.dtype)
            if j + 1 < len(self.weights):
                x = torch.tanh(x)
        return x.reshape(x.shape[0], -1).sum(-1)


def action_and_force(net, u, t, create_graph):
    omega = torch.zeros(*u.shape[:-2], 8, dtype=u.real.dtype, device=u.device, requires_grad=True)
    x = torch.einsum("...a,aij->...ij", omega.to(u.dtype), t)
    a = net(u + 1j * (x @ u))
    (d,) = torch.autograd.grad(a.sum(), omega, create_graph=create_graph)
    return a, d


# ------------------------------------------------------------------ starting points
def widen(state, widths, deep, rng, noise):
    """lge state of a wider (and deeper) network that computes, up to `noise`, the same action."""
    old = [state[f"convs.{i}.weight"] for i in range(len([k for k in state if k.startswith("convs.")]))]
    kernels = []
    n_in = N_PLAQ
    for w in old:
        s = (w.shape[2] - 1) // (2 * n_in)
        kernels.append((s - 1) // (2 * D) + 1)
        n_in = w.shape[0]
    old_out = [w.shape[0] for w in old]
    if deep:  # a kernel-2 identity layer before the last one
        old.insert(len(old) - 1, None)
        kernels.insert(len(kernels) - 1, 2)
        old_out.insert(len(old_out) - 1, old_out[-2])
    widths = widths or old_out
    if len(widths) != len(old):
        raise SystemExit(f"--widths needs {len(old)} entries")
    new, n_in_old, n_in_new = {}, N_PLAQ, N_PLAQ
    for i, (w, k, n_out_old, n_out) in enumerate(zip(old, kernels, old_out, widths)):
        s = 1 + 2 * D * (k - 1)
        shape = (n_out, 2 * n_in_new + 1, 2 * n_in_new * s + 1)
        std = noise / math.sqrt(shape[1] * shape[2])
        nw = rng.normal(0.0, std, shape)
        if w is None:  # identity: out_u = 1 * W_u (left slot 1, local right slot u)
            for u in range(n_out):
                nw[u, 2 * n_in_new, u] = 1.0
        else:
            lm = list(range(n_in_old)) + [n_in_new + j for j in range(n_in_old)] + [2 * n_in_new]
            rm = [b * n_in_new + j for b in range(s) for j in range(n_in_old)]
            rm += [s * n_in_new + b * n_in_new + j for b in range(s) for j in range(n_in_old)] + [2 * s * n_in_new]
            nw[np.ix_(range(n_out_old), lm, rm)] = w
        new[f"convs.{i}.weight"] = nw
        n_in_old, n_in_new = n_out_old, n_out
    h = state["linears.0.weight"]
    if "linears.1.weight" in state:
        raise SystemExit("widen: models with a hidden head layer are not handled")
    nh = np.zeros((1, 2 * n_in_new))
    nh[:, : h.shape[1]] = h
    new["linears.0.weight"] = nh
    new["linears.0.bias"] = state["linears.0.bias"].copy()
    return new


# ------------------------------------------------------------------ data
class Data:
    def __init__(self, path, device, rdtype, cdtype):
        z = np.load(path)
        self.groups = []
        k = 0
        while f"g{k}_links" in z:
            links = third_row(torch.tensor(z[f"g{k}_links"]).to(torch.complex128)).to(cdtype)
            self.groups.append(
                {
                    "links": links.to(device),
                    "dfp": torch.tensor(z[f"g{k}_dfp"].astype(np.float32)).to(rdtype).to(device),
                    "afp": torch.tensor(z[f"g{k}_afp"]).to(device),
                    "weight": torch.tensor(z[f"g{k}_weight"]).to(device),
                    "set": torch.tensor(z[f"g{k}_set"]).to(device),
                }
            )
            k += 1
        self.sets = json.loads(str(z["sets"]))

    def set_weight(self, name, weight):
        """Every configuration of the source directory `name` counts `weight` times (`DIR@W` at packing)."""
        if name not in self.sets:
            sys.exit(f"--set-weight: no directory {name!r} in the data (it has {self.sets})")
        for g in self.groups:
            g["weight"] = torch.where(g["set"] == self.sets.index(name), torch.full_like(g["weight"], weight), g["weight"])


def permute_axes(u, d, perm):
    """Configuration with lattice axes permuted: U'_k(y) = U_{p[k]}(x), y_k = x_{p[k]}."""
    p = list(perm)
    u = u.permute(0, *[1 + q for q in p], 5, 6, 7)[..., p, :, :]
    d = d.permute(0, *[1 + q for q in p], 5, 6)[..., p, :]
    return u.contiguous(), d.contiguous()


def losses(net, t, u, d_fp, a_fp, create_graph):
    a, d = action_and_force(net, u, t, create_graph)
    vol = float(np.prod(u.shape[1:5]))
    l1 = ((a - a_fp.to(a.dtype)) / a_fp.to(a.dtype)) ** 2
    l2 = ((d - d_fp.to(d.dtype)) ** 2).reshape(u.shape[0], -1).sum(-1) / (64.0 * vol)
    return l1, l2, a, d


def main(argv):
    if len(argv) < 3 or argv[0].startswith("-"):
        raise SystemExit(__doc__)
    data_path, init_path, out_path = argv[:3]
    opts = {argv[i][2:]: argv[i + 1] for i in range(3, len(argv) - 1) if argv[i].startswith("--") and not argv[i + 1].startswith("--")}
    seconds = float(opts.get("seconds", 60))
    lr0 = float(opts.get("lr", 1e-4))
    w1, w2 = float(opts.get("w1", 100)), float(opts.get("w2", 100))
    batch = int(opts.get("batch", 16))
    name = opts.get("name", os.path.basename(out_path))
    log_path = opts.get("log")
    widths = [int(x) for x in opts["widths"].split(",")] if "widths" in opts else None
    deep = "--deep" in argv
    f64 = "--f64" in argv
    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.set_num_threads(int(opts.get("threads", 2)))
    torch.backends.cuda.matmul.allow_tf32 = False
    rdtype, cdtype = (torch.float64, torch.complex128) if f64 else (torch.float32, torch.complex64)
    rng = np.random.default_rng(3)
    torch.manual_seed(3)

    def log(rec):
        rec = {"name": name, "t": round(time.time() - t_start, 1), **rec}
        line = json.dumps(rec)
        print(line, flush=True)
        if log_path:
            with open(log_path, "a") as f:
                f.write(line + "\n")

    t_start = time.time()
    model, meta = lge_cnn.load_safetensors(init_path)
    state = lge_cnn.fpa_to_lge(model, meta)
    if widths or deep:
        state = widen(state, widths, deep, rng, float(opts.get("noise", 0.01)))
    net = Net(state).to(device)
    n_params = sum(p.numel() for p in net.parameters())
    data = Data(data_path, device, rdtype, cdtype)
    for spec in filter(None, opts.get("set-weight", "").split(",")):
        set_name, _, w = spec.rpartition("=")
        data.set_weight(set_name, float(w))
    t = gell_mann_generators().to(cdtype).to(device)

    # split: 15 % of the configurations of 4^4 lattices held out (seed 3), other lattices train only
    train, val = [], []
    for gi, g in enumerate(data.groups):
        n = len(g["afp"])
        idx = rng.permutation(n)
        if g["links"].shape[1:5] == (4, 4, 4, 4):
            nv = int(round(0.15 * n))
            val += [(gi, i) for i in idx[:nv]]
            train += [(gi, i) for i in idx[nv:]]
        else:
            train += [(gi, i) for i in idx]
    log({"event": "start", "device": device, "params": n_params, "train": len(train), "val": len(val), "sets": data.sets,
         "widths": [p.shape[0] for p in net.convs], "lr": lr0, "seconds": seconds, "dtype": str(rdtype)})

    def evaluate(items):
        """Means of l1 and l2 over `items`, weighted by the configurations' dataset weights."""
        out = []
        for gi in sorted({g for g, _ in items}):
            g = data.groups[gi]
            ids = [i for gg, i in items if gg == gi]
            for s in range(0, len(ids), 32):
                sel = torch.tensor(ids[s : s + 32], device=device)
                l1, l2, _, _ = losses(net, t, g["links"][sel], g["dfp"][sel], g["afp"][sel], False)
                w, l1, l2 = g["weight"][sel].double(), l1.detach().double(), l2.detach().double()
                out.append(torch.stack([w.sum(), (w * l1).sum(), (w * l2).sum()]))
        w, l1, l2 = torch.stack(out).sum(0).tolist()
        return l1 / w, l2 / w

    opt = torch.optim.Adam(net.parameters(), lr=lr0, amsgrad=True)
    v1, v2 = evaluate(val)
    best = w1 * v1 + w2 * v2
    best_state = net.state()
    log({"event": "val", "epoch": 0, "l1": v1, "l2": v2, "loss": best})
    last_save, epoch, step, good = 0.0, 0, 0, best_state
    warmup = int(opts.get("warmup", 100))
    t_train = time.time()
    perms = list(itertools.permutations(range(D)))
    while True:
        if time.time() - t_train > seconds:
            break
        epoch += 1
        order = [train[i] for i in rng.permutation(len(train))]
        # batches of one lattice shape each
        batches = []
        for gi in sorted({g for g, _ in order}):
            ids = [i for g, i in order if g == gi]
            # at most batch * 256 sites per step: one 8^4 configuration counts as 16 of 4^4
            per = max(1, batch * 256 // int(np.prod(data.groups[gi]["links"].shape[1:5])))
            batches += [(gi, ids[s : s + per]) for s in range(0, len(ids), per)]
        batches = [batches[i] for i in rng.permutation(len(batches))]
        e1 = e2 = ew = 0.0
        for gi, ids in batches:
            frac = (time.time() - t_train) / seconds
            if frac > 1:
                break
            lr = lr0 * min(1.0, (step + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * frac))
            for pg in opt.param_groups:
                pg["lr"] = lr
            g = data.groups[gi]
            sel = torch.tensor(ids, device=device)
            u, d = permute_axes(g["links"][sel], g["dfp"][sel], perms[rng.integers(len(perms))])
            l1, l2, _, _ = losses(net, t, u, d, g["afp"][sel], True)
            w = g["weight"][sel].to(l1.dtype)
            # a configuration's share of a step does not depend on its lattice's batch size
            loss = (w * (w1 * l1 + w2 * l2)).sum() / batch
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
            e1 += float((w * l1).sum().detach())
            e2 += float((w * l2).sum().detach())
            ew += float(w.sum())
        if not math.isfinite(e1 + e2):
            log({"event": "diverged", "epoch": epoch})
            net = Net(good).to(device)
            opt = torch.optim.Adam(net.parameters(), lr=lr0, amsgrad=True)
            lr0 /= 2
            continue
        v1, v2 = evaluate(val)
        vloss = w1 * v1 + w2 * v2
        rec = {"event": "epoch", "epoch": epoch, "step": step, "lr": lr, "train_l1": e1 / max(ew, 1), "train_l2": e2 / max(ew, 1), "val_l1": v1, "val_l2": v2}
        if vloss > 50 * best:  # divergence that stayed finite
            log({**rec, "event": "diverged"})
            net = Net(best_state).to(device)
            opt = torch.optim.Adam(net.parameters(), lr=lr0, amsgrad=True)
            lr0 /= 2
            continue
        good = net.state()
        if vloss < best:
            best, best_state = vloss, good
            rec["best"] = True
            if time.time() - last_save > 30:
                tmp = out_path + ".tmp.npz"
                np.savez(tmp, **best_state)
                os.replace(tmp, out_path)
                last_save = time.time()
        log(rec)
    np.savez(out_path + ".tmp.npz", **best_state)
    os.replace(out_path + ".tmp.npz", out_path)
    # the last epoch's state too: a fine-tune whose validation loss never beats its start still
    # moved the weights (e.g. towards up-weighted instantons), and that is what a scan compares
    last = out_path[: -len(".npz")] if out_path.endswith(".npz") else out_path
    np.savez(last + ".last.tmp.npz", **good)
    os.replace(last + ".last.tmp.npz", last + ".last.npz")
    log({"event": "done", "epochs": epoch, "steps": step, "best_val_loss": best})


if __name__ == "__main__":
    main(sys.argv[1:])
