"""Normalization, dropout, embedding and the multiclass margin loss, with their VJPs.

Normalization uses training-mode statistics (as torch with ``training=True``): the batch mean
μ and the biased variance σ² = mean((x − μ)²) over the normalized axes, x̂ = (x − μ)/σ with
σ = √(σ² + eps), y = γ x̂ + β. With M the number of elements in one normalized group and
ĝ = γ g, every normalization's input gradient has the same form

    dx = (M ĝ − Σ ĝ − x̂ Σ(ĝ x̂)) / (M σ)        (sums over the group)

and dγ = Σ g x̂, dβ = Σ g over every axis but the channel axis. Results keep the input's
dtype (float32 in, float32 out).

attention lives in ``impl.attention``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "batchnorm", "batchnorm_backward",
    "layernorm", "layernorm_backward",
    "groupnorm", "groupnorm_backward",
    "dropout", "dropout_backward",
    "embedding", "embedding_backward",
    "multi_margin", "multi_margin_backward",
]

Grads3 = tuple[np.ndarray, np.ndarray, np.ndarray]


# -- shared helpers ---------------------------------------------------------------------------
def _float(x: Any) -> np.ndarray:
    x = np.asarray(x)
    return x if np.issubdtype(x.dtype, np.floating) else x.astype(np.float64)


def _affine(name: str, x: np.ndarray, gamma: Any, beta: Any, n: int,
            what: str) -> tuple[np.ndarray, np.ndarray]:
    gamma, beta = np.asarray(gamma, dtype=x.dtype), np.asarray(beta, dtype=x.dtype)
    for label, p in (("gamma", gamma), ("beta", beta)):
        if p.shape != (n,):
            raise ValueError(f"{name}: {label} must have shape ({n},) ({what}), got {p.shape}")
    return gamma, beta


def _grad(name: str, grad_out: Any, x: np.ndarray) -> np.ndarray:
    g = np.asarray(grad_out, dtype=x.dtype)
    if g.shape != x.shape:
        raise ValueError(f"{name}: grad_out has shape {g.shape}, expected {x.shape}")
    return g


def _standardize(x: np.ndarray, axes: tuple[int, ...],
                 eps: float) -> tuple[np.ndarray, np.ndarray]:
    """(x̂, 1/σ) over ``axes`` (biased variance), 1/σ keeping the reduced axes."""
    xc = x - x.mean(axis=axes, keepdims=True)
    inv = 1.0 / np.sqrt((xc * xc).mean(axis=axes, keepdims=True) + eps)
    return xc * inv, inv


def _dx(gh: np.ndarray, xhat: np.ndarray, inv: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    """dx = (M ĝ − Σĝ − x̂ Σ(ĝ x̂)) / (M σ), sums over ``axes`` (M elements), ĝ = γ g."""
    m = gh.size // max(inv.size, 1) if gh.size else 1
    return (inv / m) * (m * gh - gh.sum(axis=axes, keepdims=True)
                        - xhat * (gh * xhat).sum(axis=axes, keepdims=True))


# -- batch norm --------------------------------------------------------------------------------
def _batch_axes(name: str, x: np.ndarray) -> tuple[tuple[int, ...], tuple[int, ...]]:
    if x.ndim < 2:
        raise ValueError(f"{name}: x must be (N, C) or (N, C, ...), got shape {x.shape}")
    return (0, *range(2, x.ndim)), (1, x.shape[1]) + (1,) * (x.ndim - 2)


def batchnorm(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray,
              eps: float = 1e-5) -> np.ndarray:
    """y = γ (x − μ)/√(σ² + eps) + β, μ and σ² (biased) per channel over every axis but 1;
    x (N, C) or (N, C, H, W), γ and β (C,)."""
    x = _float(x)
    axes, bshape = _batch_axes("batchnorm", x)
    gamma, beta = _affine("batchnorm", x, gamma, beta, x.shape[1], "one per channel, x.shape[1]")
    xhat, _ = _standardize(x, axes, eps)
    return xhat * gamma.reshape(bshape) + beta.reshape(bshape)


def batchnorm_backward(grad_out: np.ndarray, x: np.ndarray, gamma: np.ndarray,
                       beta: np.ndarray, eps: float = 1e-5) -> Grads3:
    """VJP of batch norm, M = N·H·W elements per channel, sums over every axis but 1:

        dx = γ/(σ·M) · (M·g − Σg − x̂·Σ(g·x̂)),  dγ = Σ g·x̂,  dβ = Σ g.
    """
    x = _float(x)
    axes, bshape = _batch_axes("batchnorm", x)
    gamma, beta = _affine("batchnorm", x, gamma, beta, x.shape[1], "one per channel, x.shape[1]")
    g = _grad("batchnorm_backward", grad_out, x)
    xhat, inv = _standardize(x, axes, eps)
    dbeta = g.sum(axis=axes)
    dgamma = (g * xhat).sum(axis=axes)
    m = x.size // x.shape[1] if x.shape[1] else 1
    dx = (gamma.reshape(bshape) * inv / m) * (
        m * g - dbeta.reshape(bshape) - xhat * dgamma.reshape(bshape))
    return dx, dgamma, dbeta


# -- layer norm --------------------------------------------------------------------------------
def layernorm(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray,
              eps: float = 1e-5) -> np.ndarray:
    """y = γ (x − μ)/√(σ² + eps) + β, μ and σ² (biased) over the last axis; γ, β (D,)."""
    x = _float(x)
    gamma, beta = _affine("layernorm", x, gamma, beta, x.shape[-1], "the last axis of x")
    xhat, _ = _standardize(x, (-1,), eps)
    return xhat * gamma + beta


def layernorm_backward(grad_out: np.ndarray, x: np.ndarray, gamma: np.ndarray,
                       beta: np.ndarray, eps: float = 1e-5) -> Grads3:
    """VJP of layer norm, D = x.shape[-1], ĝ = γ·g, sums over the last axis:

        dx = (D·ĝ − Σĝ − x̂·Σ(ĝ·x̂)) / (D σ),  dγ = Σ_rows g·x̂,  dβ = Σ_rows g.
    """
    x = _float(x)
    gamma, beta = _affine("layernorm", x, gamma, beta, x.shape[-1], "the last axis of x")
    g = _grad("layernorm_backward", grad_out, x)
    xhat, inv = _standardize(x, (-1,), eps)
    rows = tuple(range(x.ndim - 1))
    return _dx(g * gamma, xhat, inv, (-1,)), (g * xhat).sum(axis=rows), g.sum(axis=rows)


# -- group norm --------------------------------------------------------------------------------
def _groups(x: np.ndarray, gamma: Any, beta: Any,
            num_groups: int) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
    if x.ndim < 2:
        raise ValueError(f"groupnorm: x must be (N, C, ...), got shape {x.shape}")
    c = x.shape[1]
    if num_groups < 1 or c % num_groups:
        raise ValueError(f"groupnorm: the channel count C = {c} is not divisible by "
                         f"num_groups = {num_groups}")
    gamma, beta = _affine("groupnorm", x, gamma, beta, c, "one per channel, x.shape[1]")
    return gamma, beta, (c,) + (1,) * (x.ndim - 2)


def groupnorm(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, num_groups: int,
              eps: float = 1e-5) -> np.ndarray:
    """Group norm: x (N, C, ...) viewed as (N, G, C/G·...), μ and σ² (biased) per sample and
    group, y = γ_c x̂ + β_c per channel; γ, β (C,)."""
    x = _float(x)
    gamma, beta, cshape = _groups(x, gamma, beta, num_groups)
    xhat, _ = _standardize(x.reshape(x.shape[0], num_groups, -1), (-1,), eps)
    return xhat.reshape(x.shape) * gamma.reshape(cshape) + beta.reshape(cshape)


def groupnorm_backward(grad_out: np.ndarray, x: np.ndarray, gamma: np.ndarray,
                       beta: np.ndarray, num_groups: int, eps: float = 1e-5) -> Grads3:
    """VJP of group norm: with ĝ = γ_c·g viewed as (N, G, M), M = C/G·H·W,

        dx = (M·ĝ − Σĝ − x̂·Σ(ĝ·x̂)) / (M σ)  (sums within a group),
        dγ = Σ g·x̂,  dβ = Σ g  (over every axis but the channel axis 1).
    """
    x = _float(x)
    gamma, beta, cshape = _groups(x, gamma, beta, num_groups)
    g = _grad("groupnorm_backward", grad_out, x)
    grouped = (x.shape[0], num_groups, -1)
    xhat, inv = _standardize(x.reshape(grouped), (-1,), eps)
    gh = (g * gamma.reshape(cshape)).reshape(grouped)
    dx = _dx(gh, xhat, inv, (-1,)).reshape(x.shape)
    axes = (0, *range(2, x.ndim))
    return dx, (g * xhat.reshape(x.shape)).sum(axis=axes), g.sum(axis=axes)


# -- dropout -----------------------------------------------------------------------------------
def _keep(x: np.ndarray, mask: Any, p: float) -> np.ndarray:
    if not 0.0 <= p < 1.0:
        raise ValueError(f"dropout: p (the drop probability) must be in [0, 1), got {p}")
    mask = np.asarray(mask)
    if mask.shape != x.shape:
        raise ValueError(f"dropout: mask has shape {mask.shape}, expected x's shape {x.shape}")
    return mask.astype(x.dtype) * x.dtype.type(1.0 / (1.0 - p))


def dropout(x: np.ndarray, mask: np.ndarray, p: float = 0.5) -> np.ndarray:
    """Inverted dropout with a given mask: y = x · mask / (1 − p), mask 0/1 (1 = kept)."""
    x = _float(x)
    return x * _keep(x, mask, p)


def dropout_backward(grad_out: np.ndarray, x: np.ndarray, mask: np.ndarray,
                     p: float = 0.5) -> np.ndarray:
    """VJP of dropout: dx = g · mask / (1 − p)."""
    x = _float(x)
    return _grad("dropout_backward", grad_out, x) * _keep(x, mask, p)


# -- embedding ---------------------------------------------------------------------------------
def _ids(ids: Any, weight: np.ndarray) -> np.ndarray:
    ids = np.asarray(ids)
    if weight.ndim != 2:
        raise ValueError(f"embedding: weight must be (V, D), got shape {weight.shape}")
    if not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"embedding: ids must be integers, got dtype {ids.dtype}")
    if ids.size and (ids.min() < 0 or ids.max() >= weight.shape[0]):
        raise ValueError(f"embedding: ids out of range: min {ids.min()}, max {ids.max()}, "
                         f"vocabulary size V = {weight.shape[0]}")
    return ids


def embedding(ids: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """y = weight[ids]: ids integers of any shape, weight (V, D) → ids.shape + (D,)."""
    weight = _float(weight)
    return weight[_ids(ids, weight)]


def embedding_backward(grad_out: np.ndarray, ids: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """VJP of weight[ids]: dW[v] = Σ_{i: ids_i = v} g_i, repeated ids accumulating
    (``np.add.at``, unbuffered: ``dW[ids] += g`` would keep one of the repeats)."""
    weight = _float(weight)
    ids = _ids(ids, weight)
    d = weight.shape[1]
    g = np.asarray(grad_out, dtype=weight.dtype)
    if g.shape != ids.shape + (d,):
        raise ValueError(f"embedding_backward: grad_out has shape {g.shape}, "
                         f"expected {ids.shape + (d,)}")
    dw = np.zeros_like(weight)
    np.add.at(dw, ids.reshape(-1), g.reshape(-1, d))
    return dw


# -- multiclass margin loss --------------------------------------------------------------------
def _hinge(scores: np.ndarray, labels: Any,
           margin: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(z, active, rows): z_ij = margin − s_iy + s_ij on (N, C) scores, active = z > 0 and
    j ≠ y_i. Labels may be integer-valued floats (the kink table stores float inputs)."""
    if scores.ndim not in (1, 2) or scores.shape[-1] < 1:
        raise ValueError(f"multi_margin: scores must be (N, C) or (C,), got {scores.shape}")
    s = scores.reshape(-1, scores.shape[-1])
    y = np.asarray(labels).reshape(-1)
    if not np.issubdtype(y.dtype, np.integer):
        if np.any(y != np.round(y)):
            raise ValueError(f"multi_margin: labels must be integers, got {y.dtype} values")
        y = y.astype(np.int64)
    if y.shape != (s.shape[0],):
        raise ValueError(f"multi_margin: {y.size} labels for {s.shape[0]} samples")
    if y.size and (y.min() < 0 or y.max() >= s.shape[1]):
        raise ValueError(f"multi_margin: labels out of range [0, {s.shape[1]}): "
                         f"min {y.min()}, max {y.max()}")
    rows = np.arange(s.shape[0])
    z = s - s[rows, y][:, None] + s.dtype.type(margin)
    active = z > 0
    active[rows, y] = False
    return z, active, rows


