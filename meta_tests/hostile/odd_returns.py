"""Odd returns: each function returns something that is not an array of the right kind;
relu and relu_backward are right."""

import numpy as np

from gradverify.impl import relu, relu_backward  # noqa: F401


def sigmoid(z):
    return (1.0 / (1.0 + np.exp(-z))).tolist()  # a Python list


def sigmoid_backward(g, z):
    s = 1.0 / (1.0 + np.exp(-z))
    g * s * (1.0 - s)  # forgot the return: None


def tanh(z):
    return (np.tanh(v) for v in z)  # a generator


def tanh_backward(g, z):
    return np.asarray(np.sum(g * (1.0 - np.tanh(z) ** 2)))  # a 0-d array for a vector op


def softplus(z):
    return np.logaddexp(0.0, z).astype(np.float16)


def softplus_backward(g, z):
    return (g / (1.0 + np.exp(-z))).astype(np.complex128)


def elu(z, alpha=1.0):
    return np.array([object()] * z.size, dtype=object).reshape(z.shape)


class Unbuildable(Exception):
    def __init__(self, a, b):
        super().__init__(a, b)

    def __str__(self):
        raise RuntimeError("no str either")


def elu_backward(g, z, alpha=1.0):
    raise Unbuildable(1, 2)


def dense(x, w, b):
    return x @ w + b


def dense_backward(g, x, w, b):
    return g @ w.T, x.T @ g  # two gradients for three inputs
