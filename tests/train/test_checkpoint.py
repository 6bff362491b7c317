"""The checkpoint format by value: what is written, what is read back, and each refusal's message."""

import json
from pathlib import Path

import pytest
import torch

from rnnlab.errors import UserError
from rnnlab.train import checkpoint as ckpt


def save(run, step=1, pointers=("last",), **document):
    return ckpt.save_checkpoint(run, {"task": "lm", "step": step, **document}, {"w": torch.ones(2)},
                                {"rng.torch": torch.get_rng_state()}, pointers)


def test_the_document_round_trips_with_tensors_and_paths_made_plain(tmp_path):
    folder = save(tmp_path / "run", step=7, vocab=["a", "b"], where=Path("x/y"),
                  scale=torch.tensor([1.5, 2.0]))
    raw = json.loads((folder / "checkpoint.json").read_text(encoding="utf-8"))
    assert raw == {"format": "rnnlab-checkpoint", "version": 1, "task": "lm", "step": 7, "vocab": ["a", "b"],
                   "where": "x/y", "scale": [1.5, 2.0]}
    loaded = ckpt.load_checkpoint(tmp_path / "run")
    assert loaded.path == folder and loaded.step == 7 and loaded.document == raw
    assert folder.name.startswith("ckpt-00000007-") and folder.parent == tmp_path / "run" / "checkpoints"
    with pytest.raises(TypeError, match="cannot store object in a checkpoint document"):
        save(tmp_path / "other", thing=object())


def test_optimizer_state_splits_into_tensors_and_json_and_joins_back_exactly():
    params = [torch.nn.Parameter(torch.randn(3)), torch.nn.Parameter(torch.randn(2, 2))]
    optimizer = torch.optim.Adam(params, lr=0.1)
    for _ in range(2):
        optimizer.zero_grad()
        sum((p**2).sum() for p in params).backward()
        optimizer.step()
    state = optimizer.state_dict()
    state["state"][1]["n_iter"] = 3  # a non-tensor entry, as L-BFGS keeps
    state["state"][1]["key.with.dots"] = 0.5
    state["state"][0]["tensor.with.dots"] = torch.ones(2)
    state["state"][5] = {"only": "scalars"}  # an index with no tensor at all
    tensors, rest = ckpt.split_optimizer_state(state)
    assert set(tensors) == {f"optim.{i}.{k}" for i in (0, 1) for k in ("step", "exp_avg", "exp_avg_sq")} | {
        "optim.0.tensor.with.dots"}
    assert rest["scalars"] == {"1.n_iter": 3, "1.key.with.dots": 0.5, "5.only": "scalars"}
    json.dumps(rest)  # the rest is JSON
    joined = ckpt.join_optimizer_state({**tensors, "rng.torch": torch.zeros(1)}, json.loads(json.dumps(rest)))
    assert joined["param_groups"] == json.loads(json.dumps(state["param_groups"]))  # betas: a list
    assert joined["state"].keys() == state["state"].keys()
    for index, entries in state["state"].items():
        assert joined["state"][index].keys() == entries.keys()
        for key, value in entries.items():
            got = joined["state"][index][key]
            assert torch.equal(got, value) if isinstance(value, torch.Tensor) else got == value


def test_the_rng_state_restores_the_same_draws():
    saved = ckpt.rng_tensors()
    first = torch.rand(4)
    ckpt.restore_rng(saved)
    assert torch.equal(torch.rand(4), first)


def test_pointers_and_best_or_last(tmp_path):
    run = tmp_path / "run"
    first = save(run, step=1, pointers=("last", "best"))
    second = save(run, step=2)
    assert ckpt.checkpoint_path(run) == second and ckpt.checkpoint_path(run, "best") == first
    assert ckpt.checkpoint_path(second) == second  # a checkpoint folder given directly
    assert ckpt.best_or_last(run, "best") == "best" and ckpt.best_or_last(run, "last") == "last"
    lonely = tmp_path / "lonely"
    save(lonely)
    assert ckpt.best_or_last(lonely, "best") == "last"
    assert ckpt.best_or_last(lonely, "last") == "last"


def test_each_refusal_says_what_is_wrong(tmp_path):
    def message(run, which="last"):
        with pytest.raises(UserError) as error:
            ckpt.load_checkpoint(run, which)
        return str(error.value)

    missing = tmp_path / "nowhere"
    assert message(missing) == (f"run folder {missing} does not exist; train one with "
                                f"`rnnlab train ... --out {missing}`.")
    run = tmp_path / "run"
    folder = save(run)
    assert message(run, "best") == (f"{run} has no 'best' checkpoint; it is not a run folder, or training "
                                    "saved nothing yet.")
    document = json.loads((folder / "checkpoint.json").read_text())
    (folder / "checkpoint.json").write_text(json.dumps({**document, "version": 2}))
    assert message(run) == (f"the checkpoint in {folder} was written by a newer rnnlab (format version 2); "
                            "upgrade rnnlab to read it.")
    del document["version"]  # written before versions: read as version 0
    (folder / "checkpoint.json").write_text(json.dumps(document))
    assert ckpt.load_checkpoint(run).step == 1
    foreign = (f"the checkpoint in {folder} is damaged or not an rnnlab checkpoint (not an rnnlab "
               "checkpoint); use another checkpoint or retrain.")
    (folder / "checkpoint.json").write_text(json.dumps({**document, "format": "other"}))
    assert message(run) == foreign
    (folder / "checkpoint.json").write_text(json.dumps(["format", "rnnlab-checkpoint"]))
    assert message(run) == foreign
    (folder / "checkpoint.json").write_text("ü" + json.dumps(document))  # UTF-8, not the locale's encoding
    assert "damaged or not an rnnlab checkpoint (Expecting value" in message(run)
    (folder / "state.safetensors").unlink()
    assert message(run) == (f"the checkpoint in {folder} is incomplete (state.safetensors is missing); use "
                            "another checkpoint or retrain.")
    with pytest.raises(UserError, match="is for task 'lm', not 'caption'"):
        ckpt.load_checkpoint(save(tmp_path / "lm"), task="caption")


def test_run_folders_are_never_overwritten_by_accident(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "notes.txt").write_text("mine")
    with pytest.raises(UserError) as error:
        ckpt.prepare_run_folder(run, resume=False, force=False)
    assert str(error.value) == (f"run folder {run} already exists; pass --resume to continue it or --force "
                                "to start over (which deletes it).")
    ckpt.prepare_run_folder(run, resume=False, force=True)  # allowed; the trainer deletes it later
    with pytest.raises(UserError, match="cannot resume: .* holds no checkpoint; drop --resume"):
        ckpt.prepare_run_folder(run, resume=True, force=False)
    (tmp_path / "file").write_text("x")
    with pytest.raises(UserError, match="exists and is not a folder"):
        ckpt.prepare_run_folder(tmp_path / "file", resume=False, force=False)
    ckpt.prepare_run_folder(tmp_path / "empty", resume=False, force=False)  # a new folder is fine
    assert (run / "notes.txt").read_text() == "mine"
