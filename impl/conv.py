"""2-D convolution and pooling (NCHW images, (F, C, KH, KW) kernels), with their VJPs.

Windows are strided views: ``sliding_window_view`` of the (padded) image, subsampled by the
stride, gives cols[n, c, oh, ow, i, j] = x_pad[n, c, oh·sh + i, ow·sw + j] without a copy
(im2col as a view). Forward passes contract or reduce over those views; backward passes build
the gradient of the columns and scatter-add it back (col2im): one strided slice-add per kernel
offset (i, j), vectorized over samples, channels and output pixels, so overlapping windows
(stride < kernel) accumulate. Padding is then cut off.

Output size (torch's, ceil_mode False): OH = ⌊(H + 2·ph − KH) / sh⌋ + 1, likewise OW.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = ["conv2d", "conv2d_backward", "max_pool2d", "max_pool2d_backward",
           "avg_pool2d", "avg_pool2d_backward"]

Pair = tuple[int, int]


# -- helpers ---------------------------------------------------------------------------------
def _pair(v: int | tuple[int, int] | list[int], name: str) -> Pair:
    """An int or an (h, w) pair as an (h, w) pair of non-negative ints."""
    pair: tuple[Any, ...] = (v, v) if isinstance(v, (int, np.integer)) else tuple(v)
    if len(pair) != 2 or any(int(p) != p or p < 0 for p in pair):
        raise ValueError(f"{name} must be an int or an (h, w) pair of non-negative ints, got {v!r}")
    return int(pair[0]), int(pair[1])


def _image(x: np.ndarray, op: str) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 4:
        raise ValueError(f"{op}: x must be NCHW (4-D), got shape {x.shape}")
    if not np.issubdtype(x.dtype, np.inexact):
        x = x.astype(np.float64)
    return x


def _geometry(x: np.ndarray, kernel: Pair, stride: Pair, padding: Pair, op: str) -> Pair:
    """(OH, OW); ValueError when the kernel does not fit the padded input."""
    (h, w), (kh, kw), (sh, sw), (ph, pw) = x.shape[2:], kernel, stride, padding
    if kh < 1 or kw < 1 or sh < 1 or sw < 1:
        raise ValueError(f"{op}: kernel size and stride must be ≥ 1, got kernel {kernel}, "
                         f"stride {stride}")
    if kh > h + 2 * ph or kw > w + 2 * pw:
        raise ValueError(f"{op}: kernel {kh}x{kw} larger than the padded input "
                         f"{h + 2 * ph}x{w + 2 * pw} (input {h}x{w}, padding {padding})")
    return (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1


def _pad(x: np.ndarray, padding: Pair, value: float = 0.0) -> np.ndarray:
    ph, pw = padding
    if ph == pw == 0:
        return x
    return np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=value)


def _windows(xp: np.ndarray, kernel: Pair, stride: Pair, out: Pair) -> np.ndarray:
    """cols (N, C, OH, OW, KH, KW): a strided view of the padded image, no copy."""
    v = sliding_window_view(xp, kernel, axis=(2, 3))
    return v[:, :, : out[0] * stride[0]: stride[0], : out[1] * stride[1]: stride[1]]


def _col2im(cols: np.ndarray, shape: tuple[int, ...], stride: Pair, padding: Pair) -> np.ndarray:
    """The adjoint of ``_windows`` then padding: scatter-add cols (N, C, OH, OW, KH, KW) into
    an image of the padded ``shape`` (N, C, Hp, Wp), one strided slice per kernel offset,
    and cut the padding off."""
    _, _, oh, ow, kh, kw = cols.shape
    (sh, sw), (ph, pw) = stride, padding
    dxp = np.zeros(shape, dtype=cols.dtype)
    for i in range(kh):
        for j in range(kw):
            dxp[:, :, i: i + oh * sh: sh, j: j + ow * sw: sw] += cols[..., i, j]
    return dxp[:, :, ph: shape[2] - ph, pw: shape[3] - pw]


def _grad(grad_out: np.ndarray, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    g = np.asarray(grad_out, dtype=dtype)
    if g.shape != shape:
        raise ValueError(f"grad_out has shape {g.shape}, expected {shape} (the output's shape)")
    return g


# -- conv2d ----------------------------------------------------------------------------------
def _conv_args(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride, padding):
    x, w, b = _image(x, "conv2d"), np.asarray(w), np.asarray(b)
    if w.ndim != 4:
        raise ValueError(f"conv2d: w must be (F, C, KH, KW), got shape {w.shape}")
    if w.shape[1] != x.shape[1]:
        raise ValueError(f"conv2d: channel mismatch: x has {x.shape[1]} channels, "
                         f"w expects {w.shape[1]} (w is (F, C, KH, KW) = {w.shape})")
    if b.shape != (w.shape[0],):
        raise ValueError(f"conv2d: b must have shape (F,) = {(w.shape[0],)}, got {b.shape}")
    s, p = _pair(stride, "stride"), _pair(padding, "padding")
    out = _geometry(x, w.shape[2:], s, p, "conv2d")
    return x, w, b, s, p, out


def conv2d(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int | Pair = 1,
           padding: int | Pair = 0) -> np.ndarray:
    """Cross-correlation, as ``torch.nn.functional.conv2d``: x (N, C, H, W), w (F, C, KH, KW),
    b (F,) → y (N, F, OH, OW),

        y[n, f, oh, ow] = b[f] + Σ_{c,i,j} x_pad[n, c, oh·sh + i, ow·sw + j] · w[f, c, i, j],

    one tensordot of the im2col view (N, C, OH, OW, KH, KW) with w over (c, i, j).
    """
    x, w, b, s, p, out = _conv_args(x, w, b, stride, padding)
    cols = _windows(_pad(x, p), w.shape[2:], s, out)
    y = np.tensordot(cols, w, axes=([1, 4, 5], [1, 2, 3]))  # (N, OH, OW, F)
    y += b
    return np.ascontiguousarray(y.transpose(0, 3, 1, 2))


def conv2d_backward(grad_out: np.ndarray, x: np.ndarray, w: np.ndarray, b: np.ndarray,
                    stride: int | Pair = 1, padding: int | Pair = 0
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """VJP of ``conv2d`` for G = ∂L/∂y (N, F, OH, OW):

        dw[f, c, i, j] = Σ_{n,oh,ow} G[n, f, oh, ow] · cols[n, c, oh, ow, i, j]
        dcols[n, c, oh, ow, i, j] = Σ_f G[n, f, oh, ow] · w[f, c, i, j],  dx = col2im(dcols)
        db[f] = Σ_{n,oh,ow} G[n, f, oh, ow]

    dw and dcols are one tensordot each; col2im adds each kernel offset's slice back into the
    padded image (stride-spaced) and cuts the padding off.
    """
    x, w, b, s, p, out = _conv_args(x, w, b, stride, padding)
    g = _grad(grad_out, (x.shape[0], w.shape[0], *out), np.result_type(x, w, b))
    xp = _pad(x, p)
    cols = _windows(xp, w.shape[2:], s, out)
    dw = np.tensordot(g, cols, axes=([0, 2, 3], [0, 2, 3]))  # (F, C, KH, KW)
    dcols = np.tensordot(g, w, axes=([1], [0]))  # (N, OH, OW, C, KH, KW)
    dx = _col2im(dcols.transpose(0, 3, 1, 2, 4, 5), xp.shape, s, p)
    return dx, dw.astype(w.dtype, copy=False), g.sum(axis=(0, 2, 3)).astype(b.dtype, copy=False)


# -- pooling ---------------------------------------------------------------------------------
def _pool_args(x: np.ndarray, kernel_size, stride, padding, op: str):
    x = _image(x, op)
    k = _pair(kernel_size, "kernel_size")
    s = k if stride is None else _pair(stride, "stride")
    p = _pair(padding, "padding")
    if 2 * p[0] > k[0] or 2 * p[1] > k[1]:
        raise ValueError(f"{op}: padding {p} must be at most half the kernel size {k}")
    return x, k, s, p, _geometry(x, k, s, p, op)


def _argmax(cols: np.ndarray) -> np.ndarray:
    """Each window's max position, flat in row-major window order (i·KW + j); at a tie the
    first occurrence, as torch."""
    n, c, oh, ow, kh, kw = cols.shape
    return cols.reshape(n, c, oh, ow, kh * kw).argmax(axis=-1)


def max_pool2d(x: np.ndarray, kernel_size: int | Pair, stride: int | Pair | None = None,
               padding: int | Pair = 0) -> np.ndarray:
    """y[n, c, oh, ow] = max_{i,j} x_pad[n, c, oh·sh + i, ow·sw + j], padding with −inf;
    stride defaults to kernel_size. A reduction over the window view."""
    x, k, s, p, out = _pool_args(x, kernel_size, stride, padding, "max_pool2d")
    return _windows(_pad(x, p, -np.inf), k, s, out).max(axis=(4, 5))


def max_pool2d_backward(grad_out: np.ndarray, x: np.ndarray, kernel_size: int | Pair,
                        stride: int | Pair | None = None, padding: int | Pair = 0) -> np.ndarray:
    """VJP of ``max_pool2d``: each window's G[n, c, oh, ow] goes to ONE position, the window's
    argmax (at a tie the first in row-major window order, as torch on CPU); overlapping
    windows add up. dcols = G · onehot(argmax), then col2im."""
    x, k, s, p, out = _pool_args(x, kernel_size, stride, padding, "max_pool2d")
    g = _grad(grad_out, (*x.shape[:2], *out), x.dtype)
    xp = _pad(x, p, -np.inf)
    arg = _argmax(_windows(xp, k, s, out))
    dcols = np.zeros((*g.shape, k[0] * k[1]), dtype=x.dtype)
    np.put_along_axis(dcols, arg[..., None], g[..., None], axis=-1)
    return _col2im(dcols.reshape(*g.shape, *k), xp.shape, s, p)


def avg_pool2d(x: np.ndarray, kernel_size: int | Pair, stride: int | Pair | None = None,
               padding: int | Pair = 0) -> np.ndarray:
    """y[n, c, oh, ow] = (1 / (KH·KW)) Σ_{i,j} x_pad[n, c, oh·sh + i, ow·sw + j], zero padding
    counted in the divisor (torch's count_include_pad=True); stride defaults to kernel_size."""
    x, k, s, p, out = _pool_args(x, kernel_size, stride, padding, "avg_pool2d")
    return _windows(_pad(x, p), k, s, out).mean(axis=(4, 5))


def avg_pool2d_backward(grad_out: np.ndarray, x: np.ndarray, kernel_size: int | Pair,
                        stride: int | Pair | None = None, padding: int | Pair = 0) -> np.ndarray:
    """VJP of ``avg_pool2d``: every element of a window gets G[n, c, oh, ow] / (KH·KW)
    (dcols a broadcast view), then col2im (overlaps add; padding's share is dropped)."""
    x, k, s, p, out = _pool_args(x, kernel_size, stride, padding, "avg_pool2d")
    g = _grad(grad_out, (*x.shape[:2], *out), x.dtype)
    shape = (x.shape[0], x.shape[1], x.shape[2] + 2 * p[0], x.shape[3] + 2 * p[1])
    share = g / x.dtype.type(k[0] * k[1])
    dcols = np.broadcast_to(share[..., None, None], (*g.shape, *k))
    return _col2im(dcols, shape, s, p)
