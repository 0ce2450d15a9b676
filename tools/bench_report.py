"""The benchmark report's sections: the targets of issue 15 (met or missed, by how much and
why), the building blocks' costs, and the plots. Used by ``tools.bench``."""

from __future__ import annotations

from collections import defaultdict

FRAMEWORKS = ("torch.autograd", "torch.func", "jax.jit", "jax.eager", "autograd")
MEMORY_BOUND = ("relu", "leaky_relu", "relu6", "hardtanh", "mse", "l2", "huber", "identity")


#: why a target is missed, per op (the primitive costs below are the evidence)
WHY = {
    "gelu": "Φ(z) is scipy's ndtr, scalar Cephes erf/erfc at ~12 ns per element whatever the "
            "dtype, against XLA's vectorized rational erf; a NumPy rational approximation "
            "needs ~40 ufunc passes and measured 3.6x slower than ndtr per block",
    "softmax": "max, exp, sum, divide, dot and update are separate ufunc passes per block; "
               "numpy's row reductions cost ~2–4 ns per row on top",
    "log_softmax": "as softmax: six passes per block and per-row reduction overhead",
    "softmax_cross_entropy": "as softmax, plus the target mass Σt per row; rows of 10 make "
                             "every reduction a column loop of 10 strided passes",
    "cross_entropy": "−c·t/p with 0 where t = 0: a np.where for the denominator, a divide and "
                      "a scale, three passes where jax.jit fuses one",
    "mae": "sign(y − t)·c: np.sign is not vectorized (0.4–0.6 ms per 10⁶ alone, and ~20x "
           "slower in place, which the formula avoids)",
}
GENERIC_WHY = ("one ufunc pass per operation of the formula (jax.jit fuses the VJP into one "
               "vectorized loop); at 10⁶ the thread pool's round trip (~30–60 µs, more when "
               "the shared machine is loaded) and the per-block calls are a visible share")


def _targets(groups, rows, ceil) -> list[str]:
    """The issue's speed targets: met or missed, by how much, and why."""
    out = ["", "## Targets", ""]
    met: dict[str, int] = defaultdict(int)
    missed: dict[str, list[str]] = defaultdict(list)
    for (op, dtype, size), by in sorted(groups.items()):
        fw = [by[w]["min"] for w in FRAMEWORKS if w in by]
        if "impl" not in by or not fw or size < 10**6:
            continue
        ratio = by["impl"]["min"] / min(fw)
        limit = 1.25 if size >= 10**7 else 3.0 if op == "gelu" else 2.0
        key = f"VJP ≤ {limit}× the fastest framework at {size:.0e}"
        if ratio <= limit:
            met[key] += 1
        else:
            missed[key].append(f"{op} {dtype}: {ratio:.2f}× ({ratio / limit:.1f}× over the "
                               f"target) — {WHY.get(op, GENERIC_WHY)}")
        if op in MEMORY_BOUND and size >= 10**7 and op != "identity":
            frac = by["impl"]["bytes"] / by["impl"]["min"] / 1e9 / ceil["copy_GBps"]
            key = "memory-bound VJP ≥ 60% of the copy bandwidth at 1e+07"
            if frac >= 0.6:
                met[key] += 1
            else:
                missed[key].append(f"{op} {dtype}: {100 * frac:.0f}% — the formula reads z "
                                   "and g and writes dz once; the rest is the pool's and the "
                                   "blocks' overhead and the shared machine")
    for key in sorted(met.keys() | missed.keys()):
        out.append(f"- {key}: met for {met[key]}, missed for {len(missed[key])}"
                   + ("." if not missed[key] else ":"))
        out += [f"  - missed: {e}" for e in missed[key]]
    dense = [r for r in rows if r["kind"] == "layer" and r["who"] == "impl"]
    if dense:
        big = max(dense, key=lambda r: r["flops"])
        gf = big["flops"] / big["min"] / 1e9
        out.append(f"- Dense backward ≥ 80% of the matmul ceiling (largest shape): {gf:.0f} "
                   f"GFLOP/s = {100 * gf / ceil['matmul_GFLOPs']:.0f}% — "
                   + ("met." if gf >= 0.8 * ceil["matmul_GFLOPs"] else
                      "missed: three BLAS calls (dX, dW and the column sums) on 1024² operands "
                      "run below the 2048² matmul's rate."))
    conv = {r["who"]: r["min"] for r in rows if r["kind"] == "conv"}
    if "impl" in conv and "torch.autograd" in conv:
        ratio = conv["impl"] / conv["torch.autograd"]
        out.append(f"- conv2d backward ≤ 2× torch's: {ratio:.2f}× — "
                   + ("met." if ratio <= 2 else "missed."))
    else:
        out.append("- conv2d backward ≤ 2× torch's: not available (impl has no "
                   "conv2d_backward in this tree; the benchmark runs once it does).")
    return out


def _primitives(prims: dict[str, dict[str, float]]) -> list[str]:
    """The profile behind the misses: what the formulas' building blocks cost here."""
    if not prims:
        return []
    names = list(next(iter(prims.values())))
    out = ["", "## Where the time goes: ms per 10⁶ elements of each building block (1 thread)",
           "", "| operation | " + " | ".join(prims) + " |", "|---" * (len(prims) + 1) + "|"]
    for name in names:
        out.append(f"| {name} | " + " | ".join(f"{prims[d][name]:.3f}" for d in prims) + " |")
    return out


def _fmt(t: float | None) -> str:
    if t is None:
        return "–"
    return f"{t * 1e6:.1f} µs" if t < 1e-3 else f"{t * 1e3:.2f} ms"


def _plots(plt, groups, jac, reports) -> None:
    ops = ("sigmoid", "softmax", "mse")
    fig, axes = plt.subplots(2, 3, figsize=(14, 8), sharey=False)
    for col, op in enumerate(ops):
        for row, dtype in enumerate(("float32", "float64")):
            ax = axes[row][col]
            for who, style in zip(("impl", *FRAMEWORKS), ("k-o", "-s", "-^", "-D", "-v", "-x")):
                pts = sorted((s, by[who]["min"]) for (o, d, s), by in groups.items()
                             if o == op and d == dtype and who in by)
                if pts:
                    ax.loglog(*zip(*pts), style, label=who, ms=4,
                              lw=2.5 if who == "impl" else 1.2)
            ax.set_title(f"{op} backward, {dtype}")
            ax.set_xlabel("elements")
            ax.set_ylabel("time per VJP (s)")
            ax.grid(True, which="both", alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.suptitle("Time per VJP vs size (log-log): impl (black) against the frameworks")
    fig.tight_layout()
    fig.savefig(reports / "bench_vjp.png", dpi=110)
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for who, style in (("vjp", "-o"), ("jacobian", "-s"), ("torch.jacrev", "-^")):
        pts = sorted((n, by[who]) for n, by in jac.items() if who in by)
        if pts:
            ax.loglog(*zip(*pts), style, label={"vjp": "impl VJP", "jacobian": "impl Jacobian"}
                      .get(who, who))
    ax.set_xlabel("n (softmax logits)")
    ax.set_ylabel("time (s)")
    ax.set_title("Full Jacobian (O(n²)) vs VJP (O(n))")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(reports / "bench_jacobian.png", dpi=110)


