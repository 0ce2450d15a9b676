"""The small fixed graphs ``gradverify.engine`` runs before the random ones, and the causes
they tell: an op wrong on its own (its single-op graph), a node used twice (``a * a``), a
broadcast operand ((2, 3) with (1, 3), (3,), (2, 1)), relu at its kink."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .diagnose import fmt
from .engine_graphs import OPS, Graph, to_code

_A = np.array([[1.25, -0.75, 0.5], [-1.5, 2.0, 0.25]])
_B = np.array([[-0.5, 1.5, -1.25], [0.75, -2.0, 1.0]])
_POSITIVE = {"log", "__pow__"}


def _tail(g: Graph, final_sum: bool) -> Graph:
    if final_sum and g.nodes[-1][0] != "sum":
        return Graph(g.leaves, (*g.nodes, ("sum", (g.size - 1,), None)))
    return g


def probe_graphs(calls: Mapping[str, Any], tensor: bool) -> list[tuple[str, Graph]]:
    """One graph per op (and per constant): ``b = op(a)`` or ``c = a op b``, no node reused, at
    points inside the op's domain (scalars 1.25 and −0.75 where valid)."""
    out = []
    final_sum = tensor and "sum" in calls
    for name_ in calls:
        op = OPS[name_]
        for c in op.consts or (None,):
            if tensor:
                a = np.abs(_A) if name_ in _POSITIVE or op.name == "__pow__" and c == 0.5 \
                    else _A
                leaves: list[tuple[Any, ...]] = [(a, np.eye(3) + 0.5 if name_ == "matmul"
                                                  else _B)[:op.arity]]
            else:
                leaves = [pts[:op.arity] for pts in ((1.25, -0.75), (-0.75, 1.25))]
            for lv in leaves:
                xs = [np.asarray(v) for v in lv]
                if op.valid(*xs, c):
                    args = (0,) if op.arity == 1 else (0, 1)
                    out.append((name_, _tail(Graph(tuple(lv), ((name_, args, c),)), final_sum)))
    return out


def reuse_graphs(calls: Mapping[str, Any]) -> list[tuple[str, Graph]]:
    """``a * a`` and ``a + a``: a node used twice (the gradient is the sum of both uses)."""
    final_sum = "sum" in calls
    leaf = _A if final_sum else 0.5
    return [(f"reuse {op}", _tail(Graph((leaf,), ((op, (0, 0), None),)), final_sum))
            for op in ("__mul__", "__add__") if op in calls]


BROADCASTS = (((2, 3), (1, 3)), ((2, 3), (3,)), ((2, 3), (2, 1)), ((1, 3), (2, 3)))


def broadcast_graphs(calls: Mapping[str, Any]) -> list[tuple[str, Graph]]:
    """Each elementwise binary op on shapes that broadcast: (2, 3) with (1, 3), (3,), (2, 1)."""
    out = []
    for op in ("__add__", "__mul__", "__sub__", "__truediv__"):
        if op in calls:
            for sa, sb in BROADCASTS:
                a = _A[tuple(slice(0, n) for n in sa)] if len(sa) == 2 else _A[0]
                b = _B[tuple(slice(0, n) for n in sb)] if len(sb) == 2 else _B[0]
                g = Graph((a.reshape(sa), b.reshape(sb)), ((op, (0, 1), None),))
                out.append((f"broadcast {op}", _tail(g, "sum" in calls)))
    return out


def sum_axes(shape: tuple[int, ...], out: tuple[int, ...]) -> str:
    """How the gradient of an operand of ``shape`` broadcast to ``out`` is summed back."""
    lead = list(range(len(out) - len(shape)))
    ones = [len(lead) + i for i, n in enumerate(shape) if n == 1 and out[len(lead) + i] != 1]
    parts = []
    if lead:
        parts.append(f"axis {lead[0]}" if len(lead) == 1 else f"axes {tuple(lead)}"
                     + " (the leading axes NumPy added)")
    if ones:
        parts.append(f"axis {ones[0]} keeping it (keepdims)" if len(ones) == 1
                     else f"axes {tuple(ones)} keeping them (keepdims)")
    return " and ".join(parts) or "no axis"


