"""params/grads lists, wrong: obj_lists_right.py with Affine.backward rebinding
``self.grads[1] = db`` instead of writing into the array: the model's copy stays zero."""

import numpy as np

from gradverify.adapters import layer_lists


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
        self.grads[0][...] = np.dot(self.x.T, dout)
        self.grads[1] = np.sum(dout, axis=0)  # the mistake: rebinds, not [...] =
        return dx


class Sigmoid:
    def __init__(self):
        self.params, self.grads = [], []
        self.out = None

    def forward(self, x):
        self.out = np.exp(-np.logaddexp(0, -x))  # 1 / (1 + exp(-x)), without overflow
        return self.out

    def backward(self, dout):
        return dout * (1.0 - self.out) * self.out


dense, dense_backward = layer_lists(Affine)
sigmoid, sigmoid_backward = layer_lists(Sigmoid)
