"""The classic bugs of a scalar engine, one class each: ``micrograd.Value`` with one method
replaced (every op of the base class returns ``type(self)``, so the bug spreads to the graph).
"""

from __future__ import annotations

import math

from examples.engines.micrograd import Value


class Overwrite(Value):
    """Gradients assigned instead of accumulated: ``self.grad = ...`` in ``+`` and ``*``, so a
    node used twice (``a * a``, ``a + a``) keeps only its last contribution."""

    def __add__(self, other: Value | float) -> Value:
        other = self._lift(other)
        out = self._new(self.data + other.data, self, other)

        def _backward() -> None:
            self.grad = out.grad
            other.grad = out.grad
        out._backward = _backward
        return out

    def __mul__(self, other: Value | float) -> Value:
        other = self._lift(other)
        out = self._new(self.data * other.data, self, other)

        def _backward() -> None:
            self.grad = other.data * out.grad
            other.grad = self.data * out.grad
        out._backward = _backward
        return out


class PowWrong(Value):
    """``__pow__``'s local derivative is k·x^k instead of k·x^(k−1)."""

    def __pow__(self, k: float) -> Value:
        return self._unary(self.data ** k, k * self.data ** k)


class TanhWrong(Value):
    """tanh' written as 1 − tanh instead of 1 − tanh²."""

    def tanh(self) -> Value:
        t = math.tanh(self.data)
        return self._unary(t, 1 - t)


class ReluAtZero(Value):
    """relu'(0) = 1 (``x >= 0``): a convention, not a bug; any value in [0, 1] is a valid
    subgradient at the kink (torch and jax use 0)."""

    def relu(self) -> Value:
        return self._unary(max(self.data, 0.0), float(self.data >= 0))


class StaleBackward(Value):
    """``backward()`` does not reset the intermediate nodes (as the lecture's original
    engine): a second call on the same graph adds their stale gradients again."""

    def backward(self) -> None:
        order = self._topo()
        self.grad = 1.0
        for v in reversed(order):
            v._backward()
