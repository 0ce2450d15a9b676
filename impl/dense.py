"""Dense (fully connected) layers in both layouts, with their VJPs.

Samples in rows (seed 000): Z = X W + b, X (m, n_in), W (n_in, n_out), b (n_out,):
    dX = G Wᵀ, dW = Xᵀ G, db = 1ᵀ G (column sums).
Samples in columns (Park, seed 002): Z = W X + b, X (n_in, N), W (n_out, n_in), b (n_out, 1):
    dX = Wᵀ G, dW = G Xᵀ, db = G 1 (row sums, kept as a column).
"""

from __future__ import annotations

import numpy as np

__all__ = ["dense", "dense_backward", "dense_colmajor", "dense_colmajor_backward"]


def _check_dense(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> None:
    if w.ndim != 2 or x.ndim < 1 or x.shape[-1] != w.shape[0]:
        raise ValueError(f"dense: x (..., n_in) and w (n_in, n_out) do not match: "
                         f"x {x.shape}, w {w.shape}")
    if b.shape != (w.shape[1],):
        raise ValueError(f"dense: b must have shape (n_out,) = {(w.shape[1],)}, got {b.shape}")


def _check_colmajor(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> None:
    if w.ndim != 2 or x.ndim != 2 or x.shape[0] != w.shape[1]:
        raise ValueError(f"dense_colmajor: w (n_out, n_in) and x (n_in, N) do not match: "
                         f"w {w.shape}, x {x.shape}")
    if b.shape != (w.shape[0], 1):
        raise ValueError(f"dense_colmajor: b must be a column (n_out, 1) = {(w.shape[0], 1)}, "
                         f"got {b.shape}")


def dense(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Z = X W + b, samples in rows: x (m, n_in), w (n_in, n_out), b (n_out,) → (m, n_out).

    Leading batch axes of x are allowed: x (..., n_in) → (..., n_out).
    """
    x, w, b = np.asarray(x), np.asarray(w), np.asarray(b)
    _check_dense(x, w, b)
    z = x @ w
    z += b
    return z


def dense_backward(grad_out: np.ndarray, x: np.ndarray, w: np.ndarray,
                   b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """VJP of Z = X W + b: (dX, dW, db) = (G Wᵀ, Xᵀ G, Σ_rows G), each in its input's shape
    (leading batch axes of x are summed over in dW and db)."""
    x, w, b = np.asarray(x), np.asarray(w), np.asarray(b)
    _check_dense(x, w, b)
    n_in, n_out = w.shape
    g = np.asarray(grad_out, dtype=np.result_type(x, w, b))
    if g.shape != x.shape[:-1] + (n_out,):
        raise ValueError(f"grad_out has shape {g.shape}, expected {x.shape[:-1] + (n_out,)}")
    # one BLAS call per product on the 2-D views (a batched g @ w.T would loop over the batch
    # axes); the transposes are views that BLAS reads as they are (no copies), on the threads
    # the BLAS library is given (OPENBLAS_NUM_THREADS / OMP_NUM_THREADS, default: all cores)
    g2 = g.reshape(-1, n_out)
    dx = (g2 @ w.T).reshape(x.shape)
    dw = x.reshape(-1, n_in).T @ g2
    db = g2.sum(axis=0)
    return dx, dw, db


def dense_colmajor(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Z = W X + b, samples in columns (Park): x (n_in, N), w (n_out, n_in), b (n_out, 1)
    → (n_out, N)."""
    x, w, b = np.asarray(x), np.asarray(w), np.asarray(b)
    _check_colmajor(x, w, b)
    z = w @ x
    z += b
    return z


def dense_colmajor_backward(grad_out: np.ndarray, x: np.ndarray, w: np.ndarray,
                            b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """VJP of Z = W X + b (Park, Theorem 5.4 with dZ = G): (dX, dW, db) = (Wᵀ G, G Xᵀ,
    row sums of G kept as a column (n_out, 1))."""
    x, w, b = np.asarray(x), np.asarray(w), np.asarray(b)
    _check_colmajor(x, w, b)
    g = np.asarray(grad_out, dtype=np.result_type(x, w, b))
    if g.shape != (w.shape[0], x.shape[1]):
        raise ValueError(f"grad_out has shape {g.shape}, expected {(w.shape[0], x.shape[1])}")
    return w.T @ g, g @ x.T, g.sum(axis=1, keepdims=True)
