"""A random mask drawn inside ``forward``, right: "Deep Learning from Scratch"-style dropout,
``self.mask = np.random.rand(*x.shape) > self.dropout_ratio``, not inverted (it scales at test
time instead): the adapter fixes the mask to the case's and divides by 1 − p."""

import numpy as np

from gradverify.adapters import dropout_layer


class Dropout:
    def __init__(self, dropout_ratio=0.5):
        self.dropout_ratio = dropout_ratio
        self.mask = None

    def forward(self, x, train_flg=True):
        if train_flg:
            self.mask = np.random.rand(*x.shape) > self.dropout_ratio
            return x * self.mask
        return x * (1.0 - self.dropout_ratio)

    def backward(self, dout):
        return dout * self.mask


dropout, dropout_backward = dropout_layer(Dropout, params={"p": "dropout_ratio"},
                                          inverted=False)
