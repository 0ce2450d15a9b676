"""A per-sample backprop returning per-layer lists, as in Nielsen's "Neural Networks and Deep
Learning" (network.py): samples are columns (n, 1), the cost is the quadratic 0.5·‖a − y‖².
This version is right; backprop_nielsen_wrong.py transposes one nabla_w.
"""

import numpy as np


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def sigmoid_prime(z):
    return sigmoid(z) * (1 - sigmoid(z))


class Network:
    def __init__(self, sizes, rng):
        self.num_layers = len(sizes)
        self.sizes = sizes
        self.biases = [rng.standard_normal((y, 1)) for y in sizes[1:]]
        self.weights = [rng.standard_normal((y, x)) for x, y in zip(sizes[:-1], sizes[1:])]

    def backprop(self, x, y):
        nabla_b = [np.zeros(b.shape) for b in self.biases]
        nabla_w = [np.zeros(w.shape) for w in self.weights]
        activation = x
        activations = [x]
        zs = []
        for b, w in zip(self.biases, self.weights):
            z = np.dot(w, activation) + b
            zs.append(z)
            activation = sigmoid(z)
            activations.append(activation)
        delta = self.cost_derivative(activations[-1], y) * sigmoid_prime(zs[-1])
        nabla_b[-1] = delta
        nabla_w[-1] = np.dot(delta, activations[-2].transpose())
        for layer in range(2, self.num_layers):
            z = zs[-layer]
            sp = sigmoid_prime(z)
            delta = np.dot(self.weights[-layer + 1].transpose(), delta) * sp
            nabla_b[-layer] = delta
            nabla_w[-layer] = np.dot(delta, activations[-layer - 1].transpose())
        return (nabla_b, nabla_w)

    def cost_derivative(self, output_activations, y):
        return output_activations - y


def cost(biases, weights, x, y):
    """The forward the check differentiates: the network's output and its quadratic cost."""
    a = x
    for b, w in zip(biases, weights):
        a = sigmoid(np.dot(w, a) + b)
    return 0.5 * np.sum((a - y) ** 2)


def make(seed, sizes=(4, 5, 3, 2)):
    rng = np.random.default_rng(seed)
    net = Network(list(sizes), rng)
    x, y = rng.standard_normal((sizes[0], 1)), rng.uniform(0, 1, (sizes[-1], 1))
    return net, x, y
