"""A softmax classifier whose forward writes into an array in place (the picked log-probability
of each sample, one at a time): jax arrays are immutable and autograd cannot record item
assignment, so those references cannot run it; torch and finite differences can.
``backward`` is right, ``backward_sum`` forgets the mean's 1/n.
"""

import numpy as np


def make(rng, n=5, d=4, k=3):
    params = {"W": 0.5 * rng.standard_normal((d, k)), "b": 0.1 * rng.standard_normal(k)}
    return params, {"X": rng.standard_normal((n, d)), "y": rng.integers(0, k, n)}


def forward(W, b, X, y, rec):
    n = X.shape[0]
    scores = rec("scores", X @ W + b)
    shifted = scores - np.max(scores, axis=1, keepdims=True)
    log_probs = rec("log_probs", shifted - np.log(np.sum(np.exp(shifted), axis=1,
                                                         keepdims=True)))
    picked = np.zeros(n)
    for i in range(n):
        picked[i] = log_probs[i, y[i]]
    return -np.sum(picked) / n


def _dscores(W, b, X, y):
    scores = X @ W + b
    probs = np.exp(scores - scores.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    probs[np.arange(len(y)), y] -= 1
    return probs


def backward(W, b, X, y):
    dscores = _dscores(W, b, X, y) / X.shape[0]
    return {"dscores": dscores, "dW": X.T @ dscores, "db": dscores.sum(axis=0)}


def backward_sum(W, b, X, y):
    dscores = _dscores(W, b, X, y)
    return {"dscores": dscores, "dW": X.T @ dscores, "db": dscores.sum(axis=0)}
