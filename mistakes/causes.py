"""Mistakes whose diagnosis names the cause (``gradverify.diagnose_causes``): an ignored
upstream gradient, swapped arguments, an ε inside a log, a wrong forward under a backward,
several wrong gradients of one layer, errors where the expected value is 0."""

from __future__ import annotations

import numpy as np

from . import mistake


@mistake("mse_backward", "classic (a loss's backward written as the loss's derivative alone)",
         "The upstream gradient is ignored: 2(ŷ − y)/N instead of g·2(ŷ − y)/N, right only "
         "when the loss is the last node and g = 1.")
def mse_backward_no_upstream(grad_out, y_pred, y_true, reduction="mean"):
    n = y_pred.size if reduction == "mean" else 1
    return (2 * (y_pred - y_true) / n).astype(y_pred.dtype)


@mistake("tanh_backward", "classic (the signature written as backward(z, grad_out))",
         "The arguments are swapped: the backward is defined as tanh_backward(z, grad_out), "
         "so the suite's call tanh_backward(g, z) computes z·(1 − tanh(g)²).")
def tanh_backward_args_swapped(z, grad_out):
    return grad_out * (1 - np.tanh(z) ** 2)


@mistake("cross_entropy_backward", "classic (log(p + 1e-7) against log(0))",
         "An ε inside the log: the derivative of −y·log(p + ε), −y/(p + ε), instead of −y/p: "
         "wrong by ε/p, which float64 cases see.")
def cross_entropy_eps_in_log(grad_out, probs, y_true, reduction="mean"):
    n = probs.shape[0] if probs.ndim > 1 and reduction == "mean" else 1
    return (-grad_out * y_true / (probs + 1e-7) / n).astype(probs.dtype)


def _elu_alpha_ignored(z, alpha=1.0):
    """elu with alpha = 1 whatever alpha is (the forward of the pair below)."""
    return np.where(z > 0, z, np.expm1(np.minimum(z, 0))).astype(z.dtype)


@mistake("elu_backward", "classic (a parameter dropped in both directions)",
         "alpha is ignored in the forward and the backward alike (alpha = 1 hard-coded): the "
         "backward is the derivative of a wrong forward.", also=(("elu", _elu_alpha_ignored),))
def elu_alpha_ignored_everywhere(grad_out, z, alpha=1.0):
    return (grad_out * np.where(z > 0, 1.0, np.exp(np.minimum(z, 0)))).astype(z.dtype)


@mistake("batchnorm_backward", "classic (dgamma and dbeta returned in the wrong order)",
         "The backward returns (dx, dβ, dγ) instead of (dx, dγ, dβ): two wrong gradients, one "
         "right.")
def batchnorm_dgamma_dbeta_swapped(grad_out, x, gamma, beta, eps=1e-5):
    from gradverify.impl import batchnorm_backward

    dx, dgamma, dbeta = batchnorm_backward(grad_out, x, gamma, beta, eps)
    return dx, dbeta, dgamma


@mistake("dropout_backward", "classic (the mask forgotten in the backward)",
         "Dropout's backward scales by 1/(1 − p) but forgets the mask: the dropped elements, "
         "whose gradient is 0, get g/(1 − p).")
def dropout_backward_no_mask(grad_out, x, mask, p=0.5):
    return (grad_out / (1 - p)).astype(x.dtype)
