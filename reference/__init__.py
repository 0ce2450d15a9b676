"""References: the same ops differentiated by PyTorch, JAX, HIPS autograd and finite differences.

``get(name)`` returns a ``Reference`` (see ``reference.base``) or raises ``BackendUnavailable``
with the reason (package missing, no GPU); a suite skips that reference's cases with it.
"""

from __future__ import annotations

from functools import cache
from importlib import import_module

from .base import BackendUnavailable, Reference, Unsupported

NAMES = ("torch", "jax", "autograd", "numeric")

#: reference name -> (module, class, the package it needs)
_WHERE = {
    "torch": ("reference.torch_ref", "TorchReference", "torch"),
    "jax": ("reference.jax_ref", "JaxReference", "jax"),
    "autograd": ("reference.autograd_ref", "AutogradReference", "autograd"),
    "numeric": ("reference.numeric", "NumericReference", None),
}


@cache
def get(name: str, device: str = "cpu") -> Reference:
    """The reference ``name`` on ``device`` ("cpu" or "cuda"), created once."""
    module, cls, package = _WHERE[name]
    if name == "numeric":
        device = "cpu"  # finite differences need no accelerator
    try:
        if package is not None:
            import_module(package)
    except ImportError as exc:
        raise BackendUnavailable(f"{package} is not installed ({exc})") from None
    if device == "cuda":
        _require_cuda(name)
    elif device != "cpu":
        raise BackendUnavailable(f"unknown device {device!r}")
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
