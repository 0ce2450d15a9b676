"""Shape (3), wrong: attrs_right.py with sigmoid's derivative taken of the input."""

import numpy as np

from gradverify.adapters import layer


class Layer_Dense:
    def __init__(self, n_inputs, n_neurons):
        self.weights = 0.01 * np.random.randn(n_inputs, n_neurons)
        self.biases = np.zeros((1, n_neurons))

    def forward(self, inputs):
        self.inputs = inputs
        self.output = inputs @ self.weights + self.biases

    def backward(self, dvalues):
        self.dweights = self.inputs.T @ dvalues
        self.dbiases = np.sum(dvalues, axis=0, keepdims=True)
        self.dinputs = dvalues @ self.weights.T


class Activation_ReLU:
    def forward(self, inputs):
        self.inputs = inputs
        self.output = np.maximum(0, inputs)

    def backward(self, dvalues):
        self.dinputs = dvalues.copy()
        self.dinputs[self.inputs <= 0] = 0


class Activation_Sigmoid:
    def forward(self, inputs):
        self.inputs = inputs
        self.output = 1 / (1 + np.exp(-inputs))

    def backward(self, dvalues):
        self.dinputs = dvalues * (1 - self.inputs) * self.inputs  # the mistake: inputs


def dense_from(weights, biases):
    d = Layer_Dense(*weights.shape)
    d.weights, d.biases = weights, biases.reshape(1, -1)
    return d


dense, dense_backward = layer(dense_from, out="output", dx="dinputs",
                              grads=lambda d: (d.dweights, d.dbiases.reshape(-1)))
relu, relu_backward = layer(Activation_ReLU, out="output", dx="dinputs")
sigmoid, sigmoid_backward = layer(Activation_Sigmoid, out="output", dx="dinputs")
