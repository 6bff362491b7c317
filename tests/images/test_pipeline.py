"""End to end through the CLI on tiny generated IDX data: train, eval, resume, transfer, ensemble, summary."""

import json

import pytest
import torch
from safetensors.torch import load_file

from rnnlab.train import image_loop
from rnnlab.train.checkpoint import load_checkpoint
from rnnlab.train.metrics import read_metrics

CNN = [
    "--model",
    "cnn",
    "--channels",
    "4,8",
    "--hidden",
    "16",
    "--batch-size",
    "16",
    "--set",
    "data.val_size=16",
    "--no-progress",
    "--precision",
    "fp32",
]
MLP = ["--model", "mlp", "--hidden", "32", "--batch-size", "16", "--set", "data.val_size=16", "--no-progress"]


def test_cnn_run_folder_eval_summary_and_plot(cli, small_idx_folder, tmp_path):
    run = tmp_path / "cnn"
    code, out, err = cli("train", "image", "--data", small_idx_folder, "--out", run, *CNN, "--epochs", 3)
    assert code == 0, err
    assert "ln K = 1.3863" in err and "test accuracy" in out
    for name in (
        "config.yaml",
        "metrics.jsonl",
        "confusion.png",
        "curves.png",
        "checkpoints/best",
        "encoder/encoder.json",
        "encoder/model.safetensors",
    ):
        assert (run / name).exists(), name
    events = read_metrics(run)
    assert {e["split"] for e in events} == {"train", "val", "test"}
    assert [e["epoch"] for e in events if e["split"] == "val"] == [1, 2, 3]
    assert all({"step", "split", "loss", "time"} <= e.keys() for e in events)
    test = [e for e in events if e["split"] == "test"][0]
    assert len(test["per_class_accuracy"]) == 4 and sum(map(sum, test["confusion"])) == 20

    code, out, err = cli("eval", run, "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["model"] == "cnn" and result["test"]["images"] == 20 and result["val"]["images"] == 16
    assert result["test"]["accuracy"] == pytest.approx(test["accuracy"])
    assert set(result["test"]["per_class_accuracy"]) == {"0", "1", "2", "3"}
    code, out, _ = cli("eval", run)
    assert code == 0 and "accuracy" in out

    code, out, err = cli("summary", run)
    assert code == 0, err
    assert "(16 − 3 + 2·1)/1 + 1 = 16" in out and "(3·3·1)·4 = 36" in out  # the notes' formulas
    assert "(8·3·3·4)" not in out and "(3·3·4)·8 = 288" in out
    total = sum(p.numel() for p in image_loop.load_image_model(run)[0].parameters())
    assert f"total: {total:,} parameters" in out
    assert cli("plot", run)[0] == 0


@pytest.mark.parametrize("name", ["knn", "linear", "mlp", "cnn", "rnn"])
def test_summary_of_every_model_by_name(cli, name):
    code, out, err = cli("summary", name)
    assert code == 0, err
    assert "total:" in out and "layer" in out


def test_resume_continues_exactly(cli, small_idx_folder, tmp_path, monkeypatch):
    """Kill a run after its second epoch's checkpoint; --resume gives the same losses as an unbroken run."""
    flags = [*MLP, "--epochs", 4, "--augment", "both", "--dropout", "0.3", "--set", "train.log_every=1"]
    straight = tmp_path / "straight"
    assert cli("train", "image", "--data", small_idx_folder, "--out", straight, *flags)[0] == 0

    broken = tmp_path / "broken"
    calls = {"n": 0}
    original = image_loop.EpochBatcher.next_batch

    def dying(self):
        calls["n"] += 1
        if calls["n"] > 9:  # 4 steps an epoch: dies in epoch 3, after the epoch-2 checkpoint
            raise KeyboardInterrupt
        return original(self)

    monkeypatch.setattr(image_loop.EpochBatcher, "next_batch", dying)
    code, _, err = cli("train", "image", "--data", small_idx_folder, "--out", broken, *flags)
    assert code == 130 and "--resume" in err
    monkeypatch.setattr(image_loop.EpochBatcher, "next_batch", original)
    assert load_checkpoint(broken, "last").step == 8
    code, _, err = cli(
        "train", "image", "--data", small_idx_folder, "--out", broken, "--resume", "--no-progress"
    )
    assert code == 0, err
    a = [(e["step"], e["loss"]) for e in read_metrics(straight) if e["split"] in ("train", "val")]
    b = [(e["step"], e["loss"]) for e in read_metrics(broken) if e["split"] in ("train", "val")]
    assert a == b
    wa, wb = (
        load_file(
            str(straight / "checkpoints" / (straight / "checkpoints/last").read_text() / "model.safetensors")
        ),
        load_file(
            str(broken / "checkpoints" / (broken / "checkpoints/last").read_text() / "model.safetensors")
        ),
    )
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    # an existing run is never overwritten by accident
    code, _, err = cli("train", "image", "--data", small_idx_folder, "--out", broken, *flags)
    assert code == 2 and "already exists" in err


def test_transfer_frozen_and_fine_tuned(cli, small_idx_folder, tmp_path):
    source = tmp_path / "source"
    assert cli("train", "image", "--data", small_idx_folder, "--out", source, *CNN, "--epochs", 2)[0] == 0
    before = load_file(str(source / "encoder" / "model.safetensors"))

    frozen = tmp_path / "frozen"
    code, out, err = cli(
        "train",
        "image",
        "--data",
        small_idx_folder,
        "--out",
        frozen,
        *CNN,
        "--epochs",
        2,
        "--encoder",
        source,
        "--freeze",
        "all",
        "--set",
        "data.classes=[2,3]",
    )
    assert code == 0, err
    after = load_file(str(frozen / "encoder" / "model.safetensors"))
    assert all(torch.equal(before[k], after[k]) for k in before)  # weights and BN statistics untouched
    assert json.loads(cli("eval", frozen, "--json")[1])["test"]["images"] == 10  # two classes only

    tuned = tmp_path / "tuned"
    code, out, err = cli(
        "train",
        "image",
        "--data",
        small_idx_folder,
        "--out",
        tuned,
        *CNN,
        "--epochs",
        1,
        "--encoder",
        source,
        "--freeze",
        "0",
        "--finetune-lr",
        "0.1",
        "--set",
        "schedule.name=constant",
        "--set",
        "schedule.warmup=0",
    )
    assert code == 0, err
    after = load_file(str(tuned / "encoder" / "model.safetensors"))
    block0 = [k for k in before if k.startswith("blocks.0.")]
    block1 = [k for k in before if k.startswith("blocks.1.") and "weight" in k]
    assert all(torch.equal(before[k], after[k]) for k in block0)
    assert any(not torch.equal(before[k], after[k]) for k in block1)
    groups = load_checkpoint(tuned, "last").document["train_state"]["optimizer"]["param_groups"]
    assert sorted(g["lr"] / groups[0]["lr"] for g in groups) == pytest.approx([0.1, 1.0])


def test_ensemble_of_runs_and_snapshots(cli, small_idx_folder, tmp_path):
    runs = []
    for seed in (1, 2):
        run = tmp_path / f"mlp{seed}"
        assert (
            cli(
                "train",
                "image",
                "--data",
                small_idx_folder,
                "--out",
                run,
                *MLP,
                "--epochs",
                3,
                "--seed",
                seed,
                "--set",
                "train.snapshots=2",
            )[0]
            == 0
        )
        runs.append(run)
    assert len(list((runs[0] / "snapshots").glob("*.safetensors"))) == 2
    code, out, err = cli("ensemble", *runs, "--json")
    assert code == 0, err
    result = json.loads(out)
    assert len(result["members"]) == 2 and result["images"] == 20
    assert result["gain"] == pytest.approx(result["ensemble"]["accuracy"] - result["best_member_accuracy"])
    code, out, err = cli("ensemble", *runs, "--snapshots")
    assert code == 0 and out.count("@step-") == 4 and "ensemble" in out


def test_knn_chooses_k(cli, small_idx_folder, tmp_path):
    run = tmp_path / "knn"
    code, out, err = cli(
        "train",
        "image",
        "--data",
        small_idx_folder,
        "--out",
        run,
        "--model",
        "knn",
        "--set",
        "data.val_size=16",
        "--set",
        "model.knn.k_choices=[1,3,5]",
        "--no-progress",
    )
    assert code == 0, err
    val = [e for e in read_metrics(run) if e["split"] == "val"][0]
    assert set(val["accuracy_by_k"]) == {"1", "3", "5"} and val["k"] in (1, 3, 5)
    cv = tmp_path / "knn-cv"
    code, out, err = cli(
        "train",
        "image",
        "--data",
        small_idx_folder,
        "--out",
        cv,
        "--model",
        "knn",
        "--distance",
        "l1",
        "--set",
        "model.knn.select=cross-validation",
        "--set",
        "model.knn.folds=3",
        "--set",
        "data.val_size=16",
        "--no-progress",
    )
    assert code == 0, err
    assert json.loads(cli("eval", cv, "--json")[1])["test"]["accuracy"] > 0.5


def test_linear_svm_with_lbfgs_and_hog(cli, small_idx_folder, tmp_path):
    run = tmp_path / "lbfgs"
    code, out, err = cli(
        "train",
        "image",
        "--data",
        small_idx_folder,
        "--out",
        run,
        "--model",
        "linear",
        "--loss",
        "svm",
        "--optimizer",
        "lbfgs",
        "--lr",
        "1",
        "--steps",
        8,
        "--features",
        "hog+histogram",
        "--set",
        "data.val_size=16",
        "--no-progress",
    )
    assert code == 0, err
    assert "(K − 1)Δ = 3.0000" in err
    train = [e["loss"] for e in read_metrics(run) if e["split"] == "train"]
    assert len(train) == 8 and train[-1] < train[0]


def test_training_on_all_images_without_validation(cli, small_idx_folder, tmp_path):
    run = tmp_path / "all"
    code, out, err = cli(
        "train",
        "image",
        "--data",
        small_idx_folder,
        "--out",
        run,
        "--model",
        "mlp",
        "--hidden",
        "16",
        "--batch-size",
        "16",
        "--epochs",
        2,
        "--set",
        "data.val_size=0",
        "--no-progress",
    )
    assert code == 0, err
    events = read_metrics(run)
    assert not [e for e in events if e["split"] == "val"] and [e for e in events if e["split"] == "test"]
    assert (run / "checkpoints" / "best").read_text() == (run / "checkpoints" / "last").read_text()
    assert load_checkpoint(run, "best").step == 10  # 80 images / 16 per batch × 2 epochs


def test_cpu_time_budget(cli, small_idx_folder, tmp_path):
    run = tmp_path / "cpu"
    code, out, err = cli(
        "train", "image", "--data", small_idx_folder, "--out", run, *MLP, "--cpu-minutes", "0.003"
    )
    assert code == 0, err
    assert "CPU-time budget reached" in err
    assert 0 < load_checkpoint(run, "last").step < 1000
    assert load_checkpoint(run, "last").document["train_state"]["cpu"] >= 0.18
