"""Options, the seed, markers and the report header. The machinery lives in gradverify/."""

from __future__ import annotations

import os
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

import reference
from gradverify import plugin as gradverify_plugin
from gradverify.catalog import CATALOG, OP_NAMES
from gradverify.diagnose import FailureDigest
from gradverify.loader import ImplLoadError, load_impl, provided_ops
from gradverify.report import SummaryPlugin
from reference import cache as reference_cache

BACKENDS = {"torch": "torch", "jax": "jax", "autograd": "autograd"}


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    if not pluginmanager.has_plugin("gradverify"):  # not installed: register them here
        gradverify_plugin.pytest_addoption(parser)


def pytest_configure(config: pytest.Config) -> None:
    for name in (*reference.NAMES, "slow"):
        config.addinivalue_line("markers", f"{name}: cases that use the {name} reference"
                                if name != "slow" else "slow: long cases")
    try:
        config.impl_module = load_impl(config.getoption("impl"))  # type: ignore[attr-defined]
    except ImplLoadError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.cache_was_on = reference_cache.set_enabled(  # type: ignore[attr-defined]
        not config.getoption("no_cache", False))
    if config.getoption("clear_cache", False) and not hasattr(config, "workerinput"):  # once
        reference_cache.clear()
    config.pluginmanager.register(SummaryPlugin(config.getoption("report_dir")), "summary")
    config.pluginmanager.register(FailureDigest(), "failure-digest")


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
        f"provides {len(ops)} of {len(OP_NAMES)} ops",
        f"references: {', '.join(versions)}; device {config.getoption('device')}",
        f"seed: {config.getoption('seed')} (--seed N to change); numpy {np.__version__}",
        f"reference cache: {reference_cache.directory() or 'off'}",
    ]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tag matrix items with op and reference, so the summary can aggregate xdist reports."""
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        case, ref = params.get("case"), params.get("ref")
        if case is not None and "contract" in params:  # the contracts: one column of their own
            ref = "contracts"
        if case is not None and ref is not None:
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
