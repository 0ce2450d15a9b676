"""Known variants of an op's definition: what people legitimately implement instead of the
catalog's definition (batch norm with Bessel's correction, dropout scaled at test time, another
eps, a sum where a mean is asked, gelu's other form, ½ in a squared error).

Every variant is computed by the case's own reference through ``reference.table``, to that
reference's allowance, never by a second hand-written formula:

- ``params``: the catalog's op with other parameters (eps, reduction, approximate);
- ``reparam``: the catalog's op at scaled inputs and other parameters, an identity
  ``variant(x₁, …; p) = op(s₁x₁, …; p')`` whose gradients are ``sᵢ·∂op/∂xᵢ'``. Batch norm with
  Bessel's correction is ``batchnorm(x/c, c·γ, β, eps)`` with ``c = √((M − 1)/M)``: for
  ``s² = σ²/c²``, ``(x − μ)/√(s² + eps) = c·((x − μ)/c)/√(σ²/c² + eps)``, the standardization
  of x/c times c; dropout without the inverted scale is ``dropout((1 − p)·x, mask, p)``.
  ``numpy`` is the variant's direct NumPy definition (``meta_tests/test_variants.py`` proves
  each identity against it).

A function that fails a check but matches a variant to the allowance, with the module's other
function of the op (its forward, or its backward) matching the same variant, is a *definition
difference*, not a wrong derivative (``pytest.xfail("definition difference: ...")``). A module
that implements a variant on purpose declares it, ``GRADVERIFY_VARIANTS = {"batchnorm":
"bessel"}``, and is then checked against it (see ``declared_variant``).

Softmax cross-entropy over integer labels and over one-hot targets need no variant: both are
catalog input domains (``softmax_cross_entropy[int_labels]``, ``[one_hot]``); a module that
takes one form only says so with ``GRADVERIFY_SUPPORTS = {"softmax_cross_entropy":
{"variant": ["one_hot"]}}``.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
import pytest

from gradverify.reference.table_common import reduce as _reduce

#: (inputs, params) -> (a scale per input, the op's parameters)
Reparam = Callable[[Sequence[Any], Mapping[str, Any]], tuple[tuple[float, ...], dict[str, Any]]]


@dataclass(frozen=True, eq=False)
class Variant:
    """One known definition of an op other than the catalog's (compared by identity)."""

    name: str  # what GRADVERIFY_VARIANTS names it by: "bessel", "eps=1e-05", "reduction=sum"
    description: str  # "batch norm with Bessel's correction (n − 1)"
    params: Mapping[str, Any] = field(default_factory=dict)  # the op with these parameters
    reparam: Reparam | None = None  # or the op at scaled inputs (see the module's docstring)
    numpy: Callable[..., Any] | None = None  # the variant's direct definition (for the tests)

    def applies(self, op: str, kwargs: Mapping[str, Any]) -> bool:
        """Whether this variant differs from the case (``params`` equal to the case's, impl's
        defaults included, are the case itself)."""
        if self.reparam is not None:
            return True
        current = {**defaults(op), **kwargs}
        return any(current.get(k, object()) != v for k, v in self.params.items())

    def tol_ref(self, ref: str, kind: str) -> str:
        """Whose allowance applies: the reference's (every variant is computed by it)."""
        return ref

    def says(self, op: str, kwargs: Mapping[str, Any]) -> str:
        """The description, with the case's own value where ``params`` replace one."""
        current = {**defaults(op), **kwargs}
        was = ", ".join(f"{k}={current[k]!r}" for k in self.params if k in current)
        return f"{self.description} (the case has {was})" if was else self.description


def defaults(op: str) -> dict[str, Any]:
    """impl's default parameters of ``op`` (what a case that does not set them uses)."""
    from gradverify import impl
    fn = getattr(impl, op, None)
    if fn is None:
        return {}
    return {k: p.default for k, p in inspect.signature(fn).parameters.items()
            if p.default is not inspect.Parameter.empty}


