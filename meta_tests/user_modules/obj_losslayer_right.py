"""Loss layers, right: "Deep Learning from Scratch"-style ``SoftmaxWithLoss`` and
``SigmoidWithLoss``: ``forward(x, t)`` takes the labels, ``backward(dout=1)`` scales by dout."""

import numpy as np

from gradverify.adapters import loss_layer


def _log_softmax(x):
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


class SoftmaxWithLoss:
    """Mean cross-entropy of softmax(x) against one-hot rows or integer labels t."""

    def forward(self, x, t):
        log_y = _log_softmax(x)
        self.y = np.exp(log_y)
        self.t = t if t.shape == x.shape else np.eye(x.shape[-1], dtype=x.dtype)[t]
        self.batch = x.shape[0] if x.ndim == 2 else 1
        return -np.sum(self.t * log_y) / self.batch

    def backward(self, dout=1):
        return dout * (self.y - self.t) / self.batch


class SigmoidWithLoss:
    """Mean binary cross-entropy of sigmoid(x) against soft targets t, over all elements."""

    def forward(self, x, t):
        self.x, self.t = x, t
        self.y = np.exp(-np.logaddexp(0, -x))  # sigmoid, without overflow
        return np.mean(np.logaddexp(0, x) - t * x)

    def backward(self, dout=1):
        return dout * (self.y - self.t) / self.x.size


softmax_cross_entropy, softmax_cross_entropy_backward = loss_layer(
    SoftmaxWithLoss, fixed={"reduction": "mean"})
bce_with_logits, bce_with_logits_backward = loss_layer(SigmoidWithLoss,
                                                       fixed={"reduction": "mean"})
