"""Image captioning on CPU: scenes (the decoders beside the encoder's bound) and emoji (BLEU-4).

Scenes (`rnnlab data make scenes`): a CNN encoder is trained on Fashion-MNIST items first (`rnnlab
train image --model cnn`, global-average readout, so that averaging an item's grid cells is what its
classifier reads); the captioners then use it frozen. A captioner cannot name items better than its
encoder classifies them, so beside the exact-caption accuracy stands its bound: the encoder's per-item
accuracy p (measured on the very items of the test scenes) raised to the number of items of each
scene, averaged over the test scenes. Targets: soft attention ≥ 0.9 × bound, relation-word accuracy
≥ 95%, mean attention-in-box ≥ 0.8; hard attention reported beside it. A row is KIND-DECODER, the
decoder by its name (`model.decoder`, `rnnlab.models.decoders`): scenes-where is soft attention with
another wiring of the decoder (the `where` decoder: the cell remembers where it looked, not what it
saw there). scenes-look is that decoder made to look (the `look` decoder, whose defaults are `where`'s
and three more): every caption starts from one learned state, so naming an item needs attention on
it; each annotation is the mean of its 3×3 neighbourhood (`model.look.smooth`), so the middle of an
item shows the whole item; and a small entropy penalty (`model.look.attention_entropy`) asks for one
place per word; the row also sets model.dropout 0.3. The boxes are never used in training.

Emoji (`rnnlab data fetch emoji`): soft attention, Show and Tell (show-tell) and the nearest-neighbour
baseline (the first caption of the closest training image in the soft model's encoder space; raw
pixels too) on the test images. Target: BLEU-4 soft > show-tell > nearest neighbour. Two protocols:
both decoders trained end to end with their own CNN from scratch (emoji-soft, emoji-show-tell); and, as
the papers do with an ImageNet CNN, both decoders trained on one fixed encoder (emoji-soft-frozen,
emoji-show-tell-frozen: the CNN of the emoji-soft run, frozen, the same one the nearest neighbour
reads).

The rows had other names before the decoders had names, and those still work (`--only`, `--set`, the
saved results): scenes-init, scenes-soft-where, scenes-soft-look, emoji-init and emoji-init-frozen are
scenes-show-tell, scenes-where, scenes-look, emoji-show-tell and emoji-show-tell-frozen (`ALIASES`).
The same row is the same model with the same seed, so its figures are those measured under the old
name.

Every number is free-running greedy decoding on the test split (never teacher-forced), with the
checkpoint that was best on validation BLEU-4. The issue's budget is 15 CPU-minutes per training:
each caption training runs on a CPU-time budget (`train.cpu_minutes`, `--cpu-minutes`, default 12: the
process's CPU time, evaluations included, which other jobs on a shared machine do not shorten; the
learning-rate schedule follows it), with `--minutes` only as a wall-clock cap. Wall and CPU minutes
of every training and the load average are recorded. The scenes' encoder trains on a CPU-time budget
too (`--encoder-cpu-minutes`, default 15); when it changes, the scenes' grids are extracted again.

    python benchmarks/captioning.py [--only encoder,scenes-soft,scenes-hard,scenes-show-tell,scenes-where,
                                      scenes-look,
                                      emoji-soft,emoji-show-tell,emoji-soft-frozen,emoji-show-tell-frozen]
                                      [--cpu-minutes 12] [--encoder-cpu-minutes 15] [--minutes 60]
                                      [--threads 1]
                                      [--set ROW:section.key=value] [--variant NAME]

Each row is added to benchmarks/results/captioning.json as soon as it is measured (a long session can
run one row at a time; --fresh starts over); runs go to runs/bench-captioning/ (ignored by git), and
attention strips of a few test images to benchmarks/results/captioning-*.png. `--variant NAME` runs an
experiment: its rows go to ROW@NAME (run folder, results key, pictures), apart from the table's rows.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

from common import cpu_seconds, set_values
from rnnlab.data.captions import CLASS_WORDS, fetch_emoji, make_scenes, open_caption_data
from rnnlab.data.images import load_image_data
from rnnlab.data.paths import data_root
from rnnlab.train.caption_task import (
    CaptionRunConfig,
    export_encoder,
    load_caption_run,
    nearest_neighbour_captions,
    train_caption,
)
from rnnlab.train.config import from_dict, merge, to_dict
from rnnlab.viz.captions import plot_attention_strip

RESULTS = Path(__file__).parent / "results"
RUNS = Path("runs") / "bench-captioning"
ROWS = (
    "encoder",
    "scenes-soft",
    "scenes-hard",
    "scenes-show-tell",
    "scenes-where",
    "scenes-look",
    "emoji-soft",
    "emoji-show-tell",
    "emoji-soft-frozen",
    "emoji-show-tell-frozen",
)
# the rows' names before the decoders had names (MODE-WIRING) -> today's; accepted everywhere
ALIASES = {
    "scenes-init": "scenes-show-tell",
    "scenes-soft-where": "scenes-where",
    "scenes-soft-look": "scenes-look",
    "emoji-init": "emoji-show-tell",
    "emoji-init-frozen": "emoji-show-tell-frozen",
}
OLD_NAMES = {new: old for old, new in ALIASES.items()}

ENCODER = {  # the Fashion-MNIST CNN the scene captioners read through (frozen)
    "model": {
        "cnn": {
            "channels": [32, 64, 128],
            "convs_per_block": 2,
            "readout": "pool",
            "hidden": 0,
            "dropout": 0.1,
        }
    },
    "data": {"translate": 2, "flip": True},
    "train": {"epochs": None},
}
SCENES = {  # the frozen encoder's grids come precomputed (`scene_features`); ≈ 1,000 steps a CPU-minute
    "data": {"path": "scenes", "batch_size": 64},
    "model": {
        "encoder": {"kind": "features"},
        "hidden": 128,
        "embedding": 64,
        "attention_size": 64,
        # no doubly stochastic regulariser (the soft decoders' sections; hard and show-tell have none)
        "soft": {"doubly_stochastic": 0.0},
        "where": {"doubly_stochastic": 0.0},
        "look": {"doubly_stochastic": 0.0},
    },
    "optim": {"lr": 3e-3},
    "train": {"steps": None, "eval_every": 1000, "eval_limit": 500, "save_every": 1000},
}
# scenes-where: the `where` decoder, soft attention with another wiring (not the paper's): the cell reads
# the word and where the attention was (its centre), not the context z_t, which reaches only the output
# layer; every location carries its fixed (x, y) (model.where: context_in_cell false, where_in_cell true,
# coordinates true). The decoder remembers the layout, and must look at an item to name it.
# scenes-look: the `look` decoder, `where` made to look at what it names (model.look: where's settings
# and image_h0 false, smooth 3, attention_entropy 0.02; chosen on val among variants: learned h_0 alone
# reached in-box 0.73-0.79; with the entropy penalty alone it named fewer items right, because one
# location of the unsmoothed grid shows less of an item than the average of its locations), with
# dropout 0.3.
DECODER_SETTINGS = {"look": {"model": {"dropout": 0.3}}}  # scenes-DECODER: on top of SCENES
EMOJI = {  # soft attention: ≈ 550 steps a CPU-minute on one thread
    "data": {"path": "emoji", "batch_size": 64, "image_size": 32},
    "model": {"encoder": {"channels": [32, 64, 128]}},
    "train": {"steps": None, "eval_every": 500, "save_every": 500},
}


def timed(function):
    load_before = os.getloadavg()[0]
    wall, cpu = time.perf_counter(), cpu_seconds()
    out = function()
    return out, {
        "wall_minutes": (time.perf_counter() - wall) / 60,
        "cpu_minutes": (cpu_seconds() - cpu) / 60,
        "load_before": load_before,
        "load_after": os.getloadavg()[0],
    }


# ---- rows -----------------------------------------------------------------------------------------


def train_encoder(
    budget: tuple[float, float], threads: int, overrides: list[str], name: str = "encoder"
) -> dict:
    """The scenes' encoder; budget = (CPU minutes, wall-clock cap in minutes)."""
    from rnnlab.train.image_loop import image_config, train_image

    values = set_values(json.loads(json.dumps(ENCODER)), overrides)
    values.setdefault("data", {})["path"] = "fashion-mnist"
    cpu_minutes, minutes = budget
    values["train"].update(cpu_minutes=cpu_minutes, minutes=minutes, threads=threads, progress=False)
    config = image_config(values, model="cnn")
    summary, cost = timed(lambda: train_image(config, RUNS / name, force=True))
    return {
        "test_accuracy": summary["test_accuracy"],
        "val_accuracy": summary["val_accuracy"],
        "steps": summary["step"],
        "run": str(RUNS / name),
        **cost,
    }


