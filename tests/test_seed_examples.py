"""The seeds' own worked examples as named cases.

- seed 000: M=100 samples, N=8 features, NO=4 outputs, samples in rows, Z = X W + b; the
  (m, n, m, n) Jacobians of relu, sigmoid and tanh at Z, and the gradients of
  L = Σ act(Z)² w.r.t. X, W and b by the chain rule dZ = Δ ⊙ f'(Z), dW = Xᵀ dZ, db = 1ᵀ dZ,
  dX = dZ Wᵀ.
- Park (seed 002), samples in columns: z = W x + b, J = (1/N) Σ ½‖o − y‖² with an identity
  output; Theorem 5.4 / eq. (30): dZ = (A − Y)/N, dW = dZ Xᵀ, db = row sums of dZ.
"""

from __future__ import annotations

import numpy as np
import pytest

from gradverify import reference
from gradverify.cases import call_impl, impl_function, use_reference
from gradverify.diagnose import check
from gradverify.tolerances import tolerance

M, N, NO = 100, 8, 4
ACTIVATIONS = ("relu", "sigmoid", "tanh")


def _params(names, refs=reference.NAMES, dtypes=("float32", "float64")):
    return [pytest.param(a, r, d, id=f"{a}-{r}-{d}", marks=getattr(pytest.mark, r))
            for a in names for r in refs for d in dtypes]


def _seed000(seed: int, dtype: str):
    """X, W, b, redrawn until every pre-activation of Z = X W + b is ≥ 5e-3 from relu's kink:
    finite differences move one x or w by up to 2h = 2e-4·max(1, |x|), which moves z by up to
    2e-4·4·3 ≈ 2.4e-3 here, and must not cross it."""
    rng = np.random.default_rng([seed, 0])
    while True:
        x = rng.standard_normal((M, N)).astype(dtype)
        w = rng.standard_normal((N, NO)).astype(dtype)
        b = rng.standard_normal(NO).astype(dtype)
        if np.min(np.abs(x.astype(np.float64) @ w + b)) >= 5e-3:
            return x, w, b


@pytest.mark.parametrize("act,ref,dtype", _params(ACTIVATIONS))
def test_seed000_activation_jacobian(act, ref, dtype, impl_module, seed, device, request):
    """The (100, 4, 100, 4) Jacobian of relu/sigmoid/tanh at Z = X W + b."""
    r = use_reference(ref, device)
    x, w, b = _seed000(seed, dtype)
    z = x @ w + b
    expected = r.cached("jacobian", lambda r: r.jacobian(r.op(act), [z], [0]), [z], act=act)[0]
    actual = call_impl(impl_function(impl_module, f"{act}_jacobian"), z)
    check(actual, expected, what=f"seed 000: {act}_jacobian at Z = XW + b vs {ref}", dtype=dtype,
          tol=tolerance(dtype, "grad", ref),
              ref=ref, context=f"seed 000 layer {M}x{N}to{NO}, seed {seed}")


@pytest.mark.parametrize("act,ref,dtype", _params(ACTIVATIONS))
def test_seed000_dense_layer(act, ref, dtype, impl_module, seed, device, request):
    """Gradients of L = Σ act(X W + b)² w.r.t. X, W, b by the chain rule of seed 000."""
    r = use_reference(ref, device)
    x, w, b = _seed000(seed, dtype)
    fn = {n: impl_function(impl_module, n) for n in
          ("dense", act, "sum_of_squares_backward", f"{act}_backward", "dense_backward")}
    z = call_impl(fn["dense"], x, w, b)
    a = call_impl(fn[act], z)
    delta = call_impl(fn["sum_of_squares_backward"], 1.0, a)
    dz = call_impl(fn[f"{act}_backward"], delta, z)
    actual = call_impl(fn["dense_backward"], dz, x, w, b)

    expected = r.cached("seed 000 layer", lambda r: r.vjp(
        lambda x, w, b: r.ops["sum_of_squares"](r.ops[act](r.ops["dense"](x, w, b))),
        [x, w, b], np.asarray(1.0, dtype), [0, 1, 2]), [x, w, b], act=act)
    context = f"seed 000 layer {M}x{N}to{NO} with {act} and L = Σ ŷ², dtype {dtype}, seed {seed}"
    for name, act_, exp in zip(("dX", "dW", "db"), actual, expected):
        check(act_, exp, what=f"seed 000: {name} vs {ref}", dtype=dtype,
              tol=tolerance(dtype, "grad", ref), ref=ref, context=context)


@pytest.mark.parametrize("ref,dtype", [
    pytest.param(r, d, id=f"{r}-{d}", marks=getattr(pytest.mark, r))
    for r in reference.NAMES for d in ("float32", "float64")])
def test_park_colmajor_layer(ref, dtype, impl_module, seed, device):
    """Park's linear regression layer: dZ = (A − Y)/N, dW = dZ Xᵀ, db = row sums of dZ."""
    r = use_reference(ref, device)
    rng = np.random.default_rng([seed, 2])
    n_in, n_out, n = 3, 2, 5
    x = rng.standard_normal((n_in, n)).astype(dtype)
    w = rng.standard_normal((n_out, n_in)).astype(dtype)
    b = rng.standard_normal((n_out, 1)).astype(dtype)
    y = rng.standard_normal((n_out, n)).astype(dtype)
    fn = {k: impl_function(impl_module, k) for k in
          ("dense_colmajor", "l2_backward", "dense_colmajor_backward")}
    a = call_impl(fn["dense_colmajor"], x, w, b)
    dz = call_impl(fn["l2_backward"], 1.0, a.T, y.T).T  # l2 takes samples in rows
    context = f"Park eq. (30)-(32), N = {n} samples in columns, dtype {dtype}, seed {seed}"
    check(dz, (a - y) / n, what="Park Theorem 6.1: dZ = (A − Y)/N", dtype=dtype,
          tol=tolerance(dtype, "grad", "numeric"), context=context)

    expected = r.cached("park layer", lambda r: r.vjp(
        lambda x, w, b, y: r.ops["l2"](r.ops["dense_colmajor"](x, w, b).T, y.T),
        [x, w, b, y], np.asarray(1.0, dtype), [0, 1, 2]), [x, w, b, y])
    actual = call_impl(fn["dense_colmajor_backward"], dz, x, w, b)
    for name, act_, exp in zip(("dX", "dW", "db"), actual, expected):
        check(act_, exp, what=f"Park layer: {name} vs {ref}", dtype=dtype,
              tol=tolerance(dtype, "grad", ref), ref=ref, context=context)
