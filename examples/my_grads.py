"""A user's own gradient formulas, with one deliberate mistake.

Everything comes from impl except the two functions below; the suite verifies this module in
impl's place:

    python -m pytest --impl examples/my_grads.py -k "softmax_cross_entropy or sigmoid"

sigmoid_backward is right. softmax_cross_entropy_backward forgets the mean's 1/N (Park,
Theorem 6.1 gives δ = o − y for ONE sample), so its cases fail with a clean factor N.
"""

import numpy as np

from gradverify.impl import *  # noqa: F403
from gradverify.impl import sigmoid, softmax


def sigmoid_backward(grad_out, z):
    """σ'(z) = σ(z)(1 − σ(z))."""
    s = sigmoid(z)
    return grad_out * s * (1 - s)


def softmax_cross_entropy_backward(grad_out, logits, y_true, reduction="mean"):
    """(softmax(z) − y), without the 1/N: the deliberate mistake."""
    if np.issubdtype(np.asarray(y_true).dtype, np.integer):
        y_true = np.eye(logits.shape[-1], dtype=logits.dtype)[y_true]
    return grad_out * (softmax(logits) - y_true)
