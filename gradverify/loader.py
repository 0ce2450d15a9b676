"""Load the implementation under test: ``impl`` or a user's module (``--impl``).

A path is loaded from its file, never by putting its folder first on ``sys.path``: a
``random.py`` or ``numpy.py`` beside it does not shadow the suite's imports (its folder is
appended at the end, so the module's own sibling imports still work). A module whose name is
taken (``impl.py``, ``numpy.py``, anything already imported or importable) is registered under
the private name ``impl_under_test_<name>``. A notebook (``.ipynb``) is a module of the
functions its code cells define (cells with ``!`` or ``%`` magics are skipped).
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType


class ImplLoadError(Exception):
    """The module under test cannot be loaded (no such file, a folder, a syntax error, an
    import that fails); the message is one line naming the cause. Raised by
    ``gradverify.check``, ``python -m gradverify`` (exit status 2) and ``pytest --impl``."""


def _first_line(exc: BaseException) -> str:
    if isinstance(exc, SyntaxError):
        where = f" ({Path(exc.filename or '?').name}, line {exc.lineno})" if exc.lineno else ""
        return f"SyntaxError: {exc.msg}{where}"
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def _private_name(stem: str, path: Path) -> str:
    """``stem`` unless that name is taken by another module; else ``impl_under_test_<stem>``."""
    if not stem.isidentifier() or stem in sys.modules:
        return f"impl_under_test_{stem if stem.isidentifier() else 'module'}"
    try:
        found = importlib.util.find_spec(stem)
    except (ImportError, ValueError):
        found = None
    if found is not None and (found.origin is None or Path(found.origin).resolve() != path):
        return f"impl_under_test_{stem}"
    return stem


def _same_file(module: ModuleType, file: Path) -> bool:
    where = getattr(module, "__file__", None)
    return where is not None and Path(where).resolve() == file.resolve()


def _notebook(path: Path, name: str) -> ModuleType:
    """A module made of a notebook's code cells (magics and shell escapes skipped)."""
    cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
    module = ModuleType(name)
    module.__file__ = str(path)
    sys.modules[name] = module
    for k, cell in enumerate(cells):
        if cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else str(source)
        if any(line.lstrip().startswith(("!", "%")) for line in source.splitlines()):
            continue
        exec(compile(source, f"{path.name}[cell {k}]", "exec"), module.__dict__)
    return module


def _load_path(target: str, path: Path, flag: str) -> ModuleType:
    package = path.is_dir() and (path / "__init__.py").is_file()
    if path.is_dir() and not package:
        raise ImplLoadError(f"{flag}{target}: a folder, not a module (give a .py file, a "
                            "notebook or a package folder with __init__.py)")
    file = path / "__init__.py" if package else path
    if not file.is_file():
        raise ImplLoadError(f"{flag}{target}: no such file")
    if file.suffix not in (".py", ".ipynb"):
        raise ImplLoadError(f"{flag}{target}: not a Python module (.py) or notebook (.ipynb)")
    stem = path.name if package else path.stem
    for loaded in (sys.modules.get(stem), sys.modules.get(f"gradverify.{stem}")):
        if loaded is not None and _same_file(loaded, file):
            return loaded  # --impl=impl/ when impl is imported already: the same module
    name = _private_name(stem, file.resolve())
    folder = str(path.resolve().parent if package else file.resolve().parent)
    if folder not in sys.path:
        sys.path.append(folder)  # last: its siblings never shadow the suite's imports
    try:
        if file.suffix == ".ipynb":
            return _notebook(file, name)
        spec = importlib.util.spec_from_file_location(
            name, file, submodule_search_locations=[str(path)] if package else None)
        if spec is None or spec.loader is None:
            raise ImplLoadError(f"{flag}{target}: not a Python module")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        return module
    except ImplLoadError:
        raise
    except Exception as exc:
        sys.modules.pop(name, None)
        raise ImplLoadError(f"{flag}{target}: importing it failed: {_first_line(exc)}") from None


def load_impl(target: str, flag: str = "--impl ") -> ModuleType:
    """Import ``target``: a path to a .py file, a notebook or a package folder, or a dotted
    module name. ``flag`` starts each error message (pytest's ``--impl``; empty elsewhere)."""
    if target == "impl":  # the default: the suite's own formulas, whatever the working folder
        return importlib.import_module("gradverify.impl")
    path = Path(target)
    if target.endswith((".py", ".ipynb")) or "/" in target or path.is_dir():
        return _load_path(target, path, flag)
    try:
        return importlib.import_module(target)
    except Exception as exc:
        raise ImplLoadError(f"{flag}{target}: importing it failed: "
                            f"{_first_line(exc)}") from None


def provided_ops(module: ModuleType, names: tuple[str, ...]) -> list[str]:
    """The ops for which the module defines at least the forward or the backward."""
    out = []
    for n in names:
        try:
            if hasattr(module, n) or hasattr(module, f"{n}_backward"):
                out.append(n)
        except Exception:  # a module __getattr__ that raises something else: not provided
            continue
    return out
