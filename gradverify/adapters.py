"""Adapters: gradient code as people write it, exposed in impl's API.

impl's API is ``f(*inputs, **params)`` and ``f_backward(grad_out, *inputs, **params)`` returning
one gradient per differentiable input. Each adapter below returns such a pair ``(f,
f_backward)`` built from another shape of code, so the suite checks it unchanged::

    relu, relu_backward = cache_pair(relu_forward, my_relu_backward)        # (1) with a cache
    dense, dense_backward = layer(Dense, grads=("dW", "db"))                 # (2) layer objects
    relu, relu_backward = layer(ReLU, dx="dinputs")                          # (3) attributes only
    sigmoid, sigmoid_backward = derivative(sig, dsig, of="output")           # (4) f'(z) only
    mse, mse_backward = loss_with_grad(mse_loss)                             # (5) (loss, dscores)

Layouts: ``channels_last``, ``time_major`` and ``samples_in_columns`` wrap a pair written for
another layout of the same tensors, so it is checked against the catalog's. The functions
returned carry the user's function's name and module, so failures and "not supported by
<module>" (a ``NotImplementedError``) name the user's code.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

Pair = tuple[Callable[..., Any], Callable[..., Any]]
Params = dict[str, str] | Callable[[dict[str, Any]], dict[str, Any]] | None


def _named(fn: Callable, like: Callable, suffix: str = "",
           fixed: dict[str, Any] | None = None) -> Callable:
    """``fn`` under ``like``'s name (plus ``suffix``) and module: messages name the user's code.
    ``fixed`` is kept on it: the suite checks it against the value a case uses, impl's default
    included (``gradverify.supports``)."""
    if fixed:
        vars(fn)["__gradverify_fixed__"] = dict(fixed)
    name = getattr(like, "__name__", None) or type(like).__name__  # a callable object: its class
    fn.__name__ = fn.__qualname__ = name + suffix
    fn.__module__ = getattr(like, "__module__", None) or fn.__module__
    fn.__doc__ = getattr(like, "__doc__", None) or fn.__doc__
    return fn


def _map_params(params: Params, pack: str | None, extra: dict[str, Any] | None,
                kwargs: dict[str, Any], fixed: dict[str, Any] | None = None,
                who: str = "") -> dict[str, Any]:
    """impl's keyword parameters → the user's: ``fixed`` ones are values the user's code
    implements without taking them as arguments (another value raises NotImplementedError: the
    case is "not supported", not wrong); the others renamed (``params`` a dict impl name → user
    name) or transformed (``params`` a function), plus ``extra`` constants, and all passed as
    one dict argument named ``pack`` when given (CS231n's ``bn_param``)."""
    for k, v in (fixed or {}).items():
        if k in kwargs and kwargs[k] != v:
            raise NotImplementedError(f"{who} implements {k}={v!r} only; the case uses "
                                      f"{k}={kwargs[k]!r}")
        kwargs.pop(k, None)
    if callable(params):
        mapped = dict(params(dict(kwargs)))
    else:
        mapped = {(params or {}).get(k, k): v for k, v in kwargs.items()}
    mapped.update(extra or {})
    return {pack: mapped} if pack else mapped


class ConstructorError(Exception):
    """The user's constructor (a layer adapter's ``make``) raised: the message names it and its
    arguments; the original exception is the ``__cause__``."""


def _describe(value: Any) -> str:
    """An argument as a message shows it: ``float64[3, 2]`` for an array, else its repr."""
    if isinstance(value, np.ndarray):
        return f"{value.dtype}[{', '.join(map(str, value.shape))}]"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def construct(make: Callable[..., Any], args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    """``make(*args, **kwargs)``; an exception other than ``NotImplementedError`` (the case is
    then "not supported") becomes a ``ConstructorError`` naming the constructor and its
    arguments, with the user's own frames as its traceback."""
    try:
        return make(*args, **kwargs)
    except NotImplementedError:
        raise
    except Exception as exc:
        who = getattr(make, "__name__", None) or type(make).__name__
        shown = [*map(_describe, args), *(f"{k}={_describe(v)}" for k, v in kwargs.items())]
        message = (f"{who}({', '.join(shown)}) raised {type(exc).__name__} in its "
                   f"constructor: {exc}")
        tb = exc.__traceback__.tb_next if exc.__traceback__ else None  # the user's frames
        raise ConstructorError(message).with_traceback(tb) from exc


def cache_pair(forward: Callable, backward: Callable, *, params: Params = None,
               pack: str | None = None, extra: dict[str, Any] | None = None,
               fixed: dict[str, Any] | None = None, order: Sequence[int] | None = None,
               grads: Callable[[Any], Sequence[Any]] | None = None) -> Pair:
    """Shape (1): ``out, cache = forward(*inputs, **params)``, ``backward(dout, cache)`` returns
    the gradients (``dx`` or ``(dx, dw, db)``).

    ``params``/``pack``/``extra``/``fixed`` map impl's parameters onto the user's (see
    ``_map_params``; e.g. ``pack="bn_param", extra={"mode": "train"}``); ``order``: the
    user's inputs as positions in impl's (``(0, 2, 1)``: the user takes ``(x, beta, gamma)``
    where impl takes ``(x, gamma, beta)``); the gradients are put back in impl's order by the
    inverse permutation, or by ``grads``, a function from the user's result to impl's
    gradients.
    The backward re-runs the forward for its cache: every call is independent."""
    perm = tuple(order) if order is not None else None

    def call(inputs: tuple, kwargs: dict[str, Any]) -> Any:
        args = inputs if perm is None else tuple(inputs[i] for i in perm)
        return forward(*args, **_map_params(params, pack, extra, kwargs, fixed,
                                            getattr(forward, "__name__", "forward")))

    def f(*inputs: Any, **kwargs: Any) -> Any:
        return call(inputs, kwargs)[0]

    def f_backward(grad_out: Any, *inputs: Any, **kwargs: Any) -> Any:
        result = backward(grad_out, call(inputs, kwargs)[1])
        if grads is not None:
            return tuple(grads(result))
        if perm is None or not isinstance(result, (tuple, list)):
            return result
        back = {user: r for user, r in zip(perm, result)}  # impl position -> gradient
        return tuple(back[i] for i in sorted(back))

    return _named(f, forward, fixed=fixed), _named(f_backward, backward, fixed=fixed)


Getter = str | Sequence[str] | Callable[[Any], Any] | None


def _read(obj: Any, where: Getter, returned: Any) -> tuple[Any, ...]:
    if where is None:
        return () if returned is None else (returned,)
    if callable(where):
        got = where(obj)
        return tuple(got) if isinstance(got, (tuple, list)) else (got,)
    names = (where,) if isinstance(where, str) else tuple(where)
    return tuple(getattr(obj, n) for n in names)


def layer(make: Callable[..., Any], grads: Getter = None, *, dx: Getter | str = "return",
          out: Getter | str = "return", forward: str = "forward", backward: str = "backward",
          params: Params = None, fixed: dict[str, Any] | None = None) -> Pair:
    """Shapes (2) and (3): layer objects. The op's first input is the layer's input, the
    others its parameters: ``make(*parameters, **hyper_params)`` builds the object (``make()``
    for a layer without parameters), ``obj.forward(x)`` and ``obj.backward(dout)`` run on a
    fresh object per call (so gradients a layer accumulates are never stale).

    ``out``: where the forward's output is read (``"return"``, or ``"output"`` for a layer
    that stores it). ``dx``: where the input's gradient is read: ``"return"`` (backward's
    return value, the default), an attribute name (``"dinputs"``) or a getter
    ``lambda obj: ...``. ``grads``: the parameters' gradients, in the order of ``make``'s
    arguments: attribute names
    (``("dW", "db")``) or a getter (``lambda obj: obj.grads``,
    ``lambda obj: (obj.gradients["W"], obj.gradients["b"])``); None for no parameters.
    ``params``/``fixed``: the hyper-parameters, as for ``cache_pair`` (``fixed={"axis": -1}``
    for a softmax layer that always normalizes the last axis).

    The constructor contract: ``make`` receives the case's parameter arrays positionally, in
    the catalog's order (dense: ``W (n_in, n_out), b (n_out,)``), and the op's parameters as
    keywords (renamed by ``params``); it is called once per call of ``f`` or ``f_backward``,
    then ``forward`` once, then ``backward`` once. Wrap a constructor that wants something
    else in a function (``lambda W, b: Dense(*W.shape, weights=W, bias=b[None])``). An
    exception in it is reported as ``Dense(float64[3, 2], float64[2]) raised ValueError in
    its constructor: ...`` (``ConstructorError``); ``NotImplementedError`` stays "not
    supported"."""
    who = getattr(make, "__name__", None) or type(make).__name__

    def build(args: tuple, kwargs: dict[str, Any]) -> Any:
        return construct(make, args, _map_params(params, None, None, kwargs, fixed, who))

    def f(x: Any, *params: Any, **kwargs: Any) -> Any:
        obj = build(params, kwargs)
        returned = getattr(obj, forward)(x)
        return returned if out == "return" else _read(obj, out, None)[0]

    def f_backward(grad_out: Any, x: Any, *params: Any, **kwargs: Any) -> Any:
        obj = build(params, kwargs)
        getattr(obj, forward)(x)
        returned = getattr(obj, backward)(grad_out)
        d = returned if dx == "return" else _read(obj, dx, None)[0]
        rest = _read(obj, grads, None) if grads is not None else ()
        return (d, *rest) if rest else d

    return (_named(f, make, f".{forward}", fixed),
            _named(f_backward, make, f".{backward}", fixed))


def derivative(f: Callable, df: Callable, of: str = "input", *, params: Params = None,
               fixed: dict[str, Any] | None = None) -> Pair:
    """Shape (4): an elementwise derivative instead of a backward pass. ``df(z)`` (``of=
    "input"``) or ``df(f(z))`` (``of="output"``, like sigmoid's s(1 − s)) is f'(z), which the
    backward multiplies by the upstream gradient: dz = g ⊙ f'(z). ``params``/``fixed``: as
    for ``cache_pair``."""
    if of not in ("input", "output"):
        raise ValueError(f"of must be 'input' or 'output', not {of!r}")
    who = getattr(f, "__name__", "f")

    def forward(z: Any, **kwargs: Any) -> Any:
        return f(z, **_map_params(params, None, None, kwargs, fixed, who))

    def backward(grad_out: Any, z: Any, **kwargs: Any) -> Any:
        kw = _map_params(params, None, None, kwargs, fixed, who)
        slope = df(z, **kw) if of == "input" else df(f(z, **kw))
        return grad_out * slope

    return _named(forward, f, fixed=fixed), _named(backward, df, fixed=fixed)


def loss_with_grad(f: Callable, *, params: Params = None, pack: str | None = None,
                   extra: dict[str, Any] | None = None,
                   fixed: dict[str, Any] | None = None) -> Pair:
    """Shape (5): ``loss, dscores = f(*inputs, **params)``, the gradient w.r.t. the first input
    computed with the loss; the backward scales it by the upstream (scalar) gradient.
    ``params``/``pack``/``extra``/``fixed``: as for ``cache_pair`` (``fixed={"reduction":
    "mean"}`` for a loss that always averages)."""
    who = getattr(f, "__name__", "f")

    def forward(*inputs: Any, **kwargs: Any) -> Any:
        return f(*inputs, **_map_params(params, pack, extra, kwargs, fixed, who))[0]

    def backward(grad_out: Any, *inputs: Any, **kwargs: Any) -> Any:
        return grad_out * f(*inputs, **_map_params(params, pack, extra, kwargs, fixed, who))[1]

    return _named(forward, f, fixed=fixed), _named(backward, f, "[1]", fixed)


# -- layouts ----------------------------------------------------------------------------------
def relayout(pair: Pair, to_user: Callable[[Any], Any], to_catalog: Callable[[Any], Any], *,
             inputs: Sequence[int] = (0,), output: bool = True) -> Pair:
    """A pair ``(f, f_backward)`` written for the user's layout, in the catalog's: inputs at
    ``inputs`` go through ``to_user``, the output (if ``output``) and those inputs' gradients
    through ``to_catalog``, and the upstream gradient through ``to_user``."""
    f_user, b_user = pair
    at = set(inputs)

    def conv(xs: tuple) -> tuple:
        return tuple(to_user(x) if i in at else x for i, x in enumerate(xs))

    def f(*xs: Any, **kwargs: Any) -> Any:
        out = f_user(*conv(xs), **kwargs)
        return to_catalog(out) if output else out

    def f_backward(grad_out: Any, *xs: Any, **kwargs: Any) -> Any:
        g = to_user(grad_out) if output else grad_out
        result = b_user(g, *conv(xs), **kwargs)
        if not isinstance(result, (tuple, list)):
            return to_catalog(result) if 0 in at else result
        return tuple(to_catalog(r) if i in at else r for i, r in enumerate(result))

    return _named(f, f_user), _named(f_backward, b_user)


def _nchw_to_nhwc(x: Any) -> Any:
    return np.moveaxis(x, 1, -1)


def _nhwc_to_nchw(x: Any) -> Any:
    return np.moveaxis(x, -1, 1)


def _swap01(x: Any) -> Any:
    return np.swapaxes(x, 0, 1)


def _transpose(x: Any) -> Any:
    return np.asarray(x).T


def channels_last(pair: Pair, *, inputs: Sequence[int] = (0,), output: bool = True) -> Pair:
    """Images: the user's (N, H, W, C) checked as the catalog's (N, C, H, W)."""
    return relayout(pair, _nchw_to_nhwc, _nhwc_to_nchw, inputs=inputs, output=output)


def time_major(pair: Pair, *, inputs: Sequence[int] = (0,), output: bool = True) -> Pair:
    """Sequences: the user's (T, N, D) checked as the catalog's (N, T, D)."""
    return relayout(pair, _swap01, _swap01, inputs=inputs, output=output)


def samples_in_columns(pair: Pair, *, inputs: Sequence[int] = (0,), output: bool = True) -> Pair:
    """Samples in columns (D, N), checked as the catalog's samples in rows (N, D)."""
    return relayout(pair, _transpose, _transpose, inputs=inputs, output=output)


__all__ = ["cache_pair", "channels_last", "derivative", "layer", "loss_with_grad", "relayout",
           "samples_in_columns", "time_major"]

from .adapters_objects import *  # noqa: E402, F403  (the object-style adapters)
