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
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .opspec import OpSpec

if TYPE_CHECKING:
    from .api import Report, check, gradcheck

__version__ = "0.2.0"
__all__ = ["OpSpec", "Report", "check", "gradcheck"]


def __getattr__(name: str) -> Any:
    if name in ("check", "gradcheck", "Report"):
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'gradverify' has no attribute {name!r}")
