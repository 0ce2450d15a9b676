"""Regenerate docs/API.md: every catalog op's functions, signatures, inputs and conventions.

    python -m tools.api_doc [--check]

Read from the code, never written by hand: signatures and defaults from ``impl`` through
``inspect.signature``, formulas from impl's docstrings, differentiable inputs, kinks, input
domains, shapes and parameter sets from the catalog's ``OpSpec`` entries, conventions from
``reference/conventions.py`` and ``reference/defaults.py``, known variants from
``OpSpec.variants``. ``--check`` exits 1 if the committed page differs
(meta_tests/test_api_doc.py does the same). Needs no framework.
"""

from __future__ import annotations

import argparse
import inspect
import re
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from gradverify import impl
from gradverify.catalog import CATALOG, DTYPES, OP_NAMES, OpSpec
from gradverify.opspec import KINK_MARGIN
from gradverify.reference.conventions import DECLARED, DECLARED_TIES, KINKS, POOL_TIES, SPECIALS
from gradverify.reference.defaults import DEFAULTS

DOC = Path(__file__).resolve().parent.parent / "docs" / "API.md"
SUFFIXES = ("", "_backward", "_jacobian", "_jvp", "_hessian", "_hvp")
ROLES = {"": "forward", "_backward": "VJP (backward)", "_jacobian": "full Jacobian",
         "_jvp": "forward mode (JVP)", "_hessian": "Hessian", "_hvp": "Hessian-vector product"}
KINDS = {"elementwise": "Elementwise activations", "axis": "Along an axis",
         "loss": "Losses", "layer": "Layers", "norm": "Normalization",
         "attention": "Attention", "conv": "Convolution and pooling",
         "recurrent": "Recurrent"}
#: words naming an op in reference/defaults.py's labels besides its own name
ALIASES: dict[str, tuple[str, ...]] = {
    "batchnorm": ("batch norm", "norm epsilon", "normalization"),
    "layernorm": ("layer/group norm", "normalization"),
    "groupnorm": ("group norm", "normalization"), "bce": ("binary cross-entropy",),
}
SEED = 0  # the draw that shows each input's dtype and shape


class _Annotation(str):
    """A string annotation shown as written (``np.ndarray``), not quoted."""

    def __repr__(self) -> str:
        return str(self)


def signature(fn: Callable[..., Any]) -> str:
    """``name(params) -> return`` exactly as impl declares it."""
    sig = inspect.signature(fn)
    plain = sig.replace(
        parameters=[p.replace(annotation=_Annotation(p.annotation))
                    if isinstance(p.annotation, str) else p for p in sig.parameters.values()],
        return_annotation=_Annotation(sig.return_annotation)
        if isinstance(sig.return_annotation, str) else sig.return_annotation)
    return f"{fn.__name__}{plain}"


def _first_paragraph(fn: Any) -> str:
    """The docstring's first paragraph (and the next, where the first ends with a colon)."""
    paras = (inspect.getdoc(fn) or "").split("\n\n")
    text = " ".join(paras[0].split())
    if text.endswith(":") and len(paras) > 1:
        text += " " + " ".join(paras[1].split())
    return text


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _value(v: Any) -> str:
    return repr(v) if not isinstance(v, float) else f"{v:g}"


def _params_text(params: Iterable[dict[str, Any]]) -> str:
    sets = ["defaults" if not p else ", ".join(f"{k}={_value(v)}" for k, v in p.items())
            for p in params]
    return "; ".join(f"({s})" for s in sets)


