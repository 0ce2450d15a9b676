"""The engine and custom-backward mistakes of docs/MISTAKES.md: each example with its one
mistake, the check that must catch it and the words its cause must contain.
``tools/mistakes_doc.py`` renders them; ``meta_tests/test_engine.py`` and
``meta_tests/test_custom_backward.py`` prove each is caught and the page current."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

X = np.random.default_rng(0).standard_normal((3, 4))  # the custom functions' input
W = np.random.default_rng(1).standard_normal((4, 2))
B = np.random.default_rng(2).standard_normal(2)


@dataclass(frozen=True)
class EngineMistake:
    """``run()`` checks the example; the failure of check ``check`` must name ``cause``."""

    key: str
    what: str
    target: str  # "module:Class" or "module:function"
    check: str  # the failing record's check (graphs, linear, vjp, gradients, ...)
    cause: str  # words the verdict must contain
    run: Callable[[], Any]


def _engine(name: str, module: str = "buggy_scalar", **kw: Any) -> Callable[[], Any]:
    def run() -> Any:
        from importlib import import_module

        from gradverify.engine import check_engine

        return check_engine(getattr(import_module(f"examples.engines.{module}"), name),
                            examples=20, **kw)
    return run


def _function(name: str, *inputs: Any, **kw: Any) -> Callable[[], Any]:
    def run() -> Any:
        from examples.engines import custom_functions
        from gradverify.custom_backward import check_function

        return check_function(getattr(custom_functions, name), *inputs, name=name, **kw)
    return run


ENGINE_MISTAKES = (
    EngineMistake("engine_overwrite", "A node used twice keeps only one gradient: `+` and `*` "
                  "assign `grad =` instead of accumulating `grad +=`.",
                  "buggy_scalar:Overwrite", "graphs", "overwritten (=) instead of accumulated",
                  _engine("Overwrite")),
    EngineMistake("engine_pow", "`__pow__`'s local derivative is k·x^k instead of k·x^(k−1).",
                  "buggy_scalar:PowWrong", "graphs", "local derivative of `__pow__`",
                  _engine("PowWrong")),
    EngineMistake("engine_tanh", "tanh' is written 1 − tanh instead of 1 − tanh².",
                  "buggy_scalar:TanhWrong", "op", "local derivative of `tanh`",
                  _engine("TanhWrong")),
    EngineMistake("engine_stale", "`backward()` does not reset the intermediate nodes: a second "
                  "call on the same graph adds their stale gradients again.",
                  "buggy_scalar:StaleBackward", "graphs", "stale gradients",
                  _engine("StaleBackward")),
    EngineMistake("engine_broadcast", "A broadcast operand's gradient is summed over the "
                  "trailing axes instead of the leading axes NumPy added.",
                  "buggy_tensor:BroadcastWrong", "broadcast", "summed over the wrong axes",
                  _engine("BroadcastWrong", "buggy_tensor")),
    EngineMistake("function_ignores_grad_output", "A `torch.autograd.Function`'s backward "
                  "returns the local derivative without multiplying in grad_output.",
                  "custom_functions:SwishIgnoresGrad", "linear", "ignores grad_output",
                  _function("SwishIgnoresGrad", X, 1.5)),
    EngineMistake("function_missing_term", "A `torch.autograd.Function`'s backward misses the "
                  "product rule's second term: g·σ(βx) for d(x·σ(βx)).",
                  "custom_functions:SwishMissingTerm", "vjp", "disagrees with autodiff",
                  _function("SwishMissingTerm", X, 1.5)),
    EngineMistake("function_none_pattern", "A `torch.autograd.Function`'s backward returns "
                  "None for the bias, which requires a gradient.",
                  "custom_functions:AffineNoBiasGrad", "gradients", "wrong None pattern",
                  _function("AffineNoBiasGrad", X, W, B)),
    EngineMistake("vjp_ignores_cotangent", "A `jax.custom_vjp`'s bwd ignores the cotangent.",
                  "custom_functions:swish_vjp_ignores_cotangent", "linear",
                  "ignores grad_output", _function("swish_vjp_ignores_cotangent", X)),
    EngineMistake("vjp_missing_term", "A `jax.custom_vjp`'s bwd misses the product rule's "
                  "second term.", "custom_functions:swish_vjp_missing_term", "vjp",
                  "disagrees with autodiff", _function("swish_vjp_missing_term", X)),
)


def first_failure(report: Any, check: str) -> Any:
    """The first failed record of ``check``, or None."""
    return next((r for r in report.failures if r.check == check), None)
