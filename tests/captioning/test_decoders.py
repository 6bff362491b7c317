"""The named decoders: each builds, trains a step and decodes; `upgrade` reads every old combination
into the decoder with the same outputs; gradients by gradcheck; config and command-line errors."""

from pathlib import Path

import pytest
import torch

from rnnlab.errors import UserError
from rnnlab.generate import greedy_decode
from rnnlab.models.captioner import (
    DECODERS,
    OLD_KEYS,
    Captioner,
    CaptionerConfig,
    upgrade,
)
from rnnlab.train.config import from_dict, to_dict

START, END, NULL = 1, 2, 0
FIXTURE_RUN = Path(__file__).resolve().parents[1] / "fixtures" / "runs" / "caption"
SHARED = {"cell": "lstm", "embedding": 8, "hidden": 16, "attention_size": 8, "dropout": 0.0}


def captions_batch():
    """(3, 6): <START> words <END>, padded with <NULL>."""
    return torch.tensor(
        [[START, 4, 5, 7, END, NULL], [START, 6, END, NULL, NULL, NULL], [START, 4, 6, 7, 5, END]]
    )


def build(values: dict, L: int = 9, D: int = 6, V: int = 8, seed: int = 0) -> Captioner:
    torch.manual_seed(seed)
    config = from_dict(CaptionerConfig, {**SHARED, "encoder": {"kind": "features"}, **values}, "model")
    return Captioner(V, config, (L, D))


@pytest.mark.parametrize("name", list(DECODERS))
def test_each_decoder_builds_trains_and_decodes(name):
    model = build({"decoder": name})
    assert model.decoder_name == name and type(model.decoder) is DECODERS[name]
    assert model.attends == (name != "show-tell")
    grid = torch.randn(3, 9, 6)
    loss, parts = model.train().loss(grid, captions_batch())
    assert torch.isfinite(loss) and parts["nll"] > 0
    loss.backward()  # every weight is trained (hard's attention through REINFORCE)
    unread = {"decoder.init_h.weight", "decoder.init_c.weight"} if name == "look" else set()  # h_0 learned
    for parameter_name, parameter in model.named_parameters():
        assert parameter.grad is not None, parameter_name
        assert (parameter.grad.abs().sum() > 0) != (parameter_name in unread), parameter_name
    model.eval()
    found = greedy_decode(model.step, model.init_state(grid), torch.full((3,), START), 5, eos_id=END)
    assert len(found) == 3 and all(1 <= len(tokens) <= 5 for ((tokens, _),) in found)


# every combination of the old flat section that a run folder or the benchmark wrote, and its decoder
OLD_COMBINATIONS = {
    "init": ({"mode": "init"}, "show-tell"),
    "init-flatten": ({"mode": "init", "image_vector": "flatten", "doubly_stochastic": 0.0}, "show-tell"),
    "soft": ({"mode": "soft"}, "soft"),
    "soft-no-gate": ({"gate": False, "positions": False, "doubly_stochastic": 0.0}, "soft"),
    "soft-learned-h0": ({"mode": "soft", "image_h0": False, "context_in_cell": False}, "soft"),
    "hard": ({"mode": "hard", "expected_prob": 0.3, "doubly_stochastic": 0.0}, "hard"),
    "soft-where": ({"context_in_cell": False, "where_in_cell": True, "coordinates": True}, "where"),
    "soft-look": (
        {
            "context_in_cell": False,
            "where_in_cell": True,
            "coordinates": True,
            "image_h0": False,
            "smooth": 3,
            "attention_entropy": 0.02,
            "doubly_stochastic": 0.0,
        },
        "look",
    ),
}


@pytest.mark.parametrize("combination", list(OLD_COMBINATIONS))
def test_upgrade_gives_the_decoder_with_identical_outputs(combination):
    old, name = OLD_COMBINATIONS[combination]
    upgraded = upgrade({**SHARED, **old})
    assert upgraded["decoder"] == name and not set(upgraded) & set(OLD_KEYS)
    # the same model written in today's layout by hand: the decoder's section with the old values
    section = DECODERS[name].Config.section
    settings = {k: v for k, v in old.items() if k in to_dict(DECODERS[name].Config())}
    new = {"decoder": name, section: settings}
    from_old, from_new = build(old), build(new)
    assert to_dict(from_old.config) == to_dict(from_new.config)
    assert [n for n, _ in from_old.named_parameters()] == [n for n, _ in from_new.named_parameters()]
    grid, captions = torch.randn(3, 9, 6), captions_batch()
    for training in (True, False):
        outputs = []
        for model in (from_old, from_new):
            torch.manual_seed(5)  # the same dropout masks and location samples
            model.train(training)
            loss, _ = model.loss(grid, captions)
            outputs.append((model(grid, captions[:, :-1]).logits, loss))
        assert torch.equal(outputs[0][0], outputs[1][0]) and torch.equal(outputs[0][1], outputs[1][1])


