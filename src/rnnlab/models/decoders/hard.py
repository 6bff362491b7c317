"""`hard`: Show, Attend and Tell with stochastic attention, trained with REINFORCE.

The soft decoder's attention (`rnnlab.models.decoders.soft`), but z_t = a_{s_t} with one location
s_t ~ Categorical(α_t) (no average). The sample is not differentiable, so the attention is trained
with REINFORCE on the paper's variational bound:

    ∂L/∂W ≈ −∂ log p(y | s, a)/∂W − λ_r (r − b) ∂ log p(s | a)/∂W − λ_e ∂H[α]/∂W

with the reward r = log p(y | s, a) (here per word: the mean over the caption, so that captions of
different lengths share one baseline; the paper sums), b a moving average of past rewards (a buffer
of the model, so it is checkpointed) and an entropy bonus λ_e H[α_t]. As in the paper, with
probability 0.5 an image uses the expected context Σ_l α_tl a_l (the soft one) instead of a sample.
Decoding uses the most probable location, argmax_l α_tl.

Section `model.hard`: the soft decoder's attention keys (gate, positions, coordinates, smooth,
context_in_cell, where_in_cell, image_h0) and `reinforce` (λ_r), `entropy` (λ_e), `baseline_decay`
(b ← decay · b + (1 − decay) · mean reward) and `expected_prob` (the probability that an image uses the
expected context instead of a sample).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor

from ...errors import UserError
from .base import CaptionOutput, CaptionState, DecoderShape
from .soft import AttentionConfig, AttentionDecoder


@dataclass
class HardConfig(AttentionConfig):
    """Section `model.hard`: the attention keys and REINFORCE's."""

    section: ClassVar[str] = "hard"
    reinforce: float = 1.0  # λ_r
    entropy: float = 0.01  # λ_e, the entropy bonus
    baseline_decay: float = 0.9  # b ← decay · b + (1 − decay) · mean reward
    expected_prob: float = 0.5  # probability that an image uses the expected context instead

    def __post_init__(self) -> None:
        super().__post_init__()
        if min(self.reinforce, self.entropy) < 0:
            raise UserError("model.hard.reinforce and model.hard.entropy must be ≥ 0.")
        if not 0.0 <= self.baseline_decay < 1.0:
            raise UserError(f"model.hard.baseline_decay must be in [0, 1) (got {self.baseline_decay!r}).")
        if not 0.0 <= self.expected_prob <= 1.0:
            raise UserError(f"model.hard.expected_prob must be in [0, 1] (got {self.expected_prob!r}).")


class HardDecoder(AttentionDecoder):
    """Hard attention: a sampled location in training, the most probable one in decoding."""

    name = "hard"
    Config: ClassVar[type] = HardConfig
    default_read = "argmax"

    def __init__(self, shape: DecoderShape, settings: HardConfig) -> None:
        super().__init__(shape, settings)
        # The moving-average reward baseline; buffers, so checkpoints hold them.
        self.register_buffer("reward_baseline", torch.zeros(()))
        self.register_buffer("baseline_ready", torch.zeros(()))

    def forward(
        self,
        state: CaptionState,
        captions_in: Tensor,
        how: str | None = None,
        expected: Tensor | None = None,
    ) -> CaptionOutput:
        """Samples locations in training mode (how="sample") and takes the argmax in evaluation mode,
        unless `how` says otherwise."""
        if how is None:
            how = "sample" if self.training else "argmax"
        if how == "sample" and expected is None:
            # the paper: with probability 0.5 an image uses the expected context (soft) this time
            B = captions_in.shape[0]
            expected = torch.rand(B, device=captions_in.device) < self.settings.expected_prob  # (B,)
        return super().forward(state, captions_in, how, expected)

    def penalties(
        self, loss: Tensor, out: CaptionOutput, nll: Tensor, mask: Tensor, words: Tensor, parts: dict
    ) -> Tensor:
        """+ the REINFORCE surrogate − λ_e × the entropy bonus (training, when locations were sampled)."""
        if out.log_pick is None:
            return loss
        with torch.no_grad():
            # reward: the caption's mean log-likelihood per word given the sampled locations
            reward = -(nll.sum(1) / mask.sum(1).clamp_min(1))  # (B,)
            sampled = out.sampled  # (B,)
            if sampled.any():
                if not bool(self.baseline_ready):
                    self.reward_baseline.fill_(reward[sampled].mean())
                    self.baseline_ready.fill_(1.0)
                advantage = (reward - self.reward_baseline) * sampled  # (B,) 0 for expected rows
                decay = self.settings.baseline_decay
                self.reward_baseline.mul_(decay).add_((1 - decay) * reward[sampled].mean())
            else:
                advantage = torch.zeros_like(reward)
        reinforce = -(advantage[:, None] * out.log_pick * mask).sum() / words
        bonus = (out.entropy * mask * sampled[:, None]).sum() / words
        loss = loss + self.settings.reinforce * reinforce - self.settings.entropy * bonus
        parts.update(
            reinforce=float(reinforce.detach()),
            entropy=float(bonus.detach()),
            baseline=float(self.reward_baseline),
        )
        return loss
