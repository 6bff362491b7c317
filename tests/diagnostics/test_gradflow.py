"""`rnnlab gradflow`: the lecture's vanishing and exploding gradients, measured."""

import json
import math

import pytest
import torch

from rnnlab.diagnostics.gradflow import flow_at_init, rescale_recurrent
from rnnlab.nn import init_cell, make_cell


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_rescaling_sets_the_largest_singular_value_of_every_gate_block(cell):
    torch.manual_seed(0)
    c = make_cell(cell, 5, 6).double()
    init_cell(c)
    rescale_recurrent(c, 1.7)
    for block in c.weight_hh.detach().split(6):
        singular = torch.linalg.svdvals(block)
        assert singular.max().item() == pytest.approx(1.7, rel=1e-10)
        assert singular.min().item() == pytest.approx(1.7, rel=1e-8)  # orthogonal blocks stay isotropic


def test_linear_regime_gives_exactly_sigma_per_step():
    # zero inputs keep h at 0, tanh' = 1, so ∂h_k/∂h_{k-1} = W_hh and ‖W_hhᵀ u‖ = σ‖u‖ exactly
    for sigma in (0.5, 1.0, 1.5):
        result = flow_at_init("rnn", 12, sigma, input_scale=0.0)
        assert result.per_step == pytest.approx(sigma, rel=1e-9)


def test_rnn_vanishes_at_half_and_grows_at_one_and_a_half_on_a_short_horizon():
    small = flow_at_init("rnn", 20, 0.5)
    large = flow_at_init("rnn", 20, 1.5)
    assert small.ratio < 1e-4 and small.picture == "vanishing"
    assert large.ratio > 3.0 and large.picture in ("kept", "exploding")
    # the norm falls (or grows) steadily going back: compare the middle with the ends
    assert small.norms[0] < small.norms[10] < small.norms[-1]
    assert large.norms[0] > large.norms[10] > large.norms[-1]


def test_command_writes_a_figure_and_json(cli, tmp_path):
    png = tmp_path / "flow.png"
    code, out, _ = cli("gradflow", "--cell", "rnn", "--steps", "20", "--spectral-radius", "0.5,1.5",
                       "--out", png, "--json")
    assert code == 0
    result = json.loads(out)
    assert png.is_file() and png.stat().st_size > 1000 and result["figure"] == str(png)
    ratios = [r["ratio"] for r in result["results"]]
    assert ratios[0] < 1e-4 < 3.0 < ratios[1]
    assert len(result["results"][0]["norms"]) == 20


def test_command_prints_the_ratio_table(cli, tmp_path):
    code, out, _ = cli("gradflow", "--cell", "gru", "--steps", "10", "--spectral-radius", "1",
                       "--out", tmp_path / "g.png")
    assert code == 0
    assert "‖∂L/∂h_1‖" in out and "gru σ=1" in out and "ratio" in out


@pytest.mark.parametrize("args, needle", [
    ([], "give --cell"),
    (["--cell", "rnn", "--spectral-radius", "0.5,x"], "--spectral-radius"),
    (["--cell", "rnn", "--spectral-radius", "-1"], "positive"),
    (["--cell", "transformer"], "unknown cell"),
    (["--cell", "rnn", "--run", "somewhere"], "leave out --cell"),
])
def test_bad_arguments_are_one_line_errors(cli, tmp_path, args, needle):
    code, _, err = cli("gradflow", "--out", tmp_path / "x.png", *args)
    assert code == 2 and err.startswith("error:") and needle in err and "Traceback" not in err


def test_from_a_trained_run_one_curve_per_layer(cli, tiny_text, tmp_path):
    run = tmp_path / "run"
    code, _, err = cli("train", "lm", "--data", tiny_text, "--out", run, "--steps", "4", "--hidden", "8",
                       "--layers", "2", "--embedding", "4", "--batch-size", "2", "--seq-len", "8",
                       "--eval-every", "0", "--no-progress", "--threads", "1")
    assert code == 0, err
    code, out, _ = cli("gradflow", "--run", run, "--steps", "16", "--json")
    assert code == 0
    result = json.loads(out)
    assert [r["layer"] for r in result["results"]] == [1, 2]
    assert all(len(r["norms"]) == 16 and math.isfinite(r["ratio"]) for r in result["results"])
    assert (run / "gradflow.png").is_file()
