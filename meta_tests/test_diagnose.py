"""The diagnosis helpers (tests/diagnose.py, tests/cases.py) say what they promise."""

from __future__ import annotations

import numpy as np
import pytest

from gradverify.cases import as_gradients, call_impl
from gradverify.catalog import BY_LABEL
from gradverify.diagnose import (
    _agrees,
    agreement,
    check,
    errors,
    normwise_error,
    ratio_note,
    structural_problem,
    within,
)
from gradverify.tolerances import Allowance

TOL = (1e-10, 1e-12)
E = np.array([[1.0, -2.0, 3.0], [0.5, 4.0, -1.5]])


def failure(actual, expected=E, **kw) -> str:
    with pytest.raises(pytest.fail.Exception) as info:
        check(actual, expected, what="backward pass: f_backward", dtype=kw.pop("dtype", None),
              tol=TOL, context="case: f", **kw)
    return str(info.value)


@pytest.mark.parametrize("actual,says", [
    (None, "returned None"),
    ([1.0, 2.0], "returned list, expected a numpy array"),
    (E.ravel(), "wrong shape: got (6,), expected (2, 3)"),
    (E.T.copy(), "wrong shape: got (3, 2), expected (2, 3) (the transpose?)"),
    (E.astype(np.float32), "wrong dtype: got float32, expected float64 (the input's dtype)"),
    (E.astype(np.float16), "wrong dtype: got float16, expected float64"),
    (np.where(E > 3, np.nan, E), "1 non-finite value(s) where the reference is finite: "
                                 "first at [1, 1]: got nan, expected 4"),
    (np.where(E < 0, np.inf, E), "2 non-finite value(s)"),
])
def test_structural_problems_come_before_values(actual, says) -> None:
    problem = structural_problem(actual, E, "float64")
    assert problem is not None and says in problem
    message = failure(actual, dtype="float64")
    assert message.startswith(f"backward pass: f_backward: {problem}")
    assert "max abs err" not in message and message.endswith("case: f")


def test_matching_values_pass_and_return_the_normwise_error() -> None:
    actual = E * (1 + 1e-12)
    assert check(actual, E, what="x", dtype="float64", tol=TOL, context="") == pytest.approx(
        1e-12, rel=1e-3)
    assert structural_problem(E.copy(), E, "float64") is None


def test_the_one_pass_early_out_agrees_with_the_full_comparison() -> None:
    """``check``'s fast path (``_agrees``) passes exactly the pairs ``within`` passes with
    every value finite, and returns ``normwise_error``'s value for them."""
    rng = np.random.default_rng(0)
    tol = Allowance(1e-10, 1e-12, 256 * 2.0**-53)
    specials = [np.nan, np.inf, -np.inf, 0.0, 1e300]
    for trial in range(400):
        e = rng.standard_normal(rng.integers(0, 7)) * 10.0 ** rng.integers(-8, 8)
        a = e * (1 + rng.choice([0, 1e-15, 1e-12, 1e-9, 1e-3]) * rng.standard_normal(e.shape))
        for x in (a, e)[: 1 + trial % 2]:
            if x.size and trial % 5 == 0:
                x[rng.integers(x.size)] = rng.choice(specials)
        fast = _agrees(a, e, tol)
        full = (within(a, e, tol) and bool(np.all(np.isfinite(a)))
                and bool(np.all(np.isfinite(e))))
        assert (fast is not None) == full, (a, e)
        if fast is not None:
            assert fast == normwise_error(a, e)


def test_the_worst_element_and_the_errors_are_named() -> None:
    actual = E.copy()
    actual[1, 1] = 4.5
    message = failure(actual)
    first = message.splitlines()[0]
    assert first == ("backward pass: f_backward: max abs err 0.5, max rel err 0.125; worst at "
                     "[1, 1]: error 0.5 > allowed 4.01e-10 (1.25e+09x)")
    assert "worst element [1, 1]: expected 4, actual 4.5" in message
    assert "1 of 6 elements out of tolerance" in message
    assert "actual/expected" not in message  # not a constant ratio


def test_errors_treat_equal_infinities_and_nans_as_agreement() -> None:
    x = np.array([np.inf, np.nan, 1.0])
    max_abs, max_rel, score = errors(x, x.copy(), TOL)
    assert (max_abs, max_rel) == (0.0, 0.0) and np.all(score == 0)


@pytest.mark.parametrize("factor,says", [
    (-1.0, "actual/expected = -1 at every element: a sign error"),
    (0.5, "actual/expected = 0.5 at every element: half: a missing factor 2"),
    (2.0, "actual/expected = 2 at every element: a stray factor 2"),
    (3.0, "actual/expected = 3 at every element: a factor 3: a missing 1/3 (the mean's 1/N?)"),
    (0.25, "actual/expected = 0.25 at every element: a factor 1/4: a mean where a sum is "
           "expected?"),
    (1.7, "actual/expected = 1.7 at every element: a missing or extra constant factor"),
])
def test_a_constant_ratio_is_named(factor, says) -> None:
    assert ratio_note(E * factor, E, 1e-12).startswith(says)
    assert says in failure(E * factor)


