"""gradverify: verify hand-written NumPy gradient formulas against PyTorch, JAX, HIPS autograd
and finite differences.

The engine: ``catalog`` (every op declared once), ``cases`` (op × params × shape × dtype and
seeded inputs), ``tolerances`` (allowances), ``diagnose`` (what a failure says), ``loader`` (the
module under test), ``report`` (the summary matrix) and ``plugin`` (the pytest options).
"""

__version__ = "0.2.0"
