"""Shape (4), wrong: deriv_right.py with tanh' = 1 − z² of the input."""

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
        return 1 - z**2  # the mistake: 1 − tanh² written with the input


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
