"""Odd returns: a torch tensor and a jax array instead of numpy arrays; relu is right."""

import numpy as np

from gradverify.impl import relu, relu_backward  # noqa: F401


def sigmoid(z):
    import torch

    return torch.sigmoid(torch.as_tensor(z))


def sigmoid_backward(g, z):
    import jax.numpy as jnp

    s = 1.0 / (1.0 + np.exp(-z))
    return jnp.asarray(g * s * (1.0 - s))
