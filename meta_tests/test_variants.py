"""Definitions, not just derivatives: a consistent forward/backward pair of a known variant of
an op (``gradverify.variants``) is a definition difference (xfail, counted apart), a module
that declares its variant is checked against it, and a wrong formula is never a variant.

Checks run in-process on the catalog's cases against torch (finite differences where torch is
not installed; they skip the forward, which they compute with impl's own forward)."""

from __future__ import annotations

import importlib
import types
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gradverify import api, checks, reference, report, variants
from gradverify.cases import Case, all_cases
from gradverify.catalog import BY_LABEL
from gradverify.loader import load_impl

HERE = Path(__file__).resolve().parent / "user_modules"


def _ref() -> str:
    try:
        reference.get("torch")
    except reference.BackendUnavailable:
        return "numeric"
    return "torch"


REF = _ref()
CHECKS = ("vjp", "jacobian") if REF == "numeric" else ("forward", "vjp", "jacobian")


def outcome(module: Any, case: Case, check: str) -> tuple[str, str]:
    """(passed | failed | variant | convention | skipped, message) of one check of one case."""
    try:
        checks.CHECKS[check](checks.Run(case, REF, module, 0))
    except pytest.xfail.Exception as exc:  # first: pytest's XFailed is a Failed
        msg = str(exc.msg)
        return ("variant" if msg.startswith("definition difference:") else "convention"), msg
    except pytest.fail.Exception as exc:
        return "failed", str(exc.msg)
    except pytest.skip.Exception as exc:
        return "skipped", str(exc.msg)
    return "passed", ""


def outcomes(module: Any, op: str, select=lambda c: True) -> list[tuple[str, str, str, str]]:
    """(case key, check, outcome, message) for every check of every case of ``op``."""
    return [(case.key, name, *outcome(module, case, name))
            for case in all_cases() if case.spec.name == op and select(case)
            for name in CHECKS if checks.applies(name, case)]


def functions(module: Any, *names: str) -> types.ModuleType:
    """A module with only ``names`` of ``module`` (no GRADVERIFY_VARIANTS declaration)."""
    return api.load({n: getattr(module, n) for n in names})


BESSEL = load_impl(str(HERE / "variant_bessel.py"))
BESSEL_WRONG = load_impl(str(HERE / "variant_bessel_wrong.py"))
PAIRS = load_impl(str(HERE / "variant_pairs.py"))


def test_bessel_batch_norm_is_a_definition_difference_not_a_wrong_derivative() -> None:
    got = outcomes(functions(BESSEL, "batchnorm", "batchnorm_backward"), "batchnorm")
    assert got and {o for _, _, o, _ in got} == {"variant"}, [g for g in got if g[2] != "variant"]
    for _key, check, _, message in got:
        fn = "batchnorm" if check == "forward" else "batchnorm_backward"
        assert message.startswith(f"definition difference: {fn} matches batch norm with "
                                  "Bessel's correction (n − 1)"), message
        assert "a different definition, not a wrong derivative" in message
        assert "GRADVERIFY_VARIANTS = {'batchnorm': 'bessel'}" in message
        assert "case: op batchnorm" in message


def test_a_module_declaring_its_variant_is_checked_against_it() -> None:
    got = outcomes(BESSEL, "batchnorm")
    assert got and {o for _, _, o, _ in got} == {"passed"}, [g for g in got if g[2] != "passed"]


def test_a_declared_variant_that_is_wrong_for_the_variant_fails() -> None:
    got = outcomes(BESSEL_WRONG, "batchnorm")
    by_check = {c: {o for _, cc, o, _ in got if cc == c} for c in CHECKS}
    assert by_check["vjp"] == {"failed"} and by_check["jacobian"] == {"failed"}
    if "forward" in by_check:
        assert by_check["forward"] == {"passed"}  # its forward is the variant's
    message = next(m for _, c, o, m in got if c == "vjp")
    assert "checked against the variant the module declares (GRADVERIFY_VARIANTS): batch norm " \
        "with Bessel's correction" in message
    assert message.startswith("backward pass: batchnorm_backward gradient 0 (input 0)")
    assert "right: gradient 1 (input 1), gradient 2 (input 2)" in message.splitlines()[0]
    assert "definition difference" not in message


