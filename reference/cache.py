"""The reference cache: what a reference computed for a case, stored on disk, keyed by all it
depends on; and ``CachedReference``, which imports a framework only on a cache miss.

A reference's value for a case depends only on the reference and its framework's version, the
source that defines the op for it (``reference/table*.py``, the reference's adapter, and for
finite differences ``impl``, whose forwards they evaluate), the transform, the op, its
parameters, the device and the bytes, dtype and shape of every input array and cotangent or
tangent. The key is a BLAKE2b hash of all of these, so a changed version, table entry, catalog
entry, seed or input can never return a stale value: it is another key.

Entries are files ``<dir>/v<FORMAT>/<2 hex>/<rest of the key>`` holding a magic number, the
BLAKE2b digest of the payload and the payload (a pickle of the value); writes go to a temp file
and ``os.replace`` it, so xdist workers side by side see a whole entry or none, and an entry
whose digest does not match (truncated, corrupt) is recomputed and rewritten, never trusted.
``Unsupported`` ("this reference cannot compute this case") is stored as such and raised again.

The directory is ``.cache/reference`` in the repository (``~/.cache/gradverify/reference``
for an installed package); ``GRADVERIFY_CACHE`` moves it, and an
empty value, "0" or "off" disables the cache (so does ``pytest --no-cache``). Clear it with
``python -m gradverify.reference.cache --clear``. Entries are pickles: the cache directory is
as trusted as the source tree.

    python -m gradverify.reference.cache [--clear] [--dir]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import pickle
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterable, Sequence
from functools import cache
from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np

from .base import Arrays, Reference, Unsupported, cache_root

FORMAT = 2  # bump when the entry layout, the key's recipe or a stored class's module changes
# (2: the references moved under gradverify.reference, so the pickled _Unsupported did)
ENV = "GRADVERIFY_CACHE"
ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DIR = cache_root() / "reference"
MAGIC = b"GVRC"
DIGEST = 32
OFF = ("", "0", "off")

#: distributions whose versions are part of every key of a reference
PACKAGES = {"torch": ("torch",), "jax": ("jax", "jaxlib"), "autograd": ("autograd",),
            "numeric": ()}
#: source files that define the ops for a reference (globs under the repository root)
SOURCES = {
    "torch": ("reference/torch_ref.py",),
    "jax": ("reference/jax_ref.py",),
    "autograd": ("reference/autograd_ref.py",),
    "numeric": ("reference/numeric.py", "impl/**/*.py"),
}
COMMON_SOURCES = ("reference/base.py", "reference/table*.py", "reference/networks.py",
                  "reference/nets_*.py")

#: hits, misses, stores and corrupt entries in this process (meta-tests and benchmarks read it)
STATS = {"hits": 0, "misses": 0, "stores": 0, "corrupt": 0}

_enabled = True


def set_enabled(flag: bool) -> bool:
    """Turn the cache on or off for this process (``pytest --no-cache`` turns it off); returns
    the previous state."""
    global _enabled
    previous, _enabled = _enabled, flag
    return previous


_DIRS: dict[str | None, Path | None] = {}  # GRADVERIFY_CACHE's value -> the directory


def directory() -> Path | None:
    """The cache directory, or None when the cache is off."""
    if not _enabled:
        return None
    where = os.environ.get(ENV)
    if where not in _DIRS:
        _DIRS[where] = (DEFAULT_DIR / f"v{FORMAT}" if where is None else
                        None if where.strip().lower() in OFF else Path(where) / f"v{FORMAT}")
    return _DIRS[where]


# -- the key ---------------------------------------------------------------------------------
@cache
def package_version(package: str) -> str:
    """A distribution's version from its metadata (no import), else its ``__version__``."""
    try:
        return version(package)
    except PackageNotFoundError:
        try:
            return str(getattr(import_module(package), "__version__", "unknown"))
        except ImportError:
            return "absent"


def hash_files(paths: Iterable[Path]) -> str:
    h = hashlib.blake2b(digest_size=16)
    for path in sorted(paths):
        h.update(str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path).encode())
        h.update(path.read_bytes())
    return h.hexdigest()


@cache
def source_hash(name: str) -> str:
    """Hash of the source files that define reference ``name``'s ops."""
    globs = (*COMMON_SOURCES, *SOURCES[name])
    return hash_files({p for g in globs for p in ROOT.glob(g)})


@cache
def _file_hash(path: str) -> str:
    p = Path(path)
    return hash_files([p]) if p.is_file() else path


@cache
def context(name: str, device: str) -> bytes:
    """What every key of reference ``name`` on ``device`` shares: versions and sources."""
    packages = (*PACKAGES[name], "numpy", "scipy")
    versions = ";".join(f"{p}={package_version(p)}" for p in packages)
    if name == "jax":  # XLA's flags change float32 results in the last bits
        from .jax_ref import xla_flags

        versions += f";XLA_FLAGS={xla_flags()}"
    return f"{FORMAT}|{name}|{device}|{versions}|{source_hash(name)}".encode()


