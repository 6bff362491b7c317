"""bf16: whether the hardware has it, whether a run uses it, and the autocast context."""

from __future__ import annotations

from contextlib import nullcontext

import torch

from ..console import say


def bf16_supported(device: torch.device | None = None) -> bool:
    """Whether this machine runs bf16 matmuls natively (AMX/AVX-512-BF16 on CPUs; Ampere+ GPUs)."""
    if device is not None and device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def use_bf16(precision: str, device: torch.device | None = None) -> bool:
    """Whether to train under bf16 autocast: asked for (or "auto") and supported by the hardware."""
    if precision == "bf16" and not bf16_supported(device):
        say("warning: this machine has no native bf16 support; training in fp32 instead.")
        return False
    return precision == "bf16" or (precision == "auto" and bf16_supported(device))


def autocast(enabled: bool, device_type: str = "cpu"):
    """bf16 autocast: matmuls and the fused RNN kernels in bf16, the softmax loss in fp32."""
    return torch.autocast(device_type, dtype=torch.bfloat16) if enabled else nullcontext()
