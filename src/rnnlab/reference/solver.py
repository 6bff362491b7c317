"""A small solver for the numpy models: loss and gradients -> optional clipping -> update rule.

Any object with a `params` dict of arrays and a `loss(*batch) -> (loss, grads)` method (grads with
the same keys) can be trained: `CharRNN`, `CaptioningRNN`, or your own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol

import numpy as np

from rnnlab.reference.optim import UPDATE_RULES

UpdateRule = Callable[[np.ndarray, np.ndarray, dict[str, Any]], tuple[np.ndarray, dict[str, Any]]]


class NumpyModel(Protocol):
    params: dict[str, np.ndarray]

    def loss(self, *batch: Any) -> tuple[float, dict[str, np.ndarray]]: ...


def clip_global_norm(grads: dict[str, np.ndarray], max_norm: float) -> tuple[dict[str, np.ndarray], float]:
    """Rescale all gradients together so that their joint L2 norm is at most `max_norm`.

        norm = sqrt(Σ_p ‖g_p‖²);   if norm > max_norm:  g_p ← g_p · max_norm / norm

    Pitfall: the lecture notes' snippet compares the *squared* norm Σ g² with the threshold and
    scales by threshold / Σ g²; that clips far too early and too hard. Take the square root.

    Returns:
        the (possibly rescaled) gradients, as new arrays, and the norm before clipping.
    """
    norm = float(np.sqrt(sum(np.sum(g * g) for g in grads.values())))
    scale = max_norm / norm if norm > max_norm else 1.0
    return {name: g * scale for name, g in grads.items()}, norm


class Solver:
    """Trains a numpy model one batch at a time.

    Each parameter keeps its own copy of `optim_config`, because the update rules store per-parameter
    state (velocity, moments) in it.
    """

    def __init__(
        self,
        model: NumpyModel,
        update_rule: str | UpdateRule = "adam",
        optim_config: dict[str, Any] | None = None,
        clip_norm: float | None = None,
    ) -> None:
        """
        Args:
            model: has `params` and `loss(*batch) -> (loss, grads)`.
            update_rule: a name in `rnnlab.reference.optim.UPDATE_RULES` or a function with the
                signature update(w, dw, config) -> (next_w, config).
            optim_config: hyperparameters for the rule (e.g. {'learning_rate': 1e-2}).
            clip_norm: if given, clip the gradients' global norm to this value before each update.
        """
        if isinstance(update_rule, str):
            if update_rule not in UPDATE_RULES:
                raise ValueError(
                    f"Unknown update rule {update_rule!r}; choose one of {sorted(UPDATE_RULES)}."
                )
            update_rule = UPDATE_RULES[update_rule]
        self.model = model
        self.update_rule = update_rule
        self.clip_norm = clip_norm
        self.optim_configs = {name: dict(optim_config or {}) for name in model.params}
        self.loss_history: list[float] = []

    def step(self, *batch: Any) -> float:
        """One update on one batch; returns the loss before the update."""
        loss, grads = self.model.loss(*batch)
        if self.clip_norm is not None:
            grads, _ = clip_global_norm(grads, self.clip_norm)
        for name, w in self.model.params.items():
            next_w, self.optim_configs[name] = self.update_rule(w, grads[name], self.optim_configs[name])
            self.model.params[name] = next_w
        self.loss_history.append(float(loss))
        return float(loss)

    def train(self, batches: Iterable[tuple], num_steps: int) -> list[float]:
        """Take `num_steps` steps on batches drawn from `batches` (each a tuple of loss arguments)."""
        losses = []
        for _, batch in zip(range(num_steps), batches):
            losses.append(self.step(*batch))
        return losses
