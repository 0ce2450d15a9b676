"""Expression graphs for ``gradverify.engine``: the ops, a hypothesis strategy, code, references.

A ``Graph`` is a list of leaves (floats, or float64 arrays for tensor engines) and of nodes
``(op, operand indices, constant)``; index ``i < len(leaves)`` is a leaf, the last node is the
output. Operands are drawn from every earlier node, so nodes are reused (``a * a``) and chains
grow deep; every node's value is computed in NumPy while drawing, and an op whose operands are
outside its domain is not added (log and x^0.5 of positives only, no division by |x| < 0.25,
exp of x < 4, relu away from its kink at 0, |value| < 1000), so every framework computes the
same finite numbers. Tensor leaves have shapes that broadcast against each other.
"""

from __future__ import annotations

import functools
import types
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from hypothesis import HealthCheck, Phase, Verbosity, assume, given, settings
from hypothesis import seed as hyp_seed
from hypothesis import strategies as st

#: leaf values of scalar graphs: nonzero, exact in binary, shrinking towards 0.5
SCALARS = (0.5, -1.5, 2.0, -0.75, 1.25, 3.0, -2.5, 0.25)
#: leaf shapes of tensor graphs: each broadcasts against (2, 3); (3, 3) is matmul's right side
SHAPES = ((2, 3), (3,), (1, 3), (2, 1), (3, 3))


@dataclass(frozen=True)
class OpDef:
    """One op: ``code`` spells it ({0}, {1}: operands, {c}: the constant), ``ref(ns, *xs, c)``
    computes it with a framework's namespace ``ns``, ``valid(*xs, c)`` is its domain."""

    name: str
    arity: int
    code: str
    ref: Callable[..., Any]
    valid: Callable[..., bool] = lambda *xs: True
    consts: tuple[float, ...] = ()
    tensor_only: bool = False


def _big(x: Any, lo: float) -> bool:
    return bool(np.all(np.abs(x) > lo))


def _binary(name: str, sym: str, fn: Callable, valid: Callable = lambda a, b, c: True) -> OpDef:
    return OpDef(name, 2, f"{{0}} {sym} {{1}}", lambda ns, a, b, c: fn(a, b), valid)


def _const(name: str, code: str, fn: Callable, valid: Callable = lambda a, c: True,
           consts: tuple[float, ...] = (2.0, 0.5, -1.5)) -> OpDef:
    return OpDef(name, 1, code, lambda ns, a, c: fn(a, c), valid, consts)


def _unary(name: str, valid: Callable = lambda a, c: True) -> OpDef:
    return OpDef(name, 1, f"{{0}}.{name}()", lambda ns, a, c: getattr(ns, name)(a), valid)


def _pow_valid(a: Any, k: float) -> bool:
    if k == 0.5:
        return bool(np.all(a > 0.1))
    return _big(a, 0.25) if k < 0 else bool(np.all(np.abs(a) < 8))


OPS: dict[str, OpDef] = {op.name: op for op in (
    _binary("__add__", "+", lambda a, b: a + b),
    _binary("__mul__", "*", lambda a, b: a * b),
    _binary("__sub__", "-", lambda a, b: a - b),
    _binary("__truediv__", "/", lambda a, b: a / b, lambda a, b, c: _big(b, 0.25)),
    OpDef("__neg__", 1, "-{0}", lambda ns, a, c: -a),
    _const("__pow__", "{0} ** {c}", lambda a, k: a ** k, _pow_valid, (2.0, 3.0, -1.0, 0.5)),
    _const("__radd__", "{c} + {0}", lambda a, c: c + a),
    _const("__rmul__", "{c} * {0}", lambda a, c: c * a),
    _const("__rsub__", "{c} - {0}", lambda a, c: c - a),
    _const("__rtruediv__", "{c} / {0}", lambda a, c: c / a, lambda a, c: _big(a, 0.25)),
    _unary("tanh"),
    _unary("exp", lambda a, c: bool(np.all(a < 4))),
    _unary("log", lambda a, c: bool(np.all(a > 0.1))),
    _unary("sigmoid"),
    _unary("relu", lambda a, c: bool(np.all(a != 0))),
    OpDef("matmul", 2, "{0} @ {1}", lambda ns, a, b, c: ns.matmul(a, b),
          lambda a, b, c: np.ndim(a) == 2 == np.ndim(b) and np.shape(a)[1] == np.shape(b)[0],
          tensor_only=True),
    OpDef("sum", 1, "{0}.sum()", lambda ns, a, c: ns.sum(a), tensor_only=True),
)}
#: where each op lives on the class by default
METHODS = {"matmul": "__matmul__"}


