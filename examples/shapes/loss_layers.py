"""Loss layers ("Deep Learning from Scratch", d2l, CS231n): the labels go to ``forward(x, t)``,
and ``backward(dout=1)`` takes an upstream gradient that defaults to 1.

One deliberate mistake: SoftmaxWithLoss.backward ignores dout. A network's last layer is
always called with dout = 1, so training works; the suite passes a random dout and catches it.
"""

import numpy as np


class SoftmaxWithLoss:
    """Mean cross-entropy of softmax(x) against one-hot rows or integer labels t."""

    def forward(self, x, t):
        shifted = x - x.max(axis=1, keepdims=True)
        log_y = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        self.y = np.exp(log_y)
        self.t = t if t.shape == x.shape else np.eye(x.shape[1], dtype=x.dtype)[t]
        return -np.sum(self.t * log_y) / x.shape[0]

    def backward(self, dout=1):
        batch_size = self.t.shape[0]
        return (self.y - self.t) / batch_size  # the mistake: dout * (self.y - self.t) / ...


class MeanSquaredLoss:
    def forward(self, y, t):
        self.diff = y - t
        return np.mean(self.diff**2)

    def backward(self, dout=1):
        return dout * 2 * self.diff / self.diff.size


# -- exposing them to gradverify ---------------------------------------------------------------
from gradverify.adapters import loss_layer  # noqa: E402

softmax_cross_entropy, softmax_cross_entropy_backward = loss_layer(
    SoftmaxWithLoss, fixed={"reduction": "mean"})
mse, mse_backward = loss_layer(MeanSquaredLoss, fixed={"reduction": "mean"})
GRADVERIFY_SUPPORTS = {"softmax_cross_entropy": {"ndim": [2]}}  # samples in rows
