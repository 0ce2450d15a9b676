"""Adapters for losses written as objects or per-element functions, in impl's API (see
``gradverify.adapters_objects`` for the parameters they share)::

    scel, scel_backward = loss_layer(SoftmaxWithLoss)          # forward(x, t), backward(dout=1)
    mse, mse_backward = elementwise_loss(sq.loss, sq.gradient, order="targets_first")
"""

from __future__ import annotations

import math
import types
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .adapters import Getter, Pair, Params
    from .adapters_objects import Defaults


# -- loss layers: forward(x, t), backward(dout=1) -----------------------------------------
def loss_layer(make: Callable[..., Any], *, forward: str = "forward", backward: str = "backward",
               out: Getter | str = "return", dx: Getter | str = "return",
               dout: str | None = None, params: Params = None,
               fixed: dict[str, Any] | None = None, defaults: Defaults = None) -> Pair:
    """A loss layer: ``loss = obj.forward(y_pred, y_true)``, ``dx = obj.backward(dout)``, on
    ``obj = make(**hyper_params)``. The case's upstream gradient g (a random scalar, never 1)
    is passed as ``dout`` (positionally, or as keyword ``dout="name"``), so a backward that
    ignores its ``dout=1`` is caught: dx must be g·∂L/∂y. ``out``/``dx``: ``"return"`` or
    where the layer leaves them (``"loss"``, ``"dinputs"``, a getter)."""
    who = _objects._who(make)

    def run(y_pred: Any, y_true: Any, kwargs: dict[str, Any]) -> tuple[Any, Any]:
        obj = _objects.construct(make, (), _objects._hyper(params, fixed, defaults, kwargs, who))
        return obj, _objects._get(obj, out, getattr(obj, forward)(y_pred, y_true))

    def f(y_pred: Any, y_true: Any, **kwargs: Any) -> Any:
        return run(y_pred, y_true, kwargs)[1]

    def f_backward(grad_out: Any, y_pred: Any, y_true: Any, **kwargs: Any) -> Any:
        obj = run(y_pred, y_true, kwargs)[0]
        step = getattr(obj, backward)
        returned = step(grad_out) if dout is None else step(**{dout: grad_out})
        return _objects._get(obj, dx, returned)

    named = _objects._named
    return named(f, make, f".{forward}", fixed), named(f_backward, make, f".{backward}", fixed)


# -- per-element losses: loss(y, p) and gradient(y, p) ------------------------------------
ORDERS = ("targets_first", "predictions_first")
MEANS = ("elements", "rows", "samples")


def _count(y: np.ndarray, mean_over: str) -> int:
    """What a mean divides by: every element (torch's ``reduction="mean"``: mse, bce, huber),
    the rows (``l2``: N = shape[0]) or the samples with the class axis last (``cross_entropy``:
    prod(shape[:-1]))."""
    if mean_over == "elements":
        return y.size
    if mean_over == "rows":
        return y.shape[0] if y.ndim else 1
    return math.prod(y.shape[:-1])


def elementwise_loss(loss: Callable[..., Any], gradient: Callable[..., Any], *, order: str,
                     mean_over: str = "elements", params: Params = None,
                     fixed: dict[str, Any] | None = None, defaults: Defaults = None) -> Pair:
    """Per-element losses ``loss(y, p)`` (an array like ``p``) with a separate
    ``gradient(y, p)`` = ∂loss/∂p elementwise (ML-From-Scratch's ``SquareLoss``,
    ``CrossEntropy``). ``order`` must be declared: ``"targets_first"`` (``loss(y_true,
    y_pred)``) or ``"predictions_first"``. The adapter reduces: L = c·Σ loss, dp = g·c·gradient
    with c = 1/n (``reduction="mean"``, or an op without ``reduction``; n per ``mean_over``:
    ``"elements"``, ``"rows"`` or ``"samples"``, see ``_count``) or c = 1 (``"sum"``). Other
    parameters are passed to both functions as keywords (``params``/``fixed``/``defaults``)."""
    if order not in ORDERS:
        raise ValueError(f"order must be one of {ORDERS}, not {order!r}")
    if mean_over not in MEANS:
        raise ValueError(f"mean_over must be one of {MEANS}, not {mean_over!r}")
    who = getattr(loss, "__qualname__", None) or _objects._who(loss)

    def prepare(y_pred: Any, y_true: Any, kwargs: dict[str, Any]) -> tuple[tuple, dict, float]:
        kw = dict(kwargs)
        reduction = kw.pop("reduction", "mean")
        if reduction not in ("mean", "sum"):
            raise NotImplementedError(f"{who}: reduction={reduction!r}")
        y_pred = np.asarray(y_pred)
        c = 1.0 if reduction == "sum" else 1.0 / max(_count(y_pred, mean_over), 1)
        args = (y_true, y_pred) if order == "targets_first" else (y_pred, y_true)
        return args, _objects._hyper(params, fixed, defaults, kw, who), c

    def f(y_pred: Any, y_true: Any, **kwargs: Any) -> Any:
        args, kw, c = prepare(y_pred, y_true, kwargs)
        return np.sum(loss(*args, **kw)) * c

    def f_backward(grad_out: Any, y_pred: Any, y_true: Any, **kwargs: Any) -> Any:
        args, kw, c = prepare(y_pred, y_true, kwargs)
        return gradient(*args, **kw) * (grad_out * c)  # the scale first, as impl does

    named = _objects._named
    return (named(f, _qualified(loss), fixed=fixed),
            named(f_backward, _qualified(gradient), fixed=fixed))


def _qualified(fn: Callable) -> Any:
    """``fn`` named by its qualified name (``SquareLoss.gradient``, not ``gradient``)."""
    return types.SimpleNamespace(__name__=getattr(fn, "__qualname__", None) or _objects._who(fn),
                                 __module__=getattr(fn, "__module__", None),
                                 __doc__=getattr(fn, "__doc__", None))


__all__ = ["MEANS", "ORDERS", "elementwise_loss", "loss_layer"]

# at the end, the module only: adapters_objects re-exports this one and holds the shared
# helpers (its own and gradverify.adapters'), so any of the three may be imported first
from . import adapters_objects as _objects  # noqa: E402
