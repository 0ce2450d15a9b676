"""Layers with optimizers, wrong: obj_optim_right.py with Dense's grad_w transposed (the
optimizer is handed an (n_units, n_in) gradient for the (n_in, n_units) W)."""

import copy
import math

import numpy as np

from gradverify.adapters import optimizer_layer


class Dense:
    def __init__(self, n_units, input_shape=None):
        self.n_units, self.input_shape = n_units, input_shape
        self.layer_input = self.W = self.w0 = None

    def initialize(self, optimizer):
        bound = 1 / math.sqrt(max(self.input_shape[0], 1))
        self.W = np.random.uniform(-bound, bound, (self.input_shape[0], self.n_units))
        self.w0 = np.zeros((1, self.n_units))
        self.W_opt, self.w0_opt = copy.copy(optimizer), copy.copy(optimizer)

    def forward_pass(self, X, training=True):
        self.layer_input = X
        return X @ self.W + self.w0

    def backward_pass(self, accum_grad):
        W = self.W  # the weights the forward used
        grad_w = accum_grad.T @ self.layer_input  # the mistake: transposed
        grad_w0 = np.sum(accum_grad, axis=0, keepdims=True)
        self.W = self.W_opt.update(self.W, grad_w)
        self.w0 = self.w0_opt.update(self.w0, grad_w0)
        return accum_grad @ W.T

    def output_shape(self):
        return (self.n_units,)


class TanhLayer:
    def __init__(self, input_shape=None):
        self.input_shape = input_shape

    def forward_pass(self, X, training=True):
        self.out = np.tanh(X)
        return self.out

    def backward_pass(self, accum_grad):
        return accum_grad * (1 - self.out**2)

    def output_shape(self):
        return self.input_shape


dense, dense_backward = optimizer_layer(lambda W, w0, **kw: Dense(W.shape[1], **kw),
                                        ("W", "w0"))
tanh, tanh_backward = optimizer_layer(TanhLayer)