@dataclass(frozen=True)
class Graph:
    """Leaves, then nodes (op name, operand indices, constant or None); the last is the output."""

    leaves: tuple[Any, ...]
    nodes: tuple[tuple[str, tuple[int, ...], float | None], ...]

    @property
    def size(self) -> int:
        return len(self.leaves) + len(self.nodes)

    def reused(self) -> bool:
        """A node that is an operand more than once (twice in one op counts)."""
        uses = [i for _, args, _ in self.nodes for i in args]
        return len(uses) != len(set(uses))

    def ops(self) -> set[str]:
        return {op for op, _, _ in self.nodes}

    def broadcasts(self) -> bool:
        shapes = [np.shape(v) for v in self.leaves]
        return len(set(shapes)) > 1


def name(i: int) -> str:
    """a, b, ..., z, v26, v27, ..."""
    return chr(ord("a") + i) if i < 26 else f"v{i}"


def _literal(v: Any) -> str:
    if np.ndim(v) == 0:
        return repr(float(v))
    return f"np.array({np.asarray(v).tolist()!r})"


def to_code(g: Graph, cls: str = "Value", spell: dict[str, str] | None = None,
            backward: str = "backward") -> list[str]:
    """The graph as Python statements, one per node, ending with ``out.backward()``."""
    spell = spell or {}
    lines = [f"{name(i)} = {cls}({_literal(v)})" for i, v in enumerate(g.leaves)]
    for k, (op, args, c) in enumerate(g.nodes):
        code = spell.get(op, OPS[op].code)
        lines.append(f"{name(len(g.leaves) + k)} = "
                     + code.format(*(name(i) for i in args), c=_num(c)))
    return lines + [f"{name(g.size - 1)}.{backward}()"]


def _num(c: float | None) -> str:
    return "" if c is None else (str(int(c)) if float(c).is_integer() else repr(c))


# -- drawing ------------------------------------------------------------------------------------
def _leaf(tensor: bool, first: bool) -> st.SearchStrategy:
    if not tensor:
        return st.sampled_from(SCALARS)
    shapes = st.just(SHAPES[0]) if first else st.sampled_from(SHAPES)

    def values(drawn: tuple[tuple[int, ...], int, bool]) -> np.ndarray:
        shape, seed, positive = drawn
        rng = np.random.default_rng(seed)
        sign = 1.0 if positive else rng.choice([-1.0, 1.0], shape)
        return sign * rng.integers(1, 9, shape) / 4  # multiples of 1/4: printed exactly

    return st.tuples(shapes, st.integers(0, 2**16), st.booleans()).map(values)


