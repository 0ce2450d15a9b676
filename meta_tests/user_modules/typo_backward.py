"""A right sigmoid whose backward is misspelt: no check calls ``sigmoid_backwrd``."""

import numpy as np


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def sigmoid_backwrd(grad_out, z):
    s = sigmoid(z)
    return grad_out * s * (1 - s)
