"""Shape (2): layer objects; backward returns dx and leaves dW, db on the layer.

One deliberate mistake: Dense.backward averages dW over the batch (the loss already did).
"""

import numpy as np


class Dense:
    def __init__(self, W, b):
        self.W, self.b = W, b

    def forward(self, x):
        self.x = x
        return x @ self.W + self.b

    def backward(self, dout):
        self.dW = self.x.T @ dout / len(self.x)  # the mistake: no / len(x)
        self.db = dout.sum(axis=0)
        return dout @ self.W.T


class ReLU:
    def forward(self, x):
        self.mask = x > 0
        return x * self.mask

    def backward(self, dout):
        return dout * self.mask


class Sigmoid:
    def forward(self, x):
        self.out = 1 / (1 + np.exp(-x))
        return self.out

    def backward(self, dout):
        return dout * self.out * (1 - self.out)


# -- exposing them to gradverify ---------------------------------------------------------------
from gradverify.adapters import layer  # noqa: E402

dense, dense_backward = layer(Dense, grads=("dW", "db"))
relu, relu_backward = layer(ReLU)
sigmoid, sigmoid_backward = layer(Sigmoid)
