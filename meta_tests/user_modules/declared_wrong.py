"""declared_right.py with swish's derivative missing the β of its second term."""

import numpy as np

import gradverify
from gradverify.opspec import normal


def swish(x, beta=1.0):
    return x / (1 + np.exp(-beta * x))


def swish_backward(g, x, beta=1.0):
    s = 1 / (1 + np.exp(-beta * x))
    return g * (s + x * s * (1 - s))  # the mistake: no beta


def scaled_tanh(x, a):
    return a * np.tanh(x)


def scaled_tanh_backward(g, x, a):
    t = np.tanh(x)
    return g * a * (1 - t**2), (g * t).sum(axis=0)


def _torch_swish(x, beta=1.0):
    import torch

    return x * torch.sigmoid(beta * x)


def _autograd_swish(x, beta=1.0):
    import autograd.numpy as anp

    return x / (1 + anp.exp(-beta * x))


def _scaled_tanh_inputs(rng, shape, dtype, params):
    return normal(rng, shape, dtype), normal(rng, shape[1:], dtype)


GRADVERIFY_OPS = [
    {"name": "swish", "inputs": ["normal"], "shapes": [(5,), (3, 4)],
     "params": [{}, {"beta": 2.0}], "torch": _torch_swish, "autograd": _autograd_swish},
    gradverify.OpSpec("scaled_tanh", "declared", _scaled_tanh_inputs, ((3, 2),),
                      argnums=(0, 1)),
]


def mse(y, t, reduction="mean"):
    return np.mean((y - t) ** 2) if reduction == "mean" else np.sum((y - t) ** 2)


def mse_backward(g, y, t, reduction="mean"):
    return g * 2 * (y - t) / (y.size if reduction == "mean" else 1)


GRADVERIFY_SUPPORTS = {"*": {"ndim": [2]}}
