"""A small correct NumPy tensor autograd engine: ``Tensor(array)`` with ``.data``, ``.grad``
(zeros of the data's shape), NumPy broadcasting in every binary op, ``@`` and ``sum()``.

The gradient of an operand that was broadcast is summed back to its shape by ``_unbroadcast``:
over the leading axes NumPy added, and (keeping them) over the axes of size 1.
``backward()`` seeds the output with ones (the gradient of ``out.sum()``), resets intermediate
nodes and accumulates into the leaves, like PyTorch.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


class Tensor:
    """An array with a gradient of the same shape."""

    def __init__(self, data: object, _prev: tuple[Tensor, ...] = ()) -> None:
        self.data = np.asarray(data, dtype=np.float64)
        self.grad = np.zeros_like(self.data)
        self._prev = _prev
        self._backward: Callable[[], None] = lambda: None

    @staticmethod
    def _unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        """Sum ``grad`` down to ``shape``: Σ over the added leading axes, then over size-1 axes."""
        grad = grad.sum(axis=tuple(range(grad.ndim - len(shape))))
        axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
        return grad.sum(axis=axes, keepdims=True)

    def _lift(self, other: Tensor | float) -> Tensor:
        return other if isinstance(other, Tensor) else type(self)(other)

    def _op(self, data: np.ndarray, parts: tuple[tuple[Tensor, Callable], ...]) -> Tensor:
        """A node whose operand ``t`` receives ``local(out.grad)`` summed to its shape."""
        out = type(self)(data, tuple(t for t, _ in parts))

        def _backward() -> None:
            for t, local in parts:
                t.grad = t.grad + self._unbroadcast(local(out.grad), t.data.shape)
        out._backward = _backward
        return out

    def __add__(self, other: Tensor | float) -> Tensor:
        o = self._lift(other)
        return self._op(self.data + o.data, ((self, lambda g: g), (o, lambda g: g)))

    def __mul__(self, other: Tensor | float) -> Tensor:
        o = self._lift(other)
        return self._op(self.data * o.data,
                        ((self, lambda g: g * o.data), (o, lambda g: g * self.data)))

    def __truediv__(self, other: Tensor | float) -> Tensor:
        """d(a/b) = da/b − a·db/b²."""
        o = self._lift(other)
        return self._op(self.data / o.data, ((self, lambda g: g / o.data),
                                             (o, lambda g: -g * self.data / o.data ** 2)))

    def __pow__(self, k: float) -> Tensor:
        return self._op(self.data ** k, ((self, lambda g: g * k * self.data ** (k - 1)),))

    def __matmul__(self, other: Tensor) -> Tensor:
        """d(A@B) = dC Bᵀ for A, Aᵀ dC for B."""
        return self._op(self.data @ other.data, ((self, lambda g: g @ other.data.T),
                                                 (other, lambda g: self.data.T @ g)))

    def sum(self) -> Tensor:
        return self._op(np.asarray(self.data.sum()),
                        ((self, lambda g: np.broadcast_to(g, self.data.shape)),))

    def _unary(self, value: np.ndarray, local: np.ndarray) -> Tensor:
        return self._op(value, ((self, lambda g: g * local),))

    def tanh(self) -> Tensor:
        t = np.tanh(self.data)
        return self._unary(t, 1 - t * t)

    def exp(self) -> Tensor:
        e = np.exp(self.data)
        return self._unary(e, e)

    def log(self) -> Tensor:
        return self._unary(np.log(self.data), 1 / self.data)

    def sigmoid(self) -> Tensor:
        s = 1 / (1 + np.exp(-self.data))
        return self._unary(s, s * (1 - s))

    def relu(self) -> Tensor:
        return self._unary(np.maximum(self.data, 0), (self.data > 0).astype(np.float64))

    def __neg__(self) -> Tensor:
        return self * -1.0

    def __sub__(self, other: Tensor | float) -> Tensor:
        return self + (-self._lift(other))

    def __radd__(self, other: float) -> Tensor:
        return self + other

    def __rmul__(self, other: float) -> Tensor:
        return self * other

    def __rsub__(self, other: float) -> Tensor:
        return self._lift(other) - self

    def __rtruediv__(self, other: float) -> Tensor:
        return self._lift(other) / self

    def backward(self) -> None:
        order: list[Tensor] = []
        seen: set[int] = set()

        def visit(t: Tensor) -> None:
            if id(t) not in seen:
                seen.add(id(t))
                for p in t._prev:
                    visit(p)
                order.append(t)
        visit(self)
        for t in order:
            if t._prev:
                t.grad = np.zeros_like(t.data)
        self.grad = np.ones_like(self.data)
        for t in reversed(order):
            t._backward()

