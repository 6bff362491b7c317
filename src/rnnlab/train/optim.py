"""Optimizers by the course's names, learning-rate schedules, and gradient clipping."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..errors import UserError

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw")
SCHEDULES = ("constant", "step", "exponential", "inverse-time", "cosine", "plateau")


@dataclass
class OptimConfig:
    name: str = "adam"  # sgd | momentum | nesterov | adagrad | rmsprop | adam | adamw
    lr: float = 3e-3  # peak learning rate
    momentum: float = 0.9  # for momentum / nesterov / rmsprop
    beta1: float = 0.9  # Adam's first-moment decay
    beta2: float = 0.999  # Adam's second-moment decay
    eps: float = 1e-8
    weight_decay: float = 0.0  # L2 penalty (decoupled for adamw)

    def __post_init__(self) -> None:
        if self.name not in OPTIMIZERS:
            raise UserError(f"optim.name {self.name!r} is unknown; choose one of {', '.join(OPTIMIZERS)}.")
        if not self.lr > 0:
            raise UserError(f"optim.lr must be greater than 0 (got {self.lr!r}).")
        if self.weight_decay < 0 or not 0 <= self.momentum < 1:
            raise UserError("optim.weight_decay must be ≥ 0 and optim.momentum in [0, 1).")
        if not (0 <= self.beta1 < 1 and 0 <= self.beta2 < 1 and self.eps > 0):
            raise UserError("optim.beta1 and optim.beta2 must be in [0, 1) and optim.eps > 0.")


@dataclass
class ScheduleConfig:
    name: str = "cosine"  # constant | step | exponential | inverse-time | cosine | plateau
    warmup: int = 100  # steps of linear warm-up from 0 (cosine and constant)
    min_lr: float = 0.05  # cosine floor, as a fraction of the peak
    step_size: int = 1000  # step: multiply by gamma every step_size steps
    gamma: float = 0.5  # step / exponential (per step_size steps) / plateau factor
    k: float = 1e-3  # inverse-time: lr = lr0 / (1 + k·t)
    patience: int = 2  # plateau: evaluations without improvement before lowering

    def __post_init__(self) -> None:
        if self.name not in SCHEDULES:
            raise UserError(f"schedule.name {self.name!r} is unknown; choose one of {', '.join(SCHEDULES)}.")
        if self.warmup < 0 or self.step_size < 1 or self.patience < 0:
            raise UserError("schedule.warmup and schedule.patience must be ≥ 0, schedule.step_size ≥ 1.")
        if not (0 < self.gamma <= 1 and 0 <= self.min_lr <= 1 and self.k >= 0):
            raise UserError("schedule.gamma must be in (0, 1], schedule.min_lr in [0, 1], schedule.k ≥ 0.")


def make_optimizer(params, config: OptimConfig) -> torch.optim.Optimizer:
    """The optimizer named in the config: the update rules of the course's lecture 7."""
    lr, wd = config.lr, config.weight_decay
    match config.name:
        case "sgd":
            return torch.optim.SGD(params, lr=lr, weight_decay=wd)
        case "momentum":
            return torch.optim.SGD(params, lr=lr, momentum=config.momentum, weight_decay=wd)
        case "nesterov":
            return torch.optim.SGD(params, lr=lr, momentum=config.momentum, nesterov=True, weight_decay=wd)
        case "adagrad":
            return torch.optim.Adagrad(params, lr=lr, eps=config.eps, weight_decay=wd)
        case "rmsprop":
            return torch.optim.RMSprop(params, lr=lr, alpha=0.99, eps=config.eps, weight_decay=wd)
        case "adam":
            return torch.optim.Adam(params, lr=lr, betas=(config.beta1, config.beta2), eps=config.eps,
                                    weight_decay=wd)
        case "adamw":
            return torch.optim.AdamW(params, lr=lr, betas=(config.beta1, config.beta2), eps=config.eps,
                                     weight_decay=wd)
    raise AssertionError(config.name)


class Schedule:
    """Learning-rate multiplier as a function of training progress.

    `factor(step, progress)` returns the multiplier of the peak LR; `progress` in [0, 1] is the
    fraction of the run's budget spent (steps, or wall-clock minutes when the run is timed), so
    cosine decay ends at the budget whichever way it is given. Reduce-on-plateau is the only
    schedule with state, updated by `observe(val_loss)` after each evaluation.
    """

    def __init__(self, config: ScheduleConfig) -> None:
        self.config = config
        self.plateau_scale = 1.0
        self.best = math.inf
        self.bad_evals = 0

    def factor(self, step: int, progress: float) -> float:
        c = self.config
        warm = min(1.0, (step + 1) / c.warmup) if c.warmup > 0 else 1.0
        match c.name:
            case "constant":
                return warm
            case "step":
                return c.gamma ** (step // c.step_size)
            case "exponential":
                return c.gamma ** (step / c.step_size)
            case "inverse-time":
                return 1.0 / (1.0 + c.k * step)
            case "cosine":
                p = min(max(progress, 0.0), 1.0)
                return warm * (c.min_lr + (1 - c.min_lr) * 0.5 * (1 + math.cos(math.pi * p)))
            case "plateau":
                return warm * self.plateau_scale
        raise AssertionError(c.name)

    def observe(self, val_loss: float) -> None:
        if self.config.name != "plateau":
            return
        if val_loss < self.best - 1e-4:
            self.best, self.bad_evals = val_loss, 0
        else:
            self.bad_evals += 1
            if self.bad_evals > self.config.patience:
                self.plateau_scale *= self.config.gamma
                self.bad_evals = 0

    def state_dict(self) -> dict:
        return {"plateau_scale": self.plateau_scale, "best": self.best, "bad_evals": self.bad_evals}

    def load_state_dict(self, state: dict) -> None:
        self.plateau_scale = float(state["plateau_scale"])
        self.best = float(state["best"])
        self.bad_evals = int(state["bad_evals"])


def clip_gradients(parameters, max_norm: float | None, max_value: float | None = None) -> float:
    """Clip by value (optional), then by global L2 norm; return the norm before norm-clipping.

    The global norm is ‖g‖ = sqrt(Σ_i ‖g_i‖²) over all parameters, and when ‖g‖ > max_norm every
    gradient is scaled by max_norm / ‖g‖: the direction is kept, the step bounded. (The lecture
    notes' snippet compares the *squared* norm with the threshold, which clips far too late for
    norms above 1; we compare the norm itself.)
    """
    params = [p for p in parameters if p.grad is not None]
    if max_value is not None:
        torch.nn.utils.clip_grad_value_(params, max_value)
    total = torch.nn.utils.clip_grad_norm_(params, max_norm if max_norm is not None else math.inf)
    return float(total)
