"""Activation objects with their hyper-parameters in the constructor (ML-From-Scratch style):
``LeakyReLU(alpha)(x)`` and ``LeakyReLU(alpha).gradient(x)``, the elementwise derivative.
Their own defaults (alpha 0.2 and 0.1) are not torch's (0.01 and 1.0): ``defaults=`` gives the
catalog's value to a case that leaves the parameter at its default.

One deliberate mistake: LeakyReLU.gradient returns 0.01 for x < 0 instead of self.alpha; it is
right at the default slope only, and caught because the op's slope reaches the constructor.
"""

import numpy as np


class LeakyReLU:
    def __init__(self, alpha=0.2):
        self.alpha = alpha

    def __call__(self, x):
        return np.where(x > 0, x, self.alpha * x)

    def gradient(self, x):
        return np.where(x > 0, 1, 0.01).astype(x.dtype)  # the mistake: 0.01, not self.alpha


class ELU:
    def __init__(self, alpha=0.1):
        self.alpha = alpha

    def __call__(self, x):
        return np.where(x > 0, x, self.alpha * np.expm1(x))

    def gradient(self, x):
        return np.where(x > 0, 1, self(x) + self.alpha).astype(x.dtype)


class SoftPlus:
    def __call__(self, x):
        return np.logaddexp(0, x)

    def gradient(self, x):
        return np.exp(-np.logaddexp(0, -x))  # σ(x), without overflow


# -- exposing them to gradverify ---------------------------------------------------------------
from gradverify.adapters import activation  # noqa: E402

leaky_relu, leaky_relu_backward = activation(LeakyReLU, params={"negative_slope": "alpha"},
                                             defaults="leaky_relu")
elu, elu_backward = activation(ELU, defaults="elu")
softplus, softplus_backward = activation(SoftPlus)
