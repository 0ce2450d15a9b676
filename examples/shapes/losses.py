"""Shape (5): losses that return ``(loss, dscores)``, the gradient computed with the loss.

One deliberate mistake: mse_loss averages over all elements in the loss but divides its
gradient by the number of samples only.
"""

import numpy as np


def softmax_loss(x, y):
    """Softmax cross-entropy for scores x (N, C) and integer labels y (N,)."""
    shifted = x - np.max(x, axis=1, keepdims=True)
    log_probs = shifted - np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))
    N = x.shape[0]
    loss = -np.sum(log_probs[np.arange(N), y]) / N
    dx = np.exp(log_probs)
    dx[np.arange(N), y] -= 1
    dx /= N
    return loss, dx


def mse_loss(pred, target):
    diff = pred - target
    loss = np.mean(diff**2)
    dpred = 2 * diff / pred.shape[0]  # the mistake: / diff.size
    return loss, dpred


# -- exposing them to gradverify ---------------------------------------------------------------
from gradverify.adapters import loss_with_grad  # noqa: E402

softmax_cross_entropy, softmax_cross_entropy_backward = loss_with_grad(
    softmax_loss, fixed={"reduction": "mean"})
mse, mse_backward = loss_with_grad(mse_loss, fixed={"reduction": "mean"})
GRADVERIFY_SUPPORTS = {"softmax_cross_entropy": {"variant": ["int_labels"]}, "*": {"ndim": [2]}}
