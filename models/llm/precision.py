"""The float type the language model computes in: bf16 only where the hardware does bf16.

bf16 halves the weights' memory traffic, and where the hardware computes in it
(a GPU; a CPU with AVX-512 / AMX, which oneDNN uses for bf16) it roughly halves
a LoRA training step (shared/FACTS.md). A CPU without it only emulates bf16:
on an AVX2-only AMD EPYC, a 512x640 by 640x2048 matmul forward and backward
took 6.1 s under bf16 autocast against 0.13 s in float32, and the base model's
prefill of 300 tokens 39 s against 6.6 s. There ``auto`` computes in float32.
"""

from __future__ import annotations

import torch

from contracts.settings import LlmPrecision as Precision

__all__ = ["Precision", "bf16_is_native", "compute_dtype"]


def bf16_is_native(device: str) -> bool:
    """Whether ``device`` computes bf16 matmuls in hardware (not by emulation)."""
    if device.startswith("cuda"):
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    try:
        # oneDNN's own test (AVX-512 core or better, AMX, Arm bf16): private, so guarded.
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())  # noqa: SLF001
    except (AttributeError, RuntimeError):
        return torch.backends.cpu.get_cpu_capability().startswith("AVX512")


def compute_dtype(device: str, precision: Precision = "auto") -> torch.dtype:
    """bf16 or float32 for ``device``: as ``precision`` says, or by hardware for ``auto``."""
    if precision == "bfloat16":
        return torch.bfloat16
    if precision == "float32":
        return torch.float32
    return torch.bfloat16 if bf16_is_native(device) else torch.float32
