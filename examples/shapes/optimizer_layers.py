"""Layers built from their input's shape that hand their gradients to an optimizer
(ML-From-Scratch style): ``Dense(n_units, input_shape=...)``, ``initialize(optimizer)``,
``output_shape()``, and ``self.W = self.W_opt.update(self.W, grad_w)`` inside
``backward_pass``. The adapter's optimizer records the gradients and takes a step.

One deliberate mistake: Dense.backward_pass computes the input's gradient with the weights
after the update, not the ones the forward used.
"""

import copy
import math

import numpy as np


class Dense:
    def __init__(self, n_units, input_shape=None):
        self.n_units = n_units
        self.input_shape = input_shape
        self.W = self.w0 = None

    def initialize(self, optimizer):
        limit = 1 / math.sqrt(max(self.input_shape[0], 1))
        self.W = np.random.uniform(-limit, limit, (self.input_shape[0], self.n_units))
        self.w0 = np.zeros((1, self.n_units))
        self.W_opt = copy.copy(optimizer)
        self.w0_opt = copy.copy(optimizer)

    def forward_pass(self, X, training=True):
        self.layer_input = X
        return X.dot(self.W) + self.w0

    def backward_pass(self, accum_grad):
        grad_w = self.layer_input.T.dot(accum_grad)
        grad_w0 = np.sum(accum_grad, axis=0, keepdims=True)
        self.W = self.W_opt.update(self.W, grad_w)
        self.w0 = self.w0_opt.update(self.w0, grad_w0)
        return accum_grad.dot(self.W.T)  # the mistake: the W saved before the update

    def output_shape(self):
        return (self.n_units,)


class Sigmoid:
    def __init__(self, input_shape=None):
        self.input_shape = input_shape

    def forward_pass(self, X, training=True):
        self.out = np.exp(-np.logaddexp(0, -X))
        return self.out

    def backward_pass(self, accum_grad):
        return accum_grad * self.out * (1 - self.out)

    def output_shape(self):
        return self.input_shape


# -- exposing them to gradverify ---------------------------------------------------------------
from gradverify.adapters import optimizer_layer  # noqa: E402

dense, dense_backward = optimizer_layer(lambda W, w0, **kw: Dense(W.shape[1], **kw),
                                        ("W", "w0"))
sigmoid, sigmoid_backward = optimizer_layer(Sigmoid)
