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

# one thread per framework, as the test suite runs (the cases are tiny); set them to override
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gradverify", description="Verify a module's gradient formulas "
        "(impl's API) against torch, jax, autograd and finite differences.")
    parser.add_argument("target", help="a .py file, a package folder or a dotted module name")
    parser.add_argument("--ops", nargs="+", help="only these ops (default: all it provides)")
    parser.add_argument("--references", nargs="+", help="default: torch jax autograd numeric")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="print every failure's diagnosis, not only each function's first")
    parser.add_argument("--json", metavar="PATH", help="also write the report as JSON")
    args = parser.parse_args(argv)

    from .api import check
    from .loader import ImplLoadError

    try:
        report = check(args.target, ops=args.ops, references=args.references, seed=args.seed)
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
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main())
