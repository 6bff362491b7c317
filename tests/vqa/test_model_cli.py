"""The VQA models overfit, padding never changes an answer, and the eval / ask / bad-input commands."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from rnnlab.data.vqa import make_shapes_vqa
from rnnlab.tasks.vqa import VQARunConfig, VQATask, load_vqa_run
from rnnlab.train.config import from_dict


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("vqa-data")
    make_shapes_vqa(root, train=12, val=3, test=3, progress=False)
    return root


def small_config(kind: str, **model) -> VQARunConfig:
    return from_dict(
        VQARunConfig,
        {
            "model": {
                "kind": kind,
                "embedding": 8,
                "hidden": 16,
                "fused": 32,
                "mlp": 32,
                "dropout": 0.0,
                "cnn": {"channels": [8, 16], "hidden": 0, "dropout": 0.0},
                **model,
            },
            "data": {"path": "shapes-vqa", "batch_size": 16},
            "optim": {"lr": 0.01},
        },
    )


def task_for(config, data_root) -> VQATask:
    task = VQATask(config)
    task.load_data(data_root)
    return task


@pytest.mark.parametrize(
    ("kind", "extra"),
    [
        ("lecture", {}),
        ("lecture", {"fusion": "product", "cell": "gru", "bidirectional": False}),
        ("question-only", {}),
        ("image-only", {}),
    ],
)
def test_every_model_overfits_a_tiny_set(data_root, kind, extra):
    torch.manual_seed(0)
    task = task_for(small_config(kind, **extra), data_root)
    examples = task.splits["train"][:16]
    model = task.build_model()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    batch = task.collate(examples)
    for _ in range(150):
        optimizer.zero_grad()
        loss = task.loss(model, batch)
        loss.backward()
        optimizer.step()
    if kind == "image-only":  # one image gives 8 different answers: only the per-image best is reachable
        assert loss.item() < 2.0
    else:
        assert task.evaluate(model, examples)["accuracy"] == 1.0


@pytest.mark.parametrize("bidirectional", [True, False])
def test_padding_never_changes_an_answer(data_root, bidirectional):
    torch.manual_seed(0)
    task = task_for(small_config("lecture", bidirectional=bidirectional), data_root)
    model = task.build_model().eval()
    short = min(task.splits["train"], key=lambda e: len(e[1]))
    alone = task.logits(model, task.collate([short]))
    padded = task.logits(
        model, task.collate([short, max(task.splits["train"], key=lambda e: len(e[1]))], pad_to=40)
    )
    assert torch.equal(alone[0], padded[0]) or torch.allclose(alone[0], padded[0], atol=1e-6, rtol=0)


def test_family_baseline_is_the_most_frequent_answer(data_root):
    task = task_for(small_config("lecture"), data_root)
    prior = task.family_prior()
    for family, answer in prior.items():
        counts = np.bincount([e[2] for e in task.splits["train"] if e[3] == family])
        assert counts[answer] == counts.max()


@pytest.fixture(scope="module")
def trained(data_root, tmp_path_factory):
    from rnnlab.tasks.vqa import train_vqa

    out = tmp_path_factory.mktemp("runs") / "vqa"
    config = small_config("lecture")
    config.train.steps, config.train.eval_every, config.train.progress = 6, 3, False
    train_vqa(config, out, data_root=data_root)
    return out


def test_eval_json_has_splits_families_types_heldout_and_baseline(cli, trained, data_root, monkeypatch):
    monkeypatch.setenv("RNNLAB_DATA", str(data_root))
    code, out, err = cli("eval", trained, "--json")
    assert code == 0, err
    results = json.loads(out)
    for split in ("val", "test", "heldout"):
        assert 0 <= results[split]["accuracy"] <= 1
        assert set(results[split]["type"]) == {"relational", "non-relational", "counting"}
        assert len(results[split]["family"]) == 8
    assert "family-prior test" in results
    task, model, _ = load_vqa_run(trained)
    task.load_data(data_root, saved=task.state())
    # accuracy recomputed one question at a time
    examples = task.splits["test"]
    right = [int(task.logits(model, task.collate([e])).argmax(-1)) == e[2] for e in examples]
    assert results["test"]["accuracy"] == pytest.approx(np.mean(right))


@pytest.fixture
def scene_png(data_root, tmp_path):
    from PIL import Image

    from rnnlab.data.vqa import open_vqa_data

    data = open_vqa_data(data_root / "shapes-vqa")
    path = tmp_path / "scene.png"
    Image.fromarray(data.images[0].transpose(1, 2, 0)).save(path)
    return path


def test_ask_prints_the_answer_and_probabilities(cli, trained, scene_png):
    code, out, err = cli("ask", trained, scene_png, "what shape is the red object?", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["answer"] == result["top"][0][0] and result["unknown"] == []
    assert sum(p for _, p in result["top"]) <= 1 + 1e-6


def test_ask_bad_inputs_are_one_line_errors(cli, trained, scene_png, tmp_path):
    code, out, err = cli("ask", trained, scene_png, "what shape is the red blob?")
    assert code == 0 and "<unk>" in err and "blob" in err
    for args, message in [
        ((scene_png, "what shape is the red blob?", "--unknown", "error"), "blob"),
        ((scene_png, "   "), "empty"),
        ((tmp_path / "missing.png", "what shape?"), "does not exist"),
    ]:
        code, out, err = cli("ask", trained, *args)
        assert code == 2 and err.strip().count("\n") == 0 and message in err, err


def test_ask_refuses_a_run_of_another_task(cli, tmp_path, scene_png):
    import shutil
    from pathlib import Path

    run = tmp_path / "lm"
    shutil.copytree(Path(__file__).parents[1] / "fixtures" / "runs" / "lm", run)
    code, out, err = cli("ask", run, scene_png, "what shape is the red object?")
    assert code == 2 and err.strip().count("\n") == 0 and "vqa" in err, err
    code, out, err = cli("ask", tmp_path / "not-a-run", scene_png, "what shape is the red object?")
    assert code == 2 and err.strip().count("\n") == 0
