"""Shape (1): forward/backward pairs with a cache, as in CS231n's layers.py.

One deliberate mistake: relu_backward forgets to multiply by the upstream gradient dout.
"""

import numpy as np


def affine_forward(x, w, b):
    """Computes the forward pass for an affine (fully connected) layer."""
    out = x.reshape(x.shape[0], w.shape[0]).dot(w) + b
    cache = (x, w, b)
    return out, cache


def affine_backward(dout, cache):
    """Computes the backward pass for an affine layer."""
    x, w, b = cache
    dx = dout.dot(w.T).reshape(x.shape)
    dw = x.reshape(x.shape[0], w.shape[0]).T.dot(dout)
    db = np.sum(dout, axis=0)
    return dx, dw, db


def relu_forward(x):
    """Computes the forward pass for a layer of rectified linear units (ReLUs)."""
    out = np.maximum(0, x)
    cache = x
    return out, cache


def relu_backward(dout, cache):
    """Computes the backward pass for a layer of rectified linear units (ReLUs)."""
    x = cache
    dx = (x > 0).astype(dout.dtype)  # the mistake: dout * (x > 0)
    return dx


# -- exposing them to gradverify ---------------------------------------------------------------
from gradverify.adapters import cache_pair  # noqa: E402

dense, dense_backward = cache_pair(affine_forward, affine_backward)
relu, relu_backward = cache_pair(relu_forward, relu_backward)
