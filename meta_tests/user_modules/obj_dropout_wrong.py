"""A random mask drawn inside ``forward``, wrong: obj_dropout_right.py with the backward
passing dout through where the forward dropped (no mask)."""

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
        return dout.copy()  # the mistake: the mask forgotten


dropout, dropout_backward = dropout_layer(Dropout, params={"p": "dropout_ratio"},
                                          inverted=False)