class Uncachable(Exception):
    """A value that cannot be keyed (an object array): computed without the cache."""


def _update(h: Any, part: Any) -> None:
    if isinstance(part, (np.ndarray, np.generic)):
        a = np.asarray(part)
        if a.dtype.hasobject:
            raise Uncachable("object array")
        h.update(f"a{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    elif isinstance(part, (list, tuple)):
        h.update(f"{type(part).__name__}{len(part)}(".encode())
        for p in part:
            _update(h, p)
        h.update(b")")
    elif isinstance(part, dict):
        h.update(b"d")
        _update(h, sorted(part.items(), key=lambda kv: str(kv[0])))
    elif part is None or isinstance(part, (str, int, float, bool, complex)):
        h.update(f"{type(part).__name__}:{part!r};".encode())
    else:
        raise Uncachable(f"cannot key a {type(part).__name__}")


def make_key(name: str, device: str, method: str, *parts: Any) -> str:
    """The key of ``method`` of reference ``name`` on ``device`` for ``parts`` (op name,
    parameters, argnums and arrays); raises ``Uncachable`` for what cannot be keyed."""
    h = hashlib.blake2b(context(name, device), digest_size=20)
    h.update(method.encode())
    for part in parts:
        _update(h, part)
    return h.hexdigest()


# -- entries ---------------------------------------------------------------------------------
def _path(root: Path, key: str) -> str:
    return os.path.join(root, key[:2], key[2:])


def load(key: str) -> tuple[bool, Any]:
    """(True, value) for a sound entry, else (False, None); a corrupt entry counts as a miss."""
    root = directory()
    if root is None:
        return False, None
    try:
        with open(_path(root, key), "rb") as f:
            blob = f.read()
    except OSError:
        return False, None
    payload = blob[len(MAGIC) + DIGEST:]
    if (blob[:len(MAGIC)] != MAGIC
            or hashlib.blake2b(payload, digest_size=DIGEST).digest()
            != blob[len(MAGIC):len(MAGIC) + DIGEST]):
        STATS["corrupt"] += 1
        return False, None
    try:
        return True, pickle.loads(payload)
    except Exception:
        STATS["corrupt"] += 1
        return False, None


def store(key: str, value: Any) -> None:
    """Write an entry atomically (temp file + os.replace); a cache that cannot be written is
    no error."""
    root = directory()
    if root is None:
        return
    payload = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    path = _path(root, key)
    tmp = None
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-")
        with os.fdopen(fd, "wb") as f:
            f.write(MAGIC + hashlib.blake2b(payload, digest_size=DIGEST).digest() + payload)
        os.replace(tmp, path)
        tmp = None
        STATS["stores"] += 1
    except OSError:
        pass
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


class _Unsupported:
    """How an ``Unsupported`` is stored: its message."""

    def __init__(self, message: str) -> None:
        self.message = message


def lookup(key: str | None, compute: Callable[[], Any]) -> Any:
    """The value stored under ``key``, else ``compute()`` stored under it (``Unsupported``
    included, raised again on every hit). ``key`` None: just compute."""
    if key is None or directory() is None:
        return compute()
    hit, value = load(key)
    if hit:
        STATS["hits"] += 1
    else:
        STATS["misses"] += 1
        try:
            value = compute()
        except Unsupported as exc:
            value = _Unsupported(str(exc))
        store(key, value)
    if isinstance(value, _Unsupported):
        raise Unsupported(value.message)
    return value


def clear(root: Path | None = None) -> int:
    """Delete every entry; the number of entries deleted."""
    base = root if root is not None else (
        DEFAULT_DIR if os.environ.get(ENV) is None else Path(os.environ[ENV]))
    if not base.is_dir():
        return 0
    n = sum(1 for p in base.rglob("*") if p.is_file())
    shutil.rmtree(base, ignore_errors=True)
    return n


# -- the reference that imports its framework on a miss --------------------------------------
class CachedReference(Reference):
    """A reference whose op-level transforms (``forward``, ``op_vjp``, ``op_jacobian``,
    ``op_jvp``, ``op_hessian``, ``op_hvp``) go through the cache; the framework is imported
    (``create()`` builds the real reference) only on a miss, or for what the cache cannot key:
    the generic transforms of arbitrary callables (networks), and ``ops``. Callers that compute
    something else can key it themselves with ``cached``."""

    def __init__(self, name: str, device: str, create: Callable[[], Reference]) -> None:
        self.name, self.device = name, device
        self._create = create
        self._real: Reference | None = None

    @property
    def real(self) -> Reference:
        """The framework's reference (imports the framework the first time)."""
        if self._real is None:
            self._real = self._create()
        return self._real

    @property
    def version(self) -> str:  # type: ignore[override]
        packages = PACKAGES[self.name]
        return package_version(packages[0]) if packages else self.real.version

    @property
    def ops(self) -> dict[str, Callable[..., Any]]:  # type: ignore[override]
        return self.real.ops

    def __repr__(self) -> str:
        state = "loaded" if self._real is not None else "not loaded"
        return f"<CachedReference {self.name} on {self.device}, framework {state}>"

    def _lookup(self, method: str, parts: tuple, compute: Callable[[], Any]) -> Any:
        try:
            key = make_key(self.name, self.device, method, *parts)
        except Uncachable:
            key = None
        return lookup(key, compute)

    def cached(self, what: str, compute: Callable[[Reference], Any],
               arrays: Sequence[Any] = (), **key: Any) -> Any:
        """``compute(real reference)``, cached under ``what``, ``key``, ``arrays`` and the
        source of the module that defines ``compute`` (an edit there is another key). ``key``
        must name everything else the computation depends on (network layout, activations,
        loss, argnums)."""
        code = getattr(compute, "__code__", None)
        where = _file_hash(code.co_filename) if code is not None else repr(compute)
        return self._lookup(f"cached:{what}", (where, key, list(arrays)),
                            lambda: compute(self.real))

    # -- op level: cached ------------------------------------------------------------------
    def forward(self, name: str, inputs: Sequence[np.ndarray],
                params: dict[str, Any] | None = None, *,
                argnums: Sequence[int] | None = None) -> np.ndarray:
        return self._lookup("forward", (name, params or {}, list(inputs)),  # argnums: a hint
                            lambda: self.real.forward(name, inputs, params, argnums=argnums))

    def op_vjp(self, name: str, params: dict[str, Any], inputs: Sequence[np.ndarray],
               cotangent: np.ndarray, argnums: Sequence[int]) -> Arrays:
        return self._lookup(
            "op_vjp", (name, params or {}, list(inputs), cotangent, [int(i) for i in argnums]),
            lambda: self.real.op_vjp(name, params, inputs, cotangent, argnums))

    def op_jacobian(self, name: str, params: dict[str, Any], inputs: Sequence[np.ndarray],
                    argnums: Sequence[int]) -> Arrays:
        return self._lookup(
            "op_jacobian", (name, params or {}, list(inputs), [int(i) for i in argnums]),
            lambda: self.real.op_jacobian(name, params, inputs, argnums))

    def op_jvp(self, name: str, params: dict[str, Any], inputs: Sequence[np.ndarray],
               tangent: np.ndarray) -> np.ndarray:
        return self._lookup("op_jvp", (name, params or {}, list(inputs), tangent),
                            lambda: self.real.op_jvp(name, params, inputs, tangent))

    def op_hessian(self, name: str, params: dict[str, Any],
                   inputs: Sequence[np.ndarray]) -> np.ndarray:
        return self._lookup("op_hessian", (name, params or {}, list(inputs)),
                            lambda: self.real.op_hessian(name, params, inputs))

    def op_hvp(self, name: str, params: dict[str, Any], inputs: Sequence[np.ndarray],
               v: np.ndarray) -> np.ndarray:
        return self._lookup("op_hvp", (name, params or {}, list(inputs), v),
                            lambda: self.real.op_hvp(name, params, inputs, v))

    # -- arbitrary callables: not keyable, computed by the real reference -------------------
    def call(self, f: Callable, inputs: Sequence[np.ndarray]) -> np.ndarray:
        return self.real.call(f, inputs)

    def vjp(self, f: Callable, inputs: Sequence[np.ndarray], cotangent: np.ndarray,
            argnums: Sequence[int]) -> Arrays:
        return self.real.vjp(f, inputs, cotangent, argnums)

    def jacobian(self, f: Callable, inputs: Sequence[np.ndarray],
                 argnums: Sequence[int]) -> Arrays:
        return self.real.jacobian(f, inputs, argnums)

    def jvp(self, f: Callable, inputs: Sequence[np.ndarray], tangent: np.ndarray,
            argnum: int = 0) -> np.ndarray:
        return self.real.jvp(f, inputs, tangent, argnum)

    def hessian(self, f: Callable, inputs: Sequence[np.ndarray], argnum: int = 0) -> np.ndarray:
        return self.real.hessian(f, inputs, argnum)

    def hvp(self, f: Callable, inputs: Sequence[np.ndarray], v: np.ndarray,
            argnum: int = 0) -> np.ndarray:
        return self.real.hvp(f, inputs, v, argnum)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m gradverify.reference.cache",
                                 description="The reference cache: where it is, clear it.")
    ap.add_argument("--clear", action="store_true", help="delete every entry")
    args = ap.parse_args(argv)
    where = directory()
    if args.clear:
        print(f"removed {clear()} entries")
        return 0
    if where is None:
        print(f"reference cache: off ({ENV}={os.environ.get(ENV)!r})")
        return 0
    n = sum(1 for p in where.rglob("*") if p.is_file()) if where.is_dir() else 0
    print(f"reference cache: {where} ({n} entries)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
