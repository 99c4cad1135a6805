"""The fpa L-CNN in PyTorch, checked against fpa and timed beside it (`cargo xtask bench --compare`).

The network is lge-cnn's (see scripts/lge_cnn.py for the conventions): Plaq -> LConvBilin layers
-> Re/Im Tr -> linear head, summed over sites; the weights come from an fpa model file through
`lge_cnn.fpa_to_lge`, so both programs compute the same action. PyTorch does what a PyTorch user
would: complex128 tensors, batched matrix products, autograd for the link derivatives and double
backprop for the training step.

* force: `D_{x,mu,a} A = d/d eps A[U_mu(x) -> exp(i eps t^a) U_mu(x)]`, `t^a = lambda^a / 2` (fpa's
  convention), taken by autograd through `U -> U + i (omega . t) U` at omega = 0.
* train step: action and force with the graph kept, loss `|A - A_t| / V + mean (D - D_t)^2`,
  backward to the weights (double backprop), one Adam step (the step of baselines.md).

Checks before timing: action and force equal fpa's (the Python package `fpa`, same model, same
configuration) to 1e-12 relative, or the script stops. Prints one JSON object: medians of
`--repeats` runs, in seconds, for PyTorch and for fpa's forward and force through the package.

usage: python3 scripts/torch_lcnn.py MODEL.safetensors [--lattice 8] [--threads 2] [--repeats 5]
"""
import json
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lge_cnn  # noqa: E402

D = 4


def gell_mann_generators():
    """t^a = lambda^a / 2 in Gell-Mann order, complex128 [8, 3, 3]: for each pair (i, j) of
    (0, 1), (0, 2), (1, 2) the symmetric and the antisymmetric matrix, lambda^3 after the first
    pair and lambda^8 last."""
    lam = []
    for i, j in [(0, 1), (0, 2), (1, 2)]:
        e = np.zeros((3, 3), dtype=complex)
        e[i, j] = 1
        lam += [e + e.T, -1j * e + 1j * e.T]
        if (i, j) == (0, 1):
            lam.append(np.diag([1.0, -1.0, 0.0]).astype(complex))
    lam.append(np.diag([1.0, 1.0, -2.0]).astype(complex) / np.sqrt(3))
    return torch.tensor(np.array(lam) / 2)


def dag(a):
    return a.conj().transpose(-1, -2)


class Lcnn(torch.nn.Module):
    """lge-cnn's network on complex links `u[site, axis, 3, 3]` (lge-cnn's axis order)."""

    def __init__(self, state, dims):
        super().__init__()
        self.dims = dims
        self.convs = torch.nn.ParameterList(
            [torch.nn.Parameter(torch.tensor(state[f"convs.{i}.weight"])) for i in range(self._count(state, "convs"))]
        )
        n = self._count(state, "linears")
        self.weights = torch.nn.ParameterList([torch.nn.Parameter(torch.tensor(state[f"linears.{j}.weight"])) for j in range(n)])
        self.biases = torch.nn.ParameterList([torch.nn.Parameter(torch.tensor(state[f"linears.{j}.bias"])) for j in range(n)])

    @staticmethod
    def _count(state, name):
        i = 0
        while f"{name}.{i}.weight" in state:
            i += 1
        return i

    def shift(self, a, axis, o):
        return torch.roll(a.reshape(*self.dims, *a.shape[1:]), o, axis).reshape(a.shape)

    def transport(self, u, w, axis, o):
        ws = self.shift(w, axis, -o)
        if o > 0:
            ua = u[:, axis][:, None]
            return ua @ ws @ dag(ua)
        ua = self.shift(u[:, axis], axis, +1)[:, None]
        return dag(ua) @ ws @ ua

    def plaquettes(self, u):
        out = []
        for a in range(D):
            for b in range(a):
                ua_b = self.shift(u[:, a], b, -1)
                ub_a = self.shift(u[:, b], a, -1)
                out.append(u[:, a] @ ub_a @ dag(ua_b) @ dag(u[:, b]))
        return torch.stack(out, dim=1)

    def lconvbilin(self, u, w, weight):
        n_in = w.shape[1]
        kernel = ((weight.shape[2] - 1) // (2 * n_in) - 1) // (2 * D) + 1
        tw = [w]
        for axis in range(D):
            for o in [-1, +1]:
                wt = w
                for _ in range(kernel - 1):
                    wt = self.transport(u, wt, axis, o)
                    tw.append(wt)
        tw = torch.cat(tw, dim=1)
        v = w.shape[0]
        unit = torch.eye(3, dtype=w.dtype).expand(v, 1, 3, 3)
        left = torch.cat([w, dag(w), unit], dim=1)  # [x, nl, 3, 3]
        right = torch.cat([tw, dag(tw), unit], dim=1)  # [x, nr, 3, 3]
        n_out, nl, nr = weight.shape
        # T[x, (u, l)] = sum_w weight[u, l, w] R_w: one real-by-complex matrix product.
        wc = weight.reshape(n_out * nl, nr).to(w.dtype)
        t = torch.matmul(wc, right.reshape(v, nr, 9)).reshape(v, n_out, nl, 3, 3)
        # out_u = sum_l L_l T_{u, l} = [L_0 L_1 ...] (3 x 3 nl) times [T_u0; T_u1; ...] (3 nl x 3)
        lcat = left.permute(0, 2, 1, 3).reshape(v, 1, 3, nl * 3)
        return lcat @ t.reshape(v, n_out, nl * 3, 3)

    def forward(self, u):
        w = self.plaquettes(u)
        for weight in self.convs:
            w = self.lconvbilin(u, w, weight)
        tr = torch.diagonal(w, dim1=-2, dim2=-1).sum(-1)  # [x, channels]
        x = torch.stack([tr.real, tr.imag], dim=-1).reshape(w.shape[0], -1)
        for j, (wt, b) in enumerate(zip(self.weights, self.biases)):
            x = x @ wt.T + b
            if j + 1 < len(self.weights):
                x = torch.tanh(x)
        return x.sum()


def to_lge(links):
    """fpa links (Lt, Lz, Ly, Lx, mu, 3, 3) -> lge-cnn's complex u[site, axis, 3, 3] (axis a = mu 3 - a)."""
    return torch.tensor(np.ascontiguousarray(links[..., ::-1, :, :]).reshape(-1, D, 3, 3))


def action_and_force(net, u, t, create_graph=False):
    """A and D[site, axis, 8] (lge-cnn's axis order) by autograd at omega = 0."""
    omega = torch.zeros(u.shape[0], D, 8, dtype=torch.float64, requires_grad=True)
    x = torch.einsum("xma,aij->xmij", omega.to(u.dtype), t)
    a = net(u + 1j * (x @ u))
    (d,) = torch.autograd.grad(a, omega, create_graph=create_graph)
    return a, d


def median_time(f, repeats):
    f()  # warm-up
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts))