def _scale(reduction: str, n: int, c: int) -> float:
    if reduction not in ("mean", "sum"):
        raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
    return 1.0 / (c * n) if reduction == "mean" and n else 1.0 / c


def multi_margin(scores: np.ndarray, labels: np.ndarray, margin: float = 1.0,
                 reduction: str = "mean") -> np.ndarray:
    """torch's multi_margin_loss (p = 1): per sample ℓ_i = Σ_{j≠y_i} max(0, margin − s_iy +
    s_ij) / C, then the mean (or sum) over the N samples."""
    scores = _float(scores)
    z, active, _ = _hinge(scores, labels, margin)
    total = np.where(active, z, 0).sum() * _scale(reduction, z.shape[0], z.shape[1])
    return np.asarray(total, dtype=scores.dtype)


def multi_margin_backward(grad_out: Any, scores: np.ndarray, labels: np.ndarray,
                          margin: float = 1.0, reduction: str = "mean") -> np.ndarray:
    """VJP of the margin loss, A_ij = [margin − s_iy + s_ij > 0 and j ≠ y_i]:

        ds_ij = g·A_ij / (C·N),  ds_iy = −g·Σ_j A_ij / (C·N)   (no 1/N for "sum").

    At the hinge (margin − s_iy + s_ij = 0) A_ij = 0, as torch.
    """
    scores = _float(scores)
    z, active, rows = _hinge(scores, labels, margin)
    y = np.asarray(labels).reshape(-1).astype(np.int64)
    w = scores.dtype.type(np.asarray(grad_out).item() * _scale(reduction, *z.shape))
    ds = active * w
    ds[rows, y] = -active.sum(axis=1) * w
    return ds.astype(scores.dtype, copy=False).reshape(scores.shape)
