"""Hostile: backwards that end the process in every way Python allows; relu is right."""

import os
import sys

from gradverify.impl import elu, relu, relu_backward, sigmoid, softplus, tanh  # noqa: F401


def sigmoid_backward(g, z):
    sys.exit(3)


def tanh_backward(g, z):
    os._exit(0)


def softplus_backward(g, z):
    raise KeyboardInterrupt


def elu_backward(g, z, alpha=1.0):
    raise SystemExit
