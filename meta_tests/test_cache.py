"""The reference cache is honest: a cached value is the fresh value, bit for bit; anything that
could change a value (a framework version, a table entry or adapter, impl for finite
differences, the seed or an input) is another key; a damaged entry is recomputed; and a run
whose values are all cached imports neither torch nor jax.

Every test here uses its own empty cache directory (``GRADVERIFY_CACHE``), so it compares
against values computed in this run, as CI does from a clean clone.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gradverify import reference
from gradverify.cases import Case, cotangent
from gradverify.catalog import BY_LABEL
from gradverify.reference import cache
from gradverify.reference.conventions import KINKS, SPECIALS, measure_kink, measure_special

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def fresh_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty cache directory, on even under ``--no-cache``."""
    monkeypatch.setenv(cache.ENV, str(tmp_path / "cache"))
    monkeypatch.setattr(cache, "_enabled", True)
    return tmp_path / "cache"


def _ref(name: str) -> Any:
    try:
        return reference.get(name)
    except reference.BackendUnavailable as exc:
        pytest.skip(f"{name} reference unavailable: {exc}")


def _case(label: str, shape: tuple[int, ...], dtype: str, **params: Any) -> Case:
    return Case(BY_LABEL[label], tuple(params.items()), shape, dtype)


def _inputs(case: Case, seed: int = 0) -> tuple[np.random.Generator, tuple[np.ndarray, ...]]:
    rng = case.rng(seed)
    return rng, case.inputs(rng)


def _compute(kind: str, r: Any) -> Any:
    """One value of each check kind, computed by ``r`` (a CachedReference or its real one)."""
    if kind in ("forward", "vjp", "jacobian"):
        case = _case("softmax", (3, 4), "float32")
        rng, xs = _inputs(case)
        if kind == "forward":
            return r.forward("softmax", xs, {})
        if kind == "jacobian":
            return r.op_jacobian("softmax", {}, xs, (0,))
        return r.op_vjp("softmax", {}, xs, cotangent(rng, (3, 4), "float32"), (0,))
    if kind == "jvp":
        case = _case("tanh", (2, 3), "float64")
        rng, xs = _inputs(case)
        return r.op_jvp("tanh", {}, xs, rng.standard_normal((2, 3)))
    if kind in ("hessian", "hvp"):
        case = _case("mse", (2, 3), "float64", reduction="mean")
        rng, xs = _inputs(case)
        if kind == "hessian":
            return r.op_hessian("mse", {"reduction": "mean"}, xs)
        return r.op_hvp("mse", {"reduction": "mean"}, xs, rng.standard_normal((2, 3)))
    if kind == "kink":
        return np.asarray([measure_kink(KINKS[0], r), measure_kink(KINKS[-1], r)])
    return measure_special(SPECIALS[0], r)  # "extreme": softmax at ±1000


def _same(a: Any, b: Any) -> None:
    """Identical: the same structure, shapes, dtypes and bits (NaN where NaN)."""
    if isinstance(a, (tuple, list)):
        assert type(a) is type(b) and len(a) == len(b)
        for x, y in zip(a, b):
            _same(x, y)
        return
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape
    assert np.array_equal(a, b, equal_nan=True), f"cached {b} != fresh {a}"


KINDS = ("forward", "vjp", "jacobian", "jvp", "hessian", "hvp", "kink", "extreme")


@pytest.mark.parametrize("name", reference.NAMES)
@pytest.mark.parametrize("kind", KINDS)
def test_cached_values_are_the_fresh_values(kind: str, name: str, fresh_cache: Path) -> None:
    r = _ref(name)
    fresh = _compute(kind, r.real)
    before = dict(cache.STATS)
    first = _compute(kind, r)  # a miss: computed and stored
    stored = cache.STATS["stores"] - before["stores"]
    assert stored >= 1 and cache.STATS["hits"] == before["hits"]
    second = _compute(kind, r)  # read back
    assert cache.STATS["hits"] - before["hits"] == stored
    _same(fresh, first)
    _same(fresh, second)


def _counting(value: Any = 1.0) -> tuple[dict[str, int], Any]:
    calls = {"n": 0}

    def compute() -> Any:
        calls["n"] += 1
        return np.asarray(value)

    return calls, compute


def _key(name: str = "torch", seed: int = 0, **params: Any) -> str:
    case = _case("huber", (3, 4), "float64", **params)
    _, xs = _inputs(case, seed)
    return cache.make_key(name, "cpu", "forward", "huber", case.kwargs, list(xs))


