"""Defaults that differ between the frameworks, measured from the installed packages.

Each ``Default`` measures one default of one op in each framework by calling the framework's
own function with its defaults (or reading its signature where the function is Python), so
``docs/CONVENTIONS.md`` (``python -m tools.conventions``) shows what is installed, and its
staleness test fails when a release changes one. autograd ships no nn ops: its column says so.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

Measure = Callable[[], str]


def _fmt(x: Any) -> str:
    return f"{float(x):.6g}"


def _torch() -> Any:
    import torch

    return torch


def _jax() -> Any:
    from .jax_ref import configure_xla

    configure_xla()
    import jax

    jax.config.update("jax_enable_x64", True)
    return jax


def _param_default(fn: Callable, name: str) -> str:
    try:
        return repr(inspect.signature(fn).parameters[name].default)
    except (KeyError, TypeError, ValueError):
        return "n/a"


def _gelu_form(value: float) -> str:
    exact = 0.5 * (1 + math.erf(1 / math.sqrt(2)))
    tanh = 0.5 * (1 + math.tanh(math.sqrt(2 / math.pi) * (1 + 0.044715)))
    return ("exact (erf)" if abs(value - exact) < 1e-12 else
            "tanh approximation" if abs(value - tanh) < 1e-12 else f"other ({value:.12g})")


def _softplus_threshold(f: Callable[[float], float]) -> str:
    """The input above which softplus returns x itself (torch's ``threshold``), if any."""
    for t in range(1, 41):
        x = t + 0.5
        if f(x) == x and math.log1p(math.exp(x)) != x:
            return f"returns x itself above {t} (float64)"
    return "none: log(1 + exp(x)) throughout"


@dataclass(frozen=True)
class Default:
    label: str  # what is measured
    how: str  # how it is measured
    torch: Measure
    jax: Measure
    autograd: Measure = lambda: "no such op (written by hand)"


def _t(expr: Callable[[Any], Any]) -> Measure:
    def measure() -> str:
        torch = _torch()
        return str(expr(torch))
    return measure


def _j(expr: Callable[[Any], Any]) -> Measure:
    def measure() -> str:
        jax = _jax()
        return str(expr(jax))
    return measure


DEFAULTS: tuple[Default, ...] = (
    Default("gelu's default form", "gelu(1.0) with default arguments, against both forms",
            _t(lambda t: _gelu_form(t.nn.functional.gelu(t.tensor(1.0, dtype=t.float64)).item())),
            _j(lambda j: _gelu_form(float(j.nn.gelu(j.numpy.float64(1.0)))))),
    Default("leaky_relu's default negative slope", "−leaky_relu(−1.0)",
            _t(lambda t: _fmt(-t.nn.functional.leaky_relu(t.tensor(-1.0)).item())),
            _j(lambda j: _fmt(-float(j.nn.leaky_relu(-1.0))))),
    Default("elu's default alpha", "−elu(−1000.0)",
            _t(lambda t: _fmt(-t.nn.functional.elu(t.tensor(-1000.0)).item())),
            _j(lambda j: _fmt(-float(j.nn.elu(-1000.0))))),
    Default("softplus's beta", "softplus(1.0) / log(1 + e)",
            _t(lambda t: _fmt(math.log1p(math.e) / t.nn.functional.softplus(
                t.tensor(1.0, dtype=t.float64)).item())),
            _j(lambda j: _fmt(math.log1p(math.e) / float(j.nn.softplus(j.numpy.float64(1.0)))))),
    Default("softplus's threshold", "the smallest x.5 where softplus(x) == x exactly (float64)",
            _t(lambda t: _softplus_threshold(lambda x: t.nn.functional.softplus(
                t.tensor(x, dtype=t.float64)).item())),
            _j(lambda j: _softplus_threshold(lambda x: float(j.nn.softplus(j.numpy.float64(x)))))),
    Default("log clamping in binary cross-entropy", "bce(p = 0, target 1), float64",
            _t(lambda t: _fmt(t.nn.functional.binary_cross_entropy(
                t.tensor([0.0], dtype=t.float64), t.tensor([1.0], dtype=t.float64)).item())),
            lambda: "no bce in jax.nn (−log 0 = inf when written by hand)",
            lambda: "no such op (−log 0 = inf when written by hand)"),
    Default("hard_tanh / hardtanh bounds", "hardtanh(±2.0)",
            _t(lambda t: str([float(v) for v in t.nn.functional.hardtanh(
                t.tensor([-2.0, 2.0]))])),
            _j(lambda j: str([float(v) for v in j.nn.hard_tanh(j.numpy.array([-2.0, 2.0]))]))),
    Default("layer/group norm epsilon", "signature default (torch: F.layer_norm, F.group_norm; "
            "jax: jax.nn.standardize)",
            _t(lambda t: f"layer_norm {_param_default(t.nn.functional.layer_norm, 'eps')}, "
                         f"group_norm {_param_default(t.nn.functional.group_norm, 'eps')}, "
                         f"batch_norm {_param_default(t.nn.functional.batch_norm, 'eps')}"),
            _j(lambda j: f"standardize {_param_default(j.nn.standardize, 'epsilon')}")),
    Default("variance algorithm in normalization", "torch: F.layer_norm of float32 rows "
            "1 + 1e-3·N(0, 1) vs float64; jax: jax.nn.standardize's `algorithm` default",
            _t(lambda t: _layer_norm_error(t)),
            _j(lambda j: f"standardize algorithm={_param_default(j.nn.standardize, 'algorithm')}"
                         " (fast = E[x²] − E[x]²)")),
    Default("batch norm running variance", "F.batch_norm(x, rm, rv, training=True, momentum=1) "
            "on 4 samples: rv against the biased and unbiased variances",
            _t(lambda t: _running_var(t)), lambda: "no batch norm in jax.nn"),
    Default("attention scale and precision", "softmax(q kᵀ·s) v for float64 (1, 3, 2, 4) inputs "
            "against s = 1/√d in NumPy",
            _t(lambda t: _attention(lambda q, k, v: t.nn.functional.scaled_dot_product_attention(
                *(t.from_numpy(a) for a in (q, k, v))).numpy())),
            _j(lambda j: _attention(lambda q, k, v: np.asarray(j.nn.dot_product_attention(
                *(a.transpose(0, 2, 1, 3) for a in (q, k, v)))).transpose(0, 2, 1, 3)))),
)


def _layer_norm_error(t: Any) -> str:
    rng = np.random.default_rng(0)
    x = 1 + 1e-3 * rng.standard_normal((8, 64))
    exact = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-5)
    got = t.nn.functional.layer_norm(t.from_numpy(x.astype(np.float32)), (64,)).numpy()
    return f"F.layer_norm float32 error {np.abs(got - exact).max():.1g}"


