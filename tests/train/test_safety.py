"""The README's safety promises, each shown by planting the fault it guards against.

- loading never unpickles: a checkpoint or encoder file replaced by a live pickle is refused, and the
  pickle's payload never runs;
- bf16 asked for on a machine without it: a warning, then the very same run as fp32;
- divergence (a NaN or exploding loss, a NaN gradient): `train.on_divergence` rolls back to the last
  checkpoint with a halved learning rate, stops, or ends with a one-line error (exit 2);
- a checkpoint save that dies at any of its steps leaves the last good checkpoint loadable.
"""

import json
import os
import pickle
from pathlib import Path

import pytest
import torch

from rnnlab.errors import UserError
from rnnlab.tasks.lm import LMTask
from rnnlab.train import checkpoint as ckpt
from rnnlab.train.metrics import read_metrics

TINY = ["--hidden", "16", "--layers", "1", "--embedding", "8", "--batch-size", "4", "--seq-len", "16",
        "--no-progress", "--threads", "1"]
# constant lr 0.01 and a train event per step, a checkpoint every 5 steps
PLAIN = ["--lr", "0.01", "--schedule", "constant", "--set", "schedule.warmup=0", "--set", "train.log_every=1",
         "--save-every", "5", "--eval-every", "0"]


def train(cli, data, run, *extra, steps=12):
    return cli("train", "lm", "--data", data, "--out", run, "--steps", steps, *TINY, *PLAIN, *extra)


def train_events(run):
    return {e["step"]: e for e in read_metrics(run) if e["split"] == "train"}


# ---- loading never unpickles --------------------------------------------------------------------


class _Payload:
    """Unpickling this creates `marker`: proof that a loader ran code from the file."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def live_pickle(marker: Path) -> bytes:
    data = pickle.dumps({"weight": _Payload(marker)})
    control = marker.with_name("control")
    pickle.loads(pickle.dumps({"weight": _Payload(control)}))  # the plant is live: loading it runs it
    assert control.exists()
    return data


@pytest.mark.parametrize("name", ["model.safetensors", "state.safetensors", "checkpoint.json"])
def test_a_planted_pickle_is_refused_and_never_run(cli, tiny_text, tmp_path, name):
    run = tmp_path / "run"
    assert train(cli, tiny_text, run, steps=4)[0] == 0
    marker = tmp_path / "pwned"
    (ckpt.checkpoint_path(run) / name).write_bytes(live_pickle(marker))
    # torch.save's zip of pickles too: the format torch.load reads by default
    for command in (("sample", run, "--length", 5), ("eval", run, "--checkpoint", "last")):
        code, out, err = cli(*command)
        assert code == 2, err
        assert "damaged or not an rnnlab checkpoint" in err and "Traceback" not in err
    code, _, err = cli("train", "lm", "--data", tiny_text, "--out", run, "--steps", 8, *TINY, "--resume")
    assert code == 2 and "damaged" in err
    assert not marker.exists()


def test_a_torch_save_file_in_place_of_the_weights_is_refused(cli, tiny_text, tmp_path):
    run = tmp_path / "run"
    assert train(cli, tiny_text, run, steps=4)[0] == 0
    marker = tmp_path / "pwned"
    live_pickle(marker)
    torch.save({"weight": _Payload(marker)}, ckpt.checkpoint_path(run) / "model.safetensors")
    with pytest.raises(UserError, match="damaged"):
        ckpt.load_checkpoint(run)
    assert not marker.exists()


def test_a_planted_pickle_in_a_cnn_encoder_is_refused(tmp_path):
    from rnnlab.models.cnn import CNNConfig, CNNEncoder

    folder = tmp_path / "encoder"
    CNNEncoder(CNNConfig(channels=[4], readout="pool", hidden=0), (1, 8, 8)).save(folder)
    assert CNNEncoder.load(folder) is not None  # the genuine folder loads
    marker = tmp_path / "pwned"
    (folder / "model.safetensors").write_bytes(live_pickle(marker))
    with pytest.raises(UserError, match="damaged"):
        CNNEncoder.load(folder)
    assert not marker.exists()


# ---- bf16 fallback ------------------------------------------------------------------------------


def test_bf16_without_hardware_support_warns_and_trains_in_fp32(cli, tiny_text, tmp_path, monkeypatch):
    assert train(cli, tiny_text, tmp_path / "fp32", "--precision", "fp32", steps=6)[0] == 0
    fp32 = [e["loss"] for e in train_events(tmp_path / "fp32").values()]

    monkeypatch.setattr("rnnlab.train.precision.bf16_supported", lambda device=None: True)
    assert train(cli, tiny_text, tmp_path / "bf16", "--precision", "bf16", steps=6)[0] == 0
    bf16 = [e["loss"] for e in train_events(tmp_path / "bf16").values()]
    assert bf16 != fp32  # autocast does change the losses: the comparisons below can tell them apart

    monkeypatch.setattr("rnnlab.train.precision.bf16_supported", lambda device=None: False)
    code, _, err = train(cli, tiny_text, tmp_path / "fallback", "--precision", "bf16", steps=6)
    assert code == 0, err
    assert "warning: this machine has no native bf16 support; training in fp32 instead." in err
    assert [e["loss"] for e in train_events(tmp_path / "fallback").values()] == fp32

    code, _, err = train(cli, tiny_text, tmp_path / "auto", "--precision", "auto", steps=6)
    assert code == 0 and "bf16" not in err  # auto falls back silently
    assert [e["loss"] for e in train_events(tmp_path / "auto").values()] == fp32


# ---- divergence ---------------------------------------------------------------------------------


def plant(monkeypatch, spoil, at_calls):
    """Make LMTask.training_step's output bad (`spoil(loss, model)`) on the given forward calls."""
    original = LMTask.training_step
    calls = {"n": 0}

    def training_step(self, net, batch):
        output = original(self, net, batch)
        if calls["n"] in at_calls:
            output.loss = spoil(output.loss, self.model)
        calls["n"] += 1
        return output

    monkeypatch.setattr(LMTask, "training_step", training_step)
    return calls


