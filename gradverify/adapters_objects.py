"""Adapters for object-style gradient code (ML-From-Scratch, d2l/CS231n loss layers, nnfs,
"Deep Learning from Scratch"), each returning a pair ``(f, f_backward)`` in impl's API::

    scel, scel_backward = loss_layer(SoftmaxWithLoss)            # forward(x, t), backward(dout=1)
    elu, elu_backward = activation(ELU, defaults="elu")         # ELU(alpha).gradient(x)
    mse, mse_backward = elementwise_loss(sq.loss, sq.gradient, order="targets_first")
    dense, dense_backward = optimizer_layer(make, ("W", "w0"))   # W_opt.update(W, grad_w)
    dense, dense_backward = layer_lists(Affine)                  # self.grads[0][...] = dW
    dropout, dropout_backward = dropout_layer(Dropout, params={"p": "ratio"})  # rand(...) > p

Hyper-parameters (``params``/``fixed``, as in ``gradverify.adapters``) reach the user's
constructor as keywords; ``defaults`` gives the catalog's value of a parameter a case leaves at
its default (a dict, or an op name: impl's defaults for that op), so a constructor whose own
default differs (``LeakyReLU(alpha=0.2)`` for torch's 0.01) is still called with the catalog's.
Every call builds a fresh object; an exception in its constructor is a ``ConstructorError``.
``loss_layer`` and ``elementwise_loss`` live in ``gradverify.adapters_losses``, re-exported here.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .adapters import Getter, Pair, Params

Defaults = dict[str, Any] | str | None


def _impl_defaults(op: str) -> dict[str, Any]:
    """impl's keyword defaults of ``op`` (from ``impl.<op>``'s signature)."""
    from gradverify import impl
    fn = getattr(impl, op, None)
    if fn is None:
        raise ValueError(f"defaults={op!r}: impl has no op {op!r}")
    return {p.name: p.default for p in inspect.signature(fn).parameters.values()
            if p.default is not p.empty}


def _hyper(params: Params, fixed: dict[str, Any] | None, defaults: Defaults,
           kwargs: dict[str, Any], who: str) -> dict[str, Any]:
    """The case's parameters (``defaults`` filled in) as the user's constructor keywords."""
    base = _impl_defaults(defaults) if isinstance(defaults, str) else dict(defaults or {})
    return _map_params(params, None, None, {**base, **kwargs}, fixed, who)


def _who(make: Callable) -> str:
    return getattr(make, "__name__", None) or type(make).__name__


def _get(obj: Any, where: Getter | str, returned: Any) -> Any:
    """``returned`` for ``"return"``, else the attribute or getter ``where`` of ``obj``."""
    return returned if where == "return" else _read(obj, where, None)[0]


# -- activation objects: Act(alpha)(x), Act(alpha).gradient(x) ----------------------------
def activation(make: Callable[..., Any], gradient: str = "gradient", *, call: str = "__call__",
               of: str = "input", params: Params = None, fixed: dict[str, Any] | None = None,
               defaults: Defaults = None) -> Pair:
    """Activation objects with their hyper-parameters in the constructor (``LeakyReLU(alpha)``,
    ``ELU(alpha)``): ``obj = make(**hyper_params)``, ``y = obj.<call>(z)`` and f'(z) =
    ``obj.<gradient>(z)`` (``of="output"``: of ``y``, like σ' = s(1 − s)); dz = g ⊙ f'(z).
    Give ``defaults`` (e.g. ``defaults="leaky_relu"``) when the constructor's own default
    differs from the catalog's."""
    if of not in ("input", "output"):
        raise ValueError(f"of must be 'input' or 'output', not {of!r}")
    who = _who(make)

    def build(kwargs: dict[str, Any]) -> Any:
        return construct(make, (), _hyper(params, fixed, defaults, kwargs, who))

    def f(z: Any, **kwargs: Any) -> Any:
        return getattr(build(kwargs), call)(z)

    def f_backward(grad_out: Any, z: Any, **kwargs: Any) -> Any:
        obj = build(kwargs)
        at = z if of == "input" else getattr(obj, call)(z)
        return grad_out * getattr(obj, gradient)(at)

    return (_named(f, make, "" if call == "__call__" else f".{call}", fixed),
            _named(f_backward, make, f".{gradient}", fixed))


# -- layers that hand their gradients to an optimizer; input_shape= at construction -------
class RecordingOptimizer:
    """An optimizer that records: ``update(w, grad)`` stores a copy of ``grad`` under the
    parameter ``w`` is (matched by identity, else by call order) and returns ``w − grad`` (a
    new array: a step of size 1, so a backward that computes dx from the *updated* weights is
    caught; ``w`` itself when ``step=False`` or the shapes differ). Copies (``copy.copy``, one
    per parameter) share the record."""

    def __init__(self, method: str = "update", step: bool = True) -> None:
        self.log: list[tuple[int, np.ndarray]] = []  # (id of w, grad), shared by copies
        self.method, self.stepping = method, step

    def __getattr__(self, name: str) -> Any:
        if name == vars(self).get("method"):
            return self.record
        raise AttributeError(name)

    def record(self, w: Any, grad: Any, *args: Any, **kwargs: Any) -> Any:
        self.log.append((id(w), np.array(grad, copy=True)))
        same = np.shape(w) == np.shape(grad)
        return w - np.asarray(grad, dtype=np.asarray(w).dtype) if self.stepping and same else w


def _user_shape(value: np.ndarray, theirs: Any) -> np.ndarray:
    """The case's ``value`` in the layer's own layout when that differs only by axes of length
    1 (a bias (1, n) for the catalog's (n,)); else ``value`` as it is."""
    shape = np.shape(theirs)
    if shape != value.shape and [d for d in shape if d != 1] == [
            d for d in value.shape if d != 1]:
        return value.reshape(shape)
    return value


def optimizer_layer(make: Callable[..., Any], params: Sequence[str] = (), *,
                    initialize: str | None = "initialize", update: str = "update",
                    input_shape: str | None = "input_shape",
                    output_shape: str | None = "output_shape", forward: str = "forward_pass",
                    backward: str = "backward_pass", hyper: Params = None,
                    fixed: dict[str, Any] | None = None, defaults: Defaults = None) -> Pair:
    """ML-From-Scratch-style layers: built from their input's shape (``make(*parameters,
    input_shape=x.shape[1:], **hyper_params)``; ``input_shape=None`` passes none), given an
    optimizer by ``obj.initialize(optimizer)`` (skipped where the layer has no such method),
    and updating their parameters inside ``backward_pass(accum_grad)`` with
    ``self.W = self.W_opt.update(self.W, grad_w)``. The optimizer is a ``RecordingOptimizer``:
    the gradients it is handed are the parameters' gradients. ``params``: the attributes that
    hold the op's parameters, in the catalog's order (``("W", "w0")``); after ``initialize``
    they are set to the case's arrays (reshaped to the layer's own (1, n) where only axes of
    length 1 differ, and the gradients back). ``output_shape()``, where the layer has it, must
    equal the forward's output shape per sample. ``hyper``/``fixed``/``defaults``: the op's
    parameters, as elsewhere (``hyper`` renames, like other adapters' ``params``)."""
    names = tuple(params)
    who = _who(make)

    def build(x: Any, arrays: tuple, kwargs: dict[str, Any]) -> tuple[Any, RecordingOptimizer]:
        kw = _hyper(hyper, fixed, defaults, kwargs, who)
        if input_shape:
            kw[input_shape] = tuple(np.shape(x)[1:])
        obj = construct(make, arrays, kw)
        opt = RecordingOptimizer(update)
        if initialize and hasattr(obj, initialize):
            getattr(obj, initialize)(opt)
        for name, value in zip(names, arrays):
            setattr(obj, name, _user_shape(np.asarray(value), getattr(obj, name, None)))
        return obj, opt

    def run_forward(obj: Any, x: Any) -> Any:
        y = getattr(obj, forward)(x)
        said = getattr(obj, output_shape, None) if output_shape else None
        if callable(said) and tuple(said()) != tuple(np.shape(y)[1:]):
            raise ValueError(f"{who}.{output_shape}() is {tuple(said())}, but {forward} "
                             f"returned per-sample shape {tuple(np.shape(y)[1:])}")
        return y

    def f(x: Any, *arrays: Any, **kwargs: Any) -> Any:
        return run_forward(build(x, arrays, kwargs)[0], x)

    def f_backward(grad_out: Any, x: Any, *arrays: Any, **kwargs: Any) -> Any:
        obj, opt = build(x, arrays, kwargs)
        held = [getattr(obj, n) for n in names]  # what update(w, grad) receives as w
        run_forward(obj, x)
        dx = getattr(obj, backward)(grad_out)
        return (dx, *_collect(opt.log, held, names, arrays, who)) if names else dx

    return (_named(f, make, f".{forward}", fixed), _named(f_backward, make, f".{backward}", fixed))


def _collect(log: list[tuple[int, np.ndarray]], held: list[Any], names: tuple[str, ...],
             arrays: tuple, who: str) -> list[np.ndarray]:
    """The recorded gradient of each parameter, in the catalog's shape where the layer's
    differed only by axes of length 1."""
    ids = [id(h) for h in held]
    by_id = {i: g for i, g in log if i in ids}
    in_order = [g for _, g in log]
    if len(by_id) < len(names) and len(in_order) != len(names):
        missing = [n for n, i in zip(names, ids) if i not in by_id]
        raise ValueError(f"{who}: the optimizer was handed {len(in_order)} gradient(s) for "
                         f"{len(names)} parameter(s) {list(names)}; none for {missing}")
    out = []
    for k, (i, value) in enumerate(zip(ids, arrays)):
        g = by_id[i] if len(by_id) == len(names) else in_order[k]
        same = g.shape == np.shape(held[k]) and g.size == np.size(value)
        out.append(g.reshape(np.shape(value)) if same else g)
    return out


# -- params/grads lists written in place --------------------------------------------------
def layer_lists(make: Callable[..., Any], *, grads: str = "grads", params: str = "params",
                forward: str = "forward", backward: str = "backward",
                out: Getter | str = "return", dx: Getter | str = "return", hyper: Params = None,
                fixed: dict[str, Any] | None = None, defaults: Defaults = None) -> Pair:
    """Layers that keep ``self.params = [W, b]`` and ``self.grads = [zeros_like(W), ...]``
    and write the gradients into those arrays (``self.grads[0][...] = dW``), as in "Deep
    Learning from Scratch 2": a model collects the arrays once, so a backward that *rebinds*
    ``self.grads[0] = dW`` leaves the model's copy at zero. The adapter reads the gradients
    from the arrays the list held before ``backward`` and raises if an entry was replaced.
    ``make(*parameters, **hyper_params)`` as for ``layer``; the gradients follow the
    ``params`` list's order matched to the case's arrays by identity (positional when the
    layer copied them)."""
    who = _who(make)

    def build(arrays: tuple, kwargs: dict[str, Any]) -> Any:
        return construct(make, arrays, _hyper(hyper, fixed, defaults, kwargs, who))

    def f(x: Any, *arrays: Any, **kwargs: Any) -> Any:
        obj = build(arrays, kwargs)
        return _get(obj, out, getattr(obj, forward)(x))

    def f_backward(grad_out: Any, x: Any, *arrays: Any, **kwargs: Any) -> Any:
        obj = build(arrays, kwargs)
        getattr(obj, forward)(x)
        before = list(getattr(obj, grads))
        d = _get(obj, dx, getattr(obj, backward)(grad_out))
        after = list(getattr(obj, grads))
        for k, (a, b) in enumerate(zip(before, after)):
            if a is not b:
                raise ValueError(f"{who}.{backward} replaced {grads}[{k}] instead of writing "
                                 f"into it ({grads}[{k}][...] = ...): a model holding the "
                                 "list's arrays never sees this gradient")
        held = list(getattr(obj, params, ()))
        order = [next((j for j, p in enumerate(held) if p is a), i)
                 for i, a in enumerate(arrays)]
        rest = [np.array(before[j], copy=True) for j in order]
        return (d, *rest) if rest else d

    return (_named(f, make, f".{forward}", fixed), _named(f_backward, make, f".{backward}", fixed))


# -- a random mask drawn inside forward ---------------------------------------------------
_TOP = float(np.nextafter(1.0, 0.0))  # the largest value below 1: kept by "u > p" for any p < 1


@contextlib.contextmanager
def _draws(mask: np.ndarray, keep: str, who: str) -> Iterator[None]:
    """numpy.random's ``rand``, ``random``, ``random_sample``, ``uniform`` and ``binomial``
    return draws that reproduce ``mask`` (1 = kept) while the block runs: uniforms near 1 for a
    kept element when ``keep="above"`` (``rand(...) > p``), near 0 when ``keep="below"``
    (``rand(...) < keep_prob``); ``binomial(1, ...)`` the mask itself."""
    kept = mask.astype(bool)
    hi, lo = (_TOP, 0.0) if keep == "above" else (0.0, _TOP)
    u = np.where(kept, hi, lo)

    def sized(size: Any) -> np.ndarray:
        shape = (size,) if isinstance(size, int) else tuple(size or ())
        if shape != mask.shape:
            raise ValueError(f"{who} drew random numbers of shape {shape}; the adapter fixes "
                             f"only draws of the mask's shape {mask.shape}")
        return u.copy()

    def binomial(n: int, p: float, size: Any = None) -> np.ndarray:
        if n != 1:
            raise ValueError(f"{who} drew binomial(n={n}): the adapter fixes n=1 draws only")
        sized(size)
        return kept.astype(int)

    fakes = {
        "rand": lambda *shape: sized(shape),
        "random": lambda size=None: sized(size),
        "random_sample": lambda size=None: sized(size),
        "uniform": lambda low=0.0, high=1.0, size=None: low + (high - low) * sized(size),
        "binomial": binomial,
    }
    saved = {name: getattr(np.random, name) for name in fakes}
    try:
        for name, fake in fakes.items():
            setattr(np.random, name, fake)
        yield
    finally:
        for name, fn in saved.items():
            setattr(np.random, name, fn)


def dropout_layer(make: Callable[..., Any], *, keep: str = "above", inverted: bool = True,
                  forward: str = "forward", backward: str = "backward",
                  out: Getter | str = "return", dx: Getter | str = "return",
                  params: Params = None, fixed: dict[str, Any] | None = None) -> Pair:
    """Dropout layers that draw their mask inside ``forward`` (``self.mask = np.random.rand(
    *x.shape) > p``), checked as the catalog's ``dropout(x, mask, p)``: while the adapter
    runs ``forward``, numpy.random's draws reproduce the case's mask (see ``_draws``; call
    them through ``np.random``, not ``from numpy.random import rand``). ``keep``: ``"above"``
    (kept where the draw exceeds p) or ``"below"`` (CS231n: kept where it is below the keep
    probability). ``inverted=False``: the layer computes x·mask (scaling at test time); the
    adapter divides its output and gradient by 1 − p to compare with the catalog's inverted
    x·mask/(1 − p). ``make(**hyper_params)``, with ``p`` (the drop probability, default 0.5)
    always passed (``params={"p": "dropout_ratio"}`` renames it, a function converts it)."""
    if keep not in ("above", "below"):
        raise ValueError(f"keep must be 'above' or 'below', not {keep!r}")
    who = _who(make)

    def run(x: Any, mask: Any, kwargs: dict[str, Any]) -> tuple[Any, Any, float]:
        p = kwargs.get("p", 0.5)
        obj = construct(make, (), _hyper(params, fixed, None, {**kwargs, "p": p}, who))
        with _draws(np.asarray(mask), keep, who):
            y = _get(obj, out, getattr(obj, forward)(x))
        return obj, y, 1.0 if inverted else 1.0 / (1.0 - p)

    def f(x: Any, mask: Any, **kwargs: Any) -> Any:
        _, y, c = run(x, mask, kwargs)
        return y if c == 1.0 else y * np.asarray(c, dtype=np.asarray(y).dtype)

    def f_backward(grad_out: Any, x: Any, mask: Any, **kwargs: Any) -> Any:
        obj, _, c = run(x, mask, kwargs)
        d = _get(obj, dx, getattr(obj, backward)(grad_out))
        return d if c == 1.0 else d * np.asarray(c, dtype=np.asarray(d).dtype)

    return (_named(f, make, f".{forward}", fixed), _named(f_backward, make, f".{backward}", fixed))


__all__ = ["MEANS", "ORDERS", "RecordingOptimizer", "activation", "dropout_layer",
           "elementwise_loss", "layer_lists", "loss_layer", "optimizer_layer"]

# at the end, in this order: gradverify.adapters re-exports this module from its own last line,
# and adapters_losses takes the helpers from here, so any of the three may be imported first
from .adapters_losses import MEANS, ORDERS, elementwise_loss, loss_layer  # noqa: E402, I001
from .adapters import _map_params, _named, _read, construct  # noqa: E402
