"""Networks of the issue-11 layers: impl's layer formulas chained by hand against every reference.

- ``test_transformer_block``: a pre-norm transformer block (layer norm → single-head causal
  self-attention with dense q, k, v and output projections → residual → layer norm → dense →
  gelu → dense → residual) on x (2, 4, 6); the VJP of a random cotangent w.r.t. x and all 16
  parameters.
- ``test_bn_mlp``: dense → batch norm → tanh → dropout (fixed masks) twice, a dense output and
  softmax cross-entropy; the gradient w.r.t. x and all 10 parameters.

The forward passes keep their intermediates and the backward passes chain impl's
``<op>_backward`` functions in reverse; the references differentiate the same network written
with their own op table (``reference/nets_norm.py``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import partial
from types import ModuleType

import numpy as np
import pytest

from gradverify import reference
from gradverify.cases import call_impl, impl_function, use_reference
from gradverify.diagnose import check
from gradverify.reference.nets_norm import BLOCK_PARAMS, MLP_PARAMS, bn_mlp, transformer_block
from gradverify.tolerances import tolerance

B, T, D, DK, DV, HIDDEN = 2, 4, 6, 3, 5, 8  # transformer block sizes (all different)
N, WIDTHS, P = 6, (4, 7, 5, 3), 0.25  # the MLP: batch, widths (3 classes), drop probability


def _params(refs=reference.NAMES, dtypes=("float32", "float64")):
    return [pytest.param(r, dt, id=f"{r}-{dt}", marks=getattr(pytest.mark, r))
            for r in refs for dt in dtypes]


class _Impl:
    """impl's functions by name from the module under test (skipped if one is missing)."""

    def __init__(self, module: ModuleType) -> None:
        self.module = module

    def __getattr__(self, name: str) -> Callable:
        fn = impl_function(self.module, name)
        return lambda *a, **kw: call_impl(fn, *a, **kw)


def _weight(rng: np.random.Generator, n_in: int, n_out: int) -> np.ndarray:
    return rng.standard_normal((n_in, n_out)) / np.sqrt(n_in)


