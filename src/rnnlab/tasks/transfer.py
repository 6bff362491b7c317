"""Transfer: start a classifier from another classify run's vocabulary and weights (ULMFiT's idea).

Small labelled sets favour bag-of-words models: a network has to learn what every word means from a
few thousand examples. A cheap remedy is to train the same network first on a bigger, related, more
loosely labelled corpus (e.g. the sentences of full movie reviews, each labelled by its review, see
`rnnlab data fetch polarity-weak`) and then fine-tune it on the small set. The fine-tuned run keeps
the pretrained run's vocabulary, so words seen only in the big corpus keep their learned embeddings
instead of becoming <unk>.

    rnnlab train classify --data polarity-weak --out runs/weak               # pretrain
    rnnlab train classify --data polarity --out runs/tuned --pretrained runs/weak --lr 5e-4

Weights are copied by name; every tensor must have the same shape in both models (same cell, sizes,
layers and directions), except the output layer, which is copied only when the label sets agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from torch import nn

from ..errors import UserError


@dataclass
class InitConfig:
    pretrained: str = ""  # a classify run folder to start from (its best checkpoint); "" = from scratch
    head: bool = True  # also copy the output layer (only when the labels are the same)


@dataclass
class Pretrained:
    """What a fine-tuning run takes from its pretrained run."""

    run: Path
    task_state: dict  # vocabulary and labels
    model_state: dict  # name -> tensor
    model_config: dict


def read_pretrained(run: str | Path) -> Pretrained:
    """The best (else last) checkpoint of the classify run `run`."""
    from ..train.checkpoint import best_or_last, load_checkpoint

    run = Path(run)
    if not run.is_dir():
        raise UserError(f"init.pretrained: {run} is not a run folder; train the pretrained run first.")
    # The tensors and vocabulary as saved; the fine-tuning model checks that its settings match.
    ckpt = load_checkpoint(run, best_or_last(run, "best"), task="classify")
    document = ckpt.document
    return Pretrained(run, document["task_state"], ckpt.model_state, document["config"]["model"])


def copy_pretrained(
    model: nn.Module, pretrained: Pretrained, same_labels: bool, head: bool = True
) -> list[str]:
    """Copy `pretrained`'s tensors into `model` by name; return the names copied.

    The output layer (`out.*`) is copied only when `head` and the label sets are the same.
    """
    own = model.state_dict()
    copied = []
    for name, tensor in pretrained.model_state.items():
        if name.startswith("out.") and not (head and same_labels):
            continue
        if name not in own:
            continue
        if own[name].shape != tensor.shape:
            raise UserError(
                f"init.pretrained: {name} has shape {tuple(tensor.shape)} in {pretrained.run} but "
                f"{tuple(own[name].shape)} here; use the pretrained run's model settings "
                f"(its model section: {pretrained.model_config})."
            )
        own[name] = tensor
        copied.append(name)
    model.load_state_dict(own)
    return copied
