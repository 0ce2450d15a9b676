"""Reference table entries: convolution, pooling, recurrent cells.

Part of ``reference.table`` (merged into its op tables): the same rules hold, the framework's
own function where it ships one, else the op written in its array API as its users would.

- torch: ``F.conv2d``, ``F.max_pool2d``, ``F.avg_pool2d``; the cells and the sequence RNN are
  ``torch.nn.RNNCell``/``LSTMCell``/``GRUCell``/``RNN(batch_first=True)`` modules called with
  ``torch.func.functional_call`` on our weights transposed into torch's (out, in) layout (a
  single bias b goes in ``bias_ih``, zeros in ``bias_hh``). One module per (sizes, dtype,
  device), cached: its own parameters are never used.
- jax: ``lax.conv_general_dilated`` (NCHW/OIHW), ``lax.reduce_window`` (max from −inf with the
  padding; avg = sum / window size, padding counted), cells in ``jax.numpy``.
- autograd: written in ``autograd.numpy``: conv as a sum over kernel offsets of strided slices
  contracted with w[:, :, i, j]; pooling as a max / mean over the stacked window slices
  (autograd's max splits a tie's gradient evenly among the tied elements).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .table_common import OpTable


def _pair(v: Any) -> tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, (int, np.integer)) else (int(v[0]), int(v[1]))


def _pool_geometry(shape: tuple[int, ...], kernel_size: Any, stride: Any, padding: Any):
    k = _pair(kernel_size)
    s = k if stride is None else _pair(stride)
    p = _pair(padding)
    out = tuple((shape[2 + a] + 2 * p[a] - k[a]) // s[a] + 1 for a in (0, 1))
    return k, s, p, out


def torch_ops(torch: Any) -> OpTable:
    F = torch.nn.functional
    call = torch.func.functional_call
    modules: dict[tuple, Any] = {}

    def module(kind: str, d: int, h: int, like: Any) -> Any:
        key = (kind, d, h, like.dtype, like.device)
        if key not in modules:
            cls = {"rnn": torch.nn.RNNCell, "lstm": torch.nn.LSTMCell, "gru": torch.nn.GRUCell,
                   "seq": lambda d, h, **kw: torch.nn.RNN(d, h, batch_first=True, **kw)}[kind]
            modules[key] = cls(d, h, dtype=like.dtype, device=like.device)
        return modules[key]

    def cell_params(wx: Any, wh: Any, bih: Any, bhh: Any, suffix: str = "") -> dict[str, Any]:
        return {f"weight_ih{suffix}": wx.T, f"weight_hh{suffix}": wh.T,
                f"bias_ih{suffix}": bih, f"bias_hh{suffix}": bhh}

    def rnn_step(x: Any, h: Any, wx: Any, wh: Any, b: Any) -> Any:
        m = module("rnn", x.shape[1], h.shape[1], x)
        return call(m, cell_params(wx, wh, b, torch.zeros_like(b)), (x, h))

    def lstm_step(x: Any, h: Any, c: Any, wx: Any, wh: Any, b: Any) -> Any:
        m = module("lstm", x.shape[1], h.shape[1], x)
        return tuple(call(m, cell_params(wx, wh, b, torch.zeros_like(b)), (x, (h, c))))

    def gru_step(x: Any, h: Any, wx: Any, wh: Any, bx: Any, bh: Any) -> Any:
        m = module("gru", x.shape[1], h.shape[1], x)
        return call(m, cell_params(wx, wh, bx, bh), (x, h))

    def rnn(x: Any, h0: Any, wx: Any, wh: Any, b: Any) -> Any:
        m = module("seq", x.shape[2], h0.shape[1], x)
        out, _ = call(m, cell_params(wx, wh, b, torch.zeros_like(b), "_l0"), (x, h0[None]))
        return out

    return {
        "conv2d": lambda x, w, b, stride=1, padding=0: F.conv2d(x, w, b, stride, padding),
        "max_pool2d": lambda x, kernel_size, stride=None, padding=0: F.max_pool2d(
            x, kernel_size, stride, padding),
        "avg_pool2d": lambda x, kernel_size, stride=None, padding=0: F.avg_pool2d(
            x, kernel_size, stride, padding),
        "rnn_step": rnn_step,
        "lstm_step": lstm_step,
        "gru_step": gru_step,
        "rnn": rnn,
    }


def jax_ops(jax: Any, jnp: Any) -> OpTable:
    lax = jax.lax
    nn = jax.nn

    def conv2d(x: Any, w: Any, b: Any, stride: Any = 1, padding: Any = 0) -> Any:
        p = _pair(padding)
        y = lax.conv_general_dilated(x, w, window_strides=_pair(stride),
                                     padding=[(p[0], p[0]), (p[1], p[1])],
                                     dimension_numbers=("NCHW", "OIHW", "NCHW"),
                                     precision=lax.Precision.HIGHEST)
        return y + b[None, :, None, None]

    def _window(x: Any, init: float, op: Any, kernel_size: Any, stride: Any, padding: Any):
        k, s, p, _ = _pool_geometry(x.shape, kernel_size, stride, padding)
        return k, lax.reduce_window(x, np.asarray(init, x.dtype), op, (1, 1, *k), (1, 1, *s),
                                    ((0, 0), (0, 0), (p[0], p[0]), (p[1], p[1])))

    def max_pool2d(x: Any, kernel_size: Any, stride: Any = None, padding: Any = 0) -> Any:
        return _window(x, -jnp.inf, lax.max, kernel_size, stride, padding)[1]

    def avg_pool2d(x: Any, kernel_size: Any, stride: Any = None, padding: Any = 0) -> Any:
        k, total = _window(x, 0.0, lax.add, kernel_size, stride, padding)
        return total / (k[0] * k[1])

    def lstm_step(x: Any, h: Any, c: Any, wx: Any, wh: Any, b: Any) -> Any:
        i, f, g, o = jnp.split(x @ wx + h @ wh + b, 4, axis=1)
        c_next = nn.sigmoid(f) * c + nn.sigmoid(i) * jnp.tanh(g)
        return nn.sigmoid(o) * jnp.tanh(c_next), c_next

    def gru_step(x: Any, h: Any, wx: Any, wh: Any, bx: Any, bh: Any) -> Any:
        xr, xz, xn = jnp.split(x @ wx + bx, 3, axis=1)
        hr, hz, hn = jnp.split(h @ wh + bh, 3, axis=1)
        r, z = nn.sigmoid(xr + hr), nn.sigmoid(xz + hz)
        n = jnp.tanh(xn + r * hn)
        return (1 - z) * n + z * h

    def rnn(x: Any, h0: Any, wx: Any, wh: Any, b: Any) -> Any:
        def step(h: Any, xt: Any) -> Any:
            h = jnp.tanh(xt @ wx + h @ wh + b)
            return h, h

        _, hs = lax.scan(step, h0, jnp.swapaxes(x, 0, 1))
        return jnp.swapaxes(hs, 0, 1)

    return {
        "conv2d": conv2d,
        "max_pool2d": max_pool2d,
        "avg_pool2d": avg_pool2d,
        "rnn_step": lambda x, h, wx, wh, b: jnp.tanh(x @ wx + h @ wh + b),
        "lstm_step": lstm_step,
        "gru_step": gru_step,
        "rnn": rnn,
    }


def autograd_ops(anp: Any, special: Any) -> OpTable:
    def sigmoid(z: Any) -> Any:
        return 0.5 * (anp.tanh(0.5 * z) + 1.0)

    def pad(x: Any, p: tuple[int, int], value: float = 0.0) -> Any:
        if p == (0, 0):
            return x
        return anp.pad(x, ((0, 0), (0, 0), (p[0], p[0]), (p[1], p[1])), mode="constant",
                       constant_values=value)

    def slices(xp: Any, k, s, out):
        """Each kernel offset's strided slice (N, C, OH, OW), in row-major window order."""
        return [xp[:, :, i: i + out[0] * s[0]: s[0], j: j + out[1] * s[1]: s[1]]
                for i in range(k[0]) for j in range(k[1])]

    def conv2d(x: Any, w: Any, b: Any, stride: Any = 1, padding: Any = 0) -> Any:
        k, s, p, out = _pool_geometry(x.shape, w.shape[2:], stride, padding)
        parts = slices(pad(x, p), k, s, out)
        y = sum(anp.einsum("nchw,fc->nfhw", part, w[:, :, q // k[1], q % k[1]])
                for q, part in enumerate(parts))
        return y + anp.reshape(b, (1, -1, 1, 1))

    def max_pool2d(x: Any, kernel_size: Any, stride: Any = None, padding: Any = 0) -> Any:
        k, s, p, out = _pool_geometry(x.shape, kernel_size, stride, padding)
        return anp.max(anp.stack(slices(pad(x, p, -np.inf), k, s, out), axis=-1), axis=-1)

    def avg_pool2d(x: Any, kernel_size: Any, stride: Any = None, padding: Any = 0) -> Any:
        k, s, p, out = _pool_geometry(x.shape, kernel_size, stride, padding)
        return anp.mean(anp.stack(slices(pad(x, p), k, s, out), axis=-1), axis=-1)

    def lstm_step(x: Any, h: Any, c: Any, wx: Any, wh: Any, b: Any) -> Any:
        a = anp.dot(x, wx) + anp.dot(h, wh) + b
        n_h = h.shape[1]
        i, f = sigmoid(a[:, :n_h]), sigmoid(a[:, n_h:2 * n_h])
        g, o = anp.tanh(a[:, 2 * n_h:3 * n_h]), sigmoid(a[:, 3 * n_h:])
        c_next = f * c + i * g
        return o * anp.tanh(c_next), c_next

    def gru_step(x: Any, h: Any, wx: Any, wh: Any, bx: Any, bh: Any) -> Any:
        ax, ah, n_h = anp.dot(x, wx) + bx, anp.dot(h, wh) + bh, h.shape[1]
        r = sigmoid(ax[:, :n_h] + ah[:, :n_h])
        z = sigmoid(ax[:, n_h:2 * n_h] + ah[:, n_h:2 * n_h])
        n = anp.tanh(ax[:, 2 * n_h:] + r * ah[:, 2 * n_h:])
        return (1 - z) * n + z * h

    def rnn(x: Any, h0: Any, wx: Any, wh: Any, b: Any) -> Any:
        h, hs = h0, []
        for t in range(x.shape[1]):
            h = anp.tanh(anp.dot(x[:, t], wx) + anp.dot(h, wh) + b)
            hs.append(h)
        return anp.stack(hs, axis=1)

    return {
        "conv2d": conv2d,
        "max_pool2d": max_pool2d,
        "avg_pool2d": avg_pool2d,
        "rnn_step": lambda x, h, wx, wh, b: anp.tanh(anp.dot(x, wx) + anp.dot(h, wh) + b),
        "lstm_step": lstm_step,
        "gru_step": gru_step,
        "rnn": rnn,
    }
