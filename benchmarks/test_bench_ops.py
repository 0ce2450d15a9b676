"""impl's backward against the frameworks' VJPs, per op, size and dtype.

Groups are ``<op>-<dtype>-<size>``; ``extra_info`` carries what the report needs (op, who,
size, dtype, bytes the formula must move at least, jax's compile time).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from gradverify import impl
from gradverify.catalog import CATALOG, OpSpec

from .frameworks import FRAMEWORKS, prepare

SIZES = (10**2, 10**4, 10**6, 10**7)  # a 10⁷ float64 array is 80 MB
#: an earlier impl (a directory with its package, e.g. from ``git archive``), timed as
#: "impl@base" beside the current one: before/after in the same run, under the same load
BASELINE = os.environ.get("GRADVERIFY_BENCH_BASELINE", "")
WHO = ("impl", *(("impl@base",) if BASELINE else ()), *FRAMEWORKS)
#: the ops these sizes apply to (the layers have benchmarks of their own)
SPECS = [s for s in CATALOG if s.kind in ("elementwise", "axis", "loss")
         and s.variant != "int_labels" and s.name != "multi_margin"]


def _shape(spec: OpSpec, size: int) -> tuple[int, ...]:
    cols = 10 if spec.kind == "loss" else 100
    return (max(size // cols, 1), cols)


def _baseline():
    """The baseline package, imported as ``impl_base`` (its relative imports stay inside)."""
    if "impl_base" not in sys.modules:
        path = Path(BASELINE)
        spec = importlib.util.spec_from_file_location(
            "impl_base", path / "__init__.py", submodule_search_locations=[str(path)])
        module = importlib.util.module_from_spec(spec)
        sys.modules["impl_base"] = module
        spec.loader.exec_module(module)
    return sys.modules["impl_base"]


def _rounds(size: int) -> int:
    return {10**2: 200, 10**4: 50, 10**6: 10}.get(size, 5)  # min of more rounds: load spikes


def _cases():
    for spec in SPECS:
        for size in SIZES:
            for dtype in ("float32", "float64"):
                for who in WHO:
                    yield pytest.param(spec, size, dtype, who,
                                       id=f"{spec.name}-{who}-{dtype}-{size:.0e}")


@pytest.mark.parametrize("spec,size,dtype,who", list(_cases()))
def test_backward(benchmark, spec: OpSpec, size: int, dtype: str, who: str) -> None:
    rng = np.random.default_rng(0)
    params = spec.params[0]
    inputs = list(spec.make(rng, _shape(spec, size), np.dtype(dtype), params))
    out_shape = () if spec.kind == "loss" else inputs[0].shape
    g = (np.asarray(1.5, dtype) if out_shape == () else
         rng.standard_normal(out_shape).astype(dtype))
    compile_s = 0.0
    if who in ("impl", "impl@base"):
        backward = getattr(impl if who == "impl" else _baseline(), f"{spec.name}_backward")

        def run():
            return backward(g, *inputs, **params)
    else:
        try:
            run, compile_s = prepare(who, spec.name, params, inputs, g)
        except ImportError as exc:
            pytest.skip(f"{who} not installed: {exc}")
    itemsize = np.dtype(dtype).itemsize
    # least traffic: read z (and g, and targets), write dz
    moved = itemsize * (sum(x.size for x in inputs) + np.size(g) + inputs[0].size)
    benchmark.group = f"{spec.name}-{dtype}-{size:.0e}"
    benchmark.extra_info.update(op=spec.name, who=who, size=size, dtype=dtype, bytes=moved,
                                compile_s=compile_s, kind=spec.kind)
    benchmark.pedantic(run, rounds=_rounds(size), iterations=1, warmup_rounds=1)
