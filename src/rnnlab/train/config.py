"""Typed run configuration: dataclass sections, YAML files and `--set section.key=value` overrides.

A run's configuration is resolved once — defaults, then a `--config` file, then command-line flags
and `--set` overrides, in that order — validated in each section's `__post_init__`, and written as
`config.yaml` into the run folder and into every checkpoint.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass
from pathlib import Path

import yaml

from ..errors import UserError


@dataclass
class TrainConfig:
    """The `train` section of every task (the language model's defaults; the other tasks' sections
    below change only defaults). A few keys concern one kind of task and are marked so."""

    steps: int | None = 4000  # total optimizer steps (a resumed run continues up to this)
    epochs: float | None = None  # passes over the training data; with steps/minutes, whichever ends first
    minutes: float | None = None  # wall-clock budget; with both set, whichever ends first
    # CPU-time budget: seconds this process computes, all threads counted (under DDP, rank 0's clock
    # decides). On a shared machine it does not shrink when other jobs take the cores.
    cpu_minutes: float | None = None
    seed: int = 1
    eval_every: int = 250  # validate every N steps (0: only at the end; image runs: once per epoch)
    eval_tokens: int = 200_000  # lm: at most this many validation tokens per evaluation (0: all)
    final_eval_tokens: int = 1_000_000  # lm: at most this many at the end of the run (0: all)
    eval_limit: int = 0  # classify/tag/seq2seq/caption: at most this many validation examples (0: all)
    save_every: int = 250  # write the `last` checkpoint every N steps
    log_every: int = 10  # one train event in metrics.jsonl per N steps (losses averaged)
    clip_norm: float | None = 5.0  # global L2-norm gradient clipping (None: off)
    clip_value: float | None = None  # elementwise clipping to [-v, v] before the norm (None: off)
    overfit: int = 0  # train on the first N batches (lm) or examples only: the loss must reach ~0
    early_stopping: int = 0  # stop after N evaluations without improvement (0: off)
    # A loss that is not finite or above explode_factor × the initial loss, or a gradient norm that is
    # not finite: rollback (to the last checkpoint, with a halved LR, at most max_rollbacks times),
    # stop (keep the last checkpoint) or error. None: the task's default (lm rollback, image stop,
    # classify/tag/seq2seq/caption error).
    on_divergence: str | None = None
    max_rollbacks: int = 3
    explode_factor: float | None = 3.0  # None: only a loss that is not finite counts as divergence
    precision: str = "fp32"  # fp32 | bf16 (autocast) | auto (bf16 where the hardware has it)
    threads: int = 0  # torch CPU threads per process (0: the cores, shared among local ranks)
    device: str = "auto"  # auto | cpu | cuda (auto: this rank's GPU if there is one)
    snapshots: int = 0  # image: keep the weights of the last N evaluations in RUN/snapshots/
    progress: bool = True  # tqdm progress bar on stderr

    def __post_init__(self) -> None:
        if self.steps is None and self.epochs is None and self.minutes is None and self.cpu_minutes is None:
            raise UserError("train.steps, train.epochs, train.minutes or train.cpu_minutes must be given.")
        if self.steps is not None and (not isinstance(self.steps, int) or self.steps < 1):
            raise UserError(f"train.steps must be a positive integer (got {self.steps!r}).")
        for name in ("epochs", "minutes", "cpu_minutes"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise UserError(f"train.{name} must be greater than 0 (got {value!r}).")
        for name in ("eval_every", "save_every", "overfit", "early_stopping", "max_rollbacks", "threads",
                     "eval_tokens", "final_eval_tokens", "eval_limit", "snapshots"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 0:
                raise UserError(f"train.{name} must be a non-negative integer (got {value!r}).")
        if not isinstance(self.log_every, int) or self.log_every < 1:
            raise UserError(f"train.log_every must be a positive integer (got {self.log_every!r}).")
        for name in ("clip_norm", "clip_value"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise UserError(f"train.{name} must be greater than 0 or null (got {value!r}).")
        if self.precision not in ("fp32", "bf16", "auto"):
            raise UserError(f"train.precision must be fp32, bf16 or auto (got {self.precision!r}).")
        if self.on_divergence not in (None, "rollback", "stop", "error"):
            raise UserError(
                f"train.on_divergence must be rollback, stop or error (got {self.on_divergence!r})."
            )
        if self.explode_factor is not None and not self.explode_factor > 1:
            raise UserError(
                f"train.explode_factor must be greater than 1 or null (got {self.explode_factor!r})."
            )


@dataclass
class SupervisedTrainConfig(TrainConfig):
    """The `train` section of classify, tag, seq2seq and caption runs: TrainConfig, other defaults."""

    steps: int | None = 3000
    explode_factor: float | None = None  # only a loss that is not finite is divergence (an error)


@dataclass
class ImageTrainConfig(TrainConfig):
    """The `train` section of image runs: TrainConfig with epochs as the length, evaluated each epoch."""

    steps: int | None = None
    epochs: float | None = 10
    eval_every: int = 0  # validate every N steps (0: once per epoch)
    save_every: int = 0  # extra `last` checkpoints every N steps (0: at evaluations only)
    log_every: int = 50  # one train event per N steps and per epoch (averaged)
    clip_norm: float | None = None


# ---- dict <-> dataclass ---------------------------------------------------------------------


def to_dict(config) -> dict:
    """A plain, YAML/JSON-able dict of a config."""
    return dataclasses.asdict(config)


def from_dict(cls, values: dict, where: str = ""):
    """Build dataclass `cls` from a nested dict, with a clear error for unknown keys or types."""
    if not isinstance(values, dict):
        raise UserError(f"configuration section {where or cls.__name__} must be a mapping.")
    values = _upgraded(cls, values)
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = set(values) - known
    if unknown:
        raise UserError(f"unknown configuration key {_join(where, sorted(unknown)[0])}; "
                        f"known keys here: {', '.join(sorted(known))}.")
    kwargs = {}
    for name, value in values.items():
        kwargs[name] = _coerce(hints[name], value, _join(where, name))
    return cls(**kwargs)


def _upgraded(cls, values: dict) -> dict:
    """`values` read through `cls.upgrade_values` where the section defines one (a section whose
    layout changed reads what older run folders and config files hold)."""
    hook = getattr(cls, "upgrade_values", None)
    return hook(values) if callable(hook) else values


def upgrade_layout(cls, values):
    """A (partial) nested dict for dataclass `cls` with every section that changed its layout in
    today's: apply before merging an older dict (a saved config, a --config file) with today's
    defaults, so that old and new keys of one section never meet in the merge."""
    if not isinstance(values, dict) or not dataclasses.is_dataclass(cls):
        return values
    values = _upgraded(cls, values)
    hints = typing.get_type_hints(cls)
    return {
        name: upgrade_layout(hints[name], value) if name in hints and dataclasses.is_dataclass(hints[name])
        else value
        for name, value in values.items()
    }


def _join(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


def _coerce(hint, value, where: str):
    """Check and convert one value to its annotated type (int, float, str, bool, lists, Optional)."""
    if dataclasses.is_dataclass(hint):
        return from_dict(hint, value, where)
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null")):
            return None
        return _coerce(options[0], value, where)
    if origin is list:
        (item,) = typing.get_args(hint)
        if isinstance(value, str):
            value = [v for v in value.replace(",", " ").split() if v]
        if not isinstance(value, list | tuple):
            raise UserError(f"{where} must be a list (got {value!r}).")
        return [_coerce(item, v, where) for v in value]
    try:
        if hint is bool:
            if isinstance(value, bool):
                return value
            if str(value).lower() in ("true", "yes", "1", "on"):
                return True
            if str(value).lower() in ("false", "no", "0", "off"):
                return False
            raise ValueError
        if hint is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            return int(value)
        if hint is float:
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        if hint is str:
            return str(value)
    except (TypeError, ValueError):
        raise UserError(f"{where} must be of type {hint.__name__} (got {value!r}).") from None
    return value


def apply_overrides(values: dict, overrides: list[str]) -> dict:
    """Apply `section.key=value` strings (values parsed as YAML scalars) to a nested dict."""
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise UserError(f"--set expects section.key=value (got {item!r}).")
        parts = key.strip().split(".")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        node = values
        for part in parts[:-1]:
            if not isinstance(node.get(part), dict):
                raise UserError(f"--set {key}: there is no configuration section {part!r}.")
            node = node[part]
        if parts[-1] not in node:
            raise UserError(f"--set {key}: unknown configuration key; known keys here: "
                            f"{', '.join(sorted(node))}.")
        node[parts[-1]] = value
    return values


def merge(base: dict, update: dict) -> dict:
    """Recursively merge `update` into a copy of `base`."""
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def load_yaml(path: str | Path) -> dict:
    """Read a YAML configuration file into a dict, with one-line errors."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"config file {path} does not exist.")
    try:
        values = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise UserError(f"config file {path} is not valid YAML ({first}).") from None
    if not isinstance(values, dict):
        raise UserError(f"config file {path} must hold a mapping of sections (model:, data:, ...).")
    return values


def save_yaml(config, path: Path) -> None:
    path.write_text(yaml.safe_dump(to_dict(config), sort_keys=False), encoding="utf-8")


def __getattr__(name: str):
    """Deprecated names: the language model's run config moved to `rnnlab.tasks.lm` (one release)."""
    if name in ("LMRunConfig", "DataConfig"):
        from ..tasks import lm

        return getattr(lm, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
