"""`rnnlab gradcheck`: the registry covers every model, real cases pass, a wrong backward fails."""

import json

import pytest
import torch

from rnnlab.diagnostics import gradcheck
from rnnlab.nn import CELLS


def test_registry_covers_every_cell_layer_path_and_language_model():
    names = set(gradcheck.REGISTRY)
    for cell in CELLS:
        assert f"cell/{cell}" in names
        assert f"lm/{cell}" in names
        assert f"recurrent/{cell}/explicit" in names
        assert f"recurrent/{cell}/explicit/bidirectional-ragged" in names
    for cell in ("rnn-tanh", "rnn-relu", "lstm", "gru"):  # the cells with a fused kernel
        assert f"recurrent/{cell}/fused" in names
        assert f"recurrent/{cell}/fused/bidirectional-ragged" in names
    groups = {name.split("/")[0] for name in names}
    assert {"classifier", "tagger", "seq2seq", "image"} <= groups  # the task models of rnnlab.models


def test_every_cell_passes_from_the_command_line(cli):
    code, out, _ = cli("gradcheck", "--model", "cell")
    assert code == 0, out
    rows = [line for line in out.splitlines() if line.startswith("cell/")]
    assert len(rows) == len(CELLS)
    assert all(line.rstrip().endswith("pass") for line in rows)
    assert f"{len(CELLS)} of {len(CELLS)} passed" in out


def test_layer_paths_and_language_model_pass_with_small_errors(cli):
    code, out, _ = cli("gradcheck", "--model", "recurrent/lstm/*/bidirectional-ragged", "--json")
    assert code == 0
    results = json.loads(out)
    assert {r["name"] for r in results} == {"recurrent/lstm/explicit/bidirectional-ragged",
                                           "recurrent/lstm/fused/bidirectional-ragged"}
    for r in results:
        assert r["passed"] and r["max_rel_error"] < 1e-7 and r["values"] > 100, r
    code, out, _ = cli("gradcheck", "--model", "lm/gru", "--json")
    (lm,) = json.loads(out)
    # every parameter (embedding, 2 layers × 4, decoder weight and bias) plus the initial state
    assert code == 0 and lm["passed"] and lm["tensors"] == 1 + 8 + 2 + 1
    code, out, _ = cli("gradcheck", "--model", "seq2seq/gru/additive", "--json")
    (seq2seq,) = json.loads(out)
    assert code == 0 and seq2seq["passed"] and seq2seq["max_rel_error"] < 1e-6


class _WrongTanh(torch.autograd.Function):
    """tanh with a backward that forgets the square: d tanh = 1 - tanh, not 1 - tanh²."""

    @staticmethod
    def forward(ctx, x):
        y = torch.tanh(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        return grad * (1 - y)


def test_a_wrong_backward_fails_and_the_command_exits_nonzero(cli, monkeypatch):
    monkeypatch.setattr(gradcheck, "REGISTRY", dict(gradcheck.REGISTRY))

    @gradcheck.register("broken/tanh")
    def _case():
        x = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
        return _WrongTanh.apply, (x,)

    result = gradcheck.check_case("broken/tanh", _case)
    assert not result.passed and result.max_rel_error > 1e-2
    code, out, _ = cli("gradcheck", "--model", "broken")
    assert code == 1
    assert "FAIL" in out and "1 FAILED" in out


def test_register_refuses_a_duplicate_name(monkeypatch):
    monkeypatch.setattr(gradcheck, "REGISTRY", dict(gradcheck.REGISTRY))
    with pytest.raises(ValueError, match="already registered"):
        gradcheck.register("cell/lstm", lambda: None)


def test_a_case_that_cannot_be_built_is_a_failed_row_not_a_crash():
    def broken():
        raise RuntimeError("no such model")

    result = gradcheck.check_case("broken/build", broken)
    assert not result.passed and "no such model" in result.error


def test_unknown_model_is_a_one_line_error(cli):
    code, _, err = cli("gradcheck", "--model", "transformer")
    assert code == 2
    assert err.startswith("error: no gradcheck case matches 'transformer'") and "Traceback" not in err


def test_relative_error_is_normwise():
    a = torch.tensor([1.0, 1e-12])
    assert gradcheck.relative_error(a, a) == 0.0
    assert gradcheck.relative_error(torch.zeros(2), torch.zeros(2)) == 0.0
    # a large relative error on a tiny element does not dominate the normwise number
    assert gradcheck.relative_error(a, torch.tensor([1.0, 2e-12])) < 1e-11
