"""Study: higher-order gradients -- the backward pass is itself a graph.

    python3 examples/higher_order.py            # figures and graphs in runs/studies/higher_order/
    python3 examples/higher_order.py --quick    # a few seconds (CI)

With ``create_graph=True`` minigrad records the backward pass with its own ops, so a gradient is a
Tensor with a ``grad_fn`` and can be differentiated again. Four classic uses:

1. Newton's method, ``x <- x - f'(x) / f''(x)`` (in n-D: ``x <- x - H^-1 g``), against gradient
   descent, on ``f(x) = x^4 - 2x^2`` and on a Rosenbrock valley ``(1 - x)^2 + 10 (y - x^2)^2``:
   iterations to converge, and both paths on the contour of the 2-D function.
2. The graph of the n-th derivative of ``tanh`` for n = 1..4 (DeZero's picture): each derivative is
   a graph of the previous one's backward, so the node count grows with n.
3. Hessian-vector products ``H v = d/dtheta <dL/dtheta, v>``: one extra backward, no ``H`` formed;
   checked against the full Hessian (one double backward per row) on a small MLP.
4. A gradient penalty: adding ``lambda * mean ||dL/dx||^2`` (the input gradient, differentiated
   again through the training step) to a digits classifier's loss shrinks its input gradients.
   The model is a small CNN (conv, tanh, max-pool, conv, tanh, max-pool, linear): the penalty's
   gradient is a double backward through conv2d (whose gradients are conv_transpose2d and the
   weight-gradient correlation), max-pooling (a scatter, then a gather) and linear.
"""
import argparse
import os
import time

import numpy as np

import minigrad
import minigrad.functional as F
from minigrad import autograd


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small settings: runs in seconds")
    p.add_argument("--max-iters", type=int, default=20000, help="iteration cap for gradient descent")
    p.add_argument("--steps", type=int, default=400, help="training steps of the gradient-penalty study")
    p.add_argument("--penalty", type=float, default=1.0, help="lambda of the input-gradient penalty")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=os.path.join("runs", "studies", "higher_order"))
    args = p.parse_args(argv)
    if args.quick:
        args.max_iters, args.steps = min(args.max_iters, 1000), min(args.steps, 40)
    return args


def finding(text):
    print(f"finding: {text}")


# ---------------------------------------------------------------------------------- 1. Newton vs GD


def quartic(x):
    return x**4 - 2 * x**2


def rosenbrock(p):
    return (1 - p[0]) ** 2 + 10 * (p[1] - p[0] ** 2) ** 2


def grad_and_hessian(f, x):
    """f's gradient and Hessian at ``x`` (a float64 vector): one double backward per Hessian row."""
    x = minigrad.Tensor(x, dtype=minigrad.float64, requires_grad=True)
    (g,) = autograd.grad(f(x), x, create_graph=True)
    rows = [autograd.grad(g[i], x, retain_graph=True)[0].numpy() for i in range(x.shape[0])]
    return g.detach().numpy(), np.stack(rows)


def newton(f, x0, tol, max_iters=100):
    x, path = np.array(x0, dtype=np.float64), [np.array(x0, dtype=np.float64)]
    for _ in range(max_iters):
        g, h = grad_and_hessian(f, x)
        if np.linalg.norm(g) < tol:
            break
        x = x - np.linalg.solve(h, g)
        path.append(x)
    return np.array(path)


def gradient_descent(f, x0, lr, tol, max_iters):
    x, path = np.array(x0, dtype=np.float64), [np.array(x0, dtype=np.float64)]
    for _ in range(max_iters):
        t = minigrad.Tensor(x, dtype=minigrad.float64, requires_grad=True)
        (g,) = autograd.grad(f(t), t)
        g = g.numpy()
        if np.linalg.norm(g) < tol:
            break
        x = x - lr * g
        path.append(x)
    return np.array(path)


