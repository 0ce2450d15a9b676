"""The user's own NumPy forward, differentiated by frameworks: no torch or jax code from the user.

The forward is re-run with a framework's NumPy-like namespace in place of ``np``: its code object
is rebuilt with ``types.FunctionType(fn.__code__, {**fn.__globals__, "np": namespace})``, and so
is every function of the same module it calls (helpers), so a forward defined in a notebook cell
works as well as one from a file. References:

- ``autograd``: ``autograd.numpy`` and ``autograd.grad``;
- ``jax``: ``jax.numpy`` in 64-bit and ``jax.grad`` (jit-compiled, eager where jit cannot trace);
- ``torch``: ``array_api_compat.torch`` (the array-API namespace over torch) and
  ``torch.autograd.grad``, with torch's default dtype float64 during the call;
- ``numeric``: central differences in float64 (``reference.numeric``: elements where one-sided
  differences disagree, a kink, come back NaN and are left out of the comparison).

Intermediates: ``rec(name, v)`` returns ``v + z_name`` with ``z_name`` an extra zero input that
every reference differentiates: ∂L/∂z = ∂L/∂v at z = 0. A reference that cannot run the forward
(in-place assignment into a jax array, a function its namespace lacks) raises; the caller skips
it with the reason.
"""

from __future__ import annotations

import contextvars
import inspect
import linecache
import re
import types
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

_ACTIVE: contextvars.ContextVar[Callable[[str, Any], Any] | None] = \
    contextvars.ContextVar("gradverify_backprop_recorder", default=None)

REFERENCES = ("autograd", "jax", "torch", "numeric")
Grads = Mapping[str, Any]


def rec(name: str, value: Any) -> Any:
    """Mark an intermediate of the forward: returns ``value`` (inside ``check_backprop``:
    ``value + z`` with a zero ``z`` the references differentiate, so ∂L/∂z = ∂L/∂value)."""
    active = _ACTIVE.get()
    return value if active is None else active(name, value)


