"""Small convolutional and recurrent networks built from any reference's own ops.

Each builder returns f(…) → scalar loss in the reference's framework (torch, jax, autograd,
or impl's forwards for finite differences), so the reference's generic ``vjp`` differentiates
the whole network. tests/test_nets_conv.py chains impl's backward formulas through the same
networks and compares.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .base import Reference

#: the CNN's layer parameters (shared with the test's impl side)
CNN = {"conv1": {"stride": 1, "padding": 0}, "pool1": {"kernel_size": 2},
       "conv2": {"stride": 1, "padding": 1}, "pool2": {"kernel_size": 3}}


def cnn(ref: Reference) -> Callable[..., Any]:
    """J(x, y, w1, b1, w2, b2, w3, b3) = sce(dense(flatten(avg_pool(relu(conv(max_pool(relu(
    conv(x, w1, b1))), w2, b2)))), w3, b3), y), mean over the batch, integer labels y."""
    o = ref.ops

    def f(x: Any, y: Any, w1: Any, b1: Any, w2: Any, b2: Any, w3: Any, b3: Any) -> Any:
        a = o["max_pool2d"](o["relu"](o["conv2d"](x, w1, b1, **CNN["conv1"])), **CNN["pool1"])
        a = o["avg_pool2d"](o["relu"](o["conv2d"](a, w2, b2, **CNN["conv2"])), **CNN["pool2"])
        return o["softmax_cross_entropy"](o["dense"](a.reshape(a.shape[0], -1), w3, b3), y)

    return f


def rnn_classifier(ref: Reference) -> Callable[..., Any]:
    """J(x, y, h0, wx, wh, b, w, c) = sce(dense(rnn(x, h0, wx, wh, b)[:, −1], w, c), y)."""
    o = ref.ops

    def f(x: Any, y: Any, h0: Any, wx: Any, wh: Any, b: Any, w: Any, c: Any) -> Any:
        return o["softmax_cross_entropy"](o["dense"](o["rnn"](x, h0, wx, wh, b)[:, -1], w, c), y)

    return f


def lstm_classifier(ref: Reference) -> Callable[..., Any]:
    """J(x, y, h0, c0, wx, wh, b, w, c) = sce(dense(h_T, w, c), y), (h_t, c_t) =
    lstm_step(x[:, t], h_{t−1}, c_{t−1}, wx, wh, b) unrolled over T."""
    o = ref.ops

    def f(x: Any, y: Any, h0: Any, c0: Any, wx: Any, wh: Any, b: Any, w: Any, c: Any) -> Any:
        h, cell = h0, c0
        for t in range(x.shape[1]):
            h, cell = o["lstm_step"](x[:, t], h, cell, wx, wh, b)
        return o["softmax_cross_entropy"](o["dense"](h, w, c), y)

    return f