def caption_config(
    base: dict, decoder: str, budget: tuple[float, float], threads: int, overrides: list[str]
) -> CaptionRunConfig:
    """The run's config; budget = (CPU minutes, wall-clock cap in minutes)."""
    values = set_values(merge(json.loads(json.dumps(base)), {"model": {"decoder": decoder}}), overrides)
    cpu_minutes, minutes = budget
    values["train"].update(cpu_minutes=cpu_minutes, minutes=minutes, threads=threads, progress=False)
    return from_dict(CaptionRunConfig, merge(to_dict(CaptionRunConfig()), values))


def test_outputs(run: Path):
    """(task, model, test image indices, greedy captions as ids) of a caption run's best checkpoint."""
    task, model, document = load_caption_run(run)
    task.load_data(saved=document["task_state"], progress=False)
    indices = list(dict.fromkeys(i for i, _ in task.splits["test"]))
    return task, model, indices, task.decode(model, indices)


def item_accuracy(encoder_run: Path, entries: list[dict]) -> tuple[float, float, float]:
    """The encoder's per-item accuracy p on the test scenes' items; the bound mean_s p^n_s; and the
    fraction of test scenes whose every item the encoder classifies right."""
    from rnnlab.train.image_loop import load_image_model, predict

    fmnist = load_image_data("fashion-mnist")
    model, _ = load_image_model(encoder_run)
    test = [e for e in entries if e["split"] == "test"]
    indices = sorted({item["index"] for e in test for item in e["items"]})
    predicted = dict(zip(indices, predict(model, fmnist.test.images[indices]).argmax(1).tolist()))
    right = [[predicted[item["index"]] == item["label"] for item in e["items"]] for e in test]
    p = float(np.mean([r for scene in right for r in scene]))
    bound = float(np.mean([p ** len(scene) for scene in right]))
    return p, bound, float(np.mean([all(scene) for scene in right]))