def _running_var(t: Any) -> str:
    x = t.tensor([[0.0], [1.0], [2.0], [4.0]], dtype=t.float64)
    rm, rv = t.zeros(1, dtype=t.float64), t.ones(1, dtype=t.float64)
    t.nn.functional.batch_norm(x, rm, rv, training=True, momentum=1.0)
    kind = ("unbiased (N − 1)" if abs(rv.item() - x.var(unbiased=True).item()) < 1e-12
            else "biased (N)" if abs(rv.item() - x.var(unbiased=False).item()) < 1e-12 else "?")
    return f"{kind} in running_var; the batch itself is normalized with the biased variance"


def _attention(f: Callable) -> str:
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal((1, 3, 2, 4)) for _ in range(3))
    s = q @ k.swapaxes(-1, -2) / np.sqrt(4)
    p = np.exp(s - s.max(-1, keepdims=True))
    want = (p / p.sum(-1, keepdims=True)) @ v
    err = float(np.abs(np.asarray(f(q, k, v), np.float64) - want).max())
    return f"1/√d, float64 error {err:.1g}" + (" (softmax in float32)" if err > 1e-12 else "")


def measure(d: Default, framework: str) -> str:
    """The default as measured in ``framework`` (or why it cannot be)."""
    try:
        return {"torch": d.torch, "jax": d.jax, "autograd": d.autograd}[framework]()
    except ImportError as exc:
        return f"not installed ({exc})"


def measure_cached(d: Default, framework: str) -> str:
    """``measure`` through the reference cache, keyed by the framework's version and this
    file's source: a warm run imports no framework to check docs/CONVENTIONS.md."""
    from . import BackendUnavailable, get

    try:
        ref = get(framework)
    except BackendUnavailable:
        return measure(d, framework)
    return ref.cached(f"default:{d.label}", lambda _real: measure(d, framework))
