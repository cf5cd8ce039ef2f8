"""An adapter's output vocabulary: logits only for the tokens its answers use.

Gemma 3 has 262,144 tokens, so its output layer costs ~168 M multiply-adds
per generated token, more than the rest of the 270M model together. An
explanation is written from a small vocabulary: the words of the answers the
adapter was trained on, plus the numbers and names of its own prompt; so is
a message's summary and signal line (the words of the trained summaries and
the closed signal vocabulary, plus the message's own words). The trainer
stores the first (``answer_vocabulary``, in the adapter's metadata);
``SubsetHead`` computes logits only for those ids and the prompt's, and
gives every other token ``-inf``, so greedy decoding chooses among them at a
fraction of the cost. The choice stays deterministic; ``llm eval`` measures
what it does to faithfulness and format.

Never for the analyse label: its likelihood is normalised over the whole
vocabulary (``models.llm.scoring``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

__all__ = ["SubsetHead", "answer_vocabulary"]


def answer_vocabulary(tokenizer: Any, answers: Iterable[str]) -> list[int]:
    """Every token id the ``answers`` are written with (sorted, no special tokens)."""
    ids: set[int] = set()
    for answer in answers:
        ids.update(tokenizer(answer, add_special_tokens=False)["input_ids"])
    return sorted(ids)


class SubsetHead(torch.nn.Module):
    """An output layer that scores only ``ids``: the same logits there, ``-inf`` elsewhere."""

    def __init__(self, weight: torch.Tensor, ids: Iterable[int]) -> None:
        super().__init__()
        index = torch.tensor(sorted(set(ids)), dtype=torch.long, device=weight.device)
        self.vocab_size = int(weight.shape[0])
        self.ids: torch.Tensor = index
        self.rows: torch.Tensor = weight.detach().index_select(0, index)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        scores = torch.nn.functional.linear(hidden, self.rows)
        logits = scores.new_full((*scores.shape[:-1], self.vocab_size), float("-inf"))
        logits[..., self.ids] = scores
        return logits
