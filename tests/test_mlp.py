"""Whole networks: impl.mlp_backward against every reference, Park's theorems, seed 003.

- ``test_mlp``: depths 1 to 6, widths that differ layer to layer, both layouts, batch sizes
  1, 3 and 5, hidden activations from the catalog, five output heads; every layer's dW and
  db and the input gradient against torch, jax, autograd and finite differences.
- ``test_theorem_6_1``: δ = ∂J/∂Z_L = (O − Y)/N for identity + L2, sigmoid + BCE and
  softmax + cross-entropy (Park, Theorem 6.1), against every reference.
- ``test_park_code4``: Park's Python Code 4 (samples in columns, relu hidden layers, softmax
  output, cross-entropy cost).
- ``test_seed003_network``: the 4-layer, one-node network of seed 003 (weights 1, biases 0,
  sigmoid output, log loss) with sigmoid, tanh and relu hidden layers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from gradverify import impl, reference
from gradverify.cases import call_impl, impl_function, use_reference
from gradverify.diagnose import check
from gradverify.reference.networks import mlp
from gradverify.tolerances import tolerance

#: activations with a kink at 0, and how far every pre-activation stays from it
KINKED = {"relu", "leaky_relu"}
KINK_CLEARANCE = 5e-3  # > 2h·|x|·|w| for the step h = 1e-4·max(1, |x|) and these weights


def _name(activation: Any) -> str:
    return activation if isinstance(activation, str) else activation[0]

HIDDEN: list[Any] = ["relu", "tanh", "sigmoid", ("leaky_relu", {"negative_slope": 0.2}), "elu",
                     "softplus", ("gelu", {"approximate": "tanh"}), "silu"]
#: (name, output activation (rows, cols), loss, loss params, outputs, target kind)
HEADS = [
    ("mse", "identity", "identity", "mse", {"reduction": "mean"}, 2, "real"),
    ("l2", "identity", "identity", "l2", {}, 2, "real"),
    ("bce", "sigmoid", "sigmoid", "bce", {"reduction": "mean"}, 2, "binary"),
    ("ce", "softmax", ("softmax", {"axis": 0}), "cross_entropy", {"reduction": "mean"}, 3,
     "one_hot"),
    ("sce", "identity", "identity", "softmax_cross_entropy", {"reduction": "sum"}, 3, "labels"),
]


@dataclass(frozen=True)
class Net:
    depth: int
    layout: str
    batch: int
    head: tuple

    @property
    def widths(self) -> list[int]:
        hidden = [2 + (self.depth + k) % 3 for k in range(self.depth - 1)]
        return [3, *hidden, self.head[5]]

    @property
    def activations(self) -> list[Any]:
        hidden = [HIDDEN[(self.depth + k) % len(HIDDEN)] for k in range(self.depth - 1)]
        return [*hidden, self.head[1] if self.layout == "rows" else self.head[2]]

    @property
    def id(self) -> str:
        return (f"b{self.batch}-w{'.'.join(map(str, self.widths))}-{self.layout}-"
                f"{self.head[0]}-depth{self.depth}")

    def data(self, seed: int, dtype: str) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
        """Inputs, targets and parameters, redrawn until every pre-activation of a kinked
        activation (relu, leaky_relu) is at least KINK_CLEARANCE from the kink: finite
        differences (step ≤ 2e-4·|x|) must not cross one."""
        rng = np.random.default_rng([seed, self.depth, self.batch, len(self.layout)])
        while True:
            x, y, params = self._draw(rng, dtype)
            _, zs, _ = impl.mlp_forward(x.astype(np.float64), params[0::2], params[1::2],
                                        self.activations, self.layout)
            kinked = [z for z, a in zip(zs, self.activations) if _name(a) in KINKED]
            if all(np.min(np.abs(z), initial=np.inf) >= KINK_CLEARANCE for z in kinked):
                return x, y, params

    def _draw(self, rng: np.random.Generator, dtype: str):
        n, w = self.batch, self.widths
        x = rng.standard_normal((n, w[0]))
        kind, m = self.head[6], w[-1]
        y = {"real": lambda: rng.standard_normal((n, m)),
             "binary": lambda: rng.integers(0, 2, (n, m)).astype(float),
             "one_hot": lambda: np.eye(m)[rng.integers(0, m, n)],
             "labels": lambda: rng.integers(0, m, n)}[kind]()
        params = []
        for a, b in zip(w[:-1], w[1:]):
            weight = rng.standard_normal((a, b)) / np.sqrt(a)
            bias = 0.1 * rng.standard_normal(b)
            if self.layout == "cols":
                weight, bias = weight.T, bias[:, None]
            params += [weight.astype(dtype), bias.astype(dtype)]
        if self.layout == "cols":
            x, y = x.T, (y.T if y.ndim > 1 else y)
        return x.astype(dtype), (y.astype(dtype) if kind != "labels" else y), params


NETS = [Net(d, layout, (1, 3, 5)[d % 3], HEADS[(d + (layout == "cols")) % len(HEADS)])
        for d in range(1, 7) for layout in ("rows", "cols")]


def _params(items, ids, refs=reference.NAMES, dtypes=("float32", "float64")):
    return [pytest.param(item, r, dt, id=f"mlp-{r}-{dt}-{i}", marks=getattr(pytest.mark, r))
            for item, i in zip(items, ids) for r in refs for dt in dtypes]


def _compare(actual, expected, names, ref, dtype, context):
    for name, a, e in zip(names, actual, expected):
        check(a, e, what=f"{name} vs {ref}", dtype=dtype, tol=tolerance(dtype, "grad", ref),
              ref=ref,
              context=context)


@pytest.mark.parametrize("net,ref,dtype", _params(NETS, [n.id for n in NETS]))
def test_mlp(net: Net, ref: str, dtype: str, impl_module, seed, device):
    """Every layer's dW, db and the input gradient of impl.mlp_backward."""
    r = use_reference(ref, device)
    backward = impl_function(impl_module, "mlp_backward")
    x, y, params = net.data(seed, dtype)
    head = net.head
    d_w, d_b, dx = call_impl(backward, x, y, params[0::2], params[1::2], net.activations,
                             head[3], net.layout, head[4])
    argnums = [0, *range(2, 2 + len(params))]
    expected = r.cached(  # networks are keyed here (reference/cache.py): no framework when cached
        "mlp", lambda r: r.vjp(mlp(r, net.activations, head[3], net.layout, head[4]),
                               [x, y, *params], np.asarray(1.0, dtype), argnums),
        [x, y, *params], net=net.id, acts=net.activations, head=head, argnums=argnums)
    actual = [dx] + [g for pair in zip(d_w, d_b) for g in pair]
    names = ["dx"] + [f"{k}{i + 1}" for i in range(net.depth) for k in ("dW", "db")]
    context = (f"network {net.id}: activations {net.activations}, loss {head[3]} {head[4]}, "
               f"dtype {dtype}, seed {seed}")
    _compare(actual, expected, names, ref, dtype, context)


