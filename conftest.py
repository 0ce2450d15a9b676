"""Options, the seed, markers and the report header. The machinery lives in gradverify/."""

from __future__ import annotations

import os
from difflib import get_close_matches
from importlib.metadata import PackageNotFoundError, version

# One thread per process: the cases are tiny, and torch's and XLA's thread pools spinning
# beside each other made a serial run 1.7x slower (55 s vs 32 s); xdist workers don't
# oversubscribe the cores either. Set the variables yourself to override.
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false")

import numpy as np
import pytest
from hypothesis import settings

# Property tests: "fast" by default (deterministic, for CI); --hypothesis-profile thorough
# draws hundreds of random examples per op.
settings.register_profile("fast", max_examples=15, derandomize=True, database=None)
settings.register_profile("thorough", max_examples=300, derandomize=False, database=None,
                          print_blob=True)
settings.load_profile("fast")

from gradverify import plugin as gradverify_plugin
from gradverify import reference
from gradverify.cases import Case, case_major, parametrize
from gradverify.catalog import CATALOG, OP_NAMES, OpSpec
from gradverify.diagnose import FailureDigest
from gradverify.loader import ImplLoadError, load_impl, provided_ops
from gradverify.reference import cache as reference_cache
from gradverify.report import SummaryPlugin
from gradverify.supports import guard
from gradverify.verdicts import EdgeDigest

BACKENDS = {"torch": "torch", "jax": "jax", "autograd": "autograd"}


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    if not pluginmanager.has_plugin("gradverify"):  # not installed: register them here
        gradverify_plugin.pytest_addoption(parser)


def pytest_configure(config: pytest.Config) -> None:
    for name in (*reference.NAMES, "slow"):
        config.addinivalue_line("markers", f"{name}: cases that use the {name} reference"
                                if name != "slow" else "slow: long cases")
    config.addinivalue_line("markers", "whole_module: a test of the module under test as a "
                            "whole (kept under --op)")
    config.addinivalue_line("markers", "cases(check, refs, select): parametrize over the "
                            "catalog's cases (gradverify.cases.matrix)")
    if config.getoption("device") == "cuda":
        _need_gpu()
    config.selected_ops = _selected_ops(config.getoption("op", []))  # type: ignore[attr-defined]
    try:
        config.impl_module = guard(_load(config))  # type: ignore[attr-defined]
    except ImplLoadError as exc:
        raise pytest.UsageError(str(exc)) from None
    if not config.selected_ops and config.getoption("impl") != "impl":  # type: ignore[attr-defined]
        # --impl collects only the ops the module provides (the rest would be thousands of
        # "not provided" skips); the header names the others in one line
        provided = provided_ops(config.impl_module, OP_NAMES)  # type: ignore[attr-defined]
        if len(provided) < len(OP_NAMES):
            config.selected_ops = frozenset(provided) or frozenset({"-"})  # type: ignore[attr-defined]
    config.cache_was_on = reference_cache.set_enabled(  # type: ignore[attr-defined]
        not config.getoption("no_cache", False))
    if config.getoption("clear_cache", False) and not hasattr(config, "workerinput"):  # once
        reference_cache.clear()
    config.pluginmanager.register(SummaryPlugin(config.getoption("report_dir")), "summary")
    config.pluginmanager.register(FailureDigest(), "failure-digest")
    config.pluginmanager.register(EdgeDigest(), "edge-digest")


def _load(config: pytest.Config) -> object:
    """The module under test: here, or with --isolate in a supervised worker (closed at the
    end of the run)."""
    target = config.getoption("impl")
    if not config.getoption("isolate", False):
        if config.getoption("call_timeout", None) is not None:
            raise pytest.UsageError("--call-timeout applies to --isolate: add --isolate")
        return load_impl(target)
    from gradverify import isolate

    module = isolate.load(target, OP_NAMES, config.getoption("call_timeout") or
                          isolate.DEFAULT_TIMEOUT)
    config.add_cleanup(lambda: isolate.close(module))
    return module


def _need_gpu() -> None:
    """--device cuda on a machine where neither torch nor jax sees a GPU: a usage error (the
    run would pass on the CPU and say nothing of the device)."""
    seen = []
    try:
        import torch

        seen.append(torch.cuda.is_available())
    except ImportError:
        pass
    try:
        import jax

        seen.append(any(d.platform == "gpu" for d in jax.devices()))
    except (ImportError, RuntimeError):
        pass
    if not any(seen):
        raise pytest.UsageError("--device cuda: no GPU is visible to torch or jax on this "
                                "machine (torch.cuda.is_available() is False, jax.devices() "
                                "has no gpu); run without --device")


