"""The matrix runs case-major: a case's tests against one reference are neighbours (jax then
traces and compiles a case once per run, not once per xdist worker), nothing is lost or
duplicated, and items that are no case keep their place."""

from __future__ import annotations

from itertools import groupby

from gradverify.cases import case_major
from meta_tests.test_op_option import _collect


def _group(test_id: str) -> str:
    """'test_vjp[softmax-jax-float64-3x4-axis=-1]' -> 'softmax-jax-float64-3x4-axis=-1'."""
    return test_id.split("[", 1)[1]


def test_a_cases_checks_against_one_reference_are_neighbours() -> None:
    ids = _collect("--op", "softmax,mse,batchnorm")
    groups = [key for key, _ in groupby(ids, key=_group)]
    assert len(groups) == len(set(groups)), "a case's tests are split"
    for _, tests in groupby(ids, key=_group):
        names = [t.split("[", 1)[0] for t in tests]
        assert names == [n for n in ("test_forward", "test_vjp", "test_jacobian") if n in names]
    assert len(ids) == len(set(ids)) > 100


class _Item:
    def __init__(self, nodeid: str, **params: object) -> None:
        self.nodeid = nodeid
        if params:
            self.callspec = type("CallSpec", (), {"params": params})()


def test_items_without_a_case_keep_their_place_and_modules_stay_apart() -> None:
    from gradverify.cases import all_cases

    a, b = list(all_cases())[:2]
    items = [_Item("m.py::t1", case=a, ref="jax"), _Item("m.py::net"),
             _Item("m.py::t1", case=b, ref="jax"), _Item("m.py::t2", case=a, ref="jax"),
             _Item("n.py::t3", case=a, ref="jax"), _Item("m.py::t2", case=b, ref="jax")]
    order = list(items)
    case_major(order)  # type: ignore[arg-type]
    assert [items.index(x) for x in order] == [0, 3, 1, 2, 5, 4]
