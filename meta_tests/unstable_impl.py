"""Formulas right in the middle of the domain that overflow at the edges (for meta-tests)."""

import numpy as np

from gradverify.impl import *  # noqa: F403


def softmax(z, axis=-1):
    """softmax without the max shift: exp(1000) overflows to inf, inf/inf is NaN."""
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def softmax_backward(grad_out, z, axis=-1):
    s = softmax(z, axis)
    return (grad_out - (grad_out * s).sum(axis=axis, keepdims=True)) * s


def bce_with_logits(logits, y_true, reduction="mean"):
    """BCE through log(sigmoid(z)): log(0) = -inf once sigmoid underflows at z = -1000."""
    s = 1 / (1 + np.exp(-logits))
    terms = -(y_true * np.log(s) + (1 - y_true) * np.log(1 - s))
    return terms.mean() if reduction == "mean" else terms.sum()
