"""Shape (4): activations that give their derivative, ``grad``, instead of a backward pass;
the caller multiplies it by the upstream gradient.

One deliberate mistake: Softplus.grad returns σ(−z) instead of σ(z).
"""

import numpy as np


class Sigmoid:
    def __call__(self, z):
        return 1 / (1 + np.exp(-z))

    def grad(self, s):
        """In terms of the output: σ'(z) = s(1 − s)."""
        return s * (1 - s)


class Tanh:
    def __call__(self, z):
        return np.tanh(z)

    def grad(self, z):
        return 1 - np.tanh(z) ** 2


class Softplus:
    def __call__(self, z):
        return np.logaddexp(0, z)

    def grad(self, z):
        return 1 / (1 + np.exp(z))  # the mistake: the sign of z


# -- exposing them to gradverify ---------------------------------------------------------------
from gradverify.adapters import derivative  # noqa: E402

sigmoid, sigmoid_backward = derivative(Sigmoid(), Sigmoid().grad, of="output")
tanh, tanh_backward = derivative(Tanh(), Tanh().grad)
softplus, softplus_backward = derivative(Softplus(), Softplus().grad)
