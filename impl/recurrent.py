"""Recurrent cells and backprop through time, samples in rows, sequences batch-major (N, T, D).

Weights are (in, out) as in ``dense``: x (N, D) @ wx (D, kH), h (N, H) @ wh (H, kH). Each
backward recomputes the forward's intermediates from the inputs and returns the gradient of
every input, each in its input's shape and dtype.

- RNN cell: h' = tanh(a), a = x wx + h wh + b.
- LSTM cell (torch's gate order i, f, g, o in the 4H columns): a = x wx + h wh + b,
  c' = σ(a_f)·c + σ(a_i)·tanh(a_g), h' = σ(a_o)·tanh(c').
- GRU cell (torch.nn.GRUCell; gates r, z, n): r = σ(x wx_r + bx_r + h wh_r + bh_r),
  z = σ(x wx_z + bx_z + h wh_z + bh_z), n = tanh(x wx_n + bx_n + r·(h wh_n + bh_n)),
  h' = (1 − z)·n + z·h.
- RNN over a sequence: h_t = tanh(x_t wx + h_{t−1} wh + b), returns every h_t (N, T, H).
"""

from __future__ import annotations

import numpy as np

from .activations import _sigmoid

__all__ = ["rnn_step", "rnn_step_backward", "lstm_step", "lstm_step_backward",
           "gru_step", "gru_step_backward", "rnn", "rnn_backward"]


def _check(x: np.ndarray, h: np.ndarray, wx: np.ndarray, wh: np.ndarray, gates: int,
           op: str) -> int:
    """H; ValueError naming the mismatch."""
    if x.ndim != 2 or h.ndim != 2 or x.shape[0] != h.shape[0]:
        raise ValueError(f"{op}: x (N, D) and h (N, H) needed, got x {x.shape}, h {h.shape}")
    n_h = h.shape[1]
    if wx.shape != (x.shape[1], gates * n_h):
        raise ValueError(f"{op}: wx must be (D, {gates}H) = {(x.shape[1], gates * n_h)}, "
                         f"got {wx.shape}")
    if wh.shape != (n_h, gates * n_h):
        raise ValueError(f"{op}: wh must be (H, {gates}H) = {(n_h, gates * n_h)}, got {wh.shape}")
    return n_h


def _bias(b: np.ndarray, size: int, op: str, name: str = "b") -> np.ndarray:
    b = np.asarray(b)
    if b.shape != (size,):
        raise ValueError(f"{op}: {name} must have shape ({size},), got {b.shape}")
    return b


# -- RNN cell --------------------------------------------------------------------------------
def rnn_step(x: np.ndarray, h: np.ndarray, wx: np.ndarray, wh: np.ndarray,
             b: np.ndarray) -> np.ndarray:
    """h' = tanh(x wx + h wh + b): x (N, D), h (N, H), wx (D, H), wh (H, H), b (H,) → (N, H)."""
    x, h, wx, wh = map(np.asarray, (x, h, wx, wh))
    n_h = _check(x, h, wx, wh, 1, "rnn_step")
    a = x @ wx
    a += h @ wh
    a += _bias(b, n_h, "rnn_step")
    return np.tanh(a, out=a)


def rnn_step_backward(grad_out: np.ndarray, x: np.ndarray, h: np.ndarray, wx: np.ndarray,
                      wh: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, ...]:
    """With da = G ⊙ (1 − h'²): (dx, dh, dwx, dwh, db) = (da wxᵀ, da whᵀ, xᵀ da, hᵀ da,
    Σ_rows da)."""
    hn = rnn_step(x, h, wx, wh, b)
    x, h, wx, wh = map(np.asarray, (x, h, wx, wh))
    da = np.asarray(grad_out, dtype=hn.dtype) * (1 - hn * hn)
    return da @ wx.T, da @ wh.T, x.T @ da, h.T @ da, da.sum(axis=0)


# -- LSTM cell -------------------------------------------------------------------------------
def _lstm_gates(x, h, wx, wh, b):
    n_h = _check(x, h, wx, wh, 4, "lstm_step")
    a = x @ wx
    a += h @ wh
    a += _bias(b, 4 * n_h, "lstm_step")
    i, f, o = (_sigmoid(a[:, k * n_h:(k + 1) * n_h]) for k in (0, 1, 3))
    g = np.tanh(a[:, 2 * n_h:3 * n_h])
    return i, f, g, o


