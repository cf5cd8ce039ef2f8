"""LoRA training of one adapter on (prompt, answer) pairs, on CPU or CUDA automatically.

What makes it affordable on two CPU cores (measured, see shared/FACTS.md):

* the loss covers answer tokens only, and the 262k-wide output layer runs only
  at those positions (``models.llm.scoring``), which halves a step;
* bf16 autocast (the weights stay float32 for the optimiser), which halves it
  again where the hardware computes in bf16; where it would only emulate it
  (an AVX2-only CPU: ~50x slower) the step runs in float32 (``precision``);
* rank-16 LoRA on every linear layer of the transformer (not the output
  layer), AdamW, linear warm-up then linear decay, gradient clipping.

Reproducible: the seed fixes the LoRA initialisation, dropout and the order of
examples. A GPU is used when one is present (``device="auto"``).
"""

from __future__ import annotations

import contextlib
import math
import random
import time
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from models.llm.adapters import AdapterMeta, Task, write_meta
from models.llm.base import base_digest, load_tokenizer, quiet_loading
from models.llm.exceptions import BaseModelError
from models.llm.precision import Precision, compute_dtype
from models.llm.prompts import PROMPT_VERSION
from models.llm.scoring import answer_logprobs
from models.llm.tokens import answer_ids, prompt_ids, right_padded
from models.llm.vocab import answer_vocabulary

__all__ = ["LoraSpec", "TrainReport", "TrainSpec", "pick_device", "train_adapter"]


@dataclass(frozen=True)
class LoraSpec:
    r: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: str = "all-linear"


@dataclass(frozen=True)
class TrainSpec:
    steps: int = 60
    batch_size: int = 8
    learning_rate: float = 2e-4
    warmup_steps: int = 4
    seed: int = 7
    #: Longer (prompt + answer) sequences are cut from the prompt's start.
    max_tokens: int = 384
    lora: LoraSpec = field(default_factory=LoraSpec)

    def as_params(self) -> dict[str, Any]:
        flat = {k: v for k, v in asdict(self).items() if k != "lora"}
        flat.update({f"lora_{k}": v for k, v in asdict(self.lora).items()})
        return flat


@dataclass(frozen=True)
class TrainReport:
    task: Task
    steps: int
    examples: int
    seconds: float
    device: str
    first_loss: float
    final_loss: float
    trainable_parameters: int
    adapter_bytes: int


def pick_device(device: str = "auto") -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def train_adapter(
    base_dir: Path,
    task: Task,
    pairs: Sequence[tuple[str, str]],
    spec: TrainSpec,
    out_dir: Path,
    *,
    device: str = "auto",
    progress: bool = True,
    precision: Precision = "auto",
) -> TrainReport:
    """Train a ``task`` adapter on (prompt, answer) pairs; save it with metadata to ``out_dir``."""
    from peft import LoraConfig, get_peft_model
    from tqdm.auto import tqdm
    from transformers import AutoModelForCausalLM

    quiet_loading()
    if not pairs:
        raise ValueError("no training examples")
    device = pick_device(device)
    autocast_bf16 = compute_dtype(device, precision) == torch.bfloat16
    started = time.perf_counter()
    random.seed(spec.seed)
    torch.manual_seed(spec.seed)
    tokenizer = load_tokenizer(base_dir)
    try:
        base: Any = AutoModelForCausalLM.from_pretrained(str(base_dir), dtype=torch.float32)
    except (OSError, ValueError) as exc:
        raise BaseModelError(f"cannot load the base model: {exc}", path=str(base_dir)) from exc
    base.to(device)
    lora = spec.lora
    with warnings.catch_warnings():
        # peft 0.21 asks transformers 5 a deprecated question; nothing for us to change.
        warnings.filterwarnings("ignore", "`is_gradient_checkpointing`", FutureWarning)
        model: Any = get_peft_model(
            base,
            LoraConfig(
                task_type="CAUSAL_LM",
                r=lora.r,
                lora_alpha=lora.alpha,
                lora_dropout=lora.dropout,
                target_modules=lora.target_modules,
            ),
        )
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(trainable, lr=spec.learning_rate, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda step: _lr_factor(step, spec.warmup_steps, spec.steps)
    )
    encoded = [_encode(tokenizer, prompt, answer, spec.max_tokens) for prompt, answer in pairs]
    rng = random.Random(spec.seed)  # noqa: S311 - seeded example order, not security
    order = _batches(len(encoded), spec.batch_size, spec.steps, rng)
    losses: list[float] = []
    model.train()
    with tqdm(order, desc=f"train {task}", unit="step", disable=not progress) as bar:
        for batch in bar:
            ids, mask, labels = right_padded([encoded[i] for i in batch], tokenizer.pad_token_id)
            with (
                torch.autocast(device_type=device, dtype=torch.bfloat16)
                if autocast_bf16
                else contextlib.nullcontext()
            ):
                logprobs, _ = answer_logprobs(model, ids.to(device), mask.to(device),
                                              labels.to(device))  # fmt: skip
            loss = -logprobs.mean()
            torch.autograd.backward(loss)
            torch.nn.utils.clip_grad_norm_(trainable, 1.0)
            optimiser.step()
            schedule.step()
            optimiser.zero_grad(set_to_none=True)
            losses.append(loss.item())
            bar.set_postfix(loss=f"{losses[-1]:.3f}")
    model.eval()
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out_dir))
    write_meta(
        out_dir,
        AdapterMeta(
            task=task,
            base_sha256=base_digest(),
            prompt_version=PROMPT_VERSION,
            params={
                **spec.as_params(),
                "examples": len(pairs),
                "device": device,
                "autocast": "bfloat16" if autocast_bf16 else "float32",
            },
            vocabulary=answer_vocabulary(tokenizer, (answer for _, answer in pairs)),
            created_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        ),
    )
    size = sum(f.stat().st_size for f in out_dir.glob("adapter_model.*"))
    return TrainReport(
        task=task,
        steps=len(losses),
        examples=len(pairs),
        seconds=time.perf_counter() - started,
        device=device,
        first_loss=_mean(losses[:3]),
        final_loss=_mean(losses[-5:]),
        trainable_parameters=sum(p.numel() for p in trainable),
        adapter_bytes=size,
    )


def _encode(tokenizer: Any, prompt: str, answer: str, limit: int) -> tuple[list[int], list[int]]:
    head = prompt_ids(tokenizer, prompt)
    tail = answer_ids(tokenizer, answer, eos=True)
    overflow = len(head) + len(tail) - limit
    if overflow > 0:
        head = head[:1] + head[1 + overflow :]  # keep BOS, cut the prompt's start
    return head, tail


def _batches(count: int, size: int, steps: int, rng: random.Random) -> list[list[int]]:
    """``steps`` batches walking through shuffled epochs (every example once per epoch)."""
    batches: list[list[int]] = []
    pool: list[int] = []
    while len(batches) < steps:
        if len(pool) < size:
            epoch = list(range(count))
            rng.shuffle(epoch)
            pool += epoch
        batches.append(pool[:size])
        pool = pool[size:]
    return batches


def _lr_factor(step: int, warmup: int, total: int) -> float:
    if step < warmup:
        return (step + 1) / warmup
    remaining = max(total - warmup, 1)
    return max(0.0, 1.0 - (step - warmup) / remaining) * 0.9 + 0.1


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else math.nan