@st.composite
def graphs(draw: Any, ops: Sequence[str], tensor: bool = False, max_leaves: int = 3,
           max_ops: int = 6, final_sum: bool = False) -> Graph:
    """A random graph over ``ops`` (the names in ``OPS``; ``sum`` only as the final node when
    ``final_sum``): operands drawn nearest-first, so shrinking reaches short chains."""
    n_leaves = draw(st.integers(2 if tensor else 1, max_leaves))
    leaves = [draw(_leaf(tensor, i == 0)) for i in range(n_leaves)]
    values = [np.asarray(v, np.float64) for v in leaves]
    nodes: list[tuple[str, tuple[int, ...], float | None]] = []
    choices = [o for o in ops if o != "sum"]
    for _ in range(draw(st.integers(1, max_ops))):
        op = OPS[draw(st.sampled_from(choices))]
        n = len(values)
        args = tuple(n - 1 - draw(st.integers(0, n - 1)) for _ in range(op.arity))
        c = draw(st.sampled_from(op.consts)) if op.consts else None
        xs = [values[i] for i in args]
        if op.arity == 2 and op.name != "matmul":
            try:
                np.broadcast_shapes(*(np.shape(x) for x in xs))
            except ValueError:
                continue
        if not op.valid(*xs, c):
            continue
        with np.errstate(all="ignore"):
            v = np.asarray(op.ref(NUMPY, *xs, c), np.float64)
        if not np.all(np.isfinite(v)) or np.any(np.abs(v) > 1e3):
            continue
        nodes.append((op.name, args, c))
        values.append(v)
    assume(nodes)
    if final_sum and np.ndim(values[-1]) > 0:
        nodes.append(("sum", (len(values) - 1,), None))
    return Graph(tuple(leaves), tuple(nodes))


# -- the user's ops, the search ---------------------------------------------------------------
def _method_call(method: str, arity: int) -> Callable[..., Any]:
    return lambda first, *rest: getattr(first, method)(*rest)


def detect(cls: type, ops: Iterable[str] | Mapping[str, Any] | None,
           tensor: bool) -> tuple[dict[str, Callable[..., Any]], dict[str, str]]:
    """The ops the class has: ``ops`` None (every op of ``engine_graphs.OPS`` it defines), a list
    of names, or a mapping name -> method name / callable ``f(*operands, const)`` / None."""
    given_map = dict(ops) if isinstance(ops, Mapping) else {}
    names = list(OPS) if ops is None or isinstance(ops, Mapping) else list(ops)
    unknown = [n for n in [*names, *given_map] if n not in OPS]
    if unknown:
        raise ValueError(f"unknown op(s) {unknown}; the ops are {list(OPS)}")
    calls, spell = {}, {}
    for n in dict.fromkeys([*names, *given_map]):
        op = OPS[n]
        if op.tensor_only and not tensor:
            continue
        how = given_map.get(n, METHODS.get(n, n))
        if how is None:
            continue
        if callable(how):
            calls[n] = how
            fname = getattr(how, "__name__", n)
            args = ", ".join(["{0}", "{1}"][:op.arity] + (["{c}"] if op.consts else []))
            spell[n] = f"{fname}({args})"
        elif hasattr(cls, how):
            calls[n] = _method_call(how, op.arity)
            if how != METHODS.get(n, n):
                spell[n] = "{0}." + how + "(" + ("{1}" if op.arity == 2 else
                                                 "{c}" if op.consts else "") + ")"
    return calls, spell


class _Found(Exception):
    pass


@dataclass
class Search:
    """One hypothesis search: the last failing graph (the shrunk one) and a sample of passes."""

    failure: tuple[Graph, Any] | None = None
    sample: list[Graph] = field(default_factory=list)  # the largest passing graphs
    drawn: int = 0
    stats: dict[str, int] = field(default_factory=dict)


def search_graphs(strategy: Any, test: Callable[[Graph], Any], examples: int, seed: int,
            keep: int = 4) -> Search:
    s = Search()

    @hyp_seed(seed)
    @settings(max_examples=examples, database=None, deadline=None, derandomize=False,
              suppress_health_check=list(HealthCheck), report_multiple_bugs=False,
              verbosity=Verbosity.quiet, print_blob=False,
              phases=(Phase.explicit, Phase.generate, Phase.shrink))
    @given(strategy)
    def prop(g: Graph) -> None:
        s.drawn += 1
        bad = test(g)
        if bad is not None:
            s.failure = (g, bad)
            raise _Found
        s.sample = sorted([*s.sample, g], key=lambda h: -len(h.nodes))[:keep]  # the largest
        s.stats["nodes"] = s.stats.get("nodes", 0) + len(g.nodes)
        s.stats["reused"] = s.stats.get("reused", 0) + g.reused()
        s.stats["deepest"] = max(s.stats.get("deepest", 0), len(g.nodes))
        for op in g.ops():
            s.stats[op] = s.stats.get(op, 0) + 1

    try:
        prop()
    except _Found:
        pass
    return s