def test_an_unknown_declared_variant_names_the_known_ones() -> None:
    module = functions(BESSEL, "batchnorm", "batchnorm_backward")
    module.GRADVERIFY_VARIANTS = {"batchnorm": "unbiased"}
    case = next(c for c in all_cases() if c.spec.name == "batchnorm")
    result, message = outcome(module, case, "vjp")
    assert result == "failed"
    assert "batchnorm has no variant 'unbiased' (its variants: 'bessel', 'eps=1e-08'" in message


@pytest.mark.parametrize("names,op,says,select", [
    (("dropout", "dropout_backward"), "dropout", "dropout without inverted scaling", None),
    (("mse", "mse_backward"), "mse", "mse summed over the samples, without the 1/N "
     "(reduction='sum') (the case has reduction='mean')", None),
    (("layernorm", "layernorm_backward"), "layernorm", "layer norm with eps = 1e-05 (a "
     "hard-coded eps?) (the case has eps=0.001)", None),
    (("gelu", "gelu_backward", "gelu_jacobian"), "gelu", "gelu's tanh approximation (the case "
     "has approximate='none')", lambda c: c.shape != (0, 4)),
], ids=["dropout-non-inverted", "mse-sum", "layernorm-hard-coded-eps", "gelu-tanh"])
def test_consistent_pairs_of_known_variants_are_definition_differences(names, op, says,
                                                                        select) -> None:
    got = outcomes(functions(PAIRS, *names), op, select or (lambda c: True))
    variant = [m for _, _, o, m in got if o == "variant"]
    assert variant, "no case differs"
    others = [g for g in got if g[2] not in ("passed", "variant")]
    assert not others, others[:1]
    assert all(says in m for m in variant), variant[0]
    # in float64 a case is a definition difference in every check or in none (float32's
    # allowance may cover the two definitions' difference in one check but not another)
    for key in {k for k, *_ in got if "float64" in k}:
        assert len({o for k, _, o, _ in got if k == key}) == 1, [g for g in got if g[0] == key]


@pytest.mark.parametrize("key,op,check,says", [
    ("mse_missing_mean", "mse", "vjp", "mse_backward matches the variant 'reduction=sum' but "
     "mse does not"),
    ("l2_missing_mean", "l2", "vjp", "l2_backward matches the variant 'no_mean' but l2 does not"),
    ("dropout_backward_unscaled", "dropout", "vjp", "dropout_backward matches the variant "
     "'non_inverted' but dropout does not"),
    ("batchnorm_unbiased_var", "batchnorm", "forward", "batchnorm matches the variant 'bessel' "
     "but batchnorm_backward does not"),
])
def test_a_function_matching_a_variant_its_pair_does_not_is_wrong(key, op, check, says) -> None:
    """A backward without the 1/N beside a forward with it is no derivative of that forward:
    it fails, and the message says which variant it matches and what contradicts it."""
    if check == "forward" and REF == "numeric":
        pytest.skip("finite differences do not check the forward (no framework installed)")
    module = importlib.import_module(f"mistakes.{key}")
    got = outcomes(module, op, lambda c: c.spec.name == op)
    results = [(o, m) for _, c, o, m in got if c == check]
    assert "variant" not in {o for o, _ in results}
    failed = [m for o, m in results if o == "failed"]
    assert failed and all(says in m.splitlines()[0] for m in failed), failed[:1]
    assert all("the pair is inconsistent" in m for m in failed)


