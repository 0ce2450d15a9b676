"""Mistakes in convolution, pooling and recurrent cells.

Each entry is a real way these formulas go wrong: index bookkeeping in a hand-written
conv/pool backward, a course's gate convention under torch's API, a dropped gradient path.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from gradverify.impl import rnn
from gradverify.impl.activations import _sigmoid
from gradverify.impl.conv import _col2im, _conv_args, _pad, _pool_args, _windows
from gradverify.impl.recurrent import _gru_parts, _lstm_gates

from . import mistake


# -- convolution: index bookkeeping ----------------------------------------------------------
@mistake("conv2d_backward", "CS231n assignment 2, conv_backward_naive", "dx is accumulated "
         "into the zero-padded input and returned without cutting the padding off: shape "
         "(N, C, H + 2p, W + 2p).")
def conv_dx_padding_kept(grad_out, x, w, b, stride=1, padding=0):
    x, w, b, s, p, out = _conv_args(x, w, b, stride, padding)
    xp = _pad(x, p)
    cols = _windows(xp, w.shape[2:], s, out)
    dcols = np.tensordot(grad_out, w, axes=([1], [0])).transpose(0, 3, 1, 2, 4, 5)
    dxp = np.zeros_like(xp)
    for i in range(w.shape[2]):
        for j in range(w.shape[3]):
            dxp[:, :, i: i + out[0] * s[0]: s[0], j: j + out[1] * s[1]: s[1]] += dcols[..., i, j]
    dw = np.tensordot(grad_out, cols, axes=([0, 2, 3], [0, 2, 3]))
    return dxp, dw, grad_out.sum(axis=(0, 2, 3))


@mistake("conv2d_backward", "hand-written col2im (cf. backpack issue #30: a conv2d "
         "derivative right only for some stride/padding combinations)", "The stride is ignored "
         "when scattering dx back: window (oh, ow) is added at (oh + i, ow + j) instead of "
         "(oh·s + i, ow·s + j).")
def conv_dx_stride_ignored(grad_out, x, w, b, stride=1, padding=0):
    x, w, b, s, p, out = _conv_args(x, w, b, stride, padding)
    xp = _pad(x, p)
    cols = _windows(xp, w.shape[2:], s, out)
    dcols = np.tensordot(grad_out, w, axes=([1], [0])).transpose(0, 3, 1, 2, 4, 5)
    dx = _col2im(dcols, xp.shape, (1, 1), p)
    dw = np.tensordot(grad_out, cols, axes=([0, 2, 3], [0, 2, 3]))
    return dx, dw, grad_out.sum(axis=(0, 2, 3))


def _dx_full_conv(grad_out, x, w, s, p, flip=True, pad_w_from_h=False):
    """dx as the 'full' convolution of the stride-dilated G with the kernel rotated 180°
    (the textbook derivation), optionally with a mistake."""
    n, f, oh, ow = grad_out.shape
    _, c, kh, kw = w.shape
    hp, wp = x.shape[2] + 2 * p[0], x.shape[3] + 2 * p[1]
    dil = np.zeros((n, f, (oh - 1) * s[0] + 1, (ow - 1) * s[1] + 1), dtype=grad_out.dtype)
    dil[:, :, ::s[0], ::s[1]] = grad_out
    pw = kh - 1 if pad_w_from_h else kw - 1
    gp = np.pad(dil, ((0, 0), (0, 0), (kh - 1, hp - dil.shape[2]), (pw, wp - dil.shape[3])))
    kernel = w[:, :, ::-1, ::-1] if flip else w
    win = sliding_window_view(gp, (kh, kw), axis=(2, 3))[:, :, :hp, :wp]
    dxp = np.einsum("nfhwij,fcij->nchw", win, kernel, optimize=True)
    full = np.zeros((n, c, hp, wp), dtype=dxp.dtype)
    full[:, :, : dxp.shape[2], : dxp.shape[3]] = dxp
    return full[:, :, p[0]: hp - p[0], p[1]: wp - p[1]]


@mistake("conv2d_backward", "the 'dx = full convolution of dY with rot180(W)' derivation",
         "dx is the full convolution of G with the kernel as it is, not rotated by 180°: the "
         "forward's cross-correlation is treated as if its adjoint were a cross-correlation "
         "with the same kernel.")
def conv_dx_kernel_not_flipped(grad_out, x, w, b, stride=1, padding=0):
    x, w, b, s, p, out = _conv_args(x, w, b, stride, padding)
    cols = _windows(_pad(x, p), w.shape[2:], s, out)
    dw = np.tensordot(grad_out, cols, axes=([0, 2, 3], [0, 2, 3]))
    return (_dx_full_conv(grad_out, x, w, s, p, flip=False), dw.astype(w.dtype),
            grad_out.sum(axis=(0, 2, 3)))


@mistake("conv2d_backward", "renmengye/np-conv2d PR #2 (conv2d_gradx padded the width with "
         "the height's size)", "In dx's full convolution, G's width is padded with KH − 1 "
         "(the kernel's height) instead of KW − 1: right only for square kernels.")
def conv_dx_pad_width_from_height(grad_out, x, w, b, stride=1, padding=0):
    x, w, b, s, p, out = _conv_args(x, w, b, stride, padding)
    cols = _windows(_pad(x, p), w.shape[2:], s, out)
    dw = np.tensordot(grad_out, cols, axes=([0, 2, 3], [0, 2, 3]))
    return (_dx_full_conv(grad_out, x, w, s, p, pad_w_from_h=True), dw.astype(w.dtype),
            grad_out.sum(axis=(0, 2, 3)))


@mistake("conv2d_backward", "classic (the dense layer's db = Σ over axis 0, carried over)",
         "db is summed over every axis but the batch, (1, 2, 3), giving one value per sample "
         "instead of one per filter (axes (0, 2, 3)).")
def conv_db_wrong_axes(grad_out, x, w, b, stride=1, padding=0):
    from gradverify.impl import conv2d_backward

    dx, dw, _ = conv2d_backward(grad_out, x, w, b, stride, padding)
    return dx, dw, grad_out.sum(axis=(1, 2, 3))


# -- pooling: routing ------------------------------------------------------------------------
@mistake("max_pool2d_backward", "deeplearning.ai Course 4 pool_backward (the average mode's "
         "distribute-to-the-window used in max mode, without the max mask)", "Each window's "
         "gradient goes to every element of the window instead of only to its maximum.")
def maxpool_to_every_element(grad_out, x, kernel_size, stride=None, padding=0):
    x, k, s, p, out = _pool_args(x, kernel_size, stride, padding, "max_pool2d")
    shape = (x.shape[0], x.shape[1], x.shape[2] + 2 * p[0], x.shape[3] + 2 * p[1])
    return _col2im(np.broadcast_to(grad_out[..., None, None], (*grad_out.shape, *k)), shape, s, p)


@mistake("max_pool2d_backward", "0809zheng/CS231n-assignment2019 issue #19 "
         "(max_pool_backward_naive)", "dx[max position] = dout instead of += dout: where "
         "overlapping windows (stride < kernel) share a maximum, the later window overwrites "
         "the earlier one's gradient.")
def maxpool_overlap_overwrites(grad_out, x, kernel_size, stride=None, padding=0):
    x, k, s, p, out = _pool_args(x, kernel_size, stride, padding, "max_pool2d")
    xp = _pad(x, p, -np.inf)
    win = _windows(xp, k, s, out)
    arg = win.reshape(*win.shape[:4], -1).argmax(axis=-1)
    n, c, oh, ow = np.indices(arg.shape)
    dxp = np.zeros(xp.shape, dtype=x.dtype)
    dxp[n, c, oh * s[0] + arg // k[1], ow * s[1] + arg % k[1]] = grad_out  # = where += belongs
    return dxp[:, :, p[0]: xp.shape[2] - p[0], p[1]: xp.shape[3] - p[1]]


@mistake("avg_pool2d_backward", "TensorFlow's avg_pool with 'SAME' padding (counts only the "
         "real pixels)", "The padded zeros are left out of the divisor (count_include_pad="
         "False) while the forward, as torch's default, counts them: border windows get "
         "G / (real pixels) instead of G / (KH·KW).")
def avgpool_divisor_without_padding(grad_out, x, kernel_size, stride=None, padding=0):
    x, k, s, p, out = _pool_args(x, kernel_size, stride, padding, "avg_pool2d")
    ones = np.ones((1, 1, *x.shape[2:]), dtype=x.dtype)
    count = _windows(_pad(ones, p), k, s, out).sum(axis=(4, 5))
    shape = (x.shape[0], x.shape[1], x.shape[2] + 2 * p[0], x.shape[3] + 2 * p[1])
    share = grad_out / count
    return _col2im(np.broadcast_to(share[..., None, None], (*share.shape, *k)), shape, s, p)


# -- recurrent cells -------------------------------------------------------------------------
@mistake("lstm_step", "CS231n assignment 3, lstm_step_forward (gates i, f, o, g)", "The "
         "course's gate order i, f, o, g read from weights laid out in torch's order i, f, g, "
         "o: the last two blocks swap roles (tanh on the output gate's columns).")
def lstm_course_gate_order(x, h, c, wx, wh, b):
    a = np.asarray(x) @ wx + np.asarray(h) @ wh + b
    n_h = np.shape(h)[1]
    i, f, o = (_sigmoid(a[:, k * n_h:(k + 1) * n_h]) for k in (0, 1, 2))
    g = np.tanh(a[:, 3 * n_h:])
    c_next = f * c + i * g
    return o * np.tanh(c_next), c_next


@mistake("lstm_step_backward", "CS231n assignment 3, lstm_step_backward (the dnext_c term)",
         "The cell-state path is dropped: dc_tot = dh'·o·(1 − tanh²(c')) without the incoming "
         "dc', so gradient arriving through the cell state vanishes.")
def lstm_dc_next_dropped(grad_out, x, h, c, wx, wh, b):
    x, h, c = map(np.asarray, (x, h, c))
    i, f, g, o = _lstm_gates(x, h, wx, wh, b)
    tc = np.tanh(f * c + i * g)
    dh_next, _ = grad_out
    dc_tot = dh_next * o * (1 - tc * tc)
    da = np.concatenate([dc_tot * g * i * (1 - i), dc_tot * c * f * (1 - f),
                         dc_tot * i * (1 - g * g), dh_next * tc * o * (1 - o)], axis=1)
    return da @ wx.T, da @ wh.T, dc_tot * f, x.T @ da, h.T @ da, da.sum(axis=0)


@mistake("gru_step", "Cho et al. 2014 / Keras GRU(reset_after=False)", "The reset gate is "
         "applied to h before the matmul, tanh(x wx_n + bx_n + (r·h) wh_n + bh_n), where "
         "torch.nn.GRUCell applies it after: r·(h wh_n + bh_n).")
def gru_reset_before_matmul(x, h, wx, wh, bx, bh):
    x, h = np.asarray(x), np.asarray(h)
    n_h = h.shape[1]
    r, z, _, _ = _gru_parts(x, h, wx, wh, bx, bh)
    n = np.tanh(x @ wx[:, 2 * n_h:] + bx[2 * n_h:] + (r * h) @ wh[:, 2 * n_h:] + bh[2 * n_h:])
    return (1 - z) * n + z * h


@mistake("gru_step_backward", "Chung et al. 2014 (h' = z·h̃ + (1 − z)·h) against torch's "
         "h' = (1 − z)·n + z·h", "The update gate's sides are swapped in the backward: "
         "dn = G·z, dh_direct = G·(1 − z), dz = G·(n − h), for a forward that uses torch's "
         "convention.")
def gru_update_gate_swapped(grad_out, x, h, wx, wh, bx, bh):
    x, h = np.asarray(x), np.asarray(h)
    r, z, n, hn = _gru_parts(x, h, wx, wh, bx, bh)
    g = grad_out
    dan = g * z * (1 - n * n)
    daz = g * (n - h) * z * (1 - z)
    dar = dan * hn * r * (1 - r)
    dax = np.concatenate([dar, daz, dan], axis=1)
    dah = np.concatenate([dar, daz, dan * r], axis=1)
    return (dax @ wx.T, dah @ wh.T + g * (1 - z), x.T @ dax, h.T @ dah, dax.sum(axis=0),
            dah.sum(axis=0))


@mistake("rnn_backward", "classic BPTT slip (CS231n assignment 3, rnn_backward: dh = dh[:, t] "
         "+ dprev_h)", "The gradient is not carried through h across time steps: each step "
         "sees only its own G_t, the da_{t+1} whᵀ from the later step is dropped.")
def bptt_not_carried(grad_out, x, h0, wx, wh, b):
    hs = rnn(x, h0, wx, wh, b)
    da = grad_out * (1 - hs * hs)
    h_prev = np.concatenate([np.asarray(h0)[:, None], hs[:, :-1]], axis=1)
    return (da @ wx.T, da[:, 0] @ wh.T, np.tensordot(x, da, axes=([0, 1], [0, 1])),
            np.tensordot(h_prev, da, axes=([0, 1], [0, 1])), da.sum(axis=(0, 1)))

