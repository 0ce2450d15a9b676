"""Right formulas for a part of the catalog's cases, and a module that says so.

- ``bce`` sums over the batch only: ``GRADVERIFY_SUPPORTS`` says ``reduction in ["sum"]``, so
  the cases that use impl's default (``reduction="mean"``) are not supported, never wrong;
- ``mse`` is written for the sum only and wrapped with ``fixed={"reduction": "sum"}``: the
  adapter's fixed value applies to the default too;
- ``softmax`` has no backward yet: ``softmax_backward`` raises ``NotImplementedError``.
"""

import numpy as np

from gradverify.adapters import loss_with_grad


def bce(p, t, reduction="sum"):
    return -np.sum(t * np.log(p) + (1 - t) * np.log1p(-p))


def bce_backward(g, p, t, reduction="sum"):
    return g * (p - t) / (p * (1 - p))


def _squared_error(pred, target):
    diff = pred - target
    return np.sum(diff**2), 2 * diff


mse, mse_backward = loss_with_grad(_squared_error, fixed={"reduction": "sum"})


def softmax(z, axis=-1):
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def softmax_backward(g, z, axis=-1):
    raise NotImplementedError("softmax_backward: not written yet")


GRADVERIFY_SUPPORTS = {"bce": {"reduction": ["sum"]}}
