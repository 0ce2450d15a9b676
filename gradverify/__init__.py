"""gradverify: verify hand-written NumPy gradient formulas against PyTorch, JAX, HIPS autograd
and finite differences.

From Python (a notebook): ``gradverify.check(module_or_path)`` verifies every op a module
provides, ``gradverify.gradcheck(f, f_backward, *inputs)`` one function the catalog lacks; both
return a ``Report``. ``gradverify.adapters`` turns other shapes of gradient code (forward /
backward pairs with a cache, layer objects, elementwise derivatives, losses returning their
gradient) into impl's API. From the shell: ``python -m gradverify path/to/my_grads.py``.

The engine: ``catalog`` (every op declared once), ``cases`` (op × params × shape × dtype and
seeded inputs), ``tolerances`` (allowances), ``diagnose`` (what a failure says), ``checks``,
``loader`` (the module under test), ``report`` (the summary matrix) and ``plugin`` (the pytest
options). ``import gradverify`` stays light: the API loads on first use.

PYTEST_DONT_REWRITE (this module has no assertion; pytest.main run again in a process that
imported gradverify would warn that it cannot rewrite it)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .api import Report, check, gradcheck
    from .backprop import check_backprop, rec
    from .custom_backward import check_function
    from .engine import check_engine
    from .opspec import OpSpec

__version__ = "0.2.0"
__all__ = ["OpSpec", "Report", "check", "check_backprop", "check_engine", "check_function",
           "gradcheck", "rec"]


def __getattr__(name: str) -> Any:
    # everything loads on first use: the pytest plugin (gradverify.plugin, an entry point) then
    # costs other projects' pytest runs no numpy import
    if name == "OpSpec":
        from .opspec import OpSpec

        return OpSpec
    if name in ("check", "gradcheck", "Report"):
        from . import api

        return getattr(api, name)
    if name in ("check_backprop", "rec"):  # a whole hand-written backprop: gradverify.backprop
        from importlib import import_module  # rec alone needs only backprop_refs (NumPy)

        return getattr(import_module(f".backprop{'_refs' if name == 'rec' else ''}", __name__),
                       name)
    if name == "check_engine":  # an autograd engine: gradverify.engine
        from .engine import check_engine

        return check_engine
    if name == "check_function":  # a custom backward (torch / jax): gradverify.custom_backward
        from .custom_backward import check_function

        return check_function
    raise AttributeError(f"module 'gradverify' has no attribute {name!r}")
