"""First-order update rules with the CS231n signature `update(w, dw, config) -> (next_w, config)`.

`config` is a dict holding the hyperparameters and the rule's running state (velocity, squared
gradient cache, moments). Missing entries get the defaults below on the first call; pass the
returned config back on the next call for the same parameter. Each parameter needs its own config.

    sgd           w ← w - α dw
    sgd_momentum  v ← ρ v - α dw;                 w ← w + v
    nesterov      v_prev = v; v ← ρ v - α dw;    w ← w - ρ v_prev + (1 + ρ) v
    adagrad       s ← s + dw²;                    w ← w - α dw / (√s + ε)
    rmsprop       s ← β s + (1 - β) dw²;          w ← w - α dw / (√s + ε)
    adam          t ← t + 1;  m ← β₁ m + (1 - β₁) dw;  v ← β₂ v + (1 - β₂) dw²
                  m̂ = m / (1 - β₁ᵗ);  v̂ = v / (1 - β₂ᵗ);  w ← w - α m̂ / (√v̂ + ε)

The lecture writes momentum as v ← ρ v + dw, w ← w - α v; with a constant α that is the same update
with v scaled by -α. Nesterov is written in the "look-ahead" change of variables x̃ = x + ρ v, so it
only needs the gradient at the current parameters. Adam's bias correction matters early on: the
moments start at zero, and without dividing by (1 - βᵗ) the first steps would be far too small
(for v) or too large (ratio of two biased moments), most of all with β₂ = 0.999.
"""

from __future__ import annotations

from typing import Any

import numpy as np

Config = dict[str, Any]


def sgd(w: np.ndarray, dw: np.ndarray, config: Config | None = None) -> tuple[np.ndarray, Config]:
    """Vanilla stochastic gradient descent. config: learning_rate (1e-2)."""
    config = {} if config is None else config
    config.setdefault("learning_rate", 1e-2)
    return w - config["learning_rate"] * dw, config


def sgd_momentum(w: np.ndarray, dw: np.ndarray, config: Config | None = None) -> tuple[np.ndarray, Config]:
    """SGD with momentum. config: learning_rate (1e-2), momentum ρ (0.9), velocity (zeros)."""
    config = {} if config is None else config
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("momentum", 0.9)
    v = config.get("velocity", np.zeros_like(w))
    v = config["momentum"] * v - config["learning_rate"] * dw
    config["velocity"] = v
    return w + v, config


def nesterov(w: np.ndarray, dw: np.ndarray, config: Config | None = None) -> tuple[np.ndarray, Config]:
    """Nesterov momentum in the look-ahead form. config: learning_rate (1e-2), momentum (0.9), velocity."""
    config = {} if config is None else config
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("momentum", 0.9)
    rho = config["momentum"]
    v_prev = config.get("velocity", np.zeros_like(w))
    v = rho * v_prev - config["learning_rate"] * dw
    config["velocity"] = v
    return w - rho * v_prev + (1 + rho) * v, config


def adagrad(w: np.ndarray, dw: np.ndarray, config: Config | None = None) -> tuple[np.ndarray, Config]:
    """AdaGrad. config: learning_rate (1e-2), epsilon (1e-8), cache Σ dw² (zeros)."""
    config = {} if config is None else config
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("epsilon", 1e-8)
    cache = config.get("cache", np.zeros_like(w)) + dw * dw
    config["cache"] = cache
    return w - config["learning_rate"] * dw / (np.sqrt(cache) + config["epsilon"]), config


def rmsprop(w: np.ndarray, dw: np.ndarray, config: Config | None = None) -> tuple[np.ndarray, Config]:
    """RMSProp. config: learning_rate (1e-2), decay_rate β (0.99), epsilon (1e-8), cache (zeros)."""
    config = {} if config is None else config
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("decay_rate", 0.99)
    config.setdefault("epsilon", 1e-8)
    beta = config["decay_rate"]
    cache = beta * config.get("cache", np.zeros_like(w)) + (1 - beta) * dw * dw
    config["cache"] = cache
    return w - config["learning_rate"] * dw / (np.sqrt(cache) + config["epsilon"]), config


def adam(w: np.ndarray, dw: np.ndarray, config: Config | None = None) -> tuple[np.ndarray, Config]:
    """Adam with bias correction.

    config: learning_rate (1e-3), beta1 (0.9), beta2 (0.999), epsilon (1e-8), and the state
    m, v (zeros) and step count t (0; incremented before use, so the first step has t = 1).
    """
    config = {} if config is None else config
    config.setdefault("learning_rate", 1e-3)
    config.setdefault("beta1", 0.9)
    config.setdefault("beta2", 0.999)
    config.setdefault("epsilon", 1e-8)
    beta1, beta2 = config["beta1"], config["beta2"]
    t = config.get("t", 0) + 1
    m = beta1 * config.get("m", np.zeros_like(w)) + (1 - beta1) * dw  # first moment (momentum)
    v = beta2 * config.get("v", np.zeros_like(w)) + (1 - beta2) * dw * dw  # second moment (RMSProp)
    m_hat = m / (1 - beta1**t)  # bias correction: both moments start at zero
    v_hat = v / (1 - beta2**t)
    config["t"], config["m"], config["v"] = t, m, v
    return w - config["learning_rate"] * m_hat / (np.sqrt(v_hat) + config["epsilon"]), config


#: update rules by name, as the solvers look them up
UPDATE_RULES = {
    "sgd": sgd,
    "sgd_momentum": sgd_momentum,
    "nesterov": nesterov,
    "adagrad": adagrad,
    "rmsprop": rmsprop,
    "adam": adam,
}