NAN = lambda loss, model: loss * float("nan")  # noqa: E731
EXPLODE = lambda loss, model: loss * 10.0  # noqa: E731
# a finite loss whose gradient is NaN: d/dp sqrt(0·Σp) = 0 · ∞
NAN_GRAD = lambda loss, model: loss + torch.sqrt(next(model.parameters()).sum() * 0.0)  # noqa: E731


@pytest.mark.parametrize("spoil", [NAN, EXPLODE, NAN_GRAD], ids=["nan-loss", "explosion", "nan-gradient"])
def test_divergence_rolls_back_to_the_last_checkpoint_with_half_the_lr(cli, tiny_text, tmp_path, monkeypatch,
                                                                       spoil):
    assert train(cli, tiny_text, tmp_path / "clean")[0] == 0
    clean = train_events(tmp_path / "clean")
    plant(monkeypatch, spoil, at_calls={7})  # the forward of step 8; the last checkpoint is step 5
    code, _, err = train(cli, tiny_text, tmp_path / "run")
    assert code == 0, err
    assert "rolled back to step 5 and lowered the learning rate to 0.005 (rollback 1 of 3)" in err
    events = train_events(tmp_path / "run")
    assert sorted(events) == list(range(1, 13))  # the steps after 5 were logged once, after the rollback
    assert len([e for e in read_metrics(tmp_path / "run") if e["split"] == "train"]) == 12
    for step in range(1, 6):
        assert events[step] == {**clean[step], "time": events[step]["time"],
                                "tokens_per_s": events[step]["tokens_per_s"]}
    for step in range(6, 13):
        assert events[step]["lr"] == 0.005 and clean[step]["lr"] == 0.01
    # the rollback restored weights, optimizer, batcher and carried state exactly: the first replayed
    # loss is the clean run's; the later ones differ, being taken with half the learning rate
    assert events[6]["loss"] == clean[6]["loss"]
    assert events[8]["loss"] != clean[8]["loss"]
    document = ckpt.load_checkpoint(tmp_path / "run").document
    assert document["train_state"]["lr_scale"] == 0.5 and document["train_state"]["rollbacks"] == 1


def test_rollback_gives_up_after_max_rollbacks(cli, tiny_text, tmp_path, monkeypatch):
    plant(monkeypatch, NAN, at_calls=set(range(7, 1000)))
    code, _, err = train(cli, tiny_text, tmp_path / "run", "--set", "train.max_rollbacks=2")
    assert code == 2
    assert "2 rollbacks with a halved learning rate did not help" in err and "Traceback" not in err
    assert err.count("rolled back to step 5") == 2
    assert ckpt.load_checkpoint(tmp_path / "run").step == 5  # the last good checkpoint is intact