def test_upgrade_leaves_todays_layout_alone_and_refuses_contradictions():
    today = to_dict(CaptionerConfig(decoder="look"))
    assert upgrade(today) == today
    for bad, message in (
        ({"mode": "glance"}, "model.mode='glance'"),
        ({"mode": "init", "where_in_cell": True}, "model.mode=init and model.where_in_cell"),
        ({"mode": "soft", "image_vector": "flatten"}, "only mode init"),
        ({"mode": "hard", "decoder": "soft"}, "contradicts the old keys"),
        ({"mode": "soft", "gate": False, "soft": {"gate": True}}, "model.soft.gate=True contradicts"),
    ):
        with pytest.raises(UserError, match=message) as error:
            from_dict(CaptionerConfig, bad, "model")
        assert "\n" not in str(error.value)


def test_the_old_run_folder_loads_as_a_soft_decoder():
    from rnnlab.train.caption_task import load_caption_run
    from rnnlab.train.checkpoint import load_checkpoint

    _, model, document = load_caption_run(FIXTURE_RUN, "last")
    assert model.decoder_name == "soft" and "mode" in document["config"]["model"]
    saved = load_checkpoint(FIXTURE_RUN, "last").model_state
    assert "embedding.weight" in saved and "decoder.embedding.weight" not in saved  # an old checkpoint
    state = model.state_dict()
    assert torch.equal(state["decoder.embedding.weight"], saved["embedding.weight"])
    assert torch.equal(state["positions"], saved["positions"])
    # the parameters keep the old order (positions, the encoder, then the decoder's layers)
    names = [n for n, _ in model.named_parameters()]
    assert names[0] == "positions" and names[1].startswith("encoder.") and names[-1] == "decoder.out.bias"


def gradcheck_case(name: str):
    """A tiny float64 decoder on a 2×2 grid: (function of (parameters, grid), inputs) for gradcheck.

    The function gives the logits, the attention weights and the loss with the decoder's own terms
    (evaluation mode: hard attention reads the argmax, which is piecewise constant).
    """
    from rnnlab.diagnostics.gradcheck import module_case

    def build_case():
        values = {**SHARED, "embedding": 3, "hidden": 2, "attention_size": 2, "encoder": {"kind": "features"}}
        generator = torch.Generator().manual_seed(31)
        model = Captioner(5, from_dict(CaptionerConfig, {**values, "decoder": name}, "model"), (4, 2))
        with torch.no_grad():
            for parameter in model.parameters():
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.5)
        grid = torch.randn(2, 4, 2, generator=generator, dtype=torch.float64).requires_grad_(True)
        captions = torch.tensor([[1, 3, 4, 2], [1, 4, 2, 0]])

        def forward(m, g):
            _, _, out = m.token_nll(g, captions)
            loss, _ = m.loss(g, captions)
            return (out.logits, loss) if out.weights is None else (out.logits, out.weights, loss)

        return module_case(model, forward, (grid,))

    return build_case


@pytest.mark.parametrize("name", list(DECODERS))
def test_gradcheck_each_decoder(name):
    from rnnlab.diagnostics.gradcheck import check_case

    result = check_case(f"captioner/{name}", gradcheck_case(name))  # torch.autograd.gradcheck inside
    assert result.passed, (result.error, result.max_rel_error)
    assert result.max_rel_error < 1e-6


def test_bad_decoder_name_is_a_user_error(cli, squares, tmp_path):
    with pytest.raises(UserError, match="model.decoder must be one of show-tell, soft, hard, where, look"):
        from_dict(CaptionerConfig, {"decoder": "init"}, "model")
    code, _, err = cli("train", "caption", "--data", squares, "--out", tmp_path / "x", "--decoder", "glance")
    assert code == 2 and err.count("\n") == 1


def test_attention_and_decoder_flags(cli, squares, tmp_path):
    from rnnlab.cli import build_parser
    from rnnlab.cli.caption import caption_config

    def decoder(*flags):
        args = build_parser().parse_args(["train", "caption", "--data", str(squares), "--out", "r", *flags])
        return caption_config(args).model.decoder

    code, out, err = cli(
        "train", "caption", "--data", squares, "--out", tmp_path / "x", "--decoder", "soft",
        "--attention", "hard"
    )
    assert code == 2 and not out and err.count("\n") == 1
    assert err.startswith("error: --attention hard (deprecated) means --decoder hard")
    assert not (tmp_path / "x").exists()
    assert decoder() == "soft"
    assert decoder("--attention", "init") == "show-tell"  # deprecated, one release
    assert decoder("--attention", "hard", "--decoder", "hard") == "hard"
    assert decoder("--decoder", "look") == "look"