def _inputs(spec: OpSpec, forward: Callable[..., Any]) -> list[str]:
    """One line per positional input: name, what the catalog draws (dtype and shape of the
    first case) and whether it is differentiated."""
    names = [n for n, p in inspect.signature(forward).parameters.items()
             if p.default is inspect.Parameter.empty and p.kind is p.POSITIONAL_OR_KEYWORD]
    params, shape = dict(spec.params[0]), spec.shapes[0]
    xs = spec.make(np.random.default_rng(SEED), shape, np.dtype("float64"), params)
    lines = []
    for i, x in enumerate(xs):
        name = names[i] if i < len(names) else f"input {i}"
        arr = np.asarray(x)
        kind = "integers" if arr.dtype.kind in "iu" else "booleans" if arr.dtype.kind == "b" \
            else f"{'float32 and ' if arr.dtype.kind == 'f' else ''}{arr.dtype}"
        role = "differentiable" if i in spec.argnums else "not differentiated"
        lines.append(f"`{name}`: {kind}, {role}; shape {arr.shape} in case `{spec.spell(shape)}`")
    return lines


def _domain(spec: OpSpec) -> str:
    parts = []
    maker_doc = " ".join((inspect.getdoc(spec.make) or "").split())
    if maker_doc:
        parts.append(maker_doc)
    if spec.kinks:
        parts.append(f"kinks at {', '.join(f'{k:g}' for k in spec.kinks)}: random inputs stay "
                     f"{KINK_MARGIN} away from them (the kinks themselves: conventions below)")
    return " ".join(parts)


def _kink_lines(op: str) -> list[str]:
    out = []
    for k in (k for k in KINKS if k.op == op):
        d = DECLARED[k.label]
        who = ", ".join(f"{n} {d[n]:g}" for n in ("torch", "jax", "autograd"))
        out.append(f"{k.label}: impl returns {d['impl']:g} (one-sided {k.one_sided[0]:g} and "
                   f"{k.one_sided[1]:g}; {who}; any value between the one-sided derivatives "
                   "is a convention difference, not a failure)")
    return out


def _convention_lines(op: str) -> list[str]:
    lines = _kink_lines(op)
    if op == "max_pool2d":
        rules = sorted({(t["impl"], t["torch"], t["jax"], t["autograd"])
                        for t in DECLARED_TIES.values()})
        lines += [f"tied maxima ({len(POOL_TIES)} measured layouts): impl sends a window's "
                  f"gradient to the {i} maximum (torch {t}, jax {j}, autograd {a}); splitting "
                  "or another single maximum is a convention difference"
                  for i, t, j, a in rules]
    specials = [s.label for s in SPECIALS if s.op == op]
    if specials:
        lines.append("extreme values checked: " + "; ".join(specials))
    words = "|".join(re.escape(w) for w in (op, *ALIASES.get(op, ())))
    about = re.compile(rf"(?<![a-z_])({words})(?![a-z_])")
    lines += [f"default that differs between frameworks: {d.label} (measured as: {d.how})"
              for d in DEFAULTS if about.search(d.label)]
    return lines


def _variant_lines(specs: list[OpSpec]) -> list[str]:
    seen: dict[int, Any] = {}
    for spec in specs:
        for v in getattr(spec, "variants", ()) or ():
            seen.setdefault(id(v), v)
    out = []
    for v in seen.values():
        name, what = getattr(v, "name", str(v)), getattr(v, "description", "")
        given = getattr(v, "params", None) or {}
        params = ", ".join(f"{k}={_value(x)}" for k, x in given.items())
        how = f" (the op with {params})" if params and params not in what else \
            " (a NumPy forward; derivatives by finite differences)" \
            if getattr(v, "forward", None) is not None else ""
        out.append(f"`{name}`: {what}{how}")
    return out


