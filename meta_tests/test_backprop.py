"""``gradverify.check_backprop``: whole hand-written backprops checked step by step from the
user's own NumPy forward (meta_tests/user_modules/backprop_*.py, examples/backprop/)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import gradverify
from gradverify.__main__ import main
from gradverify.backprop import check_backprop, numbered, per_layer
from gradverify.loader import load_impl

ROOT = Path(__file__).resolve().parents[1]
USER = Path(__file__).resolve().parent / "user_modules"
EXAMPLE = ROOT / "examples" / "backprop" / "manual_mlp.py"
FRAMEWORKS = ("autograd", "jax")


@pytest.fixture(autouse=True)
def _frameworks() -> None:
    for name in FRAMEWORKS:
        pytest.importorskip(name, reason=f"{name} is not installed: its reference cannot run")


def user(name: str):
    return load_impl(str(USER / f"{name}.py"), flag="")


def wrong_names(report) -> list[str]:
    return [r.name for r in report.failures]


# -- (a) a lecture-style manual backprop: MLP, batch norm, cross-entropy -----------------------
def test_mlp_right_passes_at_ten_seeds() -> None:
    m = user("backprop_mlp")
    report = check_backprop(m.forward, m.backward, data=m.make, seeds=range(10))
    assert report.passed, str(report)
    assert len(report.rows) == 23 and all(r.status == "ok" for r in report.rows)
    assert {"autograd", "jax", "numeric"} <= set(report.ran)
    assert len(report.runs) == 20  # 10 seeds × float64, float32
    # forward order: the rec() calls, then the parameters
    assert [r.of for r in report.rows[:3]] == ["hprebn", "bnmeani", "bndiff"]
    assert report.rows[-1].of == "b2"


def test_mlp_missing_1_over_n_found_at_dlogprobs() -> None:
    m = user("backprop_mlp_no_1n")
    report = check_backprop(m.forward, m.backward, data=m.make, dtypes=["float64"])
    assert not report.passed and report.first_wrong == "dlogprobs"
    row = report.row("dlogprobs")
    assert row.first_wrong and "actual/expected = 8 at every element" in row.diagnosis
    assert "first wrong: dlogprobs; everything it depends on in the backward is right" \
        in str(report)


def test_mlp_dropped_mean_path_found_at_dhprebn() -> None:
    m = user("backprop_mlp_no_mean")
    report = check_backprop(m.forward, m.backward, data=m.make, seeds=[3])
    assert report.first_wrong == "dhprebn"
    assert sorted(wrong_names(report)) == ["dW1", "db1", "dhprebn"]
    assert report.row("dbnmeani").status == "ok" and report.row("dbndiff").status == "ok"


def test_example_mistake_found_at_dbndiff2_with_its_factor() -> None:
    m = load_impl(str(EXAMPLE), flag="")
    report = check_backprop(**m.GRADVERIFY_BACKPROP, dtypes=["float64"])
    assert report.first_wrong == "dbndiff2"
    row = report.row("dbndiff2")
    assert "actual/expected = 7 at every element" in row.diagnosis  # the lost 1/(n - 1)
    assert "the formula is wrong" in row.diagnosis
    assert "reproduce: gradverify.check_backprop(forward, backward, data=make, seeds=[0]" \
        in row.diagnosis
    # everything closer to the loss is right; the damage flows on to what it feeds
    assert all(report.row(n).status == "ok" for n in ("dbnvar", "dbnvar_inv", "dbnraw", "dh"))
    assert report.row("dbndiff").status == "wrong" and report.row("dW1").status == "wrong"


def test_torch_skipped_with_the_line_it_cannot_run() -> None:
    pytest.importorskip("torch", reason="torch is not installed")
    pytest.importorskip("array_api_compat", reason="array-api-compat is not installed")
    m = user("backprop_mlp")
    report = check_backprop(m.forward, m.backward, data=m.make, dtypes=["float64"])
    # Tensor.max(dim) returns (values, indices): the array API cannot change a method
    assert "torch" in report.skipped and "logits.max(1, keepdims=True)" in report.skipped["torch"]
    assert report.passed


# -- (b) a per-sample backprop returning per-layer lists (Nielsen's network.py) --------------
def _nielsen(module, seed: int, **kw):
    net, x, y = module.make(seed)
    return check_backprop(module.cost, net.backprop, {"biases": net.biases,
                                                       "weights": net.weights}, {"x": x, "y": y},
                          grads=per_layer("biases", "weights", labels=("nabla_b", "nabla_w")),
                          dtypes=["float64"], **kw)


def test_nielsen_right_passes_at_ten_seeds() -> None:
    m = user("backprop_nielsen")
    for seed in range(10):
        report = _nielsen(m, seed)
        assert report.passed, f"seed {seed}:\n{report}"
        assert [r.name for r in report.rows] == [f"nabla_{k}[{i}]" for k in "bw"
                                                 for i in range(3)]


def test_nielsen_transposed_nabla_w_found() -> None:
    report = _nielsen(user("backprop_nielsen_wrong"), 0)
    assert report.first_wrong == "nabla_w[1]"  # the hidden layer closest to the output
    assert wrong_names(report) == ["nabla_w[0]", "nabla_w[1]"]
    assert "wrong shape: got (5, 3), expected (3, 5) (the transpose?)" in \
        report.row("nabla_w[1]").diagnosis


def test_default_mapping_matches_lists_with_list_parameters() -> None:
    m = user("backprop_nielsen")
    net, x, y = m.make(1)
    report = check_backprop(m.cost, net.backprop, {"biases": net.biases, "weights": net.weights},
                            {"x": x, "y": y}, dtypes=["float64"], references=["numeric"])
    assert report.passed and report.rows[0].name == "dbiases[0]"


# -- (c) a grads dict with numbered keys, samples in columns, (n, 1) biases ------------------
def test_ng_right_passes_at_ten_seeds() -> None:
    m = user("backprop_ng")
    report = check_backprop(m.loss, m.gradients, data=m.make, seeds=range(10),
                            grads=numbered(sum_loss=("dA",)))
    assert report.passed, str(report)
    assert [r.name for r in report.rows] == ["dA0", "dA1", "dA2", "dW1", "db1", "dW2", "db2",
                                             "dW3", "db3"]


def test_ng_dA_without_the_helper_are_off_by_m() -> None:
    m = user("backprop_ng")
    report = check_backprop(m.loss, m.gradients, data=m.make, dtypes=["float64"])
    assert wrong_names(report) == ["dA0", "dA1", "dA2"]
    assert "actual/expected = 6 at every element" in report.row("dA1").diagnosis


def test_ng_db_of_shape_n_found_as_the_shape_trap() -> None:
    m = user("backprop_ng_wrong")
    report = check_backprop(m.loss, m.gradients, data=m.make, grads=numbered(sum_loss=("dA",)),
                            seeds=[2], dtypes=["float64"])
    assert report.first_wrong == "db3"
    assert wrong_names(report) == ["db1", "db2", "db3"]
    text = report.row("db2").diagnosis
    assert "wrong shape: got (3,), expected (3, 1)" in text
    assert "the shape trap: (3,) where (3, 1) is meant" in text
    assert "b2 - lr*db2 broadcasts to (3, 3), not (3, 1)" in text


# -- a reference that cannot run the forward ----------------------------------------------------
def test_in_place_forward_skips_jax_and_autograd_others_decide() -> None:
    pytest.importorskip("torch", reason="torch is not installed")
    pytest.importorskip("array_api_compat", reason="array-api-compat is not installed")
    m = user("backprop_inplace")
    right = check_backprop(m.forward, m.backward, data=m.make, seeds=[0, 1])
    assert right.passed, str(right)
    assert right.ran == ["torch", "numeric"]
    assert "immutable" in right.skipped["jax"] and "picked[i] =" in right.skipped["jax"]
    assert "picked[i] =" in right.skipped["autograd"]
    assert right.row("dlog_probs").status == "not returned"
    wrong = check_backprop(m.forward, m.backward_sum, data=m.make, dtypes=["float64"])
    assert wrong.first_wrong == "dscores"
    assert "actual/expected = 5 at every element" in wrong.row("dscores").diagnosis


# -- small pieces -------------------------------------------------------------------------------
def _square(W, x, rec):
    h = rec("h", np.tanh(x @ W))
    return np.sum(h**2)


def _square_backward(W, x, h):
    dh = 2 * h
    dpre = dh * (1 - h**2)
    return {"dh": dh, "dW": dpre.T @ x}  # the mistake: x.T @ dpre


def test_square_transposed_dW_is_named() -> None:
    rng = np.random.default_rng(0)
    report = check_backprop(_square, _square_backward, {"W": rng.standard_normal((3, 3))},
                            {"x": rng.standard_normal((4, 3))}, references=["autograd"])
    assert wrong_names(report) == ["dW"] and report.row("dh").status == "ok"
    assert "dW.T matches: dW is the transpose of the right gradient" in report.row("dW").diagnosis


def test_notebook_cell_functions_and_module_level_rec() -> None:
    cell = ("import numpy as np\nfrom gradverify import rec\n"
            "def act(z):\n    return np.tanh(z)\n"
            "def f(w, x):\n    a = rec('a', act(x * w))\n    return np.sum(a)\n"
            "def g(w, x, a):\n    return {'da': np.ones_like(a), 'dw': np.sum((1 - a**2) * x)}\n")
    ns: dict = {}
    exec(compile(cell, "<cell 3>", "exec"), ns)  # no source file, as in a notebook
    report = check_backprop(ns["f"], ns["g"], {"w": np.float64(0.7)},
                            {"x": np.linspace(-1, 1, 5)}, references=["autograd", "numeric"])
    assert report.passed, str(report)
    assert [r.name for r in report.rows] == ["da", "dw"]
    assert ns["rec"]("a", 3.0) == 3.0  # outside a check rec returns its value


def test_numbered_maps_layer_keys_to_list_parameters() -> None:
    convert = numbered(W="weights", b="biases")
    out = convert({"dW1": 1, "db2": 2, "dA0": 3})
    assert out == {"weights[0]": ("dW1", 1), "biases[1]": ("db2", 2), "A0": ("dA0", 3)}


def test_report_json_markdown_and_usage_errors() -> None:
    m = user("backprop_mlp_no_mean")
    report = check_backprop(m.forward, m.backward, data=m.make, dtypes=["float64"],
                            references=["autograd"])
    data = json.loads(report.to_json())
    assert data["first_wrong"] == "dhprebn" and data["passed"] is False
    assert [r["of"] for r in data["rows"]][:2] == ["hprebn", "bnmeani"]
    assert "← **first wrong**" in report._repr_markdown_()
    with pytest.raises(ValueError, match="unknown reference"):
        check_backprop(m.forward, m.backward, data=m.make, references=["tf"])
    with pytest.raises(ValueError, match="not both"):
        check_backprop(m.forward, m.backward)


def test_cli(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--backprop", str(EXAMPLE), "--dtype", "float64", "--references", "autograd"])
    out = capsys.readouterr().out
    assert code == 1 and "first wrong: dbndiff2" in out
    assert f"reproduce: python -m gradverify --backprop {EXAMPLE} --seed 0 --dtype float64" in out
    assert main(["--backprop", str(USER / "backprop_nielsen.py")]) == 2
    assert "neither GRADVERIFY_BACKPROP nor forward and backward" in capsys.readouterr().err
    assert gradverify.check_backprop is check_backprop


def _local_numpy(z):
    import numpy as np  # the check cannot replace a local import

    return np.tanh(z)


def test_local_numpy_import_skips_jax_with_the_hint_and_random_forward_refused() -> None:
    def f(w, x, rec):
        return np.sum(rec("a", _local_numpy(x * w)))

    def g(w, x, a):
        return {"da": np.ones_like(a), "dw": np.sum((1 - a**2) * x)}

    args = ({"w": np.float64(0.7)}, {"x": np.linspace(-1, 1, 5)})
    report = check_backprop(f, g, *args, references=["jax", "numeric"])
    assert report.passed and report.ran == ["numeric"]
    assert "numpy imported inside _local_numpy()" in report.skipped["jax"]

    def noisy(w, x):
        return np.sum(x * w * (np.random.rand(*x.shape) > 0.5))

    with pytest.raises(ValueError, match="random mask drawn inside"):
        check_backprop(noisy, g, *args)
