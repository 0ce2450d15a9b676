"""A dropout layer that draws its mask inside ``forward`` (CS231n style: p is the probability
of keeping a unit, mask = (rand < p) / p, inverted dropout). The adapter makes numpy.random's
draws reproduce the case's mask, so the layer is checked against the catalog's
dropout(x, mask, p), whose p is the probability of dropping.

One deliberate mistake: the backward multiplies by the 0/1 pattern, without the forward's 1/p.
"""

import numpy as np


class Dropout:
    def __init__(self, p=0.5):
        self.p = p  # the probability of keeping a unit

    def forward(self, x):
        self.mask = ((np.random.rand(*x.shape) < self.p) / self.p).astype(x.dtype)
        return x * self.mask

    def backward(self, dout):
        return dout * (self.mask > 0)  # the mistake: dout * self.mask


# -- exposing them to gradverify ---------------------------------------------------------------
from gradverify.adapters import dropout_layer  # noqa: E402

dropout, dropout_backward = dropout_layer(Dropout, keep="below",
                                          params=lambda kw: {"p": 1 - kw["p"]})