def _broadcast_cause(label: str, pg: Graph, o: Any) -> str:
    out = np.broadcast_shapes(*(np.shape(v) for v in pg.leaves))
    i = ord(o.where[0]) - ord("a") if o.where.endswith(".grad") else \
        next(j for j, v in enumerate(pg.leaves) if np.shape(v) != out)
    shape = np.shape(pg.leaves[i])
    return (f"broadcast summed over the wrong axes: the gradient of the {shape} operand of "
            f"`{label.split()[-1]}`, broadcast to {out}, must be summed over "
            f"{sum_axes(shape, out)}")


REUSE = ("a node used twice keeps only one gradient: its gradient is overwritten (=) instead "
         "of accumulated (+=)")


def cause_of(g: Graph, probes: Sequence[tuple[str, str, Graph, Any]], tensor: bool) -> str:
    """The cause of a failure on ``g``, told from which probes fail: a wrong op alone (its
    single-op graph), a node used twice, a broadcast operand (see ``engine``)."""
    failed = [(k, label, pg, o) for k, label, pg, o in probes if o is not None]
    bad_ops = list(dict.fromkeys(lb for k, lb, _, _ in failed if k == "op"))
    own = [(k, lb, pg, o) for k, lb, pg, o in failed if pg is g]
    if own and own[0][0] == "reuse" and own[0][1].split()[-1] not in bad_ops:
        return REUSE
    if own and own[0][0] == "broadcast" and own[0][1].split()[-1] not in bad_ops:
        return _broadcast_cause(own[0][1], g, own[0][3])
    ops = g.ops() - {"sum"} if set(bad_ops) - {"sum"} else g.ops()
    for kind, label, _, o in failed:
        if kind == "op" and label in ops:
            what = "forward value" if o.where == "output" else "local derivative"
            also = [b for b in bad_ops if b != label]
            return (f"a wrong {what} of `{label}` (its single-op graph fails too)" + (
                f"; failing alone too: {', '.join(f'`{b}`' for b in also)} (one may be built "
                "on another: fix the most basic first)" if also else ""))
    if g.reused() and any(k == "reuse" for k, *_ in failed):
        return REUSE
    for kind, label, pg, o in failed:
        if kind == "broadcast" and tensor and g.broadcasts():
            return _broadcast_cause(label, pg, o)
    if failed:
        return "see the failing probes: " + ", ".join(dict.fromkeys(lb for _, lb, _, _ in failed))
    return ("every single-op, reuse and broadcast probe passes: the smallest failing graph "
            "is shown")


def relu_zero(engine: Any) -> tuple[str, str] | None:
    """relu'(0) as the engine computes it: None when 0 (torch's and jax's), a convention when
    in [0, 1] (a valid subgradient), a failure otherwise."""
    x = np.array([[0.0, 1.0, -1.0]]) if engine.tensor else 0.0
    g = Graph((x,), (("relu", (0,), None),) + ((("sum", (1,), None),)
                                                     if "sum" in engine.calls else ()))
    code = "; ".join(to_code(g, engine.cls.__name__, engine.spell, engine.backward))
    try:
        _, _, (d,) = engine.run(g)
    except Exception as exc:
        return "failed", f"{code}: raised {type(exc).__name__}: {exc}"
    d0 = float(np.ravel(d)[0])
    if d0 == 0.0:
        return None
    if 0.0 <= d0 <= 1.0:
        return "convention", (f"relu'(0) = {fmt(d0)} ({code}: a.grad = {fmt(d0)}); torch and jax "
                              "use 0, autograd 0.5: any value in [0, 1] is a valid subgradient, "
                              "so this is a convention, not a bug (random graphs keep relu "
                              "away from 0)")
    return "failed", f"{code}: a.grad = {fmt(d0)} at the kink, outside the subgradient [0, 1]"
