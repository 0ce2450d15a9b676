"""An L-layer network with samples in columns and (n, 1) biases, in the style of a deep-learning
course's "Building your deep neural network step by step": L_model_forward(X, parameters)
returns (AL, caches), L_model_backward(AL, Y, caches) a grads dict with keys dW1, db1, dA0.
This version is right; backprop_ng_wrong.py drops a keepdims (db of shape (n,)).
"""

import numpy as np

from gradverify import rec


def initialize_parameters_deep(layer_dims, rng):
    parameters = {}
    for l in range(1, len(layer_dims)):  # noqa: E741
        parameters["W" + str(l)] = rng.standard_normal((layer_dims[l], layer_dims[l - 1])) \
            / np.sqrt(layer_dims[l - 1])
        parameters["b" + str(l)] = 0.1 * rng.standard_normal((layer_dims[l], 1))
    return parameters


def sigmoid(Z):
    return 1 / (1 + np.exp(-Z)), Z


def relu(Z):
    return np.maximum(0, Z), Z


def linear_forward(A, W, b):
    Z = np.dot(W, A) + b
    return Z, (A, W, b)


def linear_activation_forward(A_prev, W, b, activation):
    Z, linear_cache = linear_forward(A_prev, W, b)
    A, activation_cache = sigmoid(Z) if activation == "sigmoid" else relu(Z)
    return A, (linear_cache, activation_cache)


def L_model_forward(X, parameters):
    caches = []
    A = rec("A0", X)
    L = len(parameters) // 2
    for l in range(1, L):  # noqa: E741
        A, cache = linear_activation_forward(A, parameters["W" + str(l)],
                                             parameters["b" + str(l)], "relu")
        A = rec("A" + str(l), A)
        caches.append(cache)
    AL, cache = linear_activation_forward(A, parameters["W" + str(L)],
                                          parameters["b" + str(L)], "sigmoid")
    caches.append(cache)
    return AL, caches


def compute_cost(AL, Y):
    m = Y.shape[1]
    cost = -1 / m * np.sum(Y * np.log(AL) + (1 - Y) * np.log(1 - AL))
    return np.squeeze(cost)


def relu_backward(dA, cache):
    Z = cache
    dZ = np.array(dA, copy=True)
    dZ[Z <= 0] = 0
    return dZ


def sigmoid_backward(dA, cache):
    Z = cache
    s = 1 / (1 + np.exp(-Z))
    return dA * s * (1 - s)


def linear_backward(dZ, cache):
    A_prev, W, b = cache
    m = A_prev.shape[1]
    dW = 1 / m * np.dot(dZ, A_prev.T)
    db = 1 / m * np.sum(dZ, axis=1, keepdims=True)
    dA_prev = np.dot(W.T, dZ)
    return dA_prev, dW, db


def linear_activation_backward(dA, cache, activation):
    linear_cache, activation_cache = cache
    if activation == "relu":
        dZ = relu_backward(dA, activation_cache)
    else:
        dZ = sigmoid_backward(dA, activation_cache)
    return linear_backward(dZ, linear_cache)


def L_model_backward(AL, Y, caches):
    grads = {}
    L = len(caches)
    Y = Y.reshape(AL.shape)
    dAL = -(np.divide(Y, AL) - np.divide(1 - Y, 1 - AL))
    current_cache = caches[L - 1]
    dA_prev, dW, db = linear_activation_backward(dAL, current_cache, "sigmoid")
    grads["dA" + str(L - 1)], grads["dW" + str(L)], grads["db" + str(L)] = dA_prev, dW, db
    for l in reversed(range(L - 1)):  # noqa: E741
        current_cache = caches[l]
        dA_prev, dW, db = linear_activation_backward(grads["dA" + str(l + 1)], current_cache,
                                                     "relu")
        grads["dA" + str(l)], grads["dW" + str(l + 1)], grads["db" + str(l + 1)] = \
            dA_prev, dW, db
    return grads


# -- what gradverify.check_backprop is given ---------------------------------------------------
def loss(parameters, X, Y):
    AL, _ = L_model_forward(X, parameters)
    return compute_cost(AL, Y)


def gradients(parameters, X, Y):
    AL, caches = L_model_forward(X, parameters)
    return L_model_backward(AL, Y, caches)


def make(rng, layer_dims=(5, 4, 3, 1), m=6):
    parameters = initialize_parameters_deep(list(layer_dims), rng)
    X = rng.standard_normal((layer_dims[0], m))
    Y = (rng.uniform(size=(1, m)) > 0.5).astype(X.dtype)
    return {"parameters": parameters}, {"X": X, "Y": Y}
