"""Shape (4), right: activations with an elementwise derivative ``grad`` instead of a
backward pass (the caller multiplies by dout)."""

import numpy as np

from gradverify.adapters import derivative


class Sigmoid:
    @staticmethod
    def f(z):
        return 1 / (1 + np.exp(-z))

    @staticmethod
    def grad(s):
        """σ' in terms of the output s = σ(z)."""
        return s * (1 - s)


class Tanh:
    @staticmethod
    def f(z):
        return np.tanh(z)

    @staticmethod
    def grad(z):
        return 1 - np.tanh(z) ** 2


class LeakyReLU:
    @staticmethod
    def f(z, slope=0.01):
        return np.where(z > 0, z, slope * z)

    @staticmethod
    def grad(z, slope=0.01):
        return np.where(z > 0, 1, slope).astype(z.dtype)


sigmoid, sigmoid_backward = derivative(Sigmoid.f, Sigmoid.grad, of="output")
tanh, tanh_backward = derivative(Tanh.f, Tanh.grad)
leaky_relu, leaky_relu_backward = derivative(LeakyReLU.f, LeakyReLU.grad,
                                             params={"negative_slope": "slope"})
