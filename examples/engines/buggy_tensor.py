"""The classic bug of a tensor engine: ``tensor_engine.Tensor`` with ``_unbroadcast`` replaced."""

from __future__ import annotations

import numpy as np

from examples.engines.tensor_engine import Tensor


class BroadcastWrong(Tensor):
    """The classic tensor-engine bug: the gradient of a broadcast operand is summed over the
    trailing axes instead of the leading axes NumPy added ((3,) + (2, 3): Σ over axis −1)."""

    @staticmethod
    def _unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        while grad.ndim > len(shape):
            grad = grad.sum(axis=-1)
        axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
        return grad.sum(axis=axes, keepdims=True)
