"""End to end through the command line: train, resume exactly, caption, eval, data commands, bad input."""

import json

import numpy as np
import pytest

TINY = [
    "--image-size",
    "8",
    "--set",
    "model.encoder.channels=[4,8]",
    "--hidden",
    "16",
    "--embedding",
    "8",
    "--set",
    "model.attention_size=8",
    "--batch-size",
    "8",
    "--threads",
    "1",
    "--no-progress",
]


def greedy_captions(task, model, indices):
    """Greedy decoding one image at a time, by hand, through the model's step function (not the
    task's batched decoder): word ids without <END>."""
    import torch

    from rnnlab.data.captions import END_ID, START_ID

    outputs = []
    with torch.no_grad():
        for i in indices:
            state = model.init_state(task.grid(model, [i]))
            token, ids = torch.tensor([START_ID]), []
            for _ in range(task.max_output):
                logits, state = model.step(token, state)
                token = logits.argmax(1)
                if int(token) == END_ID:
                    break
                ids.append(int(token))
            outputs.append(ids)
    return outputs


def run_images(run, split, which):
    from rnnlab.tasks.caption import load_caption_run

    task, model, document = load_caption_run(run, which)
    task.load_data(saved=document["task_state"], progress=False)
    return task, model, list(dict.fromkeys(i for i, _ in task.splits[split]))


def events(run, split):
    return [
        json.loads(line)
        for line in (run / "metrics.jsonl").read_text().splitlines()
        if json.loads(line)["split"] == split
    ]


@pytest.fixture
def trained(cli, squares, tmp_path):
    run = tmp_path / "run"
    code, out, err = cli(
        "train", "caption", "--data", squares, "--out", run, "--steps", "20", "--eval-every", "10", *TINY
    )
    assert code == 0, err
    return run


def test_train_writes_the_run_and_metrics(trained, capsys):
    assert (trained / "config.yaml").is_file() and (trained / "checkpoints" / "best").is_file()
    val = events(trained, "val")
    assert [e["step"] for e in val] == [10, 20]
    assert {"loss", "bleu1", "bleu4", "cider", "exact_match", "examples"} <= set(val[-1])
    assert val[-1]["examples"] == 2  # the 2 validation images, each once (not once per sentence)


def test_the_trained_encoder_starts_another_caption_run(trained, cli, squares, tmp_path):
    import torch
    from safetensors.torch import load_file

    from rnnlab.models.cnn import CNNEncoder
    from rnnlab.train.caption_task import load_caption_run

    _, model, _ = load_caption_run(trained)
    encoder = CNNEncoder.load(trained)  # RUN/encoder/: the best checkpoint's CNN
    images = torch.rand(3, *encoder.image_shape)
    torch.testing.assert_close(encoder.grid(images), model.encoder.grid(images))
    run = tmp_path / "init"
    flags = ["--attention", "init", "--encoder", trained, "--freeze", "all", "--steps", "4"]
    code, _, err = cli("train", "caption", "--data", squares, "--out", run, *flags, *TINY)
    assert code == 0, err
    frozen = load_file(str(trained / "encoder" / "model.safetensors"))
    reused = load_file(str(run / "encoder" / "model.safetensors"))
    assert frozen.keys() == reused.keys() and all(torch.equal(frozen[k], reused[k]) for k in frozen)


def test_cpu_time_budget_ends_the_run(cli, squares, tmp_path):
    run = tmp_path / "cpu"
    code, _, err = cli("train", "caption", "--data", squares, "--out", run, "--cpu-minutes", "0.005", *TINY)
    assert code == 0, err
    assert "CPU-time budget reached" in err
    config = (run / "config.yaml").read_text()
    assert "cpu_minutes: 0.005" in config and "steps: null" in config
    val = events(run, "val")
    assert val and 0 < val[-1]["step"] < 3000  # the final evaluation; no step count ended it


def test_resume_continues_exactly(cli, squares, tmp_path):
    settings = [
        "--decoder",
        "hard",
        "--schedule",
        "constant",
        "--eval-every",
        "0",
        "--save-every",
        "10",
        *TINY,
    ]
    straight, split = tmp_path / "straight", tmp_path / "split"
    assert cli("train", "caption", "--data", squares, "--out", straight, "--steps", "30", *settings)[0] == 0
    assert cli("train", "caption", "--data", squares, "--out", split, "--steps", "10", *settings)[0] == 0
    code, _, err = cli(
        "train", "caption", "--data", squares, "--out", split, "--steps", "30", "--resume", *settings
    )
    assert code == 0, err
    assert [e["loss"] for e in events(split, "train")] == [e["loss"] for e in events(straight, "train")]


