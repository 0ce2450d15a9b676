"""Whole networks from impl's conv, pooling and recurrent formulas, against every reference.

- ``test_cnn``: conv → relu → max pool → conv (padded) → relu → avg pool → dense → softmax
  cross-entropy (integer labels); every parameter's gradient and the input's.
- ``test_rnn_classifier``: one-hot tokens (impl has no embedding in this branch: the one-hot
  rows are the inputs) → rnn over T = 5 steps → dense on the last state → softmax
  cross-entropy.
- ``test_lstm_classifier``: the same with lstm_step unrolled over the T steps.

impl's side chains the module under test's backward formulas by hand; each reference
differentiates the same network built from its own ops (``reference/nets_conv.py``).
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from gradverify import reference
from gradverify.cases import call_impl, impl_function, use_reference
from gradverify.diagnose import check
from gradverify.reference.nets_conv import CNN, cnn, lstm_classifier, rnn_classifier
from gradverify.tolerances import tolerance

MARGIN = 0.05  # pre-activations off relu's kink, and max-pool windows' top-2 gap
CLASSES = 3


def _params():
    return [pytest.param(r, dt, id=f"{r}-{dt}", marks=getattr(pytest.mark, r))
            for r in reference.NAMES for dt in ("float32", "float64")]


def _impl(module, *names):
    return [impl_function(module, n) for n in names]


def _compare(actual, expected, names, ref, dtype, context):
    for name, a, e in zip(names, actual, expected):
        check(a, e, what=f"{name} vs {ref}", dtype=dtype, tol=tolerance(dtype, "grad", ref),
              ref=ref, context=context)


# -- the CNN ---------------------------------------------------------------------------------
def _cnn_forward(m, x, y, w1, b1, w2, b2, w3, b3):
    """Every intermediate of the CNN through the module's forwards."""
    z1 = m.conv2d(x, w1, b1, **CNN["conv1"])
    a1 = m.relu(z1)
    p1 = m.max_pool2d(a1, **CNN["pool1"])
    z2 = m.conv2d(p1, w2, b2, **CNN["conv2"])
    a2 = m.relu(z2)
    p2 = m.avg_pool2d(a2, **CNN["pool2"])
    flat = p2.reshape(p2.shape[0], -1)
    return z1, a1, p1, z2, a2, p2, flat, m.dense(flat, w3, b3)


def _tie_free(a: np.ndarray, k: int) -> bool:
    """Every k×k (stride k) window's largest value is ≥ MARGIN above its second."""
    win = sliding_window_view(a, (k, k), axis=(2, 3))[:, :, ::k, ::k]
    top2 = np.sort(win.reshape(*win.shape[:4], -1), axis=-1)[..., -2:]
    return bool(np.all(top2[..., 1] - top2[..., 0] >= MARGIN))


def cnn_data(seed: int, dtype: str):
    """x (2, 2, 7, 6), w1 (3, 2, 2, 3), w2 (4, 3, 2, 2), w3 (4, 3), labels (2,). Redrawn until
    every relu pre-activation is ≥ MARGIN from 0 and every max-pool window's top two values
    are ≥ MARGIN apart (zeros after the relu tie too), so finite differences (step ≤ 2e-4
    relative) cross no kink and the max's gradient is unique."""
    from gradverify import impl
    rng = np.random.default_rng([seed, 2024])
    for _ in range(10_000):
        params = (rng.standard_normal((2, 2, 7, 6)), rng.integers(0, CLASSES, 2),
                  rng.standard_normal((3, 2, 2, 3)), 0.5 + 0.3 * rng.standard_normal(3),
                  0.5 * rng.standard_normal((4, 3, 2, 2)), 0.3 * rng.standard_normal(4),
                  0.5 * rng.standard_normal((4, CLASSES)), 0.1 * rng.standard_normal(CLASSES))
        z1, a1, _, z2, *_ = _cnn_forward(impl, *params)
        if (np.abs(z1).min() >= MARGIN and np.abs(z2).min() >= MARGIN
                and _tie_free(a1, CNN["pool1"]["kernel_size"])):
            x, y, *ws = params
            return (x.astype(dtype), y, *(w.astype(dtype) for w in ws))
    raise AssertionError("no tie-free, kink-free CNN input in 10000 draws")


def _vjp(r, what: str, net, inputs, argnums: list[int]):
    """The reference's gradients of the scalar network loss (cached: see reference.cache)."""
    one = np.asarray(1.0, dtype=np.asarray(inputs[0]).dtype if np.issubdtype(
        np.asarray(inputs[0]).dtype, np.floating) else np.float64)
    return r.cached(what, lambda r: r.vjp(net(r), list(inputs), one, argnums), list(inputs),
                    argnums=argnums)


