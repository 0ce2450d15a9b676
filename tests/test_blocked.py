"""impl._blocked: the blocked, threaded path gives the plain path's result bit for bit (for
elementwise formulas), for any size, layout, dtype and thread count, and keeps shape and dtype."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gradverify import impl
from gradverify.impl import _blocked

ROOT = Path(__file__).resolve().parent.parent
SOFTMAX = importlib.import_module("gradverify.impl.softmax")  # impl.softmax is also the function

BLOCK = 1000  # small blocks, so modest arrays cross several blocks and the size threshold
THRESHOLD = 4096
SIZES = (0, 1, 7, THRESHOLD - 1, THRESHOLD, THRESHOLD + 1, 3 * BLOCK + 17, 20_011)


def _sigmoid_vjp(out: np.ndarray, g: np.ndarray, z: np.ndarray) -> None:
    impl.activations._sigmoid_d(out, z)
    out *= g


def _gelu_vjp(out: np.ndarray, g: np.ndarray, z: np.ndarray) -> None:
    impl.activations._gelu_d(out, z, "none")
    out *= g


def _relu_vjp(out: np.ndarray, g: np.ndarray, z: np.ndarray) -> None:
    np.multiply(g, z > 0, out=out)


FORMULAS = {"sigmoid": _sigmoid_vjp, "gelu": _gelu_vjp, "relu": _relu_vjp}


def _pair(rng: np.random.Generator, shape: tuple[int, ...], dtype: str, layout: str):
    if layout == "C":
        make = lambda: rng.standard_normal(shape).astype(dtype)  # noqa: E731
    elif layout == "F":
        make = lambda: np.asfortranarray(rng.standard_normal(shape).astype(dtype))  # noqa: E731
    elif layout == "transposed":
        make = lambda: rng.standard_normal(shape[::-1]).astype(dtype).T  # noqa: E731
    else:  # strided: every other column
        make = lambda: rng.standard_normal(  # noqa: E731
            (*shape[:-1], 2 * shape[-1])).astype(dtype)[..., ::2]
    return make(), make()


def _shape(n: int) -> tuple[int, ...]:
    return (n // 7, 7) if n % 7 == 0 and n else (n,)


def _run(formula, *arrays, threads: int, min_size: int = THRESHOLD):
    return _blocked.elementwise(formula, *arrays, block=BLOCK, threads=threads,
                                min_size=min_size)


def _plain(formula, *arrays):
    return _blocked.elementwise(formula, *arrays, min_size=np.inf)


@pytest.mark.parametrize("threads", (1, 2))
@pytest.mark.parametrize("dtype", ("float32", "float64"))
@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("op", tuple(FORMULAS))
def test_blocked_equals_plain_bitwise(op: str, size: int, dtype: str, threads: int) -> None:
    rng = np.random.default_rng(size)
    g, z = (rng.standard_normal(size).astype(dtype) * 4 for _ in range(2))
    blocked = _run(FORMULAS[op], g, z, threads=threads)
    plain = _plain(FORMULAS[op], g, z)
    assert blocked.dtype == plain.dtype == np.dtype(dtype)
    assert blocked.shape == plain.shape == (size,)
    np.testing.assert_array_equal(blocked.view(f"u{blocked.itemsize}"),
                                  plain.view(f"u{plain.itemsize}"))
    if size:
        np.testing.assert_allclose(plain, _whole(FORMULAS[op], g, z), rtol=0, atol=0)


def _whole(formula, g, z):
    out = np.empty_like(z)
    formula(out, g, z)
    return out


@pytest.mark.parametrize("threads", (1, 2))
@pytest.mark.parametrize("layout", ("C", "F", "transposed", "strided"))
@pytest.mark.parametrize("dtype", ("float32", "float64"))
def test_layouts(layout: str, dtype: str, threads: int) -> None:
    g, z = _pair(np.random.default_rng(1), (143, 71), dtype, layout)
    blocked = _run(_sigmoid_vjp, g, z, threads=threads, min_size=0)
    contiguous = _plain(_sigmoid_vjp, np.ascontiguousarray(g), np.ascontiguousarray(z))
    assert blocked.shape == z.shape and blocked.dtype == z.dtype
    np.testing.assert_array_equal(blocked, contiguous)


@pytest.mark.parametrize("dtype", ("float32", "float64"))
def test_zero_d_and_empty(dtype: str) -> None:
    for shape in ((), (0,), (3, 0), (0, 5)):
        g, z = np.ones(shape, dtype), np.full(shape, 0.5, dtype)
        out = _run(_sigmoid_vjp, g, z, threads=2, min_size=0)
        assert isinstance(out, np.ndarray) and out.shape == shape and out.dtype == dtype
        np.testing.assert_array_equal(out, _whole(_sigmoid_vjp, g, z))


def _softmax_vjp(out: np.ndarray, g: np.ndarray, z: np.ndarray, axis: int) -> None:
    SOFTMAX._softmax_vjp(out, g, z, axis)


@pytest.mark.parametrize("threads", (1, 2))
@pytest.mark.parametrize("shape,axis", [((50, 130), -1), ((6, 9, 130), 2), ((130, 50), 0),
                                        ((5000, 3), 1), ((1, 9000), 1), ((3, 0), 1)])
@pytest.mark.parametrize("dtype", ("float32", "float64"))
def test_rowwise(shape: tuple[int, ...], axis: int, dtype: str, threads: int) -> None:
    rng = np.random.default_rng(2)
    g, z = (rng.standard_normal(shape).astype(dtype) for _ in range(2))
    blocked = _blocked.rowwise(_softmax_vjp, g, z, axis=axis % len(shape), block=BLOCK,
                               threads=threads, min_size=0)
    out = np.empty_like(z)
    _softmax_vjp(out, g, z, axis % len(shape))
    assert blocked.shape == z.shape and blocked.dtype == z.dtype
    np.testing.assert_array_equal(blocked, out)  # each row reduced by itself either way


def test_threads_follow_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRADVERIFY_NUM_THREADS", "3")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert _blocked.num_threads() == 3
    monkeypatch.delenv("GRADVERIFY_NUM_THREADS")
    assert _blocked.num_threads() == 1
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert _blocked.num_threads() >= 1


def test_errors_in_a_worker_reach_the_caller() -> None:
    def formula(out: np.ndarray, z: np.ndarray) -> None:
        if z[0] > 10_000:  # only a later block raises
            raise RuntimeError("block failed")
        out[...] = z

    z = np.arange(20_000, dtype=float)
    with pytest.raises(RuntimeError, match="block failed"):
        _blocked.elementwise(formula, z, block=BLOCK, threads=2, min_size=0)


def test_errstate_reaches_the_workers() -> None:
    z = np.zeros(20_000)
    with np.errstate(divide="raise"), pytest.raises(FloatingPointError):
        _blocked.elementwise(lambda out, z: np.divide(1, z, out=out), z, block=BLOCK,
                             threads=2, min_size=0)


@pytest.mark.parametrize("op", ("sigmoid", "gelu", "relu", "softmax", "tanh", "silu"))
def test_public_backward_large_input_threads(op: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """impl's backward on an input past the threshold: 1 and 2 threads agree bit for bit."""
    rng = np.random.default_rng(3)
    g, z = rng.standard_normal((2, 300, 200))
    backward = getattr(impl, f"{op}_backward")
    results = []
    for threads in ("1", "2"):
        monkeypatch.setenv("GRADVERIFY_NUM_THREADS", threads)
        results.append(backward(g, z))
    np.testing.assert_array_equal(*results)


def test_a_forked_child_gets_its_own_pool() -> None:
    """After fork the parent's pool threads do not exist in the child: it must not hang. In a
    fresh interpreter, which has loaded no jax or torch (whose own threads make any fork
    unsafe), whatever ran before in this worker."""
    code = (
        "import multiprocessing, numpy as np\n"
        "from tests.test_blocked import _child_relu\n"
        "z = np.linspace(-3, 3, 50_000)\n"
        "expected = _child_relu(z)  # the parent's pool exists now\n"
        "with multiprocessing.get_context('fork').Pool(1) as pool:\n"
        "    result = pool.apply_async(_child_relu, (z,)).get(timeout=60)\n"
        "np.testing.assert_array_equal(result, expected)\n"
        "import sys; assert 'jax' not in sys.modules and 'torch' not in sys.modules\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]


def _child_relu(z: np.ndarray) -> np.ndarray:
    return _run(_relu_vjp, z, z, threads=2, min_size=0)
