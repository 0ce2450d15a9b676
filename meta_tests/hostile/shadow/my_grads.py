"""A right module beside a random.py and a numpy.py."""

import numpy as np


def relu(x):
    return np.maximum(x, 0)


def relu_backward(g, x):
    return g * (x > 0)