def _gamma(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.uniform(0.5, 1.5, n) * rng.choice([-1.0, 1.0], n)


def _compare(actual, expected, names, ref, dtype, context):
    """Each gradient within the allowance; the terms' magnitude of a gradient is at most the
    network's largest gradient (a gradient that is 0 by symmetry, such as the key bias's, is
    a sum of such terms that cancel)."""
    assert len(actual) == len(expected) == len(names)
    scale = max(float(np.nanmax(np.abs(e), initial=0.0)) for e in expected)
    for name, a, e in zip(names, actual, expected):
        check(a, e, what=f"{name} vs {ref}", dtype=dtype, tol=tolerance(dtype, "grad", ref),
              ref=ref, context=context, magnitude=partial(np.full, np.shape(e), scale))


# -- the transformer block ---------------------------------------------------------------------
def block_data(seed: int, dtype: str) -> tuple[np.ndarray, np.ndarray, dict, np.ndarray]:
    rng = np.random.default_rng([seed, 11, 1])
    shapes = {"g1": (D,), "b1": (D,), "wq": (D, DK), "bq": (DK,), "wk": (D, DK), "bk": (DK,),
              "wv": (D, DV), "bv": (DV,), "wo": (DV, D), "bo": (D,), "g2": (D,), "b2": (D,),
              "w1": (D, HIDDEN), "c1": (HIDDEN,), "w2": (HIDDEN, D), "c2": (D,)}
    params = {}
    for name, shape in shapes.items():
        if name in ("g1", "g2"):
            value = _gamma(rng, D)
        elif len(shape) == 2:
            value = _weight(rng, *shape)
        else:
            value = 0.2 * rng.standard_normal(shape)
        params[name] = value.astype(dtype)
    x = rng.standard_normal((B, T, D)).astype(dtype)
    mask = np.tril(np.ones((T, T), dtype=bool))  # causal
    g = rng.standard_normal((B, T, D)).astype(dtype)
    return x, mask, params, g


def block_backward(m: _Impl, x: np.ndarray, mask: np.ndarray, p: dict,
                   g: np.ndarray) -> list[np.ndarray]:
    """[dx, d(each of BLOCK_PARAMS)] of <g, block(x)>, by impl's forwards and backwards."""
    h = m.layernorm(x, p["g1"], p["b1"])
    q, k, v = (m.dense(h, p[f"w{c}"], p[f"b{c}"]) for c in "qkv")
    a = m.attention(q, k, v, mask)
    r = x + m.dense(a, p["wo"], p["bo"])
    h2 = m.layernorm(r, p["g2"], p["b2"])
    u = m.dense(h2, p["w1"], p["c1"])
    z = m.gelu(u)
    # y = r + dense(z, w2, c2)
    grads: dict[str, np.ndarray] = {}
    dz, grads["w2"], grads["c2"] = m.dense_backward(g, z, p["w2"], p["c2"])
    dh2, grads["w1"], grads["c1"] = m.dense_backward(m.gelu_backward(dz, u), h2, p["w1"],
                                                     p["c1"])
    dr_ln, grads["g2"], grads["b2"] = m.layernorm_backward(dh2, r, p["g2"], p["b2"])
    dr = g + dr_ln
    da, grads["wo"], grads["bo"] = m.dense_backward(dr, a, p["wo"], p["bo"])
    dq, dk, dv = m.attention_backward(da, q, k, v, mask)
    dh = np.zeros_like(h)
    for c, d in zip("qkv", (dq, dk, dv)):
        dh_c, grads[f"w{c}"], grads[f"b{c}"] = m.dense_backward(d, h, p[f"w{c}"], p[f"b{c}"])
        dh += dh_c
    dx_ln, grads["g1"], grads["b1"] = m.layernorm_backward(dh, x, p["g1"], p["b1"])
    return [dr + dx_ln] + [grads[name] for name in BLOCK_PARAMS]


@pytest.mark.parametrize("ref,dtype", _params())
def test_transformer_block(ref: str, dtype: str, impl_module, seed, device):
    """dx and every parameter's gradient of a transformer block, against each reference."""
    r = use_reference(ref, device)
    x, mask, params, g = block_data(seed, dtype)
    actual = block_backward(_Impl(impl_module), x, mask, params, g)
    inputs = [x, mask, *(params[name] for name in BLOCK_PARAMS)]
    argnums = [0, *range(2, len(inputs))]
    expected = r.cached("transformer block", lambda r: r.vjp(transformer_block(r), inputs, g,
                                                            argnums), [*inputs, g], argnums=argnums)
    context = (f"transformer block: x ({B}, {T}, {D}), d_k {DK}, d_v {DV}, hidden {HIDDEN}, "
               f"causal mask, dtype {dtype}, seed {seed}")
    _compare(actual, expected, ["dx", *(f"d{n}" for n in BLOCK_PARAMS)], ref, dtype, context)


# -- the MLP with batch norm and dropout -------------------------------------------------------
def mlp_data(seed: int, dtype: str):
    rng = np.random.default_rng([seed, 11, 2])
    x = rng.standard_normal((N, WIDTHS[0])).astype(dtype)
    y = rng.integers(0, WIDTHS[-1], N)
    masks = []
    for width in WIDTHS[1:3]:
        keep = rng.random((N, width)) >= P
        keep[0, :2] = (True, False)
        masks.append(keep.astype(dtype))
    params = []
    for i, (n_in, n_out) in enumerate(zip(WIDTHS[:-1], WIDTHS[1:])):
        params += [_weight(rng, n_in, n_out), 0.2 * rng.standard_normal(n_out)]
        if i < 2:
            params += [_gamma(rng, n_out), 0.3 * rng.standard_normal(n_out)]
    return x, y, masks, [w.astype(dtype) for w in params]


def mlp_backward(m: _Impl, x, y, masks, params) -> list[np.ndarray]:
    """[dx, d(each of MLP_PARAMS)] of the MLP's loss, by impl's forwards and backwards."""
    caches = []
    a = x
    for i, mask in enumerate(masks):
        w, b, gamma, beta = params[4 * i: 4 * i + 4]
        z = m.dense(a, w, b)
        n = m.batchnorm(z, gamma, beta)
        t = m.tanh(n)
        caches.append((a, z, n, t, mask))
        a = m.dropout(t, mask, p=P)
    w3, b3 = params[8:]
    logits = m.dense(a, w3, b3)
    dlogits = m.softmax_cross_entropy_backward(1.0, logits, y)
    da, dw3, db3 = m.dense_backward(dlogits, a, w3, b3)
    grads = [dw3, db3]
    for i in (1, 0):
        a_in, z, n, t, mask = caches[i]
        w, b, gamma, beta = params[4 * i: 4 * i + 4]
        dn = m.tanh_backward(m.dropout_backward(da, t, mask, p=P), n)
        dz, dgamma, dbeta = m.batchnorm_backward(dn, z, gamma, beta)
        da, dw, db = m.dense_backward(dz, a_in, w, b)
        grads = [dw, db, dgamma, dbeta, *grads]
    return [da, *grads]


@pytest.mark.parametrize("ref,dtype", _params())
def test_bn_mlp(ref: str, dtype: str, impl_module, seed, device):
    """dx and every parameter's gradient of an MLP with batch norm and dropout."""
    r = use_reference(ref, device)
    x, y, masks, params = mlp_data(seed, dtype)
    actual = mlp_backward(_Impl(impl_module), x, y, masks, params)
    inputs = [x, y, *masks, *params]
    argnums = [0, *range(4, len(inputs))]
    expected = r.cached("bn mlp", lambda r: r.vjp(bn_mlp(r, P), inputs, np.asarray(1.0, dtype),
                                                argnums), inputs, argnums=argnums, p=P)
    context = (f"MLP widths {WIDTHS}, batch {N}, dense → batchnorm → tanh → dropout(p={P}), "
               f"softmax cross-entropy, dtype {dtype}, seed {seed}")
    _compare(actual, expected, ["dx", *(f"d{n}" for n in MLP_PARAMS)], ref, dtype, context)


# -- bad input ---------------------------------------------------------------------------------
_X, _G = np.ones((2, 6, 3)), np.ones(6)
BAD = [
    ("groupnorm", (_X, _G, _G), {"num_groups": 4}, "not divisible by num_groups"),
    ("batchnorm", (_X, np.ones(5), _G), {}, "gamma must have shape (6,)"),
    ("layernorm", (_X, _G, np.ones(3)), {}, "gamma must have shape (3,)"),
    ("embedding", (np.array([0, 4]), np.ones((4, 3))), {}, "ids out of range"),
    ("embedding", (np.array([0.0, 1.0]), np.ones((4, 3))), {}, "ids must be integers"),
    ("dropout", (np.ones((2, 3)), np.ones((3, 2))), {}, "mask has shape"),
    ("dropout", (np.ones((2, 3)), np.ones((2, 3))), {"p": 1.0}, "must be in [0, 1)"),
    ("attention", (np.ones((3, 2)), np.ones((4, 2)), np.ones((4, 5)), np.ones((3, 4))), {},
     "mask must be boolean"),
    ("attention", (np.ones((3, 2)), np.ones((4, 2)), np.ones((4, 5)),
                   np.eye(3, 4, dtype=bool) & False), {}, "hides every key"),
    ("attention", (np.ones((3, 2)), np.ones((4, 3)), np.ones((4, 5))), {}, "share d"),
    ("multi_margin", (np.ones((3, 4)), np.array([0, 1, 4])), {}, "labels out of range"),
    ("multi_margin", (np.ones((3, 4)), np.array([0, 1])), {}, "2 labels for 3 samples"),
]


@pytest.mark.parametrize("op,args,params,says", BAD,
                         ids=[f"{b[0]}-{b[3].split()[0]}-{i}" for i, b in enumerate(BAD)])
def test_bad_input_raises(op, args, params, says):
    """The project's impl (whatever --impl names) rejects bad input in its forward and
    backward with a ValueError naming the cause."""
    from gradverify import impl
    with pytest.raises(ValueError, match=re.escape(says)):
        getattr(impl, op)(*args, **params)
    g = np.ones(()) if op == "multi_margin" else np.ones(np.shape(args[0]))
    with pytest.raises(ValueError, match=re.escape(says)):
        getattr(impl, f"{op}_backward")(g, *args, **params)