def op_section(name: str, specs: list[OpSpec]) -> list[str]:
    forward = getattr(impl, name)
    lines = [f"### `{name}`", ""]
    doc = inspect.getdoc(forward) or ""
    lines += ["> " + line if line else ">" for line in doc.splitlines()] + [""]
    lines += ["| function | role | signature | formula |", "|---|---|---|---|"]
    for suffix in SUFFIXES:
        fn = getattr(impl, name + suffix, None)
        if callable(fn):
            lines.append(f"| `{name}{suffix}` | {ROLES[suffix]} | `{_cell(signature(fn))}` | "
                         f"{_cell(_first_paragraph(fn) if suffix else '(above)')} |")
    if not any(s.jacobian for s in specs):
        lines.append(f"| (`{name}_jacobian`) | full Jacobian | not in impl | assembled from "
                     f"`{name}_backward`, one cotangent per output element |")
    kw = {k: p.default for k, p in inspect.signature(forward).parameters.items()
          if p.default is not inspect.Parameter.empty}
    lines += ["", "**Parameters and defaults**: "
              + (", ".join(f"`{k}={_value(v)}`" for k, v in kw.items()) or "none")]
    for spec in specs:
        title = f"input domain `{spec.variant}`" if spec.variant else "inputs"
        lines += ["", f"**{title.capitalize()}**" + (f" ({spec.label})" if spec.variant else "")
                  + ":", ""]
        lines += [f"- {line}" for line in _inputs(spec, forward)]
        domain = _domain(spec)
        if domain:
            lines.append(f"- domain: {domain}")
        jac = "the Jacobian in closed form" if spec.jacobian else "the Jacobian from the backward"
        lines.append(f"- checked on shapes {', '.join(f'`{spec.spell(s)}`' for s in spec.shapes)}"
                     f" × {' and '.join(DTYPES)} × parameters {_params_text(spec.params)}"
                     f"; forward, VJP and {jac} (small cases)"
                     + (f"; {spec.outputs} outputs, compared one by one" if spec.outputs > 1
                        else ""))
    conv = _convention_lines(name)
    lines += ["", "**Conventions**:" + (" none: the op is differentiable on its whole domain, "
                                        "and the frameworks agree" if not conv else ""), ""]
    lines += [f"- {c}" for c in conv] + ([""] if conv else [])
    variants = _variant_lines(specs)
    lines += ["**Known variants** (another valid definition: a *definition difference*, not a "
              "failure):" + (" none recorded" if not variants else ""), ""]
    lines += [f"- {v}" for v in variants] + ([""] if variants else [])
    return lines


def render() -> str:
    by_name: dict[str, list[OpSpec]] = {n: [] for n in OP_NAMES}
    for spec in CATALOG:
        by_name[spec.name].append(spec)
    module_doc = " ".join((inspect.getdoc(impl) or "").split("\n\n")[1:2][0].split()) \
        if (inspect.getdoc(impl) or "").count("\n\n") else ""
    lines = [
        "# API reference: the catalog's ops",
        "",
        "Generated by `python -m tools.api_doc` from `impl/` (signatures through "
        "`inspect.signature`, formulas from the docstrings) and the catalog "
        "(`gradverify/catalog*.py`: inputs, shapes, parameters), with the conventions of "
        "`reference/conventions.py` (values measured per framework: "
        "[CONVENTIONS.md](CONVENTIONS.md)). Do not edit by hand: `meta_tests/test_api_doc.py` "
        "fails when this page and the code differ.",
        "",
        "A module checked in impl's place defines these names with these signatures "
        "(parameters by keyword). " + module_doc,
        "",
        f"{len(OP_NAMES)} ops, {len(CATALOG)} catalog entries:",
        "",
    ]
    kinds = list(dict.fromkeys(s.kind for s in CATALOG))
    for kind in kinds:
        names = [n for n in OP_NAMES if by_name[n][0].kind == kind]
        lines.append(f"- {KINDS.get(kind, kind)}: " + ", ".join(
            f"[`{n}`](#{re.sub(r'[^a-z0-9_-]', '', n)})" for n in names))
    for kind in kinds:
        lines += ["", f"## {KINDS.get(kind, kind)}", ""]
        for name in (n for n in OP_NAMES if by_name[n][0].kind == kind):
            lines += op_section(name, by_name[name])
    return "\n".join(lines).rstrip("\n") + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--check", action="store_true", help="compare with the committed page")
    args = ap.parse_args(argv)
    text = render()
    if args.check:
        same = DOC.is_file() and DOC.read_text(encoding="utf-8") == text
        print("docs/API.md is " + ("current" if same else "STALE: run python -m tools.api_doc"))
        return 0 if same else 1
    DOC.parent.mkdir(exist_ok=True)
    DOC.write_text(text, encoding="utf-8")
    print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
