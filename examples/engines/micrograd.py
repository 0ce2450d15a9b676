"""A correct micrograd-style scalar autograd engine (the shape of the best-known lecture's).

``Value(data)`` holds a float, ``.grad`` its gradient, ``._backward`` the local chain rule and
``._prev`` the operands. ``backward()`` sorts the graph topologically, resets every
intermediate node's gradient, seeds the output with 1 and accumulates into the leaves, like
PyTorch: call it twice without zeroing and every leaf holds twice the gradient.

    gradverify.check_engine(Value)      # passes; see buggy_scalar.py for the classic bugs
"""

from __future__ import annotations

import math


class Value:
    """A scalar with a gradient: d(out)/d(self) is accumulated into ``grad``."""

    def __init__(self, data: float, _prev: tuple[Value, ...] = ()) -> None:
        self.data = float(data)
        self.grad = 0.0
        self._prev = _prev
        self._backward = lambda: None

    def _new(self, data: float, *prev: Value) -> Value:
        return type(self)(data, prev)

    def _lift(self, other: Value | float) -> Value:
        return other if isinstance(other, Value) else type(self)(other)

    def __add__(self, other: Value | float) -> Value:
        other = self._lift(other)
        out = self._new(self.data + other.data, self, other)

        def _backward() -> None:
            self.grad += out.grad
            other.grad += out.grad
        out._backward = _backward
        return out

    def __mul__(self, other: Value | float) -> Value:
        other = self._lift(other)
        out = self._new(self.data * other.data, self, other)

        def _backward() -> None:
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad
        out._backward = _backward
        return out

    def __pow__(self, k: float) -> Value:
        """d(x^k)/dx = k·x^(k−1), for a constant exponent k."""
        out = self._new(self.data ** k, self)

        def _backward() -> None:
            self.grad += k * self.data ** (k - 1) * out.grad
        out._backward = _backward
        return out

    def _unary(self, value: float, local: float) -> Value:
        """An elementwise op whose local derivative at self is ``local``."""
        out = self._new(value, self)

        def _backward() -> None:
            self.grad += local * out.grad
        out._backward = _backward
        return out

    def tanh(self) -> Value:
        t = math.tanh(self.data)
        return self._unary(t, 1 - t * t)  # tanh' = 1 − tanh²

    def exp(self) -> Value:
        e = math.exp(self.data)
        return self._unary(e, e)

    def log(self) -> Value:
        return self._unary(math.log(self.data), 1 / self.data)

    def sigmoid(self) -> Value:
        s = 1 / (1 + math.exp(-self.data))
        return self._unary(s, s * (1 - s))  # σ' = σ(1 − σ)

    def relu(self) -> Value:
        return self._unary(max(self.data, 0.0), float(self.data > 0))  # relu'(0) = 0, as torch

    def __neg__(self) -> Value:
        return self * -1

    def __sub__(self, other: Value | float) -> Value:
        return self + (-self._lift(other))

    def __truediv__(self, other: Value | float) -> Value:
        return self * self._lift(other) ** -1

    def __radd__(self, other: float) -> Value:
        return self + other

    def __rmul__(self, other: float) -> Value:
        return self * other

    def __rsub__(self, other: float) -> Value:
        return self._lift(other) - self

    def __rtruediv__(self, other: float) -> Value:
        return self._lift(other) / self

    def _topo(self) -> list[Value]:
        order: list[Value] = []
        seen: set[int] = set()

        def visit(v: Value) -> None:
            if id(v) not in seen:
                seen.add(id(v))
                for p in v._prev:
                    visit(p)
                order.append(v)
        visit(self)
        return order

    def backward(self) -> None:
        """Reset the intermediate nodes, seed d(self)/d(self) = 1, run the chain rule in
        reverse topological order; leaves accumulate."""
        order = self._topo()
        for v in order:
            if v._prev:
                v.grad = 0.0
        self.grad = 1.0
        for v in reversed(order):
            v._backward()

    def __repr__(self) -> str:
        return f"Value(data={self.data}, grad={self.grad})"
