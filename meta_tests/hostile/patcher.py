"""Hostile: relu_backward patches numpy.exp and impl's sigmoid when called (the suite's finite
differences use impl's forwards); its own sigmoid kept the real exp and is right."""

import numpy as np

_exp = np.exp


def sigmoid(z):
    return 1.0 / (1.0 + _exp(-z))


def sigmoid_backward(g, z):
    s = sigmoid(z)
    return g * s * (1.0 - s)


def relu(x):
    return np.maximum(x, 0)


def relu_backward(g, x):
    np.exp = lambda x, *args, **kwargs: np.zeros_like(x)
    import gradverify.impl.activations

    # impl's sigmoid: what finite differences use
    gradverify.impl.activations._sigmoid = np.zeros_like
    return g * (x > 0)
