"""Batch norm with Bessel's correction (the unbiased variance, as torch.var's default), forward
and backward, declared: a known variant of the op, checked against that variant.

    x̂ = (x − μ)/s,  s² = Σ(x − μ)²/(M − 1) + eps,  y = γ·x̂ + β
    dx = γ/s · (g − Σg/M − x̂·Σ(g·x̂)/(M − 1)),  dγ = Σ g·x̂,  dβ = Σ g
"""

import numpy as np

GRADVERIFY_VARIANTS = {"batchnorm": "bessel"}


def _stats(x, eps):
    axes = (0, *range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    m = x.size // x.shape[1]
    xc = x - x.mean(axis=axes, keepdims=True)
    s = np.sqrt((xc * xc).sum(axis=axes, keepdims=True) / (m - 1) + eps)
    return axes, shape, m, xc / s, s


def batchnorm(x, gamma, beta, eps=1e-5):
    _, shape, _, xhat, _ = _stats(x, eps)
    return xhat * gamma.reshape(shape) + beta.reshape(shape)


def batchnorm_backward(grad_out, x, gamma, beta, eps=1e-5):
    axes, shape, m, xhat, s = _stats(x, eps)
    dbeta = grad_out.sum(axis=axes)
    dgamma = (grad_out * xhat).sum(axis=axes)
    dx = gamma.reshape(shape) / s * (grad_out - dbeta.reshape(shape) / m
                                     - xhat * dgamma.reshape(shape) / (m - 1))
    return dx, dgamma, dbeta