@pytest.mark.parametrize("ref,dtype", _params())
def test_cnn(ref: str, dtype: str, impl_module, seed, device):
    """dx, dW1, db1, dW2, db2, dW3, db3 of the CNN by impl's backward formulas."""
    r = use_reference(ref, device)
    m = impl_module
    conv_b, relu_b, maxp_b, avgp_b, dense_b, sce_b = _impl(
        m, "conv2d_backward", "relu_backward", "max_pool2d_backward", "avg_pool2d_backward",
        "dense_backward", "softmax_cross_entropy_backward")
    inputs = cnn_data(seed, dtype)
    x, y, w1, b1, w2, b2, w3, b3 = inputs
    z1, a1, p1, z2, a2, p2, flat, logits = call_impl(_cnn_forward, m, *inputs)
    dflat, dw3, db3 = call_impl(dense_b, call_impl(sce_b, np.asarray(1.0, dtype), logits, y),
                                flat, w3, b3)
    da2 = call_impl(avgp_b, dflat.reshape(p2.shape), a2, **CNN["pool2"])
    dp1, dw2, db2 = call_impl(conv_b, call_impl(relu_b, da2, z2), p1, w2, b2, **CNN["conv2"])
    da1 = call_impl(maxp_b, dp1, a1, **CNN["pool1"])
    dx, dw1, db1 = call_impl(conv_b, call_impl(relu_b, da1, z1), x, w1, b1, **CNN["conv1"])
    expected = _vjp(r, "cnn", cnn, inputs, [0, 2, 3, 4, 5, 6, 7])
    _compare([dx, dw1, db1, dw2, db2, dw3, db3], expected,
             ["dx", "dW1", "db1", "dW2", "db2", "dW3", "db3"], ref, dtype,
             f"CNN conv-relu-maxpool-conv-relu-avgpool-dense-sce, x {x.shape}, dtype {dtype}, "
             f"seed {seed}")


# -- sequence classifiers --------------------------------------------------------------------
def seq_data(seed: int, dtype: str, gates: int):
    """One-hot tokens x (3, 5, 4), labels (3,), h0 (3, 3) [, c0], wx (4, gates·3),
    wh (3, gates·3), b (gates·3,), w (3, 3), c (3,)."""
    rng = np.random.default_rng([seed, 7, gates])
    n, t, v, h = 3, 5, 4, 3
    x = np.eye(v)[rng.integers(0, v, (n, t))]
    states = [0.5 * rng.standard_normal((n, h)) for _ in range(1 if gates == 1 else 2)]
    ws = [rng.standard_normal((v, gates * h)) / np.sqrt(v),
          rng.standard_normal((h, gates * h)) / np.sqrt(h), 0.3 * rng.standard_normal(gates * h),
          0.5 * rng.standard_normal((h, CLASSES)), 0.1 * rng.standard_normal(CLASSES)]
    y = rng.integers(0, CLASSES, n)
    return (x.astype(dtype), y, *(a.astype(dtype) for a in (*states, *ws)))


@pytest.mark.parametrize("ref,dtype", _params())
def test_rnn_classifier(ref: str, dtype: str, impl_module, seed, device):
    """dx, dh0, dWx, dWh, db of the rnn and dW, dc of the head: backprop through time."""
    r = use_reference(ref, device)
    rnn_f, rnn_b, dense_f, dense_b, sce_b = _impl(
        impl_module, "rnn", "rnn_backward", "dense", "dense_backward",
        "softmax_cross_entropy_backward")
    inputs = seq_data(seed, dtype, 1)
    x, y, h0, wx, wh, b, w, c = inputs
    hs = call_impl(rnn_f, x, h0, wx, wh, b)
    last = hs[:, -1]
    dlast, dw, dc = call_impl(dense_b, call_impl(sce_b, np.asarray(1.0, dtype),
                                                 call_impl(dense_f, last, w, c), y), last, w, c)
    dhs = np.zeros_like(hs)
    dhs[:, -1] = dlast
    grads = call_impl(rnn_b, dhs, x, h0, wx, wh, b)
    expected = _vjp(r, "rnn classifier", rnn_classifier, inputs, [0, 2, 3, 4, 5, 6, 7])
    _compare([*grads, dw, dc], expected, ["dx", "dh0", "dWx", "dWh", "db", "dW", "dc"], ref,
             dtype, f"one-hot x {x.shape} → rnn → dense(last) → sce, dtype {dtype}, seed {seed}")


@pytest.mark.parametrize("ref,dtype", _params())
def test_lstm_classifier(ref: str, dtype: str, impl_module, seed, device):
    """dx, dh0, dc0, dWx, dWh, db of lstm_step unrolled over T, and the head's dW, dc."""
    r = use_reference(ref, device)
    step, step_b, dense_f, dense_b, sce_b = _impl(
        impl_module, "lstm_step", "lstm_step_backward", "dense", "dense_backward",
        "softmax_cross_entropy_backward")
    inputs = seq_data(seed, dtype, 4)
    x, y, h0, c0, wx, wh, b, w, c = inputs
    hs, cs = [h0], [c0]
    for t in range(x.shape[1]):
        h, cell = call_impl(step, x[:, t], hs[-1], cs[-1], wx, wh, b)
        hs.append(h)
        cs.append(cell)
    dh, dw, dc = call_impl(dense_b, call_impl(sce_b, np.asarray(1.0, dtype),
                                              call_impl(dense_f, hs[-1], w, c), y), hs[-1], w, c)
    dcell = np.zeros_like(c0)
    dx = np.zeros_like(x)
    dwx, dwh, db = np.zeros_like(wx), np.zeros_like(wh), np.zeros_like(b)
    for t in reversed(range(x.shape[1])):  # backprop through time: carry dh and dc
        dx[:, t], dh, dcell, gwx, gwh, gb = call_impl(step_b, (dh, dcell), x[:, t], hs[t],
                                                      cs[t], wx, wh, b)
        dwx += gwx
        dwh += gwh
        db += gb
    expected = _vjp(r, "lstm classifier", lstm_classifier, inputs, [0, 2, 3, 4, 5, 6, 7, 8])
    _compare([dx, dh, dcell, dwx, dwh, db, dw, dc], expected,
             ["dx", "dh0", "dc0", "dWx", "dWh", "db", "dW", "dc"], ref, dtype,
             f"one-hot x {x.shape} → lstm_step × {x.shape[1]} → dense(h_T) → sce, dtype {dtype}, "
             f"seed {seed}")
