"""backprop_nielsen.py with one mistake: the hidden layers' nabla_w is the transpose
(activation · deltaᵀ where delta · activationᵀ is meant)."""

import numpy as np
from backprop_nielsen import Network, cost, sigmoid, sigmoid_prime  # noqa: F401


class WrongNetwork(Network):
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
            nabla_w[-layer] = np.dot(activations[-layer - 1], delta.transpose())
        return (nabla_b, nabla_w)


def make(seed, sizes=(4, 5, 3, 2)):
    rng = np.random.default_rng(seed)
    net = WrongNetwork(list(sizes), rng)
    x, y = rng.standard_normal((sizes[0], 1)), rng.uniform(0, 1, (sizes[-1], 1))
    return net, x, y
