"""Per-element losses with a separate gradient (ML-From-Scratch style): ``loss(y, p)`` and
``gradient(y, p)``, the targets first, no reduction; the adapter declares the argument order
and reduces (a mean over rows for ½‖p − y‖², the catalog's l2).

One deliberate mistake: SquareLoss.gradient returns y − p, the derivative of ½(y − p)² with
respect to y, not p: the sign.
"""

import numpy as np


class SquareLoss:
    def loss(self, y, y_pred):
        return 0.5 * np.power(y - y_pred, 2)

    def gradient(self, y, y_pred):
        return y - y_pred  # the mistake: -(y - y_pred)


class AbsoluteLoss:
    """Written predictions first."""

    def loss(self, y_pred, y):
        return np.abs(y_pred - y)

    def gradient(self, y_pred, y):
        return np.sign(y_pred - y)


# -- exposing them to gradverify ---------------------------------------------------------------
from gradverify.adapters import elementwise_loss  # noqa: E402

l2, l2_backward = elementwise_loss(SquareLoss().loss, SquareLoss().gradient,
                                   order="targets_first", mean_over="rows")
mae, mae_backward = elementwise_loss(AbsoluteLoss().loss, AbsoluteLoss().gradient,
                                     order="predictions_first")
