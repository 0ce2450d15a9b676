"""Per-element losses, right: ML-From-Scratch style ``loss(y, p)`` and ``gradient(y, p)``
with the targets first (SquareLoss: ½(y − p)², so the catalog's l2; CrossEntropy: the binary
cross-entropy), and a pair with the predictions first (squared error, the catalog's mse)."""

import numpy as np

from gradverify.adapters import elementwise_loss


class SquareLoss:
    def loss(self, y, y_pred):
        return 0.5 * np.power(y - y_pred, 2)

    def gradient(self, y, y_pred):
        return -(y - y_pred)


class CrossEntropy:
    def loss(self, y, p):
        with np.errstate(divide="ignore"):  # log(0) = -inf, clamped at -100 as torch does
            log_p, log_q = np.maximum(np.log(p), -100), np.maximum(np.log1p(-p), -100)
        return -y * log_p - (1 - y) * log_q

    def gradient(self, y, p):
        return (p - y) / np.maximum(p * (1 - p), 1e-12)  # -y/p + (1 - y)/(1 - p)


def squared_error(pred, target):
    return (pred - target) ** 2


def squared_error_gradient(pred, target):
    return 2 * (pred - target)


l2, l2_backward = elementwise_loss(SquareLoss().loss, SquareLoss().gradient,
                                   order="targets_first", mean_over="rows")
bce, bce_backward = elementwise_loss(CrossEntropy().loss, CrossEntropy().gradient,
                                     order="targets_first")
mse, mse_backward = elementwise_loss(squared_error, squared_error_gradient,
                                     order="predictions_first")