def test_a_changed_framework_version_is_another_key(monkeypatch: pytest.MonkeyPatch) -> None:
    key = _key()
    real = cache.package_version
    monkeypatch.setattr(cache, "package_version",
                        lambda p: "2.99.0" if p == "torch" else real(p))
    cache.context.cache_clear()
    try:
        assert _key() != key
        assert _key("jax") == _key("jax")
    finally:
        monkeypatch.undo()
        cache.context.cache_clear()
    assert _key() == key


def test_other_xla_flags_are_another_jax_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """The jax reference's compile-time flags change float32 results in the last bits."""
    def keys(fast: str) -> tuple[str, str]:
        monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false")
        monkeypatch.setenv("GRADVERIFY_JAX_FAST_COMPILE", fast)
        cache.context.cache_clear()
        return _key(), _key("jax")

    try:
        (torch_fast, jax_fast), (torch_default, jax_default) = keys("1"), keys("0")
    finally:
        monkeypatch.undo()
        cache.context.cache_clear()
    assert jax_fast != jax_default
    assert torch_fast == torch_default == _key()


@pytest.mark.parametrize("edit,changes", [
    ("reference/table.py", {"torch", "jax", "autograd", "numeric"}),
    ("reference/torch_ref.py", {"torch"}),
    ("reference/jax_ref.py", {"jax"}),
    ("impl/activations.py", {"numeric"}),  # finite differences evaluate impl's forwards
])
def test_an_edited_source_is_another_key(edit: str, changes: set[str], tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """An edit to a table entry or an adapter changes the keys of exactly the references it
    defines (on a copy of the sources, so the tree is never touched)."""
    for folder in ("reference", "impl"):
        shutil.copytree(ROOT / folder, tmp_path / folder,
                        ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(cache, "ROOT", tmp_path)

    def keys() -> dict[str, str]:
        cache.source_hash.cache_clear()
        cache.context.cache_clear()
        return {n: _key(n) for n in reference.NAMES}

    try:
        before = keys()
        with open(tmp_path / edit, "a") as f:
            f.write("\n# an edit\n")
        after = keys()
    finally:
        monkeypatch.undo()
        cache.source_hash.cache_clear()
        cache.context.cache_clear()
    assert {n for n in reference.NAMES if before[n] != after[n]} == changes


def test_another_seed_input_or_parameter_is_another_key() -> None:
    key = _key(reduction="mean")
    assert _key(reduction="mean") == key  # deterministic
    assert _key(seed=1, reduction="mean") != key
    assert _key(reduction="sum") != key
    assert _key(reduction="mean", delta=1.0) != key
    case = _case("huber", (3, 4), "float64", reduction="mean")
    _, xs = _inputs(case)
    x32 = [x.astype(np.float32) for x in xs]
    assert cache.make_key("torch", "cpu", "forward", "huber", case.kwargs, x32) != key
    nudged = [xs[0].copy(), xs[1]]
    nudged[0][0, 0] = np.nextafter(nudged[0][0, 0], np.inf)
    assert cache.make_key("torch", "cpu", "forward", "huber", case.kwargs, nudged) != key
    assert cache.make_key("torch", "cuda", "forward", "huber", case.kwargs, list(xs)) != key


def test_a_truncated_or_corrupt_entry_is_recomputed(fresh_cache: Path) -> None:
    calls, compute = _counting([1.0, 2.0, 3.0])
    key = _key()
    cache.lookup(key, compute)
    entry = Path(cache._path(cache.directory(), key))  # type: ignore[arg-type]
    whole = entry.read_bytes()
    for damaged in (whole[: len(whole) // 2], whole[:-1] + bytes([whole[-1] ^ 1]), b""):
        entry.write_bytes(damaged)
        before = cache.STATS["corrupt"]
        n = calls["n"]
        _same(np.asarray([1.0, 2.0, 3.0]), cache.lookup(key, compute))
        assert calls["n"] == n + 1, "a damaged entry was trusted"
        assert cache.STATS["corrupt"] == before + 1
        assert entry.read_bytes() == whole  # rewritten whole
    cache.lookup(key, compute)
    assert calls["n"] == 4  # and then read again


def test_unsupported_is_cached_as_such(fresh_cache: Path) -> None:
    calls = {"n": 0}

    def compute() -> Any:
        calls["n"] += 1
        raise reference.Unsupported("not this case")

    for _ in range(2):
        with pytest.raises(reference.Unsupported, match="not this case"):
            cache.lookup(_key(), compute)
    assert calls["n"] == 1


def test_autograd_unsupported_case_round_trips(fresh_cache: Path) -> None:
    r = _ref("autograd")
    empty = [np.zeros((0, 3))]
    for _ in range(2):
        with pytest.raises(reference.Unsupported, match="empty array"):
            r.op_jacobian("relu", {}, empty, (0,))


@pytest.mark.parametrize("value", ["", "0", "off", "OFF"])
def test_the_cache_can_be_turned_off(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(cache.ENV, value)
    assert cache.directory() is None
    calls, compute = _counting()
    cache.lookup(_key(), compute)
    cache.lookup(_key(), compute)
    assert calls["n"] == 2


def test_no_cache_option_turns_it_off(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(cache.ENV, str(tmp_path))
    was = cache.set_enabled(False)
    try:
        assert cache.directory() is None
    finally:
        cache.set_enabled(was)


def test_clear(fresh_cache: Path) -> None:
    for seed in range(3):
        cache.lookup(_key(seed=seed), _counting()[1])
    assert cache.clear(fresh_cache) == 3
    assert not fresh_cache.exists()


WATCH = '''
import os, sys

def pytest_unconfigure(config):
    loaded = sorted({m.split(".")[0] for m in sys.modules} & {"torch", "jax", "jaxlib"})
    with open(os.environ["GRADVERIFY_WATCH"], "w") as f:
        f.write(" ".join(loaded))
'''


#: 35 cases: forward, VJP, Jacobian, JVP, Hessian, HVP, kinks, networks; torch and jax
SELECTION = ("relu6-torch-float64-3x4 or relu6-jax-float64-3x4 or mse-torch-float64-2x3 or "
             "mse-jax-float64-2x3 or mlp-jax-float64-identity or mlp-torch-float64-b1 or "
             "relu6-jax-relu6")


def test_a_warm_run_imports_no_framework(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture) -> None:
    """A selection run cold in this process (its frameworks are loaded already) fills an empty
    cache; the same selection in a fresh interpreter then passes as many cases and never
    imports torch or jax (a plugin writes the loaded framework modules to a file)."""
    for name in ("torch", "jax"):
        _ref(name)
    monkeypatch.setenv(cache.ENV, str(tmp_path / "cache"))
    (tmp_path / "gv_watch.py").write_text(WATCH)
    tests = ["tests/test_matrix.py", "tests/test_second_order.py", "tests/test_kinks.py",
             "tests/test_mlp.py"]
    args = ["-k", SELECTION, "-p", "no:cacheprovider", "-p", "no:xdist", "-q", "--no-header"]
    stores = cache.STATS["stores"]
    code = pytest.main([*(str(ROOT / t) for t in tests), f"--rootdir={ROOT}", *args])
    cold = capsys.readouterr().out.splitlines()[-1]
    assert code == 0, cold
    stored = cache.STATS["stores"] - stores
    env = {**os.environ, "PYTHONPATH": str(tmp_path),
           "GRADVERIFY_WATCH": str(tmp_path / "loaded.txt")}
    done = subprocess.run([sys.executable, "-m", "pytest", *tests, *args, "-p", "gv_watch"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    warm = done.stdout.splitlines()[-1]
    loaded = (tmp_path / "loaded.txt").read_text().split()
    assert loaded == [], f"a warm run imported {loaded}"
    passed = cold.split(" passed")[0]
    assert passed.isdigit() and stored >= int(passed) > 0, cold  # each case stored a value
    assert cold.split(" in ")[0] == warm.split(" in ")[0]  # "35 passed, N deselected"


DEFAULTS_WARM = """
import json, sys
from gradverify.reference.defaults import DEFAULTS, measure_cached
print(json.dumps([measure_cached(d, f) for d in DEFAULTS for f in ("torch", "jax", "autograd")]))
print(sorted({"torch", "jax"} & set(sys.modules)))
"""


def test_the_defaults_table_is_read_from_the_cache(fresh_cache: Path) -> None:
    """docs/CONVENTIONS.md's defaults, measured once here into an empty cache, are read by a
    fresh interpreter without importing torch or jax (tests/test_conventions_doc.py in a warm
    run imports no framework)."""
    from gradverify.reference.defaults import DEFAULTS, measure_cached

    for name in ("torch", "jax", "autograd"):
        _ref(name)
    stores = cache.STATS["stores"]
    cold = [measure_cached(d, f) for d in DEFAULTS for f in ("torch", "jax", "autograd")]
    assert cache.STATS["stores"] - stores == len(cold)
    done = subprocess.run([sys.executable, "-c", DEFAULTS_WARM], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    values, loaded = done.stdout.splitlines()[-2:]
    assert json.loads(values) == cold
    assert loaded == "[]", f"reading the defaults imported {loaded}"