def test_no_ratio_note_when_the_ratio_varies_or_expected_is_zero() -> None:
    assert ratio_note(E + 1.0, E, 1e-12) == ""
    assert ratio_note(np.ones(3), np.zeros(3), 1e-12) == ""


def test_agreement_says_the_formula_is_wrong_when_every_reference_agrees() -> None:
    text = agreement(E * 2, {"jax": E, "autograd": E.copy(), "numeric": E + 1e-14}, TOL, "mine")
    assert "agree with each other: jax, autograd, numeric" in text
    assert "mine disagrees with every reference, which all agree: the formula is wrong" in text


def test_agreement_points_at_a_lone_reference_as_a_convention() -> None:
    text = agreement(E, {"jax": E * -1, "autograd": E.copy(), "numeric": E.copy()}, TOL, "mine")
    assert "agree with each other: jax\n" in text
    assert "agree with each other: autograd, numeric" in text
    assert "mine agrees with: autograd, numeric" in text
    assert "framework convention" in text


def test_agreement_lists_unavailable_references_with_the_reason() -> None:
    text = agreement(E * 2, {"jax": "unavailable (not installed)", "numeric": E}, TOL, "mine")
    assert "  jax: unavailable (not installed)" in text
    assert "mine agrees with no reference" in text


def test_check_reports_agreement_only_when_asked() -> None:
    assert "references on this case" not in failure(E * 2)
    assert "the formula is wrong" in failure(E * 2, others=lambda: {"a": E, "b": E.copy()})


def test_a_raising_formula_fails_with_its_own_message() -> None:
    def my_backward(grad_out, z):
        raise ZeroDivisionError("nothing to see")

    with pytest.raises(pytest.fail.Exception) as info:
        call_impl(my_backward, E, E)
    assert str(info.value).startswith("my_backward raised ZeroDivisionError: nothing to see")
    assert info.value.__context__ is None  # no "during handling of the above exception"


def test_the_number_of_gradients_is_checked() -> None:
    dense = BY_LABEL["dense"]
    with pytest.raises(pytest.fail.Exception, match=r"dense_backward returned 2 gradient\(s\), "
                       r"expected a tuple of 3 arrays \(one per differentiable input\)"):
        as_gradients((E, E), dense, "dense_backward", "case: dense")
    assert len(as_gradients((E, E, E), dense, "dense_backward", "")) == 3
    assert len(as_gradients(E, BY_LABEL["tanh"], "tanh_backward", "")) == 1


def test_gradient_shapes_are_checked_against_the_inputs() -> None:
    x, w, b = np.zeros((5, 3)), np.zeros((3, 2)), np.zeros(2)
    with pytest.raises(pytest.fail.Exception, match=r"gradient 1 \(input 1\): wrong shape: got "
                       r"\(2, 3\), expected \(3, 2\) \(the transpose\?\)"):
        as_gradients((x, w.T, b), BY_LABEL["dense"], "dense_backward", "", (x, w, b))


def test_float32_rounding_in_a_float64_case_is_named() -> None:
    actual = E.astype(np.float32).astype(np.float64) * (1 + 3e-7)
    message = failure(actual, dtype="float64")
    assert "computed in float32 somewhere?" in message
    assert "actual/expected" not in message  # ≈ 1 is not a factor
    worst = next(line for line in message.splitlines() if "worst element" in line)
    expected, actual_s = worst.split("expected ")[1].split(", actual ")
    assert expected != actual_s  # shown with every digit when 6 are equal


def test_an_element_small_by_cancellation_gets_the_error_of_its_terms() -> None:
    """float32: an element 1e-6 of the array's scale, off by float32 rounding of its terms."""
    from gradverify.tolerances import tolerance
    e = np.array([1.0, -2.0, 1e-6])
    actual = (e + np.array([0.0, 0.0, 3e-7])).astype(np.float32)
    tol = tolerance("float32", "grad", "torch")
    check(actual, e.astype(np.float32), what="x", dtype="float32", tol=tol, context="")
    with pytest.raises(pytest.fail.Exception, match="allowed"):  # float64: no such error
        check(actual.astype(np.float64), e, what="x", dtype="float64",
              tol=tolerance("float64", "grad", "torch"), context="")


def test_the_magnitude_of_the_terms_widens_the_bound_only_where_asked() -> None:
    """A 1-element array whose value cancels: only the terms' magnitude can excuse it."""
    from gradverify.tolerances import tolerance
    tol = tolerance("float32", "grad", "jax")
    e, actual = np.array([5e-6], np.float32), np.array([8e-6], np.float32)
    with pytest.raises(pytest.fail.Exception):
        check(actual, e, what="x", dtype="float32", tol=tol, context="")
    check(actual, e, what="x", dtype="float32", tol=tol, context="",
          magnitude=lambda: np.array([0.5]))
    with pytest.raises(pytest.fail.Exception):  # a real error is not excused by the terms
        check(np.array([5e-3], np.float32), e, what="x", dtype="float32", tol=tol, context="",
              magnitude=lambda: np.array([0.5]))