# -- references ---------------------------------------------------------------------------------
def _np_sigmoid(x: Any, np_: Any = np) -> Any:
    return 1 / (1 + np_.exp(-x))


NUMPY = types.SimpleNamespace(tanh=np.tanh, exp=np.exp, log=np.log, sigmoid=_np_sigmoid,
                              relu=lambda x: np.maximum(x, 0.0), matmul=np.matmul, sum=np.sum)


def evaluate(g: Graph, ns: Any, leaves: Sequence[Any]) -> Any:
    """The output of ``g`` computed with ``ns``'s functions on ``leaves``."""
    values = list(leaves)
    for op, args, c in g.nodes:
        values.append(OPS[op].ref(ns, *(values[i] for i in args), c))
    return values[-1]


def _torch(g: Graph) -> tuple[np.ndarray, list[np.ndarray]]:
    import torch

    ns = types.SimpleNamespace(tanh=torch.tanh, exp=torch.exp, log=torch.log,
                               sigmoid=torch.sigmoid, relu=torch.relu, matmul=torch.matmul,
                               sum=torch.sum)
    xs = [torch.tensor(np.asarray(v, np.float64), requires_grad=True) for v in g.leaves]
    out = evaluate(g, ns, xs)
    grads = torch.autograd.grad(out.sum(), xs, allow_unused=True)
    return out.detach().numpy(), [np.zeros(np.shape(v)) if d is None else d.numpy()
                                  for v, d in zip(g.leaves, grads)]


@functools.cache
def _jax_ns() -> Any:
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    return jax, types.SimpleNamespace(tanh=jnp.tanh, exp=jnp.exp, log=jnp.log,
                                      sigmoid=jax.nn.sigmoid, relu=jax.nn.relu,
                                      matmul=jnp.matmul, sum=jnp.sum)


def _jax(g: Graph) -> tuple[np.ndarray, list[np.ndarray]]:
    jax, ns = _jax_ns()
    xs = [jax.numpy.asarray(np.asarray(v, np.float64)) for v in g.leaves]
    out, vjp = jax.vjp(lambda *a: evaluate(g, ns, a), *xs)
    grads = vjp(jax.numpy.ones_like(out))
    return np.asarray(out), [np.asarray(d) for d in grads]


def _autograd(g: Graph) -> tuple[np.ndarray, list[np.ndarray]]:
    import autograd
    import autograd.numpy as anp

    ns = types.SimpleNamespace(tanh=anp.tanh, exp=anp.exp, log=anp.log,
                               sigmoid=lambda x: _np_sigmoid(x, anp),
                               relu=lambda x: anp.maximum(x, 0.0), matmul=anp.matmul,
                               sum=anp.sum)
    xs = [np.asarray(v, np.float64) for v in g.leaves]
    out = evaluate(g, NUMPY, xs)
    grads = autograd.grad(lambda a: anp.sum(evaluate(g, ns, a)))(xs)
    return np.asarray(out, np.float64), [np.asarray(d, np.float64) for d in grads]


#: reference name -> (the package it needs, how it computes (output, leaf gradients))
REFERENCES: dict[str, tuple[str, Callable[[Graph], tuple[np.ndarray, list[np.ndarray]]]]] = {
    "torch": ("torch", _torch), "jax": ("jax", _jax), "autograd": ("autograd", _autograd)}


def unavailable(ref: str) -> str | None:
    """Why ``ref`` cannot run here, or None."""
    from importlib.util import find_spec

    package = REFERENCES[ref][0]
    return None if find_spec(package) is not None else f"{package} is not installed"