def scene_features(encoder_run: Path) -> dict:
    """The frozen encoder's grids (N, L, D) of every scene, extracted once and shared by the scene runs.

    This is what `--encoder RUN --freeze all` computes inside a run (its grid cache); extracting them
    once, as the CS231n assignment ships VGG features, keeps the cost out of the three trainings.
    """
    from rnnlab.data.images import to_float
    from rnnlab.models.captioner import load_pretrained_encoder

    data = open_caption_data(data_root() / "scenes")
    encoder = load_pretrained_encoder(str(encoder_run), data.image_shape)
    path = RUNS / "scenes-features.npy"
    path.parent.mkdir(parents=True, exist_ok=True)

    def extract() -> None:
        shape = (len(data.images), encoder.num_locations, encoder.feature_size)
        out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=shape)
        with torch.no_grad():
            for start in range(0, len(data.images), 256):
                out[start : start + 256] = encoder.grid(to_float(data.images[start : start + 256])).numpy()
        out.flush()

    _, cost = timed(extract)
    return {
        "path": str(path),
        "images": len(data.images),
        "source": str(data.folder),
        **cost,
    }


def features_ready(results: dict) -> bool:
    """Extract the scenes' grids with the encoder row's encoder unless that is done already; True when
    they were extracted now."""
    if "encoder" not in results:
        raise SystemExit("the scenes rows need the encoder row first: run with --only encoder,...")
    scenes = open_caption_data(data_root() / "scenes")
    encoder = f"{results['encoder']['run']} step {results['encoder']['steps']}"
    features = results.get("features", {})
    if features.get("images") == len(scenes.images) and features.get("encoder") == encoder:
        return False
    # none yet, other scenes, or another encoder since
    results["features"] = {**scene_features(Path(results["encoder"]["run"])), "encoder": encoder}
    return True


def scenes_row(
    decoder: str, budget: tuple[float, float], threads: int, overrides: list[str], results: dict, name: str
) -> dict:
    values = merge(SCENES, DECODER_SETTINGS.get(decoder, {}))
    values = merge(values, {"data": {"features": results["features"]["path"]}})
    config = caption_config(values, decoder, budget, threads, overrides)
    run = RUNS / name
    summary, cost = timed(lambda: train_caption(config, run, force=True))
    return {**score_scenes(run, results), "steps": summary["step"], **cost}


