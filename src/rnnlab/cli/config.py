"""What every command shares: one-line argparse errors, and one way from flags to a run config.

A run's configuration is resolved once, the same way for every `rnnlab train TASK`:

    defaults (the task's, or the saved config when resuming) <- --config FILE <- flags <- --set k=v
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import UserError

BUDGET = ("steps", "epochs", "minutes", "cpu_minutes")


class Parser(argparse.ArgumentParser):
    """argparse whose errors are one line, `error: ...`, exit status 2."""

    def error(self, message: str) -> None:  # noqa: D401
        self.exit(2, f"error: {self.prog}: {message} (see --help)\n")


def _nested(path: tuple[str, ...], value) -> dict:
    out = value
    for part in reversed(path):
        out = {part: out}
    return out


def config_from_args(args, task: str, config_cls, flags: dict[str, tuple[str, ...]], *,
                     extra: dict[tuple[str, ...], object] | None = None, defaults: dict | None = None,
                     budget: str = "steps"):
    """The typed run config of `rnnlab train TASK` from parsed arguments.

    `flags` maps an argparse destination to its configuration key path (("model", "hidden")); `extra`
    adds values that do not come from one flag. `defaults` replaces `to_dict(config_cls())` (a task
    whose defaults depend on a choice, like the image model). `budget`: "steps" — a wall or CPU budget
    given without --steps clears the default step count; "replace" — any budget flag replaces all four
    budget keys (--minutes alone: no epoch limit).
    """
    from ..train.checkpoint import load_checkpoint, prepare_run_folder
    from ..train.config import apply_overrides, from_dict, load_yaml, merge, to_dict, upgrade_layout

    values = upgrade_layout(config_cls, load_yaml(args.config)) if getattr(args, "config", None) else {}
    pairs = [(path, getattr(args, flag, None)) for flag, path in flags.items()]
    for path, value in [*pairs, *(extra or {}).items()]:
        if value is not None:
            values = merge(values, _nested(path, value))
    given = {key: getattr(args, key, None) for key in BUDGET}
    if budget == "replace" and any(v is not None for v in given.values()):
        values = merge(values, {"train": given})
    elif budget == "steps" and given["steps"] is None and (
        given["minutes"] is not None or given["cpu_minutes"] is not None
    ):
        values = merge(values, {"train": {"steps": None}})  # --steps N | --minutes M | --cpu-minutes M
    if getattr(args, "no_progress", False):
        values = merge(values, {"train": {"progress": False}})
    if getattr(args, "resume", False):
        out = Path(args.out)
        prepare_run_folder(out, resume=True, force=False)
        saved = upgrade_layout(config_cls, load_checkpoint(out, "last", task=task).document["config"])
        base = merge(saved, values)
    else:
        base = merge(defaults if defaults is not None else to_dict(config_cls()), values)
    if not isinstance(base, dict):
        raise UserError("the configuration must be a mapping of sections.")
    return from_dict(config_cls, apply_overrides(base, list(getattr(args, "set", []) or [])))
