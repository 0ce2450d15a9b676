"""A student's own module named impl.py: its sigmoid is right, its sigmoid_backward wrong."""

import numpy as np


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def sigmoid_backward(g, z):
    return g * sigmoid(z)  # forgets (1 - s)