def main(argv):
    if not argv or argv[0].startswith("-"):
        raise SystemExit(__doc__)
    path = argv[0]
    opt = {k: int(argv[argv.index(k) + 1]) for k in ("--lattice", "--threads", "--repeats") if k in argv}
    l, threads, repeats = opt.get("--lattice", 8), opt.get("--threads", 2), opt.get("--repeats", 5)
    torch.set_num_threads(threads)
    os.environ.setdefault("RAYON_NUM_THREADS", str(threads))
    import fpa

    links = fpa.wilson_configuration([l] * 4, 6.0, 10, seed=1)
    model = fpa.Model.load(path)
    net = Lcnn(lge_cnn.fpa_to_lge(*lge_cnn.load_safetensors(path)), (l,) * D)
    u = to_lge(links)
    t = gell_mann_generators()

    # Agreement with fpa on the same weights and configuration.
    a_fpa, d_fpa = model.force(links)
    a, d = action_and_force(net, u, t)
    d = d.detach().numpy().reshape(l, l, l, l, D, 8)[..., ::-1, :]  # back to fpa's mu order
    err_a = abs(a.item() - a_fpa) / abs(a_fpa)
    err_d = float(np.abs(d - d_fpa).max() / np.abs(d_fpa).max())
    if not (err_a < 1e-12 and err_d < 1e-12):
        raise SystemExit(f"PyTorch and fpa disagree: action {err_a:.2e}, force {err_d:.2e} (relative)")

    # Timings.
    a_t = torch.tensor(0.9 * a_fpa)
    d_t = torch.tensor(0.9 * np.ascontiguousarray(d_fpa[..., ::-1, :]).reshape(-1, D, 8))
    opt_adam = torch.optim.Adam(net.parameters(), lr=1e-4)
    vol = l**D

    def train_step():
        opt_adam.zero_grad()
        a, d = action_and_force(net, u, t, create_graph=True)
        loss = (a - a_t).abs() / vol + ((d - d_t) ** 2).mean()
        loss.backward()
        opt_adam.step()

    def torch_forward():
        with torch.no_grad():
            net(u)

    out = {
        "lattice": f"{l}^4",
        "threads": threads,
        "torch": torch.__version__,
        "agreement": {"action": err_a, "force": err_d},
        "torch_forward": median_time(torch_forward, repeats),
        "torch_force": median_time(lambda: action_and_force(net, u, t), repeats),
        "torch_train_step": median_time(train_step, repeats),
        "fpa_forward": median_time(lambda: model.action(links), repeats),
        "fpa_force": median_time(lambda: model.force(links), repeats),
    }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main(sys.argv[1:])
