"""Load the implementation under test: ``impl`` or a user's module (``--impl``)."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType


class ImplLoadError(Exception):
    """The module given to --impl cannot be loaded; the message says why."""


def load_impl(target: str) -> ModuleType:
    """Import ``target``: a path to a .py file (or package folder), or a dotted module name."""
    path = Path(target)
    if target.endswith(".py") or "/" in target:
        package = path.is_dir()
        if package:
            path = path / "__init__.py"
        if not path.is_file():
            raise ImplLoadError(f"--impl {target}: no such file")
        stem = path.parent.name if package else path.stem
        name = stem if stem not in sys.modules else f"impl_under_test_{stem}"
        spec = importlib.util.spec_from_file_location(
            name, path, submodule_search_locations=[str(path.parent)] if package else None)
        if spec is None or spec.loader is None:
            raise ImplLoadError(f"--impl {target}: not a Python module")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            del sys.modules[name]
            raise ImplLoadError(f"--impl {target}: importing it failed: "
                                f"{type(exc).__name__}: {exc}") from None
        return module
    try:
        return importlib.import_module(target)
    except Exception as exc:
        raise ImplLoadError(f"--impl {target}: importing it failed: "
                            f"{type(exc).__name__}: {exc}") from None


def provided_ops(module: ModuleType, names: tuple[str, ...]) -> list[str]:
    """The ops for which the module defines at least the forward or the backward."""
    return [n for n in names if hasattr(module, n) or hasattr(module, f"{n}_backward")]
