"""References: the same ops differentiated by PyTorch, JAX, HIPS autograd and finite differences.

``get(name)`` returns a ``Reference`` (see ``reference.base``) or raises ``BackendUnavailable``
with the reason (package missing, no GPU); a suite skips that reference's cases with it.
The reference it returns is a ``reference.cache.CachedReference``: its op-level results come
from the reference cache when stored there, and the framework is imported only when something
must be computed (a package that is not installed is found without importing it).
"""

from __future__ import annotations

import functools
from importlib import import_module
from importlib.util import find_spec

from .base import BackendUnavailable, Reference, Unsupported

NAMES = ("torch", "jax", "autograd", "numeric")

#: reference name -> (module, class, the packages it needs)
_WHERE = {
    "torch": (f"{__name__}.torch_ref", "TorchReference", ("torch",)),
    "jax": (f"{__name__}.jax_ref", "JaxReference", ("jax", "jaxlib")),
    "autograd": (f"{__name__}.autograd_ref", "AutogradReference", ("autograd",)),
    "numeric": (f"{__name__}.numeric", "NumericReference", ()),
}


@functools.cache
def get(name: str, device: str = "cpu") -> Reference:
    """The reference ``name`` on ``device`` ("cpu" or "cuda"), created once; the framework is
    imported on first use (at once on "cuda", to find the device)."""
    if name not in _WHERE:
        raise KeyError(f"no reference {name!r}; the references are {', '.join(NAMES)}")
    if name == "numeric":
        device = "cpu"  # finite differences need no accelerator
    for package in _WHERE[name][2]:
        try:
            found = find_spec(package) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            raise BackendUnavailable(f"{package} is not installed")
    if device not in ("cpu", "cuda"):
        raise BackendUnavailable(f"unknown device {device!r}")
    from .cache import (
        CachedReference,  # here, so that ``python -m gradverify.reference.cache`` runs clean
    )

    ref = CachedReference(name, device, lambda: _create(name, device))
    if device == "cuda":
        ref.real  # noqa: B018  (finds the device now, so a missing GPU skips at once)
    return ref


def _create(name: str, device: str) -> Reference:
    module, cls, packages = _WHERE[name]
    try:
        for package in packages:
            import_module(package)
    except ImportError as exc:
        raise BackendUnavailable(f"{packages[0]} cannot be imported ({exc})") from None
    if device == "cuda":
        _require_cuda(name)
    try:
        return getattr(import_module(module), cls)(device)
    except (RuntimeError, ImportError) as exc:
        raise BackendUnavailable(f"{name} cannot run on {device}: {exc}") from None


def _require_cuda(name: str) -> None:
    if name == "torch":
        import torch

        if not torch.cuda.is_available():
            raise BackendUnavailable("no CUDA device visible to torch")
    elif name == "jax":
        import jax

        try:
            jax.devices("gpu")
        except RuntimeError:
            raise BackendUnavailable("no CUDA device visible to jax") from None
    else:
        raise BackendUnavailable(f"{name} has no CUDA backend")


__all__ = ["NAMES", "BackendUnavailable", "Reference", "Unsupported", "get"]