def newton_vs_gd(args):
    tol = 1e-8
    quartic_1d = lambda x: quartic(x[0])  # noqa: E731 - f of a 1-vector
    nt = newton(quartic_1d, [2.0], tol)
    gd = gradient_descent(quartic_1d, [2.0], lr=0.01, tol=tol, max_iters=args.max_iters)
    finding(f"1-D x^4 - 2x^2 from x=2 to |f'| < {tol:g}: Newton {len(nt) - 1} iterations (x = {nt[-1][0]:.12f}), "
            f"gradient descent (lr 0.01) {len(gd) - 1} (x = {gd[-1][0]:.9f})")

    # lr 0.015: the Hessian at the minimum has eigenvalues 0.39 and 101.6, and gradient descent is
    # stable only for lr < 2 / 101.6 = 0.0197; the small one then sets its slow pace along the valley
    start = [-1.2, 1.0]
    nt2 = newton(rosenbrock, start, tol)
    gd2 = gradient_descent(rosenbrock, start, lr=0.015, tol=tol, max_iters=args.max_iters)
    capped = " (hit the cap)" if len(gd2) - 1 >= args.max_iters else ""
    finding(f"2-D Rosenbrock (1-x)^2 + 10(y-x^2)^2 from {tuple(start)}: Newton {len(nt2) - 1} iterations to "
            f"{np.round(nt2[-1], 8).tolist()}, gradient descent (lr 0.015) {len(gd2) - 1}{capped} to "
            f"{np.round(gd2[-1], 5).tolist()}")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs, ys = np.meshgrid(np.linspace(-1.6, 1.6, 200), np.linspace(-1.2, 1.8, 200))
    zs = (1 - xs) ** 2 + 10 * (ys - xs**2) ** 2
    fig, ax = plt.subplots(figsize=(6, 5))
    ax.contour(xs, ys, np.log1p(zs), levels=25, cmap="viridis", linewidths=0.7)
    ax.plot(gd2[:, 0], gd2[:, 1], ".-", ms=2, lw=0.8, color="tab:orange", label=f"gradient descent ({len(gd2) - 1} it.)")
    ax.plot(nt2[:, 0], nt2[:, 1], "o-", ms=4, color="tab:red", label=f"Newton ({len(nt2) - 1} it.)")
    ax.plot([1], [1], "k*", ms=10, label="minimum (1, 1)")
    ax.set_title("Newton (Hessian by double backward) vs gradient descent")
    ax.legend(loc="lower right", fontsize=8)
    path = os.path.join(args.out, "newton_vs_gd.png")
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return {"newton_1d": len(nt) - 1, "gd_1d": len(gd) - 1, "newton_2d": len(nt2) - 1, "gd_2d": len(gd2) - 1,
            "figure": path}


# ---------------------------------------------------------------------------------- 2. tanh graphs


def tanh_derivative_graphs(args, ext=None, **render_options):
    """Draw the graphs of d^n tanh / dx^n, n = 1..4, as ``tanh_derivative_N.EXT`` (default: .svg, or .dot
    without Graphviz's ``dot``); ``render_options`` go to ``viz.render`` (e.g. ``legend=False``)."""
    from minigrad import viz

    ext = ext or ("svg" if viz.find_dot() else "dot")
    x = minigrad.Tensor(1.0, dtype=minigrad.float64, requires_grad=True)
    x.name = "x"
    y = x.tanh()
    counts, paths = [], []
    for n in range(1, 5):
        (y,) = autograd.grad(y, x, create_graph=True)
        counts.append(len(viz.topological_ops([y])))
        path = os.path.join(args.out, f"tanh_derivative_{n}.{ext}")
        options = dict(title=f"d^{n} tanh(x) / dx^{n}: {counts[-1]} ops", show_intermediates=False)
        viz.render(y, path=path, **{**options, **render_options})
        paths.append(path)
    t = np.tanh(1.0)
    want = 8 * t * (1 - t * t) * (2 - 3 * t * t)  # d^4/dx^4 tanh, by hand from tanh' = 1 - tanh^2
    finding(f"graph of the n-th derivative of tanh has {counts} ops for n = 1..4: each derivative is the graph "
            f"of the previous one's backward (d^4 tanh(1) = {y.item():.10f}, analytic {want:.10f})")
    return {"tanh_op_counts": counts, "graphs": paths}


# ---------------------------------------------------------------------------------- 3. HVP


def mlp_params(sizes, rng, dtype):
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        w = rng.standard_normal((fan_in, fan_out)) / np.sqrt(fan_in)
        params += [minigrad.Tensor(w, dtype=dtype, requires_grad=True),
                   minigrad.Tensor(np.zeros(fan_out), dtype=dtype, requires_grad=True)]
    return params


def mlp(x, params):
    """tanh MLP written with matmul: x (N, in) -> logits (N, out)."""
    for i in range(0, len(params) - 2, 2):
        x = (x @ params[i] + params[i + 1]).tanh()
    return x @ params[-2] + params[-1]


