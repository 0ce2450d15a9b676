"""``python -m gradverify path/to/my_grads.py [--ops ...] [--references ...] [--seed N]``.

Prints the report (one verdict per function), then the full diagnosis of each wrong function's
first failure (of every failure with ``--verbose``). Exits 1 when a formula is wrong, 0
otherwise, 2 on a usage error (a missing file, a module that does not import, an unknown op or
reference, a module with nothing to check).
"""

from __future__ import annotations

import argparse
import os
import sys

# ``python -m`` puts the working folder first on sys.path: a user's numpy.py or random.py
# there would shadow the suite's imports. It goes last (dotted module names still load).
if __name__ == "__main__" and sys.path and sys.path[0] in ("", os.getcwd()):
    sys.path.append(sys.path.pop(0))

# one thread per framework, as the test suite runs (the cases are tiny); set them to override
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if any(a == "--backprop" or a.startswith("--backprop=") for a in argv):
        from .backprop import cli  # a whole hand-written backprop: gradverify.backprop

        return cli(argv)
    parser = argparse.ArgumentParser(
        prog="python -m gradverify", description="Verify a module's gradient formulas "
        "(impl's API) against torch, jax, autograd and finite differences.")
    parser.add_argument("target", nargs="+", help="a .py file, a notebook, a package folder or "
                        "a dotted module name; several (or a folder of modules): a class run")
    parser.add_argument("--ops", nargs="+", help="only these ops (default: all it provides)")
    parser.add_argument("--references", nargs="+", help="default: torch jax autograd numeric")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="print every failure's diagnosis, not only each function's first")
    parser.add_argument("--json", metavar="PATH", help="also write the report as JSON")
    parser.add_argument("--timeout", type=float, default=None, metavar="S",
                        help="seconds one call of the module may take (default 5)")
    parser.add_argument("--no-isolate", action="store_true", help="load and call the module "
                        "in this process (no worker, no timeout)")
    parser.add_argument("--backprop", action="store_true", help="TARGET is a whole "
                        "hand-written backprop (forward, backward, data): check it step by "
                        "step (gradverify.check_backprop; --seed takes several seeds)")
    parser.add_argument("-j", "--jobs", type=int, default=1, help="class run: modules at once")
    parser.add_argument("--out", default="gradverify-class", help="class run: where the "
                        "tables go (class.md, class.csv, class.json, junit.xml)")
    args = parser.parse_args(argv)
    if not args.no_isolate and len(args.target) == 1 and not os.path.isdir(args.target[0]):
        from . import spares

        spares.keep(1)  # it boots while this process imports the rest (~0.3 s)
    from . import isolate

    timeout = args.timeout or isolate.DEFAULT_TIMEOUT
    options = {"ops": args.ops, "references": args.references, "seed": args.seed,
               "isolate": not args.no_isolate, "timeout": timeout}
    from .classrun import cli as class_cli
    from .classrun import is_class_run

    if is_class_run(args.target):
        return class_cli(args.target, options, args.jobs, args.out)
    target = args.target[0]
    from .api import check
    from .loader import ImplLoadError

    try:
        report = check(target, **options)
    except (ImplLoadError, ValueError) as exc:
        print(f"gradverify: error: {str(exc).replace('--impl ', '')}", file=sys.stderr)
        return 2
    print(report)
    if not report.records:
        return 2
    shown: set[str] = set()
    for r in report.failures:  # the first failure of each wrong function, or all with -v
        if args.verbose or r.function not in shown:
            shown.add(r.function)
            print(f"\n--- {r.function}: {r.check} of {r.case}\n{r.diagnosis}")
    if args.json:
        with open(args.json, "w") as fh:
            fh.write(report.to_json(indent=1))
    if getattr(report, "interrupted", False):
        print("gradverify: interrupted (Ctrl-C): the report above is partial", file=sys.stderr)
        return 130
    return 0 if report.passed else 1


def entry() -> int:
    """``main`` for the console: a reader that stops early (``| head``) ends the output
    quietly, not with a BrokenPipeError."""
    try:
        code = main()
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # Python's exit flush must not fail again
        return 1


if __name__ == "__main__":
    sys.exit(entry())
