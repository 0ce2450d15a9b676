"""Shape (1), right: CS231n-style pairs, ``out, cache = f_forward(...)`` and
``grads = f_backward(dout, cache)``; hyper-parameters renamed or packed in one dict."""

import numpy as np

from gradverify.adapters import cache_pair


def affine_forward(x, w, b):
    out = x.reshape(len(x), w.shape[0]) @ w + b
    return out, (x, w, b)


def affine_backward(dout, cache):
    x, w, b = cache
    dx = (dout @ w.T).reshape(x.shape)
    dw = x.reshape(len(x), w.shape[0]).T @ dout
    db = dout.sum(axis=0)
    return dx, dw, db


def relu_forward(x):
    return np.maximum(0, x), x


def relu_backward(dout, cache):
    return dout * (cache > 0)


def leaky_relu_forward(x, alpha=0.01):
    return np.where(x > 0, x, alpha * x), (x, alpha)


def leaky_relu_backward(dout, cache):
    x, alpha = cache
    return np.where(x > 0, dout, alpha * dout)


def elu_forward(x, elu_param):
    assert elu_param["mode"] == "train"
    a = elu_param.get("alpha", 1.0)
    return np.where(x > 0, x, a * np.expm1(x)), (x, a)


def elu_backward(dout, cache):
    x, a = cache
    return np.where(x > 0, dout, dout * a * np.exp(x))


dense, dense_backward = cache_pair(affine_forward, affine_backward)
relu, relu_backward = cache_pair(relu_forward, relu_backward)
leaky_relu, leaky_relu_backward = cache_pair(leaky_relu_forward, leaky_relu_backward,
                                             params={"negative_slope": "alpha"})
elu, elu_backward = cache_pair(elu_forward, elu_backward, pack="elu_param",
                               extra={"mode": "train"})
