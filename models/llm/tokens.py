"""Tokenising prompt/answer pairs the same way for training, label scoring and generation.

A prompt and its answer are tokenised separately and their ids concatenated:
training, label scoring and generation then see exactly the same boundary
(joint tokenisation could merge characters across it differently).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

__all__ = ["IGNORE", "answer_ids", "prompt_ids", "right_padded"]

#: Label value that excludes a position from the loss.
IGNORE = -100


def prompt_ids(tokenizer: Any, prompt: str) -> list[int]:
    """The prompt's ids, beginning-of-sequence token included."""
    ids: list[int] = tokenizer(prompt, add_special_tokens=True)["input_ids"]
    return ids


def answer_ids(tokenizer: Any, answer: str, *, eos: bool) -> list[int]:
    """The answer's ids (no BOS), with the end-of-sequence token when ``eos``."""
    ids: list[int] = tokenizer(answer, add_special_tokens=False)["input_ids"]
    return [*ids, tokenizer.eos_token_id] if eos else ids


def right_padded(
    sequences: Sequence[tuple[list[int], list[int]]], pad_id: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(input_ids, attention_mask, labels)`` for (prompt ids, answer ids) pairs.

    Padding goes on the right, so every real token keeps its natural position
    and no position ids are needed; labels are ``IGNORE`` on prompt and padding.
    """
    width = max(len(p) + len(a) for p, a in sequences)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    labels = torch.full((len(sequences), width), IGNORE, dtype=torch.long)
    for row, (prompt, answer) in enumerate(sequences):
        n = len(prompt) + len(answer)
        ids[row, :n] = torch.tensor(prompt + answer)
        mask[row, :n] = 1
        labels[row, len(prompt) : n] = torch.tensor(answer)
    return ids, mask, labels
