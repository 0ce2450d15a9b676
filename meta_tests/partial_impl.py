"""A user module that provides only sigmoid (for meta_tests/test_impl_option.py)."""

import numpy as np


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def sigmoid_backward(grad_out, z):
    s = sigmoid(z)
    return grad_out * s * (1 - s)