class VariantReference:
    """A reference's op-level transforms (``forward``, ``op_vjp``, ``op_jacobian``) computing
    a variant instead of the catalog's op: what ``gradverify.checks`` compares with."""

    def __init__(self, r: Any, variant: Variant) -> None:
        self.r, self.variant = r, variant
        self.name = getattr(r, "name", "reference")

    def _at(self, inputs: Sequence[Any], params: dict[str, Any] | None
            ) -> tuple[list[Any], dict[str, Any], tuple[float, ...]]:
        """(the op's inputs, its parameters, the scale of each input's gradient)."""
        params = {**(params or {}), **self.variant.params}
        if self.variant.reparam is None:
            return list(inputs), params, (1.0,) * len(inputs)
        scales, changed = self.variant.reparam(inputs, params)
        xs = [x if s == 1.0 else (s * np.asarray(x, np.float64)).astype(np.asarray(x).dtype)
              for x, s in zip(inputs, scales)]
        return xs, {**params, **changed}, scales

    def forward(self, name: str, inputs: Sequence[np.ndarray],
                params: dict[str, Any] | None = None, *,
                argnums: Sequence[int] | None = None) -> np.ndarray:
        xs, p, _ = self._at(inputs, params)
        return self.r.forward(name, xs, p, argnums=argnums)

    def op_vjp(self, name: str, params: dict[str, Any], inputs: Sequence[np.ndarray],
               cotangent: np.ndarray, argnums: Sequence[int]) -> tuple[np.ndarray, ...]:
        xs, p, scales = self._at(inputs, params)
        grads = self.r.op_vjp(name, p, xs, cotangent, argnums)
        return tuple(g if scales[i] == 1.0 else scales[i] * np.asarray(g)
                     for g, i in zip(grads, argnums))

    def op_jacobian(self, name: str, params: dict[str, Any], inputs: Sequence[np.ndarray],
                    argnums: Sequence[int]) -> tuple[np.ndarray, ...]:
        xs, p, scales = self._at(inputs, params)
        jacs = self.r.op_jacobian(name, p, xs, argnums)
        return tuple(j if scales[i] == 1.0 else scales[i] * np.asarray(j)
                     for j, i in zip(jacs, argnums))


def declared_variant(module: Any, spec: Any) -> Variant | None:
    """The variant ``module`` declares for ``spec``'s op in ``GRADVERIFY_VARIANTS``, or None;
    a name that is none of the op's variants fails the case, naming the known ones."""
    table = getattr(module, "GRADVERIFY_VARIANTS", None) or {}
    name = table.get(spec.name) if isinstance(table, Mapping) else None
    if name is None:
        return None
    for v in spec.variants:
        if v.name == name:
            return v
    known = ", ".join(repr(v.name) for v in spec.variants) or "none"
    pytest.fail(f"GRADVERIFY_VARIANTS: {spec.name} has no variant {name!r} (its variants: "
                f"{known})", pytrace=False)


def source(r: Any, module: Any, spec: Any, kwargs: Mapping[str, Any]) -> tuple[Any, str]:
    """(what a check compares with, a note for its diagnosis): the reference, or the variant
    the module declares for the op."""
    v = declared_variant(module, spec)
    if v is None or not v.applies(spec.name, kwargs):
        return r, ""
    return VariantReference(r, v), (f"checked against the variant the module declares "
                                    f"(GRADVERIFY_VARIANTS): {v.says(spec.name, kwargs)}")


# -- NumPy forwards (float64 in, impl's signatures) --------------------------------------------
def _channel(p: np.ndarray, ndim: int) -> np.ndarray:
    return p.reshape((-1,) + (1,) * (ndim - 2))


def _standardize_unbiased(x: np.ndarray, axis: Any, eps: float) -> np.ndarray:
    """(x − mean) / √(var₁ + eps) with var₁ = Σ(x − mean)²/(n − 1) (Bessel's correction)."""
    xc = x - x.mean(axis=axis, keepdims=True)
    return xc / np.sqrt(x.var(axis=axis, keepdims=True, ddof=1) + eps)


def batchnorm_bessel(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray,
                     eps: float = 1e-5) -> np.ndarray:
    """γ·(x − μ)/√(s² + eps) + β over (N, H, W) per channel, s² with n − 1."""
    xhat = _standardize_unbiased(x, (0, *range(2, x.ndim)), eps)
    return xhat * _channel(gamma, x.ndim) + _channel(beta, x.ndim)


def layernorm_bessel(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray,
                     eps: float = 1e-5) -> np.ndarray:
    """γ·(x − μ)/√(s² + eps) + β over the last axis, s² with n − 1."""
    return _standardize_unbiased(x, -1, eps) * gamma + beta


def groupnorm_bessel(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, num_groups: int,
                     eps: float = 1e-5) -> np.ndarray:
    """Group norm with s² over each group's values divided by n − 1."""
    grouped = x.reshape(x.shape[0], num_groups, -1)
    xhat = _standardize_unbiased(grouped, -1, eps).reshape(x.shape)
    return xhat * _channel(gamma, x.ndim) + _channel(beta, x.ndim)


def dropout_non_inverted(x: np.ndarray, mask: np.ndarray, p: float = 0.5) -> np.ndarray:
    """x·mask in training, the 1 − p scale applied at test time instead (original dropout)."""
    return x * mask


def mse_half(y_pred: np.ndarray, y_true: np.ndarray, reduction: str = "mean") -> np.ndarray:
    """½·mean((ŷ − y)²) (or ½·Σ): the ½ that makes the gradient ŷ − y."""
    return 0.5 * _reduce((y_pred - y_true) ** 2, reduction)


