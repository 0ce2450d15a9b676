"""impl with one broken function per op, each broken in a way a user's module can be (for
meta_tests/test_impl_option.py): every case must say what is wrong before comparing values."""

import numpy as np

from gradverify.impl import *  # noqa: F403
from gradverify.impl import sigmoid
from gradverify.impl import softplus_backward as _softplus_backward


def tanh_backward(grad_out, z):
    raise ValueError("my tanh is not ready")


def sigmoid_backward(grad_out, z):  # flattened
    s = sigmoid(z)
    return (grad_out * s * (1 - s)).ravel()


def relu_backward(grad_out, z):  # half precision
    return (grad_out * (z > 0)).astype(np.float16)


def elu_backward(grad_out, z, alpha=1.0):  # float32 whatever the input
    return (grad_out * np.where(z > 0, 1.0, alpha * np.exp(np.minimum(z, 0)))).astype(np.float32)


def dense_backward(grad_out, x, w, b):  # forgets db
    return grad_out @ w.T, x.T @ grad_out


def softplus_backward(grad_out, z):  # NaN where the references are finite
    out = _softplus_backward(grad_out, z)
    out.reshape(-1)[:1] = np.nan
    return out


def silu_jacobian(z):  # inf on the diagonal of a closed-form Jacobian
    jac = np.zeros(z.shape + z.shape, dtype=z.dtype)
    jac.reshape(z.size, z.size)[np.diag_indices(z.size)] = np.inf
    return jac


def identity_backward(grad_out, z):  # forgot the return
    grad_out * 1


def gelu_backward(grad_out, z, approx="none"):  # wrong signature: the parameter's name
    return grad_out
