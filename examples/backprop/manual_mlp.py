"""A manual backprop through an MLP with batch norm and cross-entropy, step by step, as a
lecture writes it: one line per intermediate in the forward (each marked with ``rec``), one
gradient per intermediate in the backward, named ``d<intermediate>``.

One deliberate mistake: dbndiff2 forgets the 1/(n-1) of the (Bessel-corrected) variance.

    python examples/backprop/manual_mlp.py                 # prints the verdict
    python -m gradverify --backprop examples/backprop/manual_mlp.py --seed 0 1 2
"""

import numpy as np


def make(rng, n=8, n_in=6, n_hidden=10, n_out=4):
    params = dict(
        W1=rng.standard_normal((n_in, n_hidden)) * (5 / 3) / n_in**0.5,
        b1=rng.standard_normal(n_hidden) * 0.1,
        bngain=1.0 + 0.1 * rng.standard_normal((1, n_hidden)),
        bnbias=0.1 * rng.standard_normal((1, n_hidden)),
        W2=rng.standard_normal((n_hidden, n_out)) * 0.1,
        b2=rng.standard_normal(n_out) * 0.1,
    )
    inputs = dict(x=rng.standard_normal((n, n_in)), y=rng.integers(0, n_out, n))
    return params, inputs


def forward(W1, b1, bngain, bnbias, W2, b2, x, y, rec):
    n = x.shape[0]
    hprebn = rec("hprebn", x @ W1 + b1)
    bnmeani = rec("bnmeani", 1 / n * hprebn.sum(0, keepdims=True))
    bndiff = rec("bndiff", hprebn - bnmeani)
    bndiff2 = rec("bndiff2", bndiff**2)
    bnvar = rec("bnvar", 1 / (n - 1) * bndiff2.sum(0, keepdims=True))  # Bessel's correction
    bnvar_inv = rec("bnvar_inv", (bnvar + 1e-5) ** -0.5)
    bnraw = rec("bnraw", bndiff * bnvar_inv)
    hpreact = rec("hpreact", bngain * bnraw + bnbias)
    h = rec("h", np.tanh(hpreact))
    logits = rec("logits", h @ W2 + b2)
    logit_maxes = rec("logit_maxes", logits.max(1, keepdims=True))
    norm_logits = rec("norm_logits", logits - logit_maxes)
    counts = rec("counts", np.exp(norm_logits))
    counts_sum = rec("counts_sum", counts.sum(1, keepdims=True))
    counts_sum_inv = rec("counts_sum_inv", counts_sum**-1)
    probs = rec("probs", counts * counts_sum_inv)
    logprobs = rec("logprobs", np.log(probs))
    return -logprobs[np.arange(n), y].mean()


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
    dbndiff2 = np.ones_like(bndiff2) * dbnvar  # the mistake: bnvar's 1/(n-1) is lost
    dbndiff += 2 * bndiff * dbndiff2
    dhprebn = dbndiff.copy()
    dbnmeani = -dbndiff.sum(0, keepdims=True)
    dhprebn += 1.0 / n * np.ones_like(hprebn) * dbnmeani
    dW1 = x.T @ dhprebn
    db1 = dhprebn.sum(0)
    return {k: v for k, v in locals().items() if k.startswith("d")}


GRADVERIFY_BACKPROP = dict(forward=forward, backward=backward, data=make)

if __name__ == "__main__":
    import gradverify

    print(gradverify.check_backprop(forward, backward, data=make))