def _selected_ops(values: list[str]) -> frozenset[str]:
    ops = frozenset(name.strip() for value in values for name in value.split(",") if name.strip())
    unknown = sorted(ops - {spec.name for spec in CATALOG})
    if unknown:
        names = sorted({spec.name for spec in CATALOG})
        hints = [f"{u!r} (did you mean {', '.join(get_close_matches(u, names, 3))}?)"
                 if get_close_matches(u, names, 3) else repr(u) for u in unknown]
        raise pytest.UsageError(f"--op: no such op in the catalog: {', '.join(hints)}; the "
                                f"ops are: {', '.join(names)}")
    return ops


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """``@matrix(check, ...)``: the catalog's cases of the ops chosen with --op (all by default)."""
    marker = metafunc.definition.get_closest_marker("cases")
    if marker is not None:
        ops = metafunc.config.selected_ops  # type: ignore[attr-defined]
        check, refs, select = marker.args
        metafunc.parametrize("case,ref", parametrize(check, refs, select, ops))


def _op_of(value: object) -> str | None:
    """The catalog op a test parameter belongs to (a Case, an OpSpec, a kink), if any."""
    if isinstance(value, Case):
        return value.spec.name
    if isinstance(value, OpSpec):
        return value.name
    op = getattr(value, "op", None)
    return op if isinstance(op, str) else None


def pytest_unconfigure(config: pytest.Config) -> None:
    """Restore the cache's state (in-process runs of the meta-tests nest inside a run)."""
    reference_cache.set_enabled(getattr(config, "cache_was_on", True))


def pytest_report_header(config: pytest.Config) -> list[str]:
    module = config.impl_module  # type: ignore[attr-defined]
    ops = provided_ops(module, OP_NAMES)
    where = getattr(module, "__file__", "?")
    versions = []
    for ref in reference.NAMES:
        pkg = BACKENDS.get(ref)
        if pkg is None:
            versions.append("numeric (finite differences)")
            continue
        try:
            versions.append(f"{ref} {version(pkg)}")
        except PackageNotFoundError:
            versions.append(f"{ref} not installed (its cases are skipped)")
    lines = []
    if config.inipath is None:
        lines.append(f"WARNING: pytest took its rootdir ({config.rootpath}) from the --impl path "
                     "and ignores pyproject.toml; write --impl=PATH for a file outside the project")
    return lines + [
        f"implementation under test: {module.__name__} ({where}): "
        f"provides {len(ops)} of {len(OP_NAMES)} ops"
        + ("" if config.getoption("impl") == "impl" or len(ops) == len(OP_NAMES) else
           f"; not provided, not collected: {', '.join(o for o in OP_NAMES if o not in ops)}"),
        *([f"isolated: the module runs in a supervised worker process (timeout "
            f"{config.getoption('call_timeout') or 5:g} s a call)"]
          if config.getoption("isolate") else []),
        f"references: {', '.join(versions)}; device {config.getoption('device')}",
        f"seed: {config.getoption('seed')} (--seed N to change); numpy {np.__version__}",
        f"reference cache: {reference_cache.directory() or 'off'}",
    ]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under --op, deselect every item not parametrized by one of its ops; run a case's tests
    against one reference side by side (``case_major``: jax compiles each case once); tag
    matrix items with op and reference, so the summary can aggregate xdist reports."""
    ops = config.selected_ops  # type: ignore[attr-defined]
    if ops:
        def other(item: pytest.Item) -> bool:  # no op of --op's (networks: several ops)
            if item.get_closest_marker("whole_module"):
                return False
            params = getattr(getattr(item, "callspec", None), "params", {}).values()
            return not {_op_of(v) for v in params} & ops

        deselected = [item for item in items if other(item)]
        if deselected:
            config.hook.pytest_deselected(items=deselected)
            items[:] = [item for item in items if not other(item)]
    case_major(items)
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        case, ref = params.get("case"), params.get("ref")
        if not isinstance(case, Case):  # not a matrix item, or an empty parameter set
            continue
        if "contract" in params:  # the contracts: one column of their own
            ref = "contracts"
        if ref is not None:
            item.user_properties += [("op", case.spec.label), ("reference", ref),
                                     ("check", getattr(item, "originalname", item.name))]


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Seed the global RNG before every test (a hook: an autouse fixture costs ~20 µs a case)."""
    np.random.seed(item.config.getoption("seed"))


@pytest.fixture(scope="session")
def seed(request: pytest.FixtureRequest) -> int:
    return request.config.getoption("seed")


@pytest.fixture(scope="session")
def device(request: pytest.FixtureRequest) -> str:
    return request.config.getoption("device")


@pytest.fixture(scope="session")
def impl_module(request: pytest.FixtureRequest):
    return request.config.impl_module  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def impl_option(request: pytest.FixtureRequest) -> str:
    """' --impl X' when a module other than impl is under test (for reproduction commands)."""
    target = request.config.getoption("impl")
    return "" if target == "impl" else f" --impl {target}"


__all__ = ["CATALOG"]