THEOREM = [("identity", "l2", {}, 3), ("sigmoid", "bce", {"reduction": "mean"}, 1),
           ("softmax", "cross_entropy", {"reduction": "mean"}, 3)]


@pytest.mark.parametrize("head,ref,dtype", _params(THEOREM, [f"{a}+{loss}" for a, loss, _, _
                                                             in THEOREM]))
def test_theorem_6_1(head, ref, dtype, impl_module, seed, device):
    """δ = ∂J/∂Z = (O − Y)/N at the output layer (samples in rows, N = 4)."""
    act, loss, lp, m = head
    r = use_reference(ref, device)
    rng = np.random.default_rng([seed, m])
    z = rng.standard_normal((4, m)).astype(dtype)
    y = (np.eye(m)[rng.integers(0, m, 4)] if act == "softmax" else
         rng.integers(0, 2, (4, m)) if act == "sigmoid" else rng.standard_normal((4, m)))
    y = y.astype(dtype)
    fn = {k: impl_function(impl_module, k) for k in (act, f"{act}_backward", f"{loss}_backward")}
    o = call_impl(fn[act], z)
    delta = call_impl(fn[f"{act}_backward"], call_impl(fn[f"{loss}_backward"], 1.0, o, y, **lp), z)
    context = f"Theorem 6.1, {act} + {loss}, Z of shape 4x{m}, dtype {dtype}, seed {seed}"
    check(delta, (o - y) / 4, what="δ vs (O − Y)/N", dtype=dtype,
          tol=tolerance(dtype, "grad", ref), ref=ref, context=context)
    expected = r.cached("theorem 6.1", lambda r: r.vjp(
        lambda z, y: r.ops[loss](r.ops[act](z), y, **lp), [z, y], np.asarray(1.0, dtype), [0]),
        [z, y], act=act, loss=loss, lp=lp)[0]
    check(delta, expected, what=f"δ vs {ref}", dtype=dtype, tol=tolerance(dtype, "grad", ref),
          ref=ref,
          context=context)


