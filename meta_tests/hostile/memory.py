"""Hostile: backwards that ask for far more memory than the worker may take (its RLIMIT_AS,
``GRADVERIFY_MEMORY_MB``): one array of 64 GiB at once, one list grown until it fails
(arrays never written: address space, not RAM, so the test stays fast); relu is right."""

import numpy as np

from gradverify.impl import relu, relu_backward, sigmoid, tanh  # noqa: F401


def sigmoid_backward(g, z):
    hog = np.ones(2**33)  # 64 GiB
    return g + hog[0]


def tanh_backward(g, z):
    grown = []
    while True:
        grown.append(np.empty(2**24))  # 128 MiB more address space each time
