"""A student's module with three ops (sigmoid, softmax, mse), here impl's own, right ones: the
module tools.bench_loop times the student's loop with (``pytest --impl=`` and
``python -m gradverify`` on it)."""

from gradverify.impl import (  # noqa: F401
    mse,
    mse_backward,
    sigmoid,
    sigmoid_backward,
    sigmoid_jacobian,
    softmax,
    softmax_backward,
    softmax_jacobian,
)
