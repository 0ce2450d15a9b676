"""Activation objects, wrong: obj_act_right.py with ELU's gradient adding 1 where it adds
alpha (right for the default alpha = 1 only: caught because alpha reaches the constructor)."""

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
        return np.where(x > 0.0, 1, self(x) + 1).astype(x.dtype)  # the mistake: + 1


class Sigmoid:
    def __call__(self, x):
        return np.exp(-np.logaddexp(0, -x))  # 1 / (1 + e^-x) without overflow

    def gradient(self, s):
        return s * (1 - s)


leaky_relu, leaky_relu_backward = activation(LeakyReLU, params={"negative_slope": "alpha"},
                                             defaults="leaky_relu")
elu, elu_backward = activation(ELU, defaults="elu")
sigmoid, sigmoid_backward = activation(Sigmoid, of="output")