def hvp_study(args):
    rng = np.random.default_rng(args.seed)
    params = mlp_params([6, 8, 4], rng, minigrad.float64)
    x = minigrad.Tensor(rng.standard_normal((16, 6)), dtype=minigrad.float64)
    y = minigrad.Tensor(rng.integers(0, 4, 16))
    loss_fn = lambda: F.cross_entropy(mlp(x, params), y)  # noqa: E731
    v = [minigrad.Tensor(rng.standard_normal(p.shape), dtype=minigrad.float64) for p in params]

    start = time.perf_counter()
    grads = autograd.grad(loss_fn(), params, create_graph=True)
    hv = autograd.grad(sum((g * vi).sum() for g, vi in zip(grads, v)), params)
    hv = np.concatenate([h.numpy().reshape(-1) for h in hv])
    t_hvp = time.perf_counter() - start

    start = time.perf_counter()
    grads = autograd.grad(loss_fn(), params, create_graph=True)
    flat = minigrad.cat([g.reshape(-1) for g in grads])
    rows = [np.concatenate([r.numpy().reshape(-1) for r in autograd.grad(flat[i], params, retain_graph=True)])
            for i in range(flat.shape[0])]
    hessian = np.stack(rows)
    t_full = time.perf_counter() - start
    vflat = np.concatenate([vi.numpy().reshape(-1) for vi in v])
    err = float(np.abs(hessian @ vflat - hv).max())
    finding(f"Hessian-vector product on an MLP with {vflat.size} parameters: max |Hv - H @ v| = {err:.1e}; "
            f"one HVP took {t_hvp * 1e3:.1f} ms, the full {hessian.shape[0]}x{hessian.shape[1]} Hessian "
            f"{t_full * 1e3:.0f} ms ({hessian.shape[0]} double backwards); H symmetric to "
            f"{np.abs(hessian - hessian.T).max():.1e}")
    return {"hvp_error": err, "hvp_ms": t_hvp * 1e3, "hessian_ms": t_full * 1e3}


# ---------------------------------------------------------------------------------- 4. gradient penalty


def load_digits(seed):
    from sklearn.datasets import load_digits as sk_digits

    data = sk_digits()
    x = (data.data / 16.0).astype(np.float32)
    x = (x - x.mean(0)) / (x.std(0) + 1e-6)
    order = np.random.default_rng(seed).permutation(len(x))
    cut = int(0.8 * len(x))
    tr, te = order[:cut], order[cut:]
    return x[tr], data.target[tr].astype(np.int64), x[te], data.target[te].astype(np.int64)


def small_cnn(seed):
    """(N, 1, 8, 8) digits -> logits (N, 10). No batch norm: examples must not interact, so that
    row i of d(sum of losses)/dx is d loss_i / d x_i."""
    from minigrad import nn

    minigrad.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.Tanh(), nn.MaxPool2d(2),
                         nn.Conv2d(8, 16, 3, padding=1), nn.Tanh(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(64, 10))


def images(x):
    return minigrad.Tensor(x.reshape(-1, 1, 8, 8))


def input_gradient(model, x, y, create_graph):
    """dL/dx per example (the loss summed over the batch: examples do not interact)."""
    x = images(x).requires_grad_()
    loss = F.cross_entropy(model(x), minigrad.Tensor(y), reduction="sum")
    (gx,) = autograd.grad(loss, x, create_graph=create_graph)
    return gx


def train_digits(data, penalty, args):
    x_tr, y_tr, x_te, y_te = data
    rng = np.random.default_rng(args.seed)
    model = small_cnn(args.seed)
    params = list(model.parameters())
    lr, batch = 0.1, 64
    for _ in range(args.steps):
        idx = rng.integers(0, len(x_tr), batch)
        xb = images(x_tr[idx]).requires_grad_(penalty > 0)
        loss = F.cross_entropy(model(xb), minigrad.Tensor(y_tr[idx]))
        if penalty > 0:  # lambda * mean over the batch of ||d loss_i / d x_i||^2, differentiated again
            (gx,) = autograd.grad(loss * batch, xb, create_graph=True)
            loss = loss + penalty * (gx * gx).sum() / batch
        grads = autograd.grad(loss, params)
        with minigrad.no_grad():
            for p, g in zip(params, grads):
                p -= lr * g
    with minigrad.no_grad():
        acc = float((model(images(x_te)).numpy().argmax(1) == y_te).mean())
    gx = input_gradient(model, x_te, y_te, create_graph=False).numpy().reshape(len(x_te), -1)
    return acc, float(np.sqrt((gx * gx).sum(1)).mean())


def gradient_penalty_study(args):
    data = load_digits(args.seed)
    acc0, norm0 = train_digits(data, 0.0, args)
    acc1, norm1 = train_digits(data, args.penalty, args)
    finding(f"gradient penalty on a digits CNN (conv 8, pool, conv 16, pool, linear; tanh; {args.steps} SGD "
            f"steps): mean test ||dL/dx|| "
            f"{norm0:.3f} without, {norm1:.3f} with lambda={args.penalty:g} ({norm1 / norm0:.2f}x); "
            f"test accuracy {acc0:.3f} -> {acc1:.3f}")
    return {"grad_norm_plain": norm0, "grad_norm_penalty": norm1, "acc_plain": acc0, "acc_penalty": acc1}


def main(argv=None):
    args = parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    minigrad.manual_seed(args.seed)
    result = {}
    result.update(newton_vs_gd(args))
    result.update(tanh_derivative_graphs(args))
    result.update(hvp_study(args))
    result.update(gradient_penalty_study(args))
    return result


if __name__ == "__main__":
    main()