def score_scenes(run: Path, results: dict) -> dict:
    """Test metrics of a scenes run (its best checkpoint), beside the encoder's bound."""
    task, model, indices, outputs = test_outputs(run)
    hypotheses = [task.vocab.decode(ids) for ids in outputs]
    metrics = task.score(indices, hypotheses)
    if model.attends:
        metrics["attention_in_box"] = task.attention_in_box(model, indices, outputs)
        # diagnostic: the α one step before the word (a decoder that feeds z_t into its memory can
        # look at an item while emitting the "a" before its name)
        metrics["attention_in_box_step_before"] = task.attention_in_box(model, indices, outputs, lag=1)
    truth = lambda i: sorted(item["word"] for item in task.entries[i]["items"])
    named = [sorted({w for w in h.split() if w in CLASS_WORDS}) for h in hypotheses]
    metrics["items_named_right"] = float(np.mean([n == truth(i) for i, n in zip(indices, named)]))
    p, bound, all_right = item_accuracy(Path(results["encoder"]["run"]), task.entries)
    if model.attends:
        images = open_caption_data(data_root() / "scenes").images  # the runs read features
        draw_examples(task, model, indices, outputs, run.name, boxes=True, images=images)
    return {
        **metrics,
        "item_accuracy": p,
        "bound": bound,
        "encoder_all_items_right": all_right,
        "examples": len(indices),
        "run": str(run),
    }


def emoji_row(
    decoder: str, budget: tuple[float, float], threads: int, overrides: list[str], name: str
) -> dict:
    """An emoji row: soft or show-tell trained end to end (the encoder from scratch), or with `-frozen` a
    decoder on the frozen encoder of the emoji-soft run (its grids cached, so every step is cheap)."""
    frozen = decoder.endswith("-frozen")
    decoder = decoder.removesuffix("-frozen")
    base = EMOJI
    if frozen:
        base = merge(EMOJI, {"model": {"encoder": {"path": str(soft_encoder()), "freeze": "all"}}})
    config = caption_config(base, decoder, budget, threads, overrides)
    run = RUNS / name
    summary, cost = timed(lambda: train_caption(config, run, force=True))
    task, model, indices, outputs = test_outputs(run)
    metrics = task.score(indices, [task.vocab.decode(ids) for ids in outputs])
    # the nearest neighbour reads the run's own encoder (a frozen row's is emoji-soft's: scored there)
    spaces = () if frozen else ("encoder", "pixels")
    baselines = {
        space: task.score(indices, nearest_neighbour_captions(task, model, indices, space))
        for space in spaces
    }
    if model.attends:
        draw_examples(task, model, indices, outputs, name)
    return {
        **metrics,
        **{f"nearest_{space}": baseline for space, baseline in baselines.items()},
        "steps": summary["step"],
        "examples": len(indices),
        "run": str(run),
        **cost,
    }


def soft_encoder() -> Path:
    """The emoji-soft run's CNN (RUN/encoder/), exported from its best checkpoint when the run predates
    that export; the frozen rows and the nearest-neighbour baseline read images through it."""
    run = RUNS / "emoji-soft"
    if not (run / "checkpoints" / "best").is_file():
        raise SystemExit("the frozen emoji rows need the emoji-soft row first (--only emoji-soft,...)")
    if not (run / "encoder" / "encoder.json").is_file():
        export_encoder(run)
    return run


def draw_examples(
    task, model, indices, outputs, name: str, boxes: bool = False, count: int = 3, images=None
) -> None:
    """Attention strips of the first test images (for scenes: those with three items first)."""
    order = sorted(range(len(indices)), key=lambda k: -len(task.entries[indices[k]].get("items", [])))[:count]
    for n, k in enumerate(order):
        i = indices[k]
        grid = task.grid(model, [i])
        weights = task.attention_weights(model, grid, [outputs[k]])[0]
        words = [task.vocab.tokens[t] for t in outputs[k]] + ["<END>"]
        pixels = (task.inputs if images is None else images)[i]
        item_boxes = [item["box"] for item in task.entries[i].get("items", [])] if boxes else ()
        plot_attention_strip(
            pixels,
            words,
            weights,
            model.grid_shape,
            RESULTS / f"captioning-{name}-{n + 1}.png",
            boxes=item_boxes,
            title=f"reference: {task.references[i][0]}",
        )


# ---- table ----------------------------------------------------------------------------------------


