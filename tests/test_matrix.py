"""The verification matrix: every catalog op × reference × dtype × shape × parameters.

Three checks per case (``gradverify.checks``): the forward value, the VJP with a random
cotangent, and the full Jacobian (``<op>_jacobian`` where the op has one, else assembled from
its backward one output element at a time) for small inputs.
"""

from __future__ import annotations

import numpy as np
import pytest

from gradverify import checks, declared, isolate, reference
from gradverify.cases import Case, matrix
from gradverify.verdicts import edge_of

FRAMEWORKS = tuple(r for r in reference.NAMES if r != "numeric")


def _run(check: str, case: Case, ref: str, request) -> None:
    config = request.config
    target = config.getoption("impl")
    module, seed = config.impl_module, config.getoption("seed")
    reason = declared.supported(module, case, seed)  # the module's GRADVERIFY_SUPPORTS
    if reason:
        pytest.skip(f"not supported by {module.__name__}: {reason}")
    run = checks.Run(case, ref, module, seed, config.getoption("device"), request.node.nodeid,
                     "" if target == "impl" else f" --impl {target}")
    # which edge the case is on, for "wrong only on empty batches" (gradverify.verdicts)
    shape = case.shape if case.spec.shape_id is None else np.shape(
        case.inputs(case.rng(seed))[0])
    if edge_of(shape):
        request.node.user_properties += [("edge", edge_of(shape)), ("shape", case.shape_id)]
    with isolate.remembering(module):  # --isolate: a case's calls run once for every reference
        worst = checks.CHECKS[check](run)
    # the summary's worst error (record_property's effect, without its fixture's cost)
    request.node.user_properties.append(("worst_rel", worst))


@matrix("forward", FRAMEWORKS)
def test_forward(case: Case, ref: str, request):
    """The module's forward value equals the framework's."""
    _run("forward", case, ref, request)


@matrix("vjp")
def test_vjp(case: Case, ref: str, request):
    """The module's <op>_backward(g, ...) equals the reference's VJP for a random cotangent."""
    _run("vjp", case, ref, request)


@matrix("jacobian", select=lambda c: checks.applies("jacobian", c))
def test_jacobian(case: Case, ref: str, request):
    """The module's full Jacobian (shape out.shape + in.shape) equals the reference's."""
    _run("jacobian", case, ref, request)