# -- parameters: a dict of arrays, lists of arrays or dicts of arrays ---------------------------
def leaves(params: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters' arrays by name: ``W1`` for an array, ``weights[0]`` for a list entry,
    the inner key for a nested dict (``{"parameters": {"W1": ...}}`` gives ``W1``)."""
    out: dict[str, Any] = {}
    for key, v in params.items():
        if isinstance(v, (list, tuple)):
            items = {f"{key}[{i}]": x for i, x in enumerate(v)}
        elif isinstance(v, Mapping):
            items = dict(v)
        else:
            items = {key: v}
        for name, x in items.items():
            if name in out:
                raise ValueError(f"two parameters are named {name!r}")
            out[name] = x
    return out


def rebuild(params: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` with each array replaced by ``values[its leaf name]`` (same structure)."""
    out: dict[str, Any] = {}
    for key, v in params.items():
        if isinstance(v, (list, tuple)):
            out[key] = type(v)(values[f"{key}[{i}]"] for i in range(len(v)))
        elif isinstance(v, Mapping):
            out[key] = {k: values[k] for k in v}
        else:
            out[key] = values[key]
    return out


def is_float(x: Any) -> bool:
    return np.issubdtype(np.asarray(x).dtype, np.floating)


# -- running the user's code with another namespace ---------------------------------------------
def _function(fn: types.FunctionType, g: dict[str, Any]) -> types.FunctionType:
    new = types.FunctionType(fn.__code__, g, fn.__name__, fn.__defaults__, fn.__closure__)
    new.__kwdefaults__ = fn.__kwdefaults__
    return new


def with_namespace(fn: Callable, ns: Any) -> Callable:
    """``fn`` with ``ns`` wherever its module's globals hold ``numpy`` (``np``, ``numpy``),
    a NumPy function (``from numpy import exp``), or one of the module's own functions (each
    rebuilt the same way, so helpers the forward calls use ``ns`` too)."""
    if isinstance(fn, types.MethodType):
        return types.MethodType(with_namespace(fn.__func__, ns), fn.__self__)
    if not isinstance(fn, types.FunctionType):
        return fn
    old = fn.__globals__
    g = dict(old)
    for k, v in old.items():
        if v is np:
            g[k] = ns
        elif isinstance(v, types.FunctionType) and v.__globals__ is old:
            g[k] = _function(v, g)
        elif callable(v) and getattr(np, name := getattr(v, "__name__", ""), None) is v \
                and hasattr(ns, name):
            g[k] = getattr(ns, name)
    return _function(fn, g)


def accepts(fn: Callable) -> tuple[set[str], bool]:
    """(the parameter names of ``fn``, whether it takes ``**kwargs``)."""
    sig = inspect.signature(fn)
    names = {p.name for p in sig.parameters.values()
             if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
    return names, any(p.kind == p.VAR_KEYWORD for p in sig.parameters.values())


def call_forward(forward: Callable, params: Mapping[str, Any], inputs: Mapping[str, Any],
                 recorder: Callable[[str, Any], Any]) -> Any:
    """The loss: ``forward(**params, **inputs[, rec=rec])`` with ``recorder`` behind ``rec``
    (a returned tuple's first element is the loss)."""
    names, var_kw = accepts(forward)
    kwargs = {**params, **inputs}
    if "rec" in names or var_kw:
        kwargs["rec"] = rec
    token = _ACTIVE.set(recorder)
    try:
        out = forward(**kwargs)
    finally:
        _ACTIVE.reset(token)
    return out[0] if isinstance(out, (tuple, list)) else out


def record(forward: Callable, params: Mapping[str, Any],
           inputs: Mapping[str, Any]) -> tuple[Any, dict[str, Any]]:
    """Run the forward in NumPy: (loss, the recorded float intermediates in the order recorded)."""
    seen: dict[str, Any] = {}

    def recorder(name: str, v: Any) -> Any:
        if name in seen:
            raise ValueError(f"rec({name!r}, ...) was called twice: give each intermediate "
                             "its own name (f'z{l}' in a loop)")
        seen[name] = v
        return v

    loss = call_forward(forward, params, inputs, recorder)
    if np.ndim(loss) != 0:
        raise ValueError(f"the forward must return a scalar loss, not shape {np.shape(loss)}")
    return loss, {k: np.asarray(v) for k, v in seen.items() if is_float(v)}


def call_backward(backward: Callable, params: Mapping[str, Any], inputs: Mapping[str, Any],
                   recorded: Mapping[str, Any], loss: Any) -> Any:
    """``backward`` called with the arguments it names: a parameter or input by its name, a
    recorded intermediate by its name, ``cache`` (every recorded value) or ``loss``."""
    names, var_kw = accepts(backward)
    pool = {**recorded, "cache": dict(recorded), "loss": loss, **inputs, **params}
    sig = inspect.signature(backward).parameters
    missing = [n for n in names if n not in pool and sig[n].default is inspect.Parameter.empty]
    if missing:
        raise ValueError(f"the backward takes {missing}, which is no parameter, input, "
                         f"recorded intermediate, 'cache' or 'loss' (have: {sorted(pool)})")
    kwargs = {n: pool[n] for n in names if n in pool}
    if var_kw:
        kwargs = {**params, **inputs, **kwargs}
    return backward(**kwargs)


# -- mapping helpers --------------------------------------------------------------------------
def per_layer(*names: str, labels: Sequence[str] | None = None) -> Callable[[Any], Grads]:
    """Per-layer lists, ``(nabla_b, nabla_w)`` for parameters ``{"biases": [...],
    "weights": [...]}``: ``per_layer("biases", "weights", labels=("nabla_b", "nabla_w"))``
    maps ``nabla_w[l]`` to ``weights[l]``."""
    shown = tuple(labels or (f"d{n}" for n in names))

    def convert(result: Any) -> Grads:
        if len(result) != len(names):
            raise ValueError(f"the backward returned {len(result)} lists, per_layer expects "
                             f"{len(names)} ({', '.join(names)})")
        return {f"{n}[{i}]": (f"{lab}[{i}]", g) for n, lab, gs in zip(names, shown, result)
                for i, g in enumerate(gs)}

    return convert


def numbered(start: int = 1, sum_loss: Sequence[str] = (), samples_axis: int = -1,
             **lists: str) -> Callable[[Any], Grads]:
    """A grads dict with numbered keys: ``dW1`` to the parameter ``W1`` and ``dA0`` to the
    intermediate ``A0`` by name, or to a list-valued parameter: ``numbered(W="weights")`` maps
    ``dW1`` to ``weights[0]`` (``start``: the first layer's number). ``sum_loss=("dA",)``: those
    keys are gradients of the loss summed over samples (m·cost, as a course's ``dA{l}`` are,
    the 1/m applied in dW and db only): divided by m, the length of ``samples_axis``."""
    def convert(result: Any) -> Grads:
        out: dict[str, Any] = {}
        for key, g in result.items():
            m = re.fullmatch(r"d([A-Za-z_]+)(\d+)", key)
            if m and m[1] in lists:
                target = f"{lists[m[1]]}[{int(m[2]) - start}]"
            else:
                target = key[1:] if key.startswith("d") else key
            if m and f"d{m[1]}" in sum_loss:
                g = g / np.shape(g)[samples_axis]
            out[target] = (key, g)
        return out

    return convert


def by_name(result: Any, targets: Sequence[str], params: Mapping[str, Any]) -> Grads:
    """The default mapping: a dict by ``d<name>`` (or ``<name>``), a tuple of per-layer lists
    by the list-valued parameters in order."""
    if isinstance(result, Mapping):
        out: dict[str, Any] = {}
        for key, g in result.items():
            name = key[1:] if key.startswith("d") and key[1:] in targets else key
            out[name] = (key, g)
        return out
    lists = [k for k, v in params.items() if isinstance(v, (list, tuple))]
    if isinstance(result, (tuple, list)) and lists and len(result) == len(lists):
        return per_layer(*lists)(result)
    raise TypeError(f"the backward returned {type(result).__name__}: return a dict "
                    "{'dW1': ...}, or pass grads=per_layer(...) / numbered(...)")


# -- one loss function per reference -------------------------------------------------------------
def _loss(forward: Callable, params: Mapping[str, Any], inputs: Mapping[str, Any], ns: Any,
          convert: Callable[[Any], Any]) -> Callable[[dict, dict], Any]:
    """L(p, z): the loss at parameter leaves ``p`` with ``z[name]`` added to each intermediate."""
    fwd = with_namespace(forward, ns)
    xs = {k: convert(np.asarray(v)) if isinstance(v, (np.ndarray, np.generic)) else v
          for k, v in inputs.items()}

    def f(p: dict, z: dict) -> Any:
        def recorder(name: str, v: Any) -> Any:
            return v + z[name] if name in z else v

        return call_forward(fwd, rebuild(params, p), xs, recorder)

    return f


def _autograd(forward, params, inputs, p, z):  # type: ignore[no-untyped-def]
    import autograd
    import autograd.numpy as anp

    f = _loss(forward, params, inputs, anp, lambda x: x)
    return autograd.grad(lambda pz: f(*pz))((p, z))


_JAX_JIT: dict[Any, Callable] = {}


def _jax(forward, params, inputs, p, z):  # type: ignore[no-untyped-def]
    from gradverify.reference.jax_ref import configure_xla

    configure_xla()
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    jp = {k: jnp.asarray(v) for k, v in p.items()}
    jz = {k: jnp.asarray(v) for k, v in z.items()}
    # jit over the arrays (inputs too, so another seed reuses the executable)
    flat_in = {k: v for k, v in inputs.items() if isinstance(v, (np.ndarray, np.generic))}
    rest = {k: v for k, v in inputs.items() if k not in flat_in}

    def loss(pp: dict, zz: dict, xx: dict) -> Any:
        return _loss(forward, params, {**rest, **xx}, jnp, lambda x: x)(pp, zz)

    key = (forward, tuple((k, repr(v)) for k, v in sorted(rest.items())),
           tuple((k, np.shape(v), np.asarray(v).dtype.str) for k, v in sorted(flat_in.items())))
    xs = {k: jnp.asarray(v) for k, v in flat_in.items()}
    try:
        grad = _JAX_JIT.get(key) or jax.jit(jax.grad(loss, argnums=(0, 1)))
        out = grad(jp, jz, xs)
        _JAX_JIT[key] = grad
    except (jax.errors.ConcretizationTypeError, jax.errors.TracerBoolConversionError,
            jax.errors.TracerIntegerConversionError):
        out = jax.grad(loss, argnums=(0, 1))(jp, jz, xs)  # Python control flow on values
    return tuple({k: np.asarray(v) for k, v in d.items()} for d in out)


class _TorchNumpy:
    """``array_api_compat.torch`` plus the NumPy names the array API lacks that backprop code
    uses most: ``dot`` (np.dot: a matrix product for 2-D operands), ``squeeze`` without an
    axis (every axis of length 1)."""

    def __init__(self) -> None:
        import array_api_compat.torch as xp

        self._xp = xp

    def __getattr__(self, name: str) -> Any:
        return getattr(self._xp, name)

    def squeeze(self, x: Any, axis: Any = None) -> Any:
        if axis is None:
            return x.squeeze() if hasattr(x, "squeeze") else x
        return self._xp.squeeze(x, axis=axis)

    def dot(self, a: Any, b: Any) -> Any:
        if getattr(a, "ndim", 0) == 0 or getattr(b, "ndim", 0) == 0:
            return a * b
        return self._xp.matmul(a, b) if b.ndim <= 2 else \
            self._xp.tensordot(a, b, axes=([-1], [-2]))


def _torch(forward, params, inputs, p, z):  # type: ignore[no-untyped-def]
    import torch

    xp = _TorchNumpy()

    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        tp = {k: torch.tensor(v, requires_grad=True) for k, v in p.items()}
        tz = {k: torch.tensor(v, requires_grad=True) for k, v in z.items()}
        loss = _loss(forward, params, inputs, xp, torch.as_tensor)(tp, tz)
        if not isinstance(loss, torch.Tensor):
            raise TypeError(f"the forward returned {type(loss).__name__}, not a tensor: "
                            "it left torch (float(), .item(), a NumPy call?)")
        every = [*tp.values(), *tz.values()]
        gs = torch.autograd.grad(loss, every, allow_unused=True)
    finally:
        torch.set_default_dtype(before)
    arrays = [np.zeros(t.shape) if g is None else g.detach().numpy() for t, g in zip(every, gs)]
    return dict(zip(tp, arrays[:len(tp)])), dict(zip(tz, arrays[len(tp):]))


def _numeric(forward, params, inputs, p, z):  # type: ignore[no-untyped-def]
    from gradverify.reference.numeric import NumericReference

    f = _loss(forward, params, inputs, np, lambda x: x)
    keys_p, keys_z = list(p), list(z)

    def flat(*arrays: np.ndarray) -> Any:
        return f(dict(zip(keys_p, arrays)), dict(zip(keys_z, arrays[len(keys_p):])))

    arrays = [*p.values(), *z.values()]
    grads = NumericReference().jacobian(flat, arrays, range(len(arrays)))
    return dict(zip(keys_p, grads)), dict(zip(keys_z, grads[len(keys_p):]))


_RUN = {"autograd": _autograd, "jax": _jax, "torch": _torch, "numeric": _numeric}


def gradients(ref: str, forward: Callable, params: Mapping[str, Any],
              inputs: Mapping[str, Any], shapes: Mapping[str, tuple[int, ...]]
              ) -> dict[str, np.ndarray]:
    """∂L/∂(every parameter leaf and every recorded intermediate) by ``ref``, in float64 at the
    parameters and inputs given (float inputs cast to float64): {name: gradient}."""
    p = {k: np.array(v, dtype=np.float64) for k, v in leaves(params).items()}
    xs = {k: np.asarray(v, np.float64) if isinstance(v, np.ndarray) and is_float(v) else v
          for k, v in inputs.items()}
    z = {k: np.zeros(s) for k, s in shapes.items()}
    gp, gz = _RUN[ref](forward, params, xs, p, z)
    out = {k: np.asarray(v, np.float64) for k, v in gp.items()}
    return {**out, **{k: np.asarray(v, np.float64) for k, v in gz.items()}}


def short(exc: BaseException, user: Callable | None = None, limit: int = 160) -> str:
    """An exception as one short line: its type, the first line of its message, and the line of
    the user's code (the module of ``user``) that raised it, where there is one."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    if len(text) > limit:
        text = text[:limit - 1] + "…"
    code = getattr(getattr(user, "__func__", user), "__code__", None)
    tb, where = exc.__traceback__, ""
    while code is not None and tb is not None:
        if tb.tb_frame.f_code.co_filename == code.co_filename:
            line = linecache.getline(code.co_filename, tb.tb_lineno).strip()
            where = f" at line {tb.tb_lineno}" + (f": {line}" if line else "")
            if any(v is np for v in tb.tb_frame.f_locals.values()):
                where += (f" (numpy imported inside {tb.tb_frame.f_code.co_name}(): import it "
                          "at the module's top, where the check can replace it)")
        tb = tb.tb_next
    return text + where