def test_caption_and_eval_commands(cli, trained, squares, tmp_path):
    image = squares.parent / "images" / "sq0.png"
    code, out, err = cli("caption", trained, image, "--attention", tmp_path / "strip.png", "--beam", "2")
    assert code == 0, err
    assert (tmp_path / "strip.png").stat().st_size > 1000 and "attention:" in out
    code, out, _ = cli(
        "caption",
        trained,
        image,
        squares.parent / "images" / "sq1.png",
        "--json",
        "--temperature",
        "0.7",
        "--seed",
        "3",
    )
    first = json.loads(out)
    assert len(first) == 2 and {"caption", "words", "score"} <= set(first[0])
    assert (
        json.loads(
            cli(
                "caption",
                trained,
                image,
                squares.parent / "images" / "sq1.png",
                "--json",
                "--temperature",
                "0.7",
                "--seed",
                "3",
            )[1]
        )
        == first
    )
    code, out, err = cli("eval", trained, "--json")
    assert code == 0, err
    results = json.loads(out)
    assert {"val", "test", "nearest-encoder test", "nearest-pixels test"} <= set(results)
    assert "beam3_bleu4" in results["test"]
    # the test BLEU-4 is that of free-running greedy captions of the best checkpoint against every
    # reference of each test image
    from rnnlab.metrics_caption import bleu_scores

    task, model, indices = run_images(trained, "test", "best")
    hypotheses = [task.vocab.decode(ids) for ids in greedy_captions(task, model, indices)]
    expected = bleu_scores(hypotheses, [task.references[i] for i in indices])
    assert results["test"]["bleu4"] == pytest.approx(expected["bleu4"], rel=1e-12, abs=1e-12)
    assert results["test"]["bleu1"] == pytest.approx(expected["bleu1"], rel=1e-12, abs=1e-12)
    assert results["test"]["examples"] == len(indices) > 0
    code, out, _ = cli("eval", trained)
    assert code == 0 and "nearest-pixels val" in out


def test_overfit_flag_reaches_exact_match(cli, helpers, tmp_path):
    squares = helpers.square_dataset(tmp_path / "one-sentence", sentences=1)
    run = tmp_path / "overfit"
    code, _, err = cli(
        "train",
        "caption",
        "--data",
        squares,
        "--out",
        run,
        "--steps",
        "250",
        "--overfit",
        "4",
        "--eval-every",
        "0",
        "--dropout",
        "0",
        "--schedule",
        "constant",
        "--lr",
        "0.01",
        *TINY,
        "--set",
        "model.soft.doubly_stochastic=0",
    )
    assert code == 0, err
    final = events(run, "val")[-1]
    assert final["loss"] < 0.1 and final["exact_match"] == 1.0


def test_scenes_with_a_frozen_pretrained_encoder(cli, data_root, helpers, tmp_path):
    import torch

    from rnnlab.models.cnn import CNNConfig, CNNEncoder

    helpers.fashion_mnist(data_root)
    code, out, err = cli("data", "make", "scenes", "--train", "40", "--val", "8", "--test", "8")
    assert code == 0 and "scenes: ready" in out, err
    encoder = CNNEncoder(CNNConfig(channels=[4, 8, 8]), (1, 28, 28))
    encoder.fit_normalization(torch.rand(20, 1, 28, 28))
    encoder.save(tmp_path / "encoder")
    run = tmp_path / "scenes"
    code, out, err = cli(
        "train",
        "caption",
        "--data",
        "scenes",
        "--out",
        run,
        "--steps",
        "10",
        "--encoder",
        tmp_path / "encoder",
        "--freeze",
        "all",
        "--hidden",
        "16",
        "--embedding",
        "8",
        "--threads",
        "1",
        "--no-progress",
        "--batch-size",
        "8",
    )
    assert code == 0, err
    val = events(run, "val")[-1]
    assert "relation_accuracy" in val
    # the final evaluation's attention-in-box, again: the greedy captions of the last checkpoint on the
    # val images; for each word naming an item, the mass of that step's α inside the item's box
    import torch

    from rnnlab.data.captions import START_ID
    from rnnlab.metrics_caption import box_mass

    task, model, indices = run_images(run, "val", "last")

    def in_box(outputs):
        fractions = []
        for i, ids in zip(indices, outputs):
            with torch.no_grad():
                alpha = model(task.grid(model, [i]), torch.tensor([[START_ID, *ids]])).weights[0]  # (T, L)
            boxes = {item["word"]: item["box"] for item in task.entries[i]["items"]}
            words = [task.vocab.tokens[t] for t in ids]
            fractions += [box_mass(alpha[t], model.grid_shape, task.pixel_size, boxes[w])
                          for t, w in enumerate(words) if w in boxes]
        return float(np.mean(fractions)) if fractions else 0.0  # 0 when no word names an item

    assert val["attention_in_box"] == pytest.approx(in_box(greedy_captions(task, model, indices)), rel=1e-6)
    # 10 steps rarely name an item; the references always do: the same measure on them
    references = [task.vocab.encode(task.references[i][0].split()) for i in indices]
    expected = in_box(references)
    assert 0 < expected < 1
    assert task.attention_in_box(model, indices, references) == pytest.approx(expected, rel=1e-6)
    assert "channels:\n    - 4\n    - 8\n    - 8" in (run / "config.yaml").read_text()