@pytest.mark.parametrize("ref,dtype", [pytest.param(r, d, id=f"mlp-{r}-{d}-park-code4",
                                                    marks=getattr(pytest.mark, r))
                                       for r in reference.NAMES for d in ("float32", "float64")])
def test_park_code4(ref, dtype, impl_module, seed, device):
    """Park's Python Code 4: X (n, N), relu hidden layers, softmax output, J = (1/N) Σ CE."""
    r = use_reference(ref, device)
    net = Net(3, "cols", 5, HEADS[3])
    acts = ["relu", "relu", ("softmax", {"axis": 0})]
    x, y, params = net.data(seed, dtype)
    d_w, d_b, dx = call_impl(impl_function(impl_module, "mlp_backward"), x, y, params[0::2],
                             params[1::2], acts, "cross_entropy", "cols")
    expected = r.cached("park code 4", lambda r: r.vjp(
        mlp(r, acts, "cross_entropy", "cols"), [x, y, *params], np.asarray(1.0, dtype),
        [0, *range(2, 8)]), [x, y, *params], acts=acts)
    names = ["dX"] + [f"{k}[{i}]" for i in (1, 2, 3) for k in ("dW", "db")]
    _compare([dx] + [g for p in zip(d_w, d_b) for g in p], expected, names, ref, dtype,
             f"Park Python Code 4, widths {net.widths}, N = 5, dtype {dtype}, seed {seed}")


@pytest.mark.parametrize("hidden,ref,dtype", _params(["sigmoid", "tanh", "relu"],
                                                     ["sigmoid", "tanh", "relu"],
                                                     dtypes=("float64",)))
def test_seed003_network(hidden, ref, dtype, impl_module, device):
    """Seed 003: x → 3 hidden one-node layers → sigmoid output, W = 1, b = 0, log loss, y = 1;
    per-layer dL/dW for x in {−2, 0.5, 3}, and sigmoid's vanishing: each layer whose input is
    an activation (≤ 1) gets a smaller |dL/dW| than the next, σ' ≤ 1/4 (|dW_2| < |dW_3| <
    |dW_4|; dW_1 = δ_1·x is scaled by the raw input instead)."""
    r = use_reference(ref, device)
    backward = impl_function(impl_module, "mlp_backward")
    acts = [hidden] * 3 + ["sigmoid"]
    ws = [np.ones((1, 1), dtype) for _ in acts]
    bs = [np.zeros(1, dtype) for _ in acts]
    for x0 in (-2.0, 0.5, 3.0):
        x, y = np.full((1, 1), x0, dtype), np.ones((1, 1), dtype)
        d_w, _, _ = call_impl(backward, x, y, ws, bs, acts, "bce", "rows", {"reduction": "sum"})
        params = [p for pair in zip(ws, bs) for p in pair]
        expected = r.cached("seed 003", lambda r: r.vjp(
            mlp(r, acts, "bce", "rows", {"reduction": "sum"}), [x, y, *params],  # noqa: B023
            np.asarray(1.0, dtype), [2, 4, 6, 8]), [x, y, *params], acts=acts)
        _compare(d_w, expected, [f"dL/dW{i}" for i in (1, 2, 3, 4)], ref, dtype,
                 f"seed 003 network, {hidden} hidden layers, x = {x0}, y = 1")
        if hidden == "sigmoid":
            mags = [abs(float(g[0, 0])) for g in d_w]
            assert mags[1] < mags[2] < mags[3], (
                f"sigmoid layers should shrink the gradient toward the input: |dL/dW| = {mags}")
