"""Multi-layer perceptrons: forward and backpropagation built from the single-op formulas.

A network is a list of layers; layer l has weights W_l, bias b_l and activation f_l (any
elementwise or softmax op of impl, given as a name or as (name, params)); a loss closes it.

Samples in rows (seed 000): Z_l = A_{l−1} W_l + b_l, W_l is (n_{l−1}, n_l), b_l is (n_l,).
Samples in columns (Park): Z_l = W_l A_{l−1} + b_l, W_l is (n_l, n_{l−1}), b_l is (n_l, 1); the
loss is applied to the transposed output, so J = (1/N) Σ_k L(o_k, y_k) for the mean losses.

Backpropagation (Park, Theorem 5.4): with G = ∂J/∂A_L from the loss,
    dZ_l = f_l'(Z_l) ⊙ G (the activation's VJP), (dA_{l−1}, dW_l, db_l) = dense VJP of dZ_l,
    G ← dA_{l−1}, for l = L … 1.
No autodiff: every step is an ``impl`` formula.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from . import activations as _activations
from . import dense as _dense
from . import losses as _losses
from . import softmax as _softmax

__all__ = ["mlp_forward", "mlp_backward", "mlp_loss"]

Activation = str | tuple[str, dict[str, Any]]

_FUNCTIONS = {name: getattr(module, name)
              for module in (_activations, _softmax, _losses, _dense) for name in module.__all__}


def _act(spec: Activation) -> tuple[str, dict[str, Any]]:
    name, params = (spec, {}) if isinstance(spec, str) else spec
    if name not in _FUNCTIONS or f"{name}_backward" not in _FUNCTIONS:
        raise ValueError(f"unknown activation {name!r}")
    return name, dict(params)


def _layer(layout: str) -> str:
    if layout not in ("rows", "cols"):
        raise ValueError(f"layout must be 'rows' or 'cols', got {layout!r}")
    return "dense" if layout == "rows" else "dense_colmajor"


def mlp_forward(x: np.ndarray, weights: Sequence[np.ndarray], biases: Sequence[np.ndarray],
                activations: Sequence[Activation], layout: str = "rows"
                ) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]:
    """(output A_L, [Z_1 … Z_L], [A_0 = x, A_1 … A_L]) with A_l = f_l(dense(A_{l−1}, W_l, b_l))."""
    if not len(weights) == len(biases) == len(activations):
        raise ValueError(f"{len(weights)} weights, {len(biases)} biases and "
                         f"{len(activations)} activations: one of each per layer")
    layer = _FUNCTIONS[_layer(layout)]
    zs, outs = [], [x]
    for w, b, spec in zip(weights, biases, activations):
        name, params = _act(spec)
        zs.append(layer(outs[-1], w, b))
        outs.append(_FUNCTIONS[name](zs[-1], **params))
    return outs[-1], zs, outs


def _loss_call(loss: str, suffix: str, out: np.ndarray, y: np.ndarray, layout: str,
               params: dict[str, Any], *extra: Any) -> Any:
    fn = _FUNCTIONS[f"{loss}{suffix}"]
    if layout == "rows":
        return fn(*extra, out, y, **params)
    # samples in columns: the losses take samples in rows
    return fn(*extra, out.T, y.T if np.ndim(y) > 1 else y, **params)


def mlp_loss(x: np.ndarray, y: np.ndarray, weights: Sequence[np.ndarray],
             biases: Sequence[np.ndarray], activations: Sequence[Activation], loss: str,
             layout: str = "rows", loss_params: dict[str, Any] | None = None) -> np.ndarray:
    """J = loss(A_L, y)."""
    out, _, _ = mlp_forward(x, weights, biases, activations, layout)
    return _loss_call(loss, "", out, y, layout, loss_params or {})


def mlp_backward(x: np.ndarray, y: np.ndarray, weights: Sequence[np.ndarray],
                 biases: Sequence[np.ndarray], activations: Sequence[Activation], loss: str,
                 layout: str = "rows", loss_params: dict[str, Any] | None = None
                 ) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
    """([dW_1 … dW_L], [db_1 … db_L], dx): the gradient of J = loss(A_L, y) by
    backpropagation through every layer (Park, Theorem 5.4)."""
    out, zs, outs = mlp_forward(x, weights, biases, activations, layout)
    g = _loss_call(loss, "_backward", out, y, layout, loss_params or {}, 1.0)
    g = g if layout == "rows" else g.T
    layer_backward = _FUNCTIONS[f"{_layer(layout)}_backward"]
    d_weights: list[np.ndarray] = []
    d_biases: list[np.ndarray] = []
    for k in range(len(weights) - 1, -1, -1):
        name, params = _act(activations[k])
        dz = _FUNCTIONS[f"{name}_backward"](g, zs[k], **params)
        g, dw, db = layer_backward(dz, outs[k], weights[k], biases[k])
        d_weights.append(dw)
        d_biases.append(db)
    return d_weights[::-1], d_biases[::-1], g
