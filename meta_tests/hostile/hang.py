"""Hostile: sigmoid_backward loops forever, tanh_backward sleeps; relu is impl's (right)."""

import time

from gradverify.impl import relu, relu_backward, sigmoid, tanh  # noqa: F401


def sigmoid_backward(g, z):
    while True:
        pass


def tanh_backward(g, z):
    time.sleep(1000)
