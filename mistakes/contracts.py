"""Mistakes that break a contract beyond values: right numbers, wrong behaviour.

Each entry replaces one function of ``impl`` and breaks one contract of
``gradverify/contracts.py`` (``tests/test_contracts.py``); most pass the whole value matrix,
which compares one call's result and never looks at the arguments afterwards.
``meta_tests/test_contract_mistakes.py`` proves each fails exactly its contract.

These are kept in ``CONTRACT_MISTAKES``, not in ``MISTAKES`` (whose entries are proven caught by
the value matrix): they are importable the same way, ``--impl mistakes.<key>``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from gradverify.impl import sigmoid, softmax

from . import BY_KEY, Mistake


@dataclass(frozen=True)
class ContractMistake(Mistake):
    contract: str = ""  # the contract it breaks (a key of gradverify.contracts.CONTRACTS)


CONTRACT_MISTAKES: list[ContractMistake] = []


def contract_mistake(replaces: str, contract: str, source: str,
                     what: str) -> Callable[[Callable], Callable]:
    def register(fn: Callable) -> Callable:
        m = ContractMistake(fn.__name__, replaces, source, what, fn, contract)
        assert m.key not in BY_KEY, f"mistake names must be unique: {m.key}"
        CONTRACT_MISTAKES.append(m)
        BY_KEY[m.key] = m  # importable as mistakes.<key>
        return fn
    return register


# -- from real code ----------------------------------------------------------------------------
@contract_mistake("relu_backward", "no_mutation", "Saitoh, Deep Learning from Scratch, "
                  "Relu.backward", "The upstream gradient is zeroed in place and returned "
                  "(dout[mask] = 0; dx = dout): the caller's gradient is destroyed.")
def relu_backward_in_place(dout, z):
    mask = z <= 0
    dout[mask] = 0
    dx = dout
    return dx


@contract_mistake("sigmoid_backward", "no_mutation", "student LSTM solutions", "σ(z) is "
                  "computed into z's own buffer with out= ufuncs, overwriting the caller's "
                  "pre-activation.")
def sigmoid_backward_overwrites_z(grad_out, z):
    s = np.exp(np.negative(z, out=z), out=z)
    np.reciprocal(np.add(s, 1, out=s), out=s)
    return grad_out * s * (1 - s)


_DW: dict[tuple, np.ndarray] = {}  # a layer object's self.dW, never reset


@contract_mistake("dense_backward", "repeatable", "class-based NumPy layers", "dW is "
                  "accumulated into a persistent buffer (self.dW += Xᵀ G) that nothing resets: "
                  "each call returns the sum of all calls so far.")
def dense_backward_accumulates(grad_out, x, w, b):
    dw = _DW.setdefault((w.shape, w.dtype.str), np.zeros_like(w))
    dw += x.T @ grad_out
    return grad_out @ w.T, dw.copy(), grad_out.sum(axis=0)


# -- one in-place write per kind of function ---------------------------------------------------
@contract_mistake("softmax", "no_mutation", "classic", "The stabilising shift is done in "
                  "place (z -= max z): the forward returns the right softmax and shifts the "
                  "caller's logits.")
def softmax_shifts_input(z, axis=-1):
    z -= z.max(axis=axis, keepdims=True, initial=-np.inf)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


@contract_mistake("tanh_jacobian", "no_mutation", "classic", "tanh(z) is computed into z "
                  "(np.tanh(z, out=z)) to save a buffer while building the Jacobian.")
def tanh_jacobian_overwrites_z(z):
    t = np.tanh(z, out=z)
    d = 1 - t * t
    return np.diag(d.ravel()).reshape(z.shape * 2)


@contract_mistake("sigmoid_jvp", "no_mutation", "classic", "The tangent is scaled in place "
                  "(tangent *= σ'(z)) and returned.")
def sigmoid_jvp_scales_tangent(z, tangent):
    s = sigmoid(z)
    tangent *= s * (1 - s)
    return tangent


@contract_mistake("mse_hvp", "no_mutation", "classic", "H·v = (2/n)·v computed as v *= 2/n: "
                  "the caller's v is scaled.")
def mse_hvp_scales_v(v, y_pred, y_true, reduction="mean"):
    v *= 2 / (y_pred.size if reduction == "mean" else 1)
    return v


# -- linearity, layouts, consistency -----------------------------------------------------------
@contract_mistake("tanh_backward", "linear_in_g", "RNN training code", "The gradient is "
                  "clipped to ±5 inside the VJP (clipping belongs to the optimizer): not linear "
                  "in g, and the matrix's N(0, 1) cotangents never reach the clip.")
def tanh_backward_clipped(grad_out, z):
    return np.clip(grad_out * (1 - np.tanh(z) ** 2), -5, 5)


@contract_mistake("silu_backward", "layouts", "classic", "Flattens with ravel(order='K') (no "
                  "copy: memory order) and reshapes in C order: elements of transposed or "
                  "Fortran-ordered arguments land in the wrong place.")
def silu_backward_memory_order(grad_out, z):
    g, x = grad_out.ravel(order="K"), z.ravel(order="K")
    s = sigmoid(x)
    return (g * s * (1 + x * (1 - s))).reshape(z.shape)


@contract_mistake("softmax_jvp", "self_consistent", "classic", "The JVP keeps only the "
                  "Jacobian's diagonal, t ⊙ s(1 − s), while the backward is right: the module "
                  "contradicts itself (⟨u, VJP(v)⟩ ≠ ⟨JVP(u), v⟩), no framework needed.")
def softmax_jvp_diagonal(z, tangent, axis=-1):
    s = softmax(z, axis)
    return tangent * s * (1 - s)
