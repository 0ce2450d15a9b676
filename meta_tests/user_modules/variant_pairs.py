"""Consistent forward/backward pairs of known variants, undeclared: each is a different
definition, not a wrong derivative.

- dropout without inverted scaling: x·mask (scaled by 1 − p at test time instead);
- mse that always sums (a per-sample cost without 1/N);
- layer norm with eps = 1e-5 hard-coded;
- gelu that always uses the tanh approximation.
"""

from gradverify import impl


def dropout(x, mask, p=0.5):
    return (x * mask).astype(x.dtype)


def dropout_backward(grad_out, x, mask, p=0.5):
    return (grad_out * mask).astype(x.dtype)


def mse(y_pred, y_true, reduction="mean"):
    return impl.mse(y_pred, y_true, "sum")


def mse_backward(grad_out, y_pred, y_true, reduction="mean"):
    return impl.mse_backward(grad_out, y_pred, y_true, "sum")


def layernorm(x, gamma, beta, eps=1e-5):
    return impl.layernorm(x, gamma, beta, 1e-5)


def layernorm_backward(grad_out, x, gamma, beta, eps=1e-5):
    return impl.layernorm_backward(grad_out, x, gamma, beta, 1e-5)


def gelu(z, approximate="none"):
    return impl.gelu(z, "tanh")


def gelu_backward(grad_out, z, approximate="none"):
    return impl.gelu_backward(grad_out, z, "tanh")


def gelu_jacobian(z, approximate="none"):
    return impl.gelu_jacobian(z, "tanh")