def l2_no_mean(y_pred: np.ndarray, y_true: np.ndarray) -> np.ndarray:
    """½·Σ‖ŷ − y‖²: the per-sample cost summed, without the 1/N."""
    return 0.5 * np.sum((y_pred - y_true) ** 2)


# -- reparametrizations: the variant as the catalog's op at scaled inputs -----------------------
def _bessel_reparam(group: Callable[[Any, Mapping[str, Any]], int]) -> Reparam:
    """x → x/c, γ → c·γ with c = √((M − 1)/M), M = the values per statistic (eps unchanged,
    so finite differences see the case's own curvature)."""
    def reparam(xs: Sequence[Any], params: Mapping[str, Any]):
        m = group(np.asarray(xs[0]), params)
        c = math.sqrt((m - 1) / m) if m > 1 else 1.0
        return (1 / c, c, 1.0), {}
    return reparam


def _per_channel(x: Any, params: Mapping[str, Any]) -> int:
    return x.size // x.shape[1] if x.ndim > 1 and x.shape[1] else 1


def _per_row(x: Any, params: Mapping[str, Any]) -> int:
    return x.shape[-1] if x.ndim else 1


def _per_group(x: Any, params: Mapping[str, Any]) -> int:
    return x.size // (x.shape[0] * params["num_groups"]) if x.size else 1


def _non_inverted(xs: Sequence[Any], params: Mapping[str, Any]):
    return (1 - params.get("p", 0.5), 1.0), {}


def _times(factor: Callable[[Sequence[Any]], float]) -> Reparam:
    """A squared error times ``factor``: both inputs scaled by √factor."""
    def reparam(xs: Sequence[Any], params: Mapping[str, Any]):
        s = math.sqrt(factor(xs))
        return (s, s), {}
    return reparam


def _samples(xs: Sequence[Any]) -> float:
    return float(np.shape(xs[0])[0]) if np.ndim(xs[0]) else 1.0


# -- each op's variants ------------------------------------------------------------------------
def _eps(what: str) -> tuple[Variant, ...]:
    return tuple(Variant(f"eps={e:g}", f"{what} with eps = {e:g} (a hard-coded eps?)",
                         MappingProxyType({"eps": e})) for e in (1e-8, 1e-5, 1e-3, 0.0))


def _bessel(what: str, fn: Callable[..., Any], group: Callable[[Any, Mapping], int]) -> Variant:
    return Variant("bessel", f"{what} with Bessel's correction (n − 1) in the variance",
                   reparam=_bessel_reparam(group), numpy=fn)


def _reductions(op: str) -> tuple[Variant, ...]:
    return (Variant("reduction=sum", f"{op} summed over the samples, without the 1/N "
                    "(reduction='sum')", MappingProxyType({"reduction": "sum"})),
            Variant("reduction=mean", f"{op} averaged, with a 1/N (reduction='mean')",
                    MappingProxyType({"reduction": "mean"})))


VARIANTS: dict[str, tuple[Variant, ...]] = {
    "batchnorm": (_bessel("batch norm", batchnorm_bessel, _per_channel), *_eps("batch norm")),
    "layernorm": (_bessel("layer norm", layernorm_bessel, _per_row), *_eps("layer norm")),
    "groupnorm": (_bessel("group norm", groupnorm_bessel, _per_group), *_eps("group norm")),
    "dropout": (Variant("non_inverted", "dropout without inverted scaling (x·mask in "
                        "training, scaled by 1 − p at test time instead)",
                        reparam=_non_inverted, numpy=dropout_non_inverted),),
    "gelu": (Variant("approximate=tanh", "gelu's tanh approximation",
                     MappingProxyType({"approximate": "tanh"})),
             Variant("approximate=none", "gelu's exact (erf) form",
                     MappingProxyType({"approximate": "none"}))),
    "mse": (*_reductions("mse"),
            Variant("half", "mse with a ½ (½·mean((ŷ − y)²), gradient ŷ − y)",
                    reparam=_times(lambda xs: 0.5), numpy=mse_half)),
    "l2": (Variant("no_mean", "the per-sample cost ½‖ŷ − y‖² summed, without the 1/N",
                   reparam=_times(_samples), numpy=l2_no_mean),),
    **{op: _reductions(op) for op in ("mae", "huber", "bce", "bce_with_logits",
                                      "cross_entropy", "softmax_cross_entropy",
                                      "multi_margin")},
}


def of(op: str) -> tuple[Variant, ...]:
    """The known variants of ``op`` (for the catalog's ``OpSpec(variants=...)``)."""
    return VARIANTS.get(op, ())


__all__ = ["VARIANTS", "Variant", "VariantReference", "declared_variant", "defaults", "of",
           "source"]
