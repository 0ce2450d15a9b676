"""Dense and MLP backward against the frameworks, Jacobian-vs-VJP cost growth, and impl's
vectorized Jacobians against seed 000's Python-loop construction."""

from __future__ import annotations

import numpy as np
import pytest

from gradverify import impl, reference

DENSE = ((64, 256, 256), (256, 1024, 1024), (1024, 1024, 1024))
JAC_N = (10, 100, 1000, 10_000)
JAC_BUDGET = 256 * 2**20  # bytes: a Jacobian larger than this is not built


@pytest.mark.parametrize("who", ("impl", "torch.autograd", "torch.func", "jax.jit",
                                 "autograd"))
@pytest.mark.parametrize("shape", DENSE, ids=[f"{m}x{i}to{o}" for m, i, o in DENSE])
def test_dense_backward(benchmark, shape, who) -> None:
    m, n_in, n_out = shape
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((m, n_in)), rng.standard_normal((n_in, n_out))
    b, g = rng.standard_normal(n_out), rng.standard_normal((m, n_out))
    if who == "impl":
        run = lambda: impl.dense_backward(g, x, w, b)  # noqa: E731
    else:
        # the frameworks' dx only would be unfair: differentiate w.r.t. x, w, b via one input
        # is not possible with prepare(); time the full three-gradient VJP instead
        run = _framework_dense(who, x, w, b, g)
    benchmark.group = f"dense-float64-{m}x{n_in}to{n_out}"
    benchmark.extra_info.update(op="dense", who=who, size=m * n_in * n_out, dtype="float64",
                                flops=4 * m * n_in * n_out, kind="layer")
    benchmark.pedantic(run, rounds=5, iterations=1, warmup_rounds=1)


def _framework_dense(who, x, w, b, g):
    if who.startswith("torch"):
        import torch

        xs = [torch.from_numpy(a) for a in (x, w, b)]
        gt = torch.from_numpy(g)
        f = lambda x, w, b: torch.nn.functional.linear(x, w.T, b)  # noqa: E731
        if who == "torch.autograd":
            def run():
                ins = [a.detach().requires_grad_(True) for a in xs]
                return torch.autograd.grad(f(*ins), ins, gt)
            return run
        return lambda: torch.func.vjp(f, *xs)[1](gt)
    if who == "jax.jit":
        import jax

        reference.get("jax").real  # noqa: B018  (creating it enables 64-bit: else float32)

        jitted = jax.jit(lambda x, w, b, g: jax.vjp(lambda x, w, b: x @ w + b, x, w, b)[1](g))
        args = [jax.device_put(a) for a in (x, w, b, g)]
        jax.block_until_ready(jitted(*args))
        return lambda: jax.block_until_ready(jitted(*args))
    import autograd

    f = lambda x, w, b: autograd.numpy.dot(x, w) + b  # noqa: E731
    return lambda: autograd.make_vjp(f, (0, 1, 2))(x, w, b)[0](g)


@pytest.mark.parametrize("mode", ("vjp", "jacobian", "torch.jacrev"))
@pytest.mark.parametrize("n", JAC_N)
def test_jacobian_vs_vjp(benchmark, n: int, mode: str) -> None:
    """softmax over n logits: the VJP is O(n), the full Jacobian O(n²) in time and memory."""
    if mode != "vjp" and 8 * n * n > JAC_BUDGET:
        pytest.skip(f"an {n}x{n} float64 Jacobian needs {8 * n * n / 2**20:.0f} MiB, over the "
                    f"{JAC_BUDGET / 2**20:.0f} MiB budget")
    rng = np.random.default_rng(0)
    z, g = rng.standard_normal(n), rng.standard_normal(n)
    if mode == "vjp":
        run = lambda: impl.softmax_backward(g, z)  # noqa: E731
    elif mode == "jacobian":
        run = lambda: impl.softmax_jacobian(z)  # noqa: E731
    else:
        import torch

        zt = torch.from_numpy(z)
        run = lambda: torch.func.jacrev(torch.softmax, argnums=0)(zt, 0)  # noqa: E731
    benchmark.group = f"jacobian-vs-vjp-{n}"
    benchmark.extra_info.update(op="softmax", who=mode, size=n, dtype="float64", kind="jac")
    benchmark.pedantic(run, rounds=5 if n >= 1000 else 50, iterations=1, warmup_rounds=1)


# seed 000's construction, verbatim in spirit: a Python loop over every (i, j)
def _seed000_loops(act_out: np.ndarray, deriv) -> np.ndarray:
    m, n = act_out.shape
    out = np.zeros((m, n, m, n))
    for i in range(m):
        for j in range(n):
            out[i, j, i, j] = deriv(act_out[i, j])
    return out


SEED_DERIV = {"relu": lambda a: 1 if a > 0 else 0, "sigmoid": lambda a: a * (1 - a),
              "tanh": lambda a: 1 - a**2}