def lstm_step(x: np.ndarray, h: np.ndarray, c: np.ndarray, wx: np.ndarray, wh: np.ndarray,
              b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(h', c'): a = x wx + h wh + b (N, 4H) split as i, f, g, o (torch's order);
    c' = σ(a_f)·c + σ(a_i)·tanh(a_g), h' = σ(a_o)·tanh(c')."""
    x, h, c, wx, wh = map(np.asarray, (x, h, c, wx, wh))
    i, f, g, o = _lstm_gates(x, h, wx, wh, b)
    if c.shape != h.shape:
        raise ValueError(f"lstm_step: c must have h's shape {h.shape}, got {c.shape}")
    c_next = f * c + i * g
    return o * np.tanh(c_next), c_next


def lstm_step_backward(grad_out: tuple[np.ndarray, np.ndarray], x: np.ndarray, h: np.ndarray,
                       c: np.ndarray, wx: np.ndarray, wh: np.ndarray,
                       b: np.ndarray) -> tuple[np.ndarray, ...]:
    """grad_out = (dh', dc'). The cell gradient collects both paths:
    dc_tot = dc' + dh'·σ(a_o)·(1 − tanh²(c')); then
    da_i = dc_tot·g·i(1 − i), da_f = dc_tot·c·f(1 − f), da_g = dc_tot·i·(1 − g²),
    da_o = dh'·tanh(c')·o(1 − o), da = [da_i, da_f, da_g, da_o] (N, 4H);
    (dx, dh, dc, dwx, dwh, db) = (da wxᵀ, da whᵀ, dc_tot·f, xᵀ da, hᵀ da, Σ_rows da)."""
    x, h, c, wx, wh = map(np.asarray, (x, h, c, wx, wh))
    i, f, g, o = _lstm_gates(x, h, wx, wh, b)
    c_next = f * c + i * g
    tc = np.tanh(c_next)
    dh_next, dc_next = (np.asarray(v, dtype=c_next.dtype) for v in grad_out)
    dc_tot = dc_next + dh_next * o * (1 - tc * tc)
    da = np.concatenate([dc_tot * g * i * (1 - i), dc_tot * c * f * (1 - f),
                         dc_tot * i * (1 - g * g), dh_next * tc * o * (1 - o)], axis=1)
    return da @ wx.T, da @ wh.T, dc_tot * f, x.T @ da, h.T @ da, da.sum(axis=0)


# -- GRU cell --------------------------------------------------------------------------------
def _gru_parts(x, h, wx, wh, bx, bh):
    n_h = _check(x, h, wx, wh, 3, "gru_step")
    ax = x @ wx
    ax += _bias(bx, 3 * n_h, "gru_step", "bx")
    ah = h @ wh
    ah += _bias(bh, 3 * n_h, "gru_step", "bh")
    r = _sigmoid(ax[:, :n_h] + ah[:, :n_h])
    z = _sigmoid(ax[:, n_h:2 * n_h] + ah[:, n_h:2 * n_h])
    hn = ah[:, 2 * n_h:]  # h wh_n + bh_n (inside the reset gate)
    n = np.tanh(ax[:, 2 * n_h:] + r * hn)
    return r, z, n, hn


def gru_step(x: np.ndarray, h: np.ndarray, wx: np.ndarray, wh: np.ndarray, bx: np.ndarray,
             bh: np.ndarray) -> np.ndarray:
    """h' = (1 − z)·n + z·h with r, z, n as torch.nn.GRUCell (see the module docstring)."""
    x, h, wx, wh = map(np.asarray, (x, h, wx, wh))
    _, z, n, _ = _gru_parts(x, h, wx, wh, bx, bh)
    return n + z * (h - n)


def gru_step_backward(grad_out: np.ndarray, x: np.ndarray, h: np.ndarray, wx: np.ndarray,
                      wh: np.ndarray, bx: np.ndarray, bh: np.ndarray) -> tuple[np.ndarray, ...]:
    """With G = ∂L/∂h': da_n = G(1 − z)(1 − n²), da_z = G(h − n)·z(1 − z),
    da_r = da_n·(h wh_n + bh_n)·r(1 − r); the x side gets dax = [da_r, da_z, da_n], the h side
    dah = [da_r, da_z, r·da_n] (r multiplies h wh_n + bh_n, after the matmul);
    (dx, dh, dwx, dwh, dbx, dbh) = (dax wxᵀ, dah whᵀ + G·z, xᵀ dax, hᵀ dah, Σ dax, Σ dah)."""
    x, h, wx, wh = map(np.asarray, (x, h, wx, wh))
    r, z, n, hn = _gru_parts(x, h, wx, wh, bx, bh)
    g = np.asarray(grad_out, dtype=n.dtype)
    dan = g * (1 - z) * (1 - n * n)
    daz = g * (h - n) * z * (1 - z)
    dar = dan * hn * r * (1 - r)
    dax = np.concatenate([dar, daz, dan], axis=1)
    dah = np.concatenate([dar, daz, dan * r], axis=1)
    return (dax @ wx.T, dah @ wh.T + g * z, x.T @ dax, h.T @ dah, dax.sum(axis=0),
            dah.sum(axis=0))


# -- RNN over a sequence ---------------------------------------------------------------------
def _rnn_states(x, h0, wx, wh, b) -> np.ndarray:
    if x.ndim != 3 or x.shape[1] == 0:
        raise ValueError(f"rnn: x must be (N, T, D) with T ≥ 1, got shape {x.shape}")
    n_h = _check(x[:, 0], h0, wx, wh, 1, "rnn")
    a = x @ wx  # every step's input term in one matmul: (N, T, H)
    a += _bias(b, n_h, "rnn")
    h = h0
    for t in range(x.shape[1]):  # a loop over time steps: h_t needs h_{t−1}
        a[:, t] += h @ wh
        h = np.tanh(a[:, t], out=a[:, t])
    return a


def rnn(x: np.ndarray, h0: np.ndarray, wx: np.ndarray, wh: np.ndarray,
        b: np.ndarray) -> np.ndarray:
    """Every hidden state (N, T, H) of h_t = tanh(x_t wx + h_{t−1} wh + b), h_0 = h0;
    x (N, T, D), h0 (N, H), wx (D, H), wh (H, H), b (H,)."""
    return _rnn_states(*map(np.asarray, (x, h0, wx, wh, b)))


def rnn_backward(grad_out: np.ndarray, x: np.ndarray, h0: np.ndarray, wx: np.ndarray,
                 wh: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, ...]:
    """Backprop through time, G (N, T, H) = ∂L/∂h_t for every t. Backwards from t = T:
    dh_t = G_t + da_{t+1} whᵀ (the gradient carried from the later step), da_t = dh_t(1 − h_t²);
    then (dx, dh0, dwx, dwh, db) = (da wxᵀ, da_1 whᵀ, Σ_t x_tᵀ da_t, Σ_t h_{t−1}ᵀ da_t,
    Σ_{n,t} da), the sums over time as single tensordots."""
    x, h0, wx, wh, b = map(np.asarray, (x, h0, wx, wh, b))
    hs = _rnn_states(x, h0, wx, wh, b)
    g = np.asarray(grad_out, dtype=hs.dtype)
    if g.shape != hs.shape:
        raise ValueError(f"grad_out has shape {g.shape}, expected {hs.shape}")
    da = np.empty_like(hs)
    carry = np.zeros_like(h0, dtype=hs.dtype)
    for t in reversed(range(x.shape[1])):
        dh = g[:, t] + carry
        da[:, t] = dh * (1 - hs[:, t] * hs[:, t])
        carry = da[:, t] @ wh.T
    h_prev = np.concatenate([h0[:, None].astype(hs.dtype, copy=False), hs[:, :-1]], axis=1)
    return (da @ wx.T, carry, np.tensordot(x, da, axes=([0, 1], [0, 1])),
            np.tensordot(h_prev, da, axes=([0, 1], [0, 1])), da.sum(axis=(0, 1)))
