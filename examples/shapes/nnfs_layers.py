"""Shape (3): layers whose forward and backward return nothing (nnfs style): results are left
in output, dinputs, dweights and dbiases.

One deliberate mistake: Activation_Softmax.backward uses the elementwise derivative
s(1 − s), as if softmax were a sigmoid (its Jacobian has off-diagonal terms −s_i s_j).
"""

import numpy as np


class Layer_Dense:
    def __init__(self, n_inputs, n_neurons):
        self.weights = 0.01 * np.random.randn(n_inputs, n_neurons)
        self.biases = np.zeros((1, n_neurons))

    def forward(self, inputs):
        self.inputs = inputs
        self.output = np.dot(inputs, self.weights) + self.biases

    def backward(self, dvalues):
        self.dweights = np.dot(self.inputs.T, dvalues)
        self.dbiases = np.sum(dvalues, axis=0, keepdims=True)
        self.dinputs = np.dot(dvalues, self.weights.T)


class Activation_ReLU:
    def forward(self, inputs):
        self.inputs = inputs
        self.output = np.maximum(0, inputs)

    def backward(self, dvalues):
        self.dinputs = dvalues.copy()
        self.dinputs[self.inputs <= 0] = 0


class Activation_Softmax:
    def forward(self, inputs):
        exp_values = np.exp(inputs - np.max(inputs, axis=1, keepdims=True))
        self.output = exp_values / np.sum(exp_values, axis=1, keepdims=True)

    def backward(self, dvalues):
        self.dinputs = dvalues * self.output * (1 - self.output)  # the mistake


# -- exposing them to gradverify ---------------------------------------------------------------
from gradverify.adapters import layer  # noqa: E402


def dense_from(weights, biases):
    d = Layer_Dense(*weights.shape)
    d.weights, d.biases = weights, biases.reshape(1, -1)
    return d


dense, dense_backward = layer(dense_from, out="output", dx="dinputs",
                              grads=lambda d: (d.dweights, d.dbiases.reshape(-1)))
relu, relu_backward = layer(Activation_ReLU, out="output", dx="dinputs")
softmax, softmax_backward = layer(Activation_Softmax, out="output", dx="dinputs",
                                  fixed={"axis": -1})
GRADVERIFY_SUPPORTS = {"*": {"ndim": [2]}}  # rows of samples only
