"""Networks of the issue-11 layers, built from any reference's own ops (``ref.ops``).

Each builder returns a function of NumPy-shaped framework arrays in the reference's framework
(torch, jax, autograd, or impl's forwards for finite differences), so the reference's generic
``vjp`` differentiates the whole network, as ``reference.networks.mlp`` does for the MLPs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .base import Reference

#: the transformer block's parameters, in the order the block function takes them
BLOCK_PARAMS = ("g1", "b1", "wq", "bq", "wk", "bk", "wv", "bv", "wo", "bo",
                "g2", "b2", "w1", "c1", "w2", "c2")
#: the batch-norm MLP's parameters (dense W, b, then batch norm γ, β, per hidden layer)
MLP_PARAMS = ("w1", "b1", "gamma1", "beta1", "w2", "b2", "gamma2", "beta2", "w3", "b3")


def transformer_block(ref: Reference) -> Callable[..., Any]:
    """y(x, mask, *BLOCK_PARAMS): pre-norm block with one attention head,

    h = LN₁(x), a = attention(h Wq + bq, h Wk + bk, h Wv + bv, mask), r = x + a Wo + bo,
    y = r + dense(gelu(dense(LN₂(r), W₁, c₁)), W₂, c₂).
    """
    op = ref.ops
    dense, ln, attention, gelu = op["dense"], op["layernorm"], op["attention"], op["gelu"]

    def f(x: Any, mask: Any, g1: Any, b1: Any, wq: Any, bq: Any, wk: Any, bk: Any, wv: Any,
          bv: Any, wo: Any, bo: Any, g2: Any, b2: Any, w1: Any, c1: Any, w2: Any,
          c2: Any) -> Any:
        h = ln(x, g1, b1)
        a = attention(dense(h, wq, bq), dense(h, wk, bk), dense(h, wv, bv), mask)
        r = x + dense(a, wo, bo)
        return r + dense(gelu(dense(ln(r, g2, b2), w1, c1)), w2, c2)

    return f


def bn_mlp(ref: Reference, p: float) -> Callable[..., Any]:
    """J(x, y, mask1, mask2, *MLP_PARAMS): two hidden layers dense → batch norm → tanh →
    dropout (fixed masks, drop probability p), a dense output and softmax cross-entropy
    (integer labels, mean)."""
    op = ref.ops
    dense, bn, tanh, dropout = op["dense"], op["batchnorm"], op["tanh"], op["dropout"]
    loss = op["softmax_cross_entropy"]

    def f(x: Any, y: Any, m1: Any, m2: Any, w1: Any, b1: Any, gamma1: Any, beta1: Any,
          w2: Any, b2: Any, gamma2: Any, beta2: Any, w3: Any, b3: Any) -> Any:
        a = dropout(tanh(bn(dense(x, w1, b1), gamma1, beta1)), m1, p=p)
        a = dropout(tanh(bn(dense(a, w2, b2), gamma2, beta2)), m2, p=p)
        return loss(dense(a, w3, b3), y)

    return f
