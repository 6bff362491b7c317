"""Small helpers shared by the benchmark scripts (run as `python benchmarks/NAME.py`, so importable)."""

from __future__ import annotations

import resource

import yaml


def cpu_seconds() -> float:
    """CPU time of this process so far, user + system, all threads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def set_values(values: dict, overrides: list[str]) -> dict:
    """Apply `section.key=value` strings (YAML values) to a sparse nested dict, creating sections.

    Unlike `rnnlab.train.config.apply_overrides`, which checks every key against a full configuration,
    this fills a benchmark's partial flags that the model's defaults are merged under later.
    """
    for override in overrides:
        key, _, raw = override.partition("=")
        node = values
        *sections, last = key.split(".")
        for section in sections:
            node = node.setdefault(section, {})
        node[last] = yaml.safe_load(raw)
    return values
