"""bf16 only where the hardware computes in it; float32 elsewhere (an AVX2 CPU emulates bf16)."""

from __future__ import annotations

import pytest
import torch

from contracts.settings import LlmSettings
from models.llm.adapters import read_meta
from models.llm.precision import bf16_is_native, compute_dtype

HERE = "bfloat16" if bf16_is_native("cpu") else "float32"


def test_a_forced_precision_wins_and_auto_follows_the_hardware():
    assert compute_dtype("cpu", "bfloat16") is torch.bfloat16
    assert compute_dtype("cpu", "float32") is torch.float32
    assert compute_dtype("cpu", "auto") is getattr(torch, HERE)
    assert LlmSettings().dtype == "auto"


def test_the_setting_refuses_other_types():
    with pytest.raises(ValueError, match="dtype"):
        LlmSettings(dtype="float16")  # type: ignore[arg-type]


@pytest.mark.slow
def test_training_and_the_engine_compute_in_the_type_this_cpu_is_fast_in(tiny_adapters, llm_engine):
    # The tiny adapters were trained with precision "auto", the engine loaded with it.
    for task in ("explain", "analyse"):
        assert read_meta(tiny_adapters[task], task=task).params["autocast"] == HERE
    base = llm_engine.model.get_base_model()
    assert base.get_input_embeddings().weight.dtype is getattr(torch, HERE)
    assert base.model.layers[0].mlp.down_proj.base_layer.weight.dtype is getattr(torch, HERE)
