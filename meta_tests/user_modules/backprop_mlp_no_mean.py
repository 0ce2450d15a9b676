"""backprop_mlp.py with one mistake: batch norm's backward drops the path through the mean
(dhprebn is dbndiff alone: bnmeani's dependence on hprebn is forgotten)."""

import numpy as np
from backprop_mlp import forward, make  # noqa: F401


def backward(x, y, W1, W2, bngain, cache):
    n = x.shape[0]
    hprebn, bndiff, bndiff2, bnvar = (cache[k] for k in ("hprebn", "bndiff", "bndiff2", "bnvar"))
    bnvar_inv, bnraw, h, logits = (cache[k] for k in ("bnvar_inv", "bnraw", "h", "logits"))
    counts, counts_sum, counts_sum_inv = (cache[k] for k in ("counts", "counts_sum",
                                                             "counts_sum_inv"))
    probs, logprobs = cache["probs"], cache["logprobs"]

    dlogprobs = np.zeros_like(logprobs)
    dlogprobs[np.arange(n), y] = -1.0 / n
    dprobs = (1.0 / probs) * dlogprobs
    dcounts_sum_inv = (counts * dprobs).sum(1, keepdims=True)
    dcounts = counts_sum_inv * dprobs
    dcounts_sum = -counts_sum**-2 * dcounts_sum_inv
    dcounts += np.ones_like(counts) * dcounts_sum
    dnorm_logits = counts * dcounts
    dlogits = dnorm_logits.copy()
    dlogit_maxes = -dnorm_logits.sum(1, keepdims=True)
    dlogits += np.eye(logits.shape[1], dtype=logits.dtype)[logits.argmax(1)] * dlogit_maxes
    dh = dlogits @ W2.T
    dW2 = h.T @ dlogits
    db2 = dlogits.sum(0)
    dhpreact = (1.0 - h**2) * dh
    dbngain = (bnraw * dhpreact).sum(0, keepdims=True)
    dbnraw = bngain * dhpreact
    dbnbias = dhpreact.sum(0, keepdims=True)
    dbndiff = bnvar_inv * dbnraw
    dbnvar_inv = (bndiff * dbnraw).sum(0, keepdims=True)
    dbnvar = -0.5 * (bnvar + 1e-5) ** -1.5 * dbnvar_inv
    dbndiff2 = 1.0 / (n - 1) * np.ones_like(bndiff2) * dbnvar
    dbndiff += 2 * bndiff * dbndiff2
    dhprebn = dbndiff.copy()
    dbnmeani = -dbndiff.sum(0, keepdims=True)
    dW1 = x.T @ dhprebn
    db1 = dhprebn.sum(0)
    return {k: v for k, v in locals().items() if k.startswith("d")}