def test_finite_difference_elements_across_a_kink_are_left_out_with_a_warning() -> None:
    from gradverify.diagnose import FiniteDifferenceKink
    e = np.array([1.0, np.nan, 3.0])
    with pytest.warns(FiniteDifferenceKink, match="1 of 3 element"):
        check(np.array([1.0, 7.0, 3.0]), e, what="x", dtype="float64", tol=TOL, context="",
              ref="numeric")
    with pytest.raises(pytest.fail.Exception), pytest.warns(FiniteDifferenceKink):
        check(np.array([1.0, 7.0, 4.0]), e, what="x", dtype="float64", tol=TOL, context="",
              ref="numeric")  # the other elements are still compared
    with pytest.raises(pytest.skip.Exception, match="every element"):
        check(np.array([1.0]), np.array([np.nan]), what="x", dtype="float64", tol=TOL,
              context="", ref="numeric")


# -- causes named (gradverify.diagnose_causes), each by a catalog mistake (mistakes/causes.py) --
def _ref() -> str:
    from gradverify import reference
    try:
        reference.get("torch")
    except reference.BackendUnavailable:
        return "numeric"
    return "torch"


def _first_failure(key: str, label: str, check_name: str, select=lambda c: True) -> str:
    """The diagnosis of the first failing ``check_name`` case of ``label`` against
    ``mistakes.<key>`` (torch, else finite differences)."""
    import importlib

    from gradverify import checks
    from gradverify.cases import all_cases

    module = importlib.import_module(f"mistakes.{key}")
    for case in all_cases():
        if case.spec.label != label or not select(case) or not checks.applies(check_name, case):
            continue
        try:
            checks.CHECKS[check_name](checks.Run(case, _ref(), module, 0))
        except pytest.xfail.Exception as exc:
            raise AssertionError(f"a definition difference, not a failure: {exc.msg}") from None
        except pytest.fail.Exception as exc:
            return str(exc.msg)
    raise AssertionError(f"{key}: no {check_name} case of {label} failed")


def test_an_ignored_upstream_gradient_is_named_not_called_a_factor() -> None:
    message = _first_failure("mse_backward_no_upstream", "mse", "vjp")
    head = message.splitlines()[0]
    assert head.endswith("; mse_backward ignores its upstream gradient g"), head
    assert "cause: mse_backward ignores its upstream gradient g: it returns the same for g " \
        "and 2·g" in message
    assert "actual/expected" not in message and "1/N? the mean?" not in message


def test_swapped_arguments_are_named() -> None:
    message = _first_failure("tanh_backward_args_swapped", "tanh", "vjp")
    assert message.splitlines()[0].endswith("; the arguments are swapped")
    assert "tanh_backward(x, grad_out, ...) matches; the suite calls " \
        "tanh_backward(grad_out, *inputs)" in message


def _exact_reference() -> None:
    if _ref() == "numeric":
        pytest.skip("needs torch: finite differences carry an error of their own (~1e-7 "
                    "relative, and ~1e-13 where the value is 0) that this diagnosis reads as "
                    "the formula's")


def test_an_epsilon_inside_a_log_is_named_not_blamed_on_float32() -> None:
    _exact_reference()
    message = _first_failure("cross_entropy_eps_in_log", "cross_entropy", "vjp",
                             lambda c: c.dtype == "float64")
    assert message.splitlines()[0].endswith("; an ε inside a log or a clip")
    assert "the error follows ε/p with ε = 1e-07" in message
    assert "computed in float32" not in message


def test_a_backward_under_a_wrong_forward_says_fix_the_forward_first() -> None:
    message = _first_failure("elu_alpha_ignored_everywhere", "elu", "vjp",
                             lambda c: c.kwargs.get("alpha") == 0.5)
    assert "; the forward elu already differs from" in message.splitlines()[0]
    assert "on this case: fix it first" in message


def test_every_wrong_gradient_of_a_layer_is_named_with_the_right_ones() -> None:
    message = _first_failure("batchnorm_dgamma_dbeta_swapped", "batchnorm", "vjp")
    head = message.splitlines()[0]
    assert head.startswith("backward pass: batchnorm_backward gradient 1 (input 1)")
    assert head.endswith("; also wrong: gradient 2 (input 2); right: gradient 0 (input 0)")
    assert "  also wrong, gradient 2 (input 2): backward pass: batchnorm_backward gradient 2 " \
        "(input 2) vs" in message


def test_errors_where_the_expected_value_is_0_get_a_meaningful_relative_error() -> None:
    e = np.array([[1.0, 0.0, 3.0], [0.0, 4.0, -2.0]])
    message = failure(np.where(e == 0, 2.0, e), e, dtype="float64")
    assert "max rel err 0 where expected ≠ 0, 0.5·max |expected| at 2 element(s) whose " \
        "expected value is 0" in message.splitlines()[0]
    message = failure(np.ones(3), np.zeros(3), dtype="float64")
    assert "max rel err undefined (every expected value is 0; 3 element(s) wrong)" in message
    _exact_reference()
    message = _first_failure("dropout_backward_no_mask", "dropout", "vjp")
    assert "max rel err 0 where expected ≠ 0" in message and "whose expected value is 0" in message
