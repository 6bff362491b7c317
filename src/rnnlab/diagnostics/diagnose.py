"""`rnnlab diagnose RUN`: read a run's curves the way the notes' "babysitting" section does.

The CS231n summary (notes 002, "babysitting learning process" and "results analysis") reads curves so:

- loss barely moves: the learning rate is too low;
- loss explodes (NaN, or "cost > 3 × original cost"): the learning rate is too high;
- a long flat start, then a sudden drop: bad initialisation;
- training loss keeps falling while validation loss does not, a growing gap: overfitting, so
  increase regularisation (dropout, weight decay), get more data, or stop early;
- no gap at all between training and validation: underfitting, so increase the model's capacity.

Each rule below is one function over the logged events; each returns a `Finding` with the numbers
behind the verdict, so a user can check the reasoning rather than trust it. The thresholds are module
constants with a comment each; they are rules of thumb, not laws.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from ..runlog import read_metrics

#: the notes' rule for hyperparameter searches: stop a run whose cost exceeds 3 × the original cost
EXPLODE_FACTOR = 3.0
#: a training loss that fell by less than this fraction of its first value has not really moved
FLAT_FRACTION = 0.02
#: plateau then drop: the first 10% of the eventual drop arrives only after this fraction of the run...
PLATEAU_FRACTION = 0.2
#: ...and the eventual drop is at least this fraction of the starting loss (a real drop, not noise)
PLATEAU_MIN_DROP = 0.1
#: overfitting: the validation-minus-training gap grew by at least this fraction of the validation loss
GAP_GROWTH = 0.05
#: or the validation loss rose this fraction above its best while the training loss kept falling
VAL_RISE = 0.02
#: "no gap": a final gap smaller than this fraction of the validation loss
NO_GAP = 0.02
#: still improving: the training loss fell by more than this fraction over the last quarter of the run
STILL_IMPROVING = 0.02


@dataclass
class Finding:
    """One verdict about a run: a short key, a sentence of advice, and the numbers behind it."""

    verdict: str  # exploding | flat | plateau-then-drop | overfitting | underfitting | healthy | too-short
    advice: str
    evidence: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"verdict": self.verdict, "advice": self.advice, "evidence": self.evidence}


def _series(events: list[dict], split: str) -> tuple[list[int], list[float]]:
    points = sorted((int(e["step"]), float(e["loss"])) for e in events
                    if e.get("split") == split and "loss" in e and "step" in e)
    return [s for s, _ in points], [v for _, v in points]


def _finite(values: list[float]) -> list[float]:
    return [v for v in values if math.isfinite(v)]


def _smooth_tail(values: list[float], n: int = 3) -> float:
    """The mean of the last n finite values: less noisy than the last one alone."""
    tail = _finite(values)[-n:]
    return sum(tail) / len(tail) if tail else math.nan


def _lr_range(events: list[dict]) -> dict:
    lrs = [float(e["lr"]) for e in events if e.get("split") == "train" and "lr" in e]
    return {"lr_first": lrs[0], "lr_max": max(lrs), "lr_last": lrs[-1]} if lrs else {}


def check_exploding(steps: list[int], losses: list[float], events: list[dict]) -> Finding | None:
    """NaN/inf, or the loss above EXPLODE_FACTOR × its first value, or ending above where it began."""
    first = losses[0]
    bad = [(s, v) for s, v in zip(steps, losses) if not math.isfinite(v)]
    peak_step, peak = max(zip(steps, losses), key=lambda p: p[1] if math.isfinite(p[1]) else -math.inf)
    numbers = {"first_loss": first, "max_loss": peak, "max_at_step": peak_step, **_lr_range(events)}
    if bad:
        numbers.update(non_finite_at_step=bad[0][0], non_finite_events=len(bad))
        return Finding("exploding", f"the loss became {bad[0][1]} at step {bad[0][0]}: the learning rate is "
                       "too high (or gradients exploded); lower it 3-10× or clip the gradient norm.", numbers)
    if first > 0 and peak > EXPLODE_FACTOR * first:
        return Finding("exploding", f"the loss rose to {peak:.4g} at step {peak_step}, more than "
                       f"{EXPLODE_FACTOR:g}× its first value {first:.4g}: the learning rate is too high; "
                       "lower it 3-10× or clip the gradient norm.", numbers)
    last = _smooth_tail(losses)
    if len(losses) >= 4 and last > first * (1 + FLAT_FRACTION) and last >= min(losses) * 1.2:
        numbers["last_loss"] = last
        return Finding("exploding", f"the loss ends at {last:.4g}, above its first value {first:.4g}: "
                       "training is diverging; the learning rate is too high.", numbers)
    return None


def check_flat(steps: list[int], losses: list[float], events: list[dict]) -> Finding | None:
    """The training loss fell by less than FLAT_FRACTION of its first value."""
    first, last = losses[0], _smooth_tail(losses)
    change = (first - last) / abs(first) if first else 0.0
    if change < FLAT_FRACTION:
        return Finding("flat", f"the training loss barely moved ({first:.4g} -> {last:.4g}, "
                       f"{100 * change:.1f}% over {steps[-1] - steps[0]} steps): the learning rate is too "
                       "low; try 10× larger.",
                       {"first_loss": first, "last_loss": last, "relative_drop": change, **_lr_range(events)})
    return None


def check_plateau(steps: list[int], losses: list[float]) -> Finding | None:
    """Flat near the start for PLATEAU_FRACTION of the run, then a real drop: bad initialisation."""
    if len(losses) < 8:
        return None
    first, best = losses[0], min(losses)
    drop = first - best
    if drop < PLATEAU_MIN_DROP * abs(first):
        return None
    # where the loss first gets 10% of the way down to its best
    onset = next(i for i, v in enumerate(losses) if v <= first - 0.1 * drop)
    span = steps[-1] - steps[0]
    fraction = (steps[onset] - steps[0]) / span if span else 0.0
    if fraction < PLATEAU_FRACTION:
        return None
    plateau = losses[:onset]
    return Finding("plateau-then-drop", f"the loss sat near {first:.4g} for {steps[onset] - steps[0]} steps "
                   f"({100 * fraction:.0f}% of the run) before dropping to {best:.4g}: a sign of bad "
                   "initialisation; check the weight scales (Xavier/He, orthogonal W_hh, forget-gate bias).",
                   {"plateau_steps": steps[onset] - steps[0], "plateau_fraction": fraction,
                    "plateau_loss_range": [min(plateau), max(plateau)], "drop_at_step": steps[onset],
                    "best_loss": best})


def train_near(step: int, train_steps: list[int], train_losses: list[float], n: int = 3) -> float:
    """The mean of the last n training losses logged at or before `step` (nan if none)."""
    before = [v for s, v in zip(train_steps, train_losses) if s <= step and math.isfinite(v)][-n:]
    return sum(before) / len(before) if before else math.nan


def gaps(events: list[dict]) -> list[dict]:
    """Validation minus training loss at each validation event: [{step, train, val, gap}]."""
    train_steps, train_losses = _series(events, "train")
    rows = []
    for step, val in zip(*_series(events, "val")):
        train = train_near(step, train_steps, train_losses)
        if math.isfinite(train) and math.isfinite(val):
            rows.append({"step": step, "train": train, "val": val, "gap": val - train})
    return rows


def check_gap(events: list[dict], train_losses: list[float]) -> Finding | None:
    """Overfitting (a growing gap or a rising validation loss), underfitting (no gap), or healthy."""
    rows = gaps(events)
    if len(rows) < 2:
        return None
    first, last = rows[0], rows[-1]
    best = min(rows, key=lambda r: r["val"])
    scale = abs(last["val"]) or 1.0
    growth = (last["gap"] - first["gap"]) / scale
    val_rise = (last["val"] - best["val"]) / (abs(best["val"]) or 1.0)
    train_fell = last["train"] < best["train"]
    numbers = {"gap_first": first["gap"], "gap_last": last["gap"], "gap_first_step": first["step"],
               "gap_last_step": last["step"], "val_best": best["val"], "val_best_step": best["step"],
               "val_last": last["val"], "train_last": last["train"]}
    if (growth > GAP_GROWTH and last["gap"] > NO_GAP * scale) or (val_rise > VAL_RISE and train_fell):
        return Finding("overfitting", f"the gap between validation and training loss grew from "
                       f"{first['gap']:.4g} (step {first['step']}) to {last['gap']:.4g} "
                       f"(step {last['step']}), and the validation loss is {last['val']:.4g} against its "
                       f"best {best['val']:.4g} at step {best['step']}: the model is overfitting; add "
                       "regularisation (dropout, weight decay), get more data, or keep the best checkpoint "
                       "(early stopping).", numbers)
    if abs(last["gap"]) < NO_GAP * scale:
        quarter = _finite(train_losses)[-max(2, len(train_losses) // 4):]
        improving = (quarter[0] - quarter[-1]) / (abs(quarter[0]) or 1.0)
        numbers["train_drop_last_quarter"] = improving
        more = ""
        if improving > STILL_IMPROVING:
            more = (" It is also still improving (the training loss fell "
                    f"{100 * improving:.1f}% over the last quarter): train longer too.")
        return Finding("underfitting", f"there is no gap between validation ({last['val']:.4g}) and training "
                       f"({last['train']:.4g}) loss: the model is underfitting; give it more capacity (more "
                       "hidden units or layers) or less regularisation." + more, numbers)
    return Finding("healthy", f"the validation loss {last['val']:.4g} sits a little above the training loss "
                   f"{last['train']:.4g} (gap {last['gap']:.4g}) and the gap is not growing: nothing to fix "
                   "in these curves.", numbers)


def diagnose(events: list[dict]) -> list[Finding]:
    """Every finding that applies to a run's logged events (see the module docstring)."""
    steps, losses = _series(events, "train")
    if len(losses) < 3:
        return [Finding("too-short", f"only {len(losses)} training losses are logged; train longer (or log "
                        "more often) before reading the curves.", {"train_events": len(losses)})]
    findings = []
    exploding = check_exploding(steps, losses, events)
    if exploding:  # after an explosion the other curves mean nothing
        return [exploding]
    flat = check_flat(steps, losses, events)
    if flat:
        return [flat]
    plateau = check_plateau(steps, losses)
    if plateau:
        findings.append(plateau)
    gap = check_gap(events, losses)
    if gap:
        findings.append(gap)
    if not findings:
        findings.append(Finding("healthy", f"the training loss fell from {losses[0]:.4g} to "
                                f"{_smooth_tail(losses):.4g}; no validation losses are logged to judge "
                                "over- or underfitting.", {"first_loss": losses[0],
                                                            "last_loss": _smooth_tail(losses)}))
    return findings


def diagnose_run(run: str | Path) -> list[Finding]:
    """Read RUN/metrics.jsonl (or a metrics file) and diagnose it."""
    return diagnose(read_metrics(Path(run)))


def format_findings(run: str | Path, findings: list[Finding]) -> str:
    lines = [f"{run}:"]
    for finding in findings:
        lines.append(f"  [{finding.verdict}] {finding.advice}")
        numbers = ", ".join(f"{k}={_fmt(v)}" for k, v in finding.evidence.items())
        lines.append(f"      ({numbers})")
    return "\n".join(lines)


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return "[" + ", ".join(_fmt(v) for v in value) + "]"
    return str(value)
