"""Layers with ``params`` and ``grads`` lists ("Deep Learning from Scratch 2" style): the
gradients are written into the arrays of ``self.grads`` (``self.grads[0][...] = dW``), which a
model collected once from every layer and hands to its optimizer.

One deliberate mistake: Affine.backward rebinds ``self.grads[0] = dW``; the layer's list holds
the gradient, but the array the model holds stays zero, and training never moves W.
"""

import numpy as np


class Affine:
    def __init__(self, W, b):
        self.params = [W, b]
        self.grads = [np.zeros_like(W), np.zeros_like(b)]
        self.x = None

    def forward(self, x):
        W, b = self.params
        self.x = x
        return np.dot(x, W) + b

    def backward(self, dout):
        W, b = self.params
        dx = np.dot(dout, W.T)
        dW = np.dot(self.x.T, dout)
        db = np.sum(dout, axis=0)
        self.grads[0] = dW  # the mistake: self.grads[0][...] = dW
        self.grads[1][...] = db
        return dx


class Tanh:
    def __init__(self):
        self.params, self.grads = [], []

    def forward(self, x):
        self.out = np.tanh(x)
        return self.out

    def backward(self, dout):
        return dout * (1 - self.out**2)


# -- exposing them to gradverify ---------------------------------------------------------------
from gradverify.adapters import layer_lists  # noqa: E402

dense, dense_backward = layer_lists(Affine)
tanh, tanh_backward = layer_lists(Tanh)
