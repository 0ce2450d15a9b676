"""Shape (2), wrong: layer_right.py with Dense's db a mean instead of a sum."""

import numpy as np

from gradverify.adapters import layer


class Dense:
    def __init__(self, W, b):
        self.W, self.b = W, b

    def forward(self, x):
        self.x = x
        return x @ self.W + self.b

    def backward(self, dout):
        self.dW = self.x.T @ dout
        self.db = dout.mean(axis=0)  # the mistake: a mean, not a sum
        return dout @ self.W.T


class DenseColumns:
    """Samples in columns, Z = W X + b; gradients accumulate in a dict until flushed."""

    def __init__(self, W, b):
        self.params = {"W": W, "b": b}
        self.gradients = {"W": np.zeros_like(W), "b": np.zeros_like(b)}

    def forward(self, x):
        self.x = x
        return self.params["W"] @ x + self.params["b"]

    def backward(self, dout):
        self.gradients["W"] += dout @ self.x.T
        self.gradients["b"] += dout.sum(axis=1, keepdims=True)
        return self.params["W"].T @ dout


class Tanh:
    def forward(self, x):
        self.out = np.tanh(x)
        return self.out

    def backward(self, dout):
        return dout * (1 - self.out**2)


dense, dense_backward = layer(Dense, grads=("dW", "db"))
dense_colmajor, dense_colmajor_backward = layer(
    DenseColumns, grads=lambda obj: (obj.gradients["W"], obj.gradients["b"]))
tanh, tanh_backward = layer(Tanh)