def test_the_report_counts_definition_differences_apart() -> None:
    rep = api.check(functions(PAIRS, "dropout", "dropout_backward"), ops=["dropout"],
                    references=[REF])
    values = [r for r in rep.records if r.check in ("forward", "vjp", "jacobian")]
    assert values and {r.outcome for r in values} == {"variant"}
    assert rep.totals()["variant"] == len(values) and not rep.failures
    assert f"{rep.totals()['variant']} definition differences" in rep.summary_line()
    assert all(r.verdict.startswith("definition difference: dropout") for r in values)


def test_the_pytest_summary_counts_definition_differences_apart() -> None:
    summary = report.Summary()
    for reason in ("definition difference: dropout matches ...", "convention difference: x"):
        summary.add(types.SimpleNamespace(
            user_properties=[("op", "dropout"), ("reference", "torch")], when="call",
            passed=False, skipped=True, wasxfail=reason, longrepr=None))
    cell = summary.cells[("dropout", "torch")]
    assert (cell["variants"], cell["conventions"], cell["cases"]) == (1, 1, 2)
    assert "1 definition" in summary.table()[-1] and summary.totals()["variants"] == 1


REPARAMS = [(spec, v) for spec in BY_LABEL.values() for v in spec.variants if v.numpy]


@pytest.mark.parametrize("spec,v", REPARAMS, ids=[f"{s.label}-{v.name}" for s, v in REPARAMS])
def test_each_reparametrized_variant_equals_its_direct_definition(spec, v) -> None:
    """variant(x; p) = op(s·x; p') (what the references compute) against the variant's own
    NumPy definition, on every float64 case of the op, forward and gradients (the gradients
    by finite differences of the NumPy definition)."""
    fd = reference.get("numeric")
    src = variants.VariantReference(fd, v)
    for case in all_cases():
        if case.spec is not spec or case.dtype != "float64" or 0 in case.shape:
            continue
        xs, kw = case.inputs(case.rng(1)), case.kwargs
        direct = v.numpy(*[np.asarray(x, np.float64) if np.issubdtype(np.asarray(x).dtype,
                                                                      np.floating) else x
                           for x in xs], **kw)
        np.testing.assert_allclose(src.forward(spec.name, xs, kw), direct, rtol=1e-12,
                                   atol=1e-12)
        jac = src.op_jacobian(spec.name, kw, xs, spec.argnums)
        own = fd.jacobian(partial(v.numpy, **kw), xs, spec.argnums)
        for a, b in zip(jac, own):
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_the_catalog_declares_the_known_variants() -> None:
    names = {label: {v.name for v in BY_LABEL[label].variants} for label in BY_LABEL}
    for label in ("batchnorm", "batchnorm[small_var]", "layernorm", "groupnorm"):
        assert {"bessel", "eps=1e-08", "eps=1e-05", "eps=0.001", "eps=0"} <= names[label]
    assert "non_inverted" in names["dropout"]
    assert {"approximate=tanh", "approximate=none"} <= names["gelu"]
    assert "no_mean" in names["l2"] and "half" in names["mse"]
    for label, spec in BY_LABEL.items():
        if "reduction" in {k for p in spec.params for k in p}:
            assert {"reduction=sum", "reduction=mean"} <= names[label], label
    # a parameter variant equal to the case's value (impl's default included) is the case itself
    eps = next(v for v in BY_LABEL["batchnorm"].variants if v.name == "eps=1e-05")
    assert not eps.applies("batchnorm", {}) and eps.applies("batchnorm", {"eps": 1e-3})


def test_a_lone_function_matching_a_variant_says_nothing_confirms_it() -> None:
    module = functions(PAIRS, "mse_backward")
    got = outcomes(module, "mse", lambda c: c.kwargs.get("reduction") == "mean"
                   and np.prod(c.shape) > 1)  # one element: the mean is the sum
    assert {o for _, c, o, _ in got if c == "vjp"} == {"variant"}
    assert all("the module has no mse to confirm it" in m for _, _, o, m in got if o == "variant")