@pytest.mark.parametrize("how", ("seed000-loops", "impl"))
@pytest.mark.parametrize("act", tuple(SEED_DERIV))
def test_seed000_jacobian(benchmark, act: str, how: str) -> None:
    z = np.random.default_rng(0).standard_normal((100, 8))
    if how == "impl":
        fn = getattr(impl, f"{act}_jacobian")
        run = lambda: fn(z)  # noqa: E731
    else:
        a = getattr(impl, act)(z)
        run = lambda: _seed000_loops(a, SEED_DERIV[act])  # noqa: E731
    benchmark.group = f"seed000-jacobian-{act}"
    benchmark.extra_info.update(op=f"{act}_jacobian", who=how, size=800, dtype="float64",
                                kind="seed000")
    benchmark.pedantic(run, rounds=5, iterations=1, warmup_rounds=1)


@pytest.mark.parametrize("who", ("impl", "torch.func"))
def test_mlp_backward(benchmark, who: str) -> None:
    """A 4-layer relu MLP (width 256, batch 256, MSE): impl.mlp_backward vs torch."""
    rng = np.random.default_rng(0)
    widths = [256] * 5
    ws = [rng.standard_normal((a, b)) / 16 for a, b in zip(widths[:-1], widths[1:])]
    bs = [np.zeros(b) for b in widths[1:]]
    x, y = rng.standard_normal((256, 256)), rng.standard_normal((256, 256))
    acts = ["relu"] * 3 + ["identity"]
    if who == "impl":
        run = lambda: impl.mlp_backward(x, y, ws, bs, acts, "mse")  # noqa: E731
    else:
        import torch

        from gradverify import reference
        from gradverify.reference.networks import mlp

        r = reference.get("torch")
        f = mlp(r, acts, "mse")
        args = [torch.from_numpy(a) for a in (x, y, *[p for q in zip(ws, bs) for p in q])]
        run = lambda: torch.func.vjp(lambda *p: f(args[0], args[1], *p), *args[2:])[1](  # noqa
            torch.tensor(1.0, dtype=torch.float64))
    benchmark.group = "mlp-float64-4x256"
    benchmark.extra_info.update(op="mlp", who=who, size=256 * 256, dtype="float64",
                                kind="mlp")
    benchmark.pedantic(run, rounds=5, iterations=1, warmup_rounds=1)


CONV = ((32, 64, 32, 32), (64, 64, 3, 3), 1)  # x, w, padding


@pytest.mark.parametrize("who", ("impl", "torch.autograd"))
def test_conv2d_backward(benchmark, who: str) -> None:
    """conv2d backward (dx, dw, db), x (32, 64, 32, 32), w (64, 64, 3, 3), padding 1, float64;
    impl's only where it provides ``conv2d_backward`` (reported "not available" otherwise)."""
    (xs, ws, pad), rng = CONV, np.random.default_rng(0)
    x, w, b = rng.standard_normal(xs), rng.standard_normal(ws) / 24, rng.standard_normal(ws[0])
    g = rng.standard_normal((xs[0], ws[0], xs[2], xs[3]))
    if who == "impl":
        if not hasattr(impl, "conv2d_backward"):
            pytest.skip("not available: impl has no conv2d_backward")
        run = lambda: impl.conv2d_backward(g, x, w, b, padding=pad)  # noqa: E731
    else:
        import torch

        ts = [torch.from_numpy(a) for a in (x, w, b)]
        gt = torch.from_numpy(g)

        def run():
            ins = [a.detach().requires_grad_(True) for a in ts]
            y = torch.nn.functional.conv2d(*ins, padding=pad)
            return torch.autograd.grad(y, ins, gt)
    n, c, h, wd = xs
    benchmark.group = "conv2d-float64"
    benchmark.extra_info.update(op="conv2d", who=who, size=x.size, dtype="float64",
                                flops=2 * 2 * n * h * wd * ws[0] * c * ws[2] * ws[3],
                                kind="conv")
    benchmark.pedantic(run, rounds=3, iterations=1, warmup_rounds=1)


@pytest.mark.parametrize("what", ("copy", "matmul"))
def test_ceiling(benchmark, what: str) -> None:
    """The ceilings, measured in the same run as the formulas: a 256 MiB copy (bytes read +
    written per second) and a 2048² float64 matmul (FLOP/s, numpy BLAS with the run's threads)."""
    rng = np.random.default_rng(0)
    if what == "copy":
        a = rng.standard_normal(2**25)
        b = np.empty_like(a)
        run = lambda: np.copyto(b, a)  # noqa: E731
        extra = {"bytes": 2 * a.nbytes}
    else:
        m = rng.standard_normal((2048, 2048))
        run = lambda: m @ m  # noqa: E731
        extra = {"flops": 2 * 2048**3}
    benchmark.group = f"ceiling-{what}"
    benchmark.extra_info.update(op=what, who="numpy", size=0, dtype="float64", kind="ceiling",
                                **extra)
    benchmark.pedantic(run, rounds=5, iterations=1, warmup_rounds=1)
