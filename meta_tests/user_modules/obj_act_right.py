"""Activation objects, right: ML-From-Scratch style, hyper-parameters in the constructor
(``LeakyReLU(alpha)``, ``ELU(alpha)``) and ``gradient(x)`` the elementwise derivative.
The constructors' own defaults (0.2, 0.1) differ from the catalog's (torch's 0.01 and 1.0):
``defaults=`` passes the catalog's."""

import numpy as np

from gradverify.adapters import activation


class LeakyReLU:
    def __init__(self, alpha=0.2):
        self.alpha = alpha

    def __call__(self, x):
        return np.where(x > 0, x, self.alpha * x)

    def gradient(self, x):
        return np.where(x > 0, 1, self.alpha).astype(x.dtype)


class ELU:
    def __init__(self, alpha=0.1):
        self.alpha = alpha

    def __call__(self, x):
        return np.where(x > 0.0, x, self.alpha * np.expm1(x))

    def gradient(self, x):
        return np.where(x > 0.0, 1, self(x) + self.alpha).astype(x.dtype)


class Sigmoid:
    def __call__(self, x):
        return np.exp(-np.logaddexp(0, -x))  # 1 / (1 + e^-x) without overflow

    def gradient(self, s):
        return s * (1 - s)


leaky_relu, leaky_relu_backward = activation(LeakyReLU, params={"negative_slope": "alpha"},
                                             defaults="leaky_relu")
elu, elu_backward = activation(ELU, defaults="elu")
sigmoid, sigmoid_backward = activation(Sigmoid, of="output")