def test_other_data_commands_still_work(cli, data_root, helpers):
    code, out, err = cli("data", "make", "dates", "--train", "30")
    assert code == 0 and "dates: ready" in out, err
    helpers.emoji_tarball(data_root / "downloads")
    code, out, err = cli("data", "fetch", "emoji")
    assert code == 0 and "emoji: ready" in out, err
    code, _, err = cli("data", "fetch", "no-such-data")
    assert code == 2 and "Unknown dataset" in err


@pytest.mark.parametrize(
    "document, needle",
    [
        (
            {"images": [{"filename": "sq0.png", "split": "train", "sentences": []}]},
            "image 0 (sq0.png) has no captions",
        ),
        (
            {"images": [{"filename": "nope.png", "split": "train", "sentences": ["a b"]}]},
            "'nope.png', absent from",
        ),
        ({"images": [{"split": "train", "sentences": ["a b"]}]}, "has no file name"),
    ],
)
def test_bad_captions_are_one_line_errors(cli, squares, document, needle, tmp_path):
    bad = squares.parent / "bad.json"
    bad.write_text(json.dumps(document))
    code, out, err = cli(
        "train",
        "caption",
        "--data",
        bad,
        "--images",
        squares.parent / "images",
        "--out",
        tmp_path / "r",
        "--steps",
        "2",
        *TINY,
    )
    assert code == 2 and err.startswith("error: ") and needle in err and err.count("\n") == 1


def test_more_bad_input(cli, squares, trained, tmp_path):
    (squares.parent / "images" / "sq2.png").write_bytes(b"broken")
    code, _, err = cli("caption", trained, squares.parent / "images" / "sq2.png")
    assert code == 2 and "sq2.png is not a readable image" in err
    code, _, err = cli("caption", trained, tmp_path / "absent.png")
    assert code == 2 and "does not exist" in err
    np.save(tmp_path / "features.npy", np.zeros((3, 5), np.float32))
    code, _, err = cli(
        "train",
        "caption",
        "--data",
        squares,
        "--out",
        tmp_path / "f",
        "--features",
        tmp_path / "features.npy",
        "--set",
        "model.encoder.kind=features",
        "--steps",
        "2",
        *TINY,
    )
    assert code == 2 and "expected (24, D) or (24, L, D)" in err
    from rnnlab.models.cnn import CNNConfig, CNNEncoder

    CNNEncoder(CNNConfig(channels=[4]), (1, 8, 8)).save(tmp_path / "grey")
    code, _, err = cli(
        "train",
        "caption",
        "--data",
        squares,
        "--out",
        tmp_path / "g",
        "--encoder",
        tmp_path / "grey",
        "--steps",
        "2",
        *TINY,
    )
    assert code == 2 and "reads 1-channel images" in err and err.count("\n") == 1


def test_precomputed_features(cli, squares, tmp_path):
    grids = np.random.default_rng(0).standard_normal((24, 4, 6)).astype(np.float32)
    np.savez(tmp_path / "features.npz", features=grids)
    run = tmp_path / "features-run"
    code, _, err = cli(
        "train",
        "caption",
        "--data",
        squares,
        "--out",
        run,
        "--features",
        tmp_path / "features.npz",
        "--set",
        "model.encoder.kind=features",
        "--steps",
        "5",
        "--eval-every",
        "0",
        *TINY,
    )
    assert code == 0, err
    code, _, err = cli("caption", run, squares.parent / "images" / "sq0.png")
    assert code == 2 and "precomputed features" in err