def row_result(results: dict, row: str) -> dict | None:
    """The saved figures of `row`, under its name or the name it had before the decoders had names."""
    found = results.get(row)
    return found if found is not None else results.get(OLD_NAMES.get(row, ""))


def table(results: dict) -> str:
    lines = []
    if "encoder" in results:
        e = results["encoder"]
        lines.append(
            f"encoder: Fashion-MNIST CNN, test accuracy {100 * e['test_accuracy']:.2f}% "
            f"({e['steps']} steps, {e['wall_minutes']:.1f} wall min, {e['cpu_minutes']:.1f} CPU min)"
        )
    if "features" in results:
        f = results["features"]
        lines.append(
            f"scene grids of the frozen encoder: {f['images']:,} images, extracted once in "
            f"{f['wall_minutes']:.1f} wall min, {f['cpu_minutes']:.1f} CPU min"
        )
    scene_rows = [
        m for m in ("soft", "hard", "show-tell", "where", "look") if row_result(results, f"scenes-{m}")
    ]
    if scene_rows:
        lines += [
            "",
            "scenes (test, greedy)  exact  bound  ≥0.9·bound  relation  in-box (t-1)  items  BLEU-4  "
            "CIDEr   steps  wall  CPU min  load",
            "-" * 114,
        ]
        for m in scene_rows:
            r = row_result(results, f"scenes-{m}")
            ok = "yes" if r["exact_match"] >= 0.9 * r["bound"] else "NO"
            box = f"{r['attention_in_box']:.3f}" if "attention_in_box" in r else "  -  "
            before = r.get("attention_in_box_step_before")
            box += f" ({before:.2f})" if before is not None else "       "
            lines.append(
                f"{m:<22} {r['exact_match']:.3f}  {r['bound']:.3f}  {ok:>10}  {r['relation_accuracy']:.3f}"
                f"   {box}  {r['items_named_right']:.3f}  {r['bleu4']:6.2f}  {r['cider']:5.2f}  "
                f"{r['steps']:>6}  {r['wall_minutes']:4.1f}  {r['cpu_minutes']:7.1f}  {r['load_before']:4.1f}"
            )
        r = row_result(results, f"scenes-{scene_rows[0]}")
        lines.append(
            f"bound = mean over test scenes of p^items, p = {r['item_accuracy']:.4f} (encoder's per-item "
            f"accuracy on the test scenes' items); all items right: {r['encoder_all_items_right']:.3f}. "
            "Targets (soft): exact ≥ 0.9·bound, relation ≥ 0.95, in-box ≥ 0.8. in-box: the α of the step "
            "that emitted the item's word; (t-1): of the step before, a diagnostic. items: the set of items "
            "named is right."
        )
    emoji_rows = [
        m
        for m in ("soft", "show-tell", "soft-frozen", "show-tell-frozen")
        if row_result(results, f"emoji-{m}")
    ]
    if emoji_rows:
        lines += [
            "",
            "emoji (test, greedy)         BLEU-1  BLEU-4  CIDEr  exact   steps  wall  CPU min  load",
            "-" * 86,
        ]
        for m in emoji_rows:
            r = row_result(results, f"emoji-{m}")
            lines.append(
                f"{m:<28} {r['bleu1']:6.2f}  {r['bleu4']:6.2f}  {r['cider']:5.2f}  {r['exact_match']:.3f}  "
                f"{r['steps']:>6}  {r['wall_minutes']:4.1f}  {r['cpu_minutes']:7.1f}  {r['load_before']:4.1f}"
            )
        for m in [m for m in emoji_rows if not m.endswith("frozen")]:
            for space in ("encoder", "pixels"):
                b = row_result(results, f"emoji-{m}")[f"nearest_{space}"]
                lines.append(
                    f"{f'nearest neighbour ({space}, {m} run)':<28} {b['bleu1']:6.2f}  {b['bleu4']:6.2f}  "
                    f"{b['cider']:5.2f}  {b['exact_match']:.3f}"
                )
        nn = (row_result(results, "emoji-soft") or {}).get("nearest_encoder", {}).get("bleu4")
        for label, soft_row, show_tell_row in (
            ("encoders trained end to end", "emoji-soft", "emoji-show-tell"),
            ("decoders on emoji-soft's frozen encoder", "emoji-soft-frozen", "emoji-show-tell-frozen"),
        ):
            soft_result, show_tell_result = row_result(results, soft_row), row_result(results, show_tell_row)
            if nn is not None and soft_result and show_tell_result:
                soft, show_tell = soft_result["bleu4"], show_tell_result["bleu4"]
                verdict = "yes" if soft > show_tell > nn else "NO"
                lines.append(
                    f"target BLEU-4 soft > show-tell > nearest neighbour (emoji-soft's encoder), {label}: "
                    f"{soft:.2f} > {show_tell:.2f} > {nn:.2f}: {verdict}"
                )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", default=",".join(ROWS))
    parser.add_argument(
        "--cpu-minutes",
        type=float,
        default=12.0,
        help="CPU-time budget per caption training (train.cpu_minutes; the issue allows 15)",
    )
    parser.add_argument("--minutes", type=float, default=60.0, help="wall-clock cap per caption training")
    parser.add_argument(
        "--encoder-cpu-minutes",
        type=float,
        default=15.0,
        help="CPU-time budget of the scenes' encoder (train.cpu_minutes; the issue allows 15)",
    )
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--set", action="append", default=[], metavar="ROW:section.key=value")
    parser.add_argument("--fresh", action="store_true", help="start the results file over")
    parser.add_argument(
        "--variant",
        help="an experiment: rows go to ROW@VARIANT (run folder and results key), apart from the table's",
    )
    parser.add_argument("--table", action="store_true", help="print the table of the saved results only")
    parser.add_argument(
        "--rescore",
        action="store_true",
        help="score the saved scenes runs again (test metrics) without training",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / "captioning.json"
    if args.fresh and not (args.table or args.rescore):
        path.unlink(missing_ok=True)
    saved = {} if not path.is_file() else json.loads(path.read_text())
    results = saved.get("results", {})
    if args.table:
        print(table(results))
        return
    rows = [ALIASES.get(r, r) for r in args.only.split(",")]
    if args.rescore:
        for row in [r for r in rows if r.startswith("scenes-") and row_result(results, r)]:
            results[row] = row_result(results, row)  # saved under an old name: now under today's
            results[row].update(score_scenes(Path(results[row]["run"]), results))
        path.write_text(json.dumps({**saved, "results": results}, indent=1))
        print(table(results))
        return
    sets: dict[str, list[str]] = {}
    for item in args.set:
        row, _, override = item.partition(":")
        sets.setdefault(ALIASES.get(row, row), []).append(override)
    # data first, before any clock starts
    if any(r.startswith("scenes") or r == "encoder" for r in rows):
        load_image_data("fashion-mnist")
        make_scenes(progress=False)
    if any(r.startswith("emoji") for r in rows):
        fetch_emoji(progress=False)

    def save(row: str | None) -> None:
        """Write `row` (None: only the scenes' grids) into the results file as it is on disk now
        (another run of this script may have added rows since this one started)."""
        machine = {
            "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
            "torch": torch.__version__,
            "threads": args.threads,
        }
        on_disk = json.loads(path.read_text()).get("results", {}) if path.is_file() else {}
        if row is not None:
            on_disk[row] = results[row]
        if row is None or row.startswith("scenes"):
            on_disk["features"] = results.get("features", on_disk.get("features"))
        path.write_text(json.dumps({"machine": machine, "results": on_disk}, indent=1))

    budget = (args.cpu_minutes, args.minutes)
    for row in rows:
        if row not in ROWS:
            raise SystemExit(f"unknown row {row!r}; rows: {', '.join(ROWS)}")
        kind, _, decoder = row.partition("-")
        name = f"{row}@{args.variant}" if args.variant else row  # its run folder and results key
        if row == "encoder":
            encoder_budget = (args.encoder_cpu_minutes, args.minutes)
            results[name] = train_encoder(encoder_budget, args.threads, sets.get(row, []), name)
        elif kind == "scenes":
            if features_ready(results):  # on disk before any training: other processes share them
                save(None)
            results[name] = scenes_row(decoder, budget, args.threads, sets.get(row, []), results, name)
        else:
            results[name] = emoji_row(decoder, budget, args.threads, sets.get(row, []), name)
        save(name)
        print(f"{name}: done", flush=True)
        if args.variant:
            shown = {k: v for k, v in results[name].items() if isinstance(v, float)}
            print(json.dumps(shown, indent=1))
    print()
    print(table(results))
    print(
        f"\n{args.threads} thread(s) on {os.cpu_count()} cores; load is the 1-minute load average when the "
        f"row started. results: {path}"
    )


if __name__ == "__main__":
    main()
