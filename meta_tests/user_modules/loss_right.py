"""Shape (5), right: losses returning ``(loss, dscores)``, averaging over the batch, with
integer labels and samples in rows only (the rest is declared not supported)."""

import numpy as np

from gradverify.adapters import loss_with_grad


def softmax_loss(x, y):
    shifted = x - x.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    n = x.shape[0]
    loss = -log_probs[np.arange(n), y].mean()
    dx = np.exp(log_probs)
    dx[np.arange(n), y] -= 1
    dx /= n
    return loss, dx


def mse_loss(pred, target):
    diff = pred - target
    return np.mean(diff**2), 2 * diff / diff.size


softmax_cross_entropy, softmax_cross_entropy_backward = loss_with_grad(
    softmax_loss, fixed={"reduction": "mean"})
mse, mse_backward = loss_with_grad(mse_loss, fixed={"reduction": "mean"})

GRADVERIFY_SUPPORTS = {"softmax_cross_entropy": {"variant": ["int_labels"], "ndim": [2]}}