def test_divergence_policy_stop_keeps_the_last_checkpoint(cli, tiny_text, tmp_path, monkeypatch):
    plant(monkeypatch, NAN, at_calls={7})
    code, _, err = train(cli, tiny_text, tmp_path / "run", "--set", "train.on_divergence=stop")
    assert code == 0, err
    assert "warning: loss nan at step 7; stopping (lower --lr)." in err
    assert "stopped at step 7: diverged." in err
    assert max(train_events(tmp_path / "run")) == 7  # nothing logged after the bad step
    assert ckpt.load_checkpoint(tmp_path / "run").step == 5  # no checkpoint of the diverged model


def test_divergence_policy_error_exits_2_with_one_line(cli, tiny_text, tmp_path, monkeypatch):
    plant(monkeypatch, EXPLODE, at_calls={7})
    code, out, err = train(cli, tiny_text, tmp_path / "run", "--set", "train.on_divergence=error")
    assert code == 2
    lines = [line for line in err.splitlines() if "diverged" in line]
    assert len(lines) == 1 and "Traceback" not in err
    assert "is more than 3× the initial" in lines[0] and "--resume" in lines[0]
    assert ckpt.load_checkpoint(tmp_path / "run").step == 5
    # and --resume from there, without the fault, finishes the run
    monkeypatch.undo()
    code, _, err = cli("train", "lm", "--data", tiny_text, "--out", tmp_path / "run", "--steps", 12, *TINY,
                       *PLAIN, "--resume")
    assert code == 0, err
    assert ckpt.load_checkpoint(tmp_path / "run").step == 12


def test_an_unknown_divergence_policy_is_a_user_error(cli, tiny_text, tmp_path):
    code, _, err = train(cli, tiny_text, tmp_path / "run", "--set", "train.on_divergence=retry")
    assert code == 2 and "train.on_divergence must be rollback, stop or error" in err
    assert not (tmp_path / "run").exists()


# ---- a save that dies half-way ------------------------------------------------------------------


class Crash(Exception):
    pass


# save_checkpoint's steps, in order: (function patched in the checkpoint module, its call to fail on)
SAVE_STEPS = [
    ("save_file", 0),  # model.safetensors
    ("save_file", 1),  # state.safetensors
    ("_fsync_write", 0),  # checkpoint.json
    ("replace", 0),  # the temporary folder renamed to its final name
    ("_fsync_write", 1),  # the new `last` pointer, written beside the old one
    ("replace", 1),  # the `last` pointer replaced
    ("_prune", 0),  # old folders removed
]


def weights(value: float) -> dict:
    return {"w": torch.full((3, 2), value), "b": torch.full((2,), value)}


@pytest.mark.parametrize("function,call", SAVE_STEPS, ids=[f"{f}-{c}" for f, c in SAVE_STEPS])
def test_a_save_that_dies_at_any_step_leaves_a_loadable_checkpoint(tmp_path, monkeypatch, function, call):
    run = tmp_path / "run"
    ckpt.save_checkpoint(run, {"task": "lm", "step": 1}, weights(1.0), {"rng.torch": torch.get_rng_state()},
                         ("last", "best"))
    target = os if function == "replace" else ckpt
    original = getattr(target, function)
    calls = {"n": 0}

    def dying(*args, **kwargs):
        if calls["n"] == call:
            raise Crash(function)
        calls["n"] += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(target, function, dying)
    with pytest.raises(Crash):
        ckpt.save_checkpoint(run, {"task": "lm", "step": 2}, weights(2.0), {}, ("last",))
    monkeypatch.undo()

    loaded = ckpt.load_checkpoint(run, "last", task="lm")
    # until the `last` pointer is replaced the old checkpoint is `last`; after it, the new one, complete
    new = function == "_prune"
    assert loaded.step == (2 if new else 1)
    assert torch.equal(loaded.model_state["w"], torch.full((3, 2), 2.0 if new else 1.0))
    assert ckpt.load_checkpoint(run, "best").step == 1
    # the next save goes through and sweeps away what the dead one left behind
    ckpt.save_checkpoint(run, {"task": "lm", "step": 3}, weights(3.0), {}, ("last",))
    assert ckpt.load_checkpoint(run).step == 3
    folders = [p for p in (run / "checkpoints").iterdir() if p.is_dir()]
    assert sorted(json.loads((p / "checkpoint.json").read_text())["step"] for p in folders) == [1, 3]
    assert not any(p.name.startswith(".tmp") for p in folders)
