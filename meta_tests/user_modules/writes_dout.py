"""A right relu whose backward writes into its upstream gradient (``dout``) and returns it:
the values are right, the caller's array is not."""

import numpy as np


def relu(z):
    return np.maximum(z, 0)


def relu_backward(dout, z):
    dout[z <= 0] = 0
    return dout
