"""Log-likelihoods of answer tokens, computing the 262k-wide output layer only where needed.

Gemma's vocabulary is 262,144 tokens: full logits for a batch of prompts
would be gigabytes, while only the answer positions matter. So the
transformer body runs on the whole sequence and the output layer only on the
positions that predict an answer token. Training (the loss) uses
``answer_logprobs``; label scoring (the likelihood of each allowed label)
uses ``continuation_logprobs``, which also runs the prompt only once for all
its labels instead of once per label (five times the work, most of it on
padding when one long message shares the batch).
"""

from __future__ import annotations

import inspect
from typing import Any

import torch

from models.llm.tokens import IGNORE

__all__ = ["answer_logprobs", "causal_lm", "continuation_logprobs"]


def causal_lm(model: Any) -> Any:
    """The ``...ForCausalLM`` module under a peft wrapper (or the model itself)."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def answer_logprobs(
    model: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per answer token: (log-probability of the true token, row index), in row order.

    ``labels`` is ``IGNORE`` except on answer tokens (see ``tokens.right_padded``).
    """
    lm = causal_lm(model)
    hidden = lm.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
    # Position t predicts token t+1.
    targets = labels[:, 1:]
    selected = targets != IGNORE
    true = _true_token_logprobs(lm, hidden[:, :-1][selected], targets[selected])
    rows = torch.nonzero(selected, as_tuple=True)[0]
    return true, rows


def continuation_logprobs(
    model: Any, prompt: list[int], continuations: list[list[int]], pad_id: int
) -> torch.Tensor:
    """Summed log-likelihood of each continuation after ``prompt`` (one float per continuation).

    The prompt runs once; its key/value cache is repeated for the
    continuations, which run together, right-padded, at the positions that
    follow it. Equal, within float rounding, to ``answer_logprobs`` on each
    (prompt, continuation) pair.
    """
    if not continuations or not all(continuations):
        raise ValueError("every continuation needs at least one token")
    lm = causal_lm(model)
    device = lm.lm_head.weight.device
    prefix = lm.model(input_ids=torch.tensor([prompt], device=device), use_cache=True)
    cache = getattr(prefix, "cache", None)
    if cache is None:  # transformers releases that still call it past_key_values
        cache = prefix.past_key_values
    count, width = len(continuations), max(len(c) for c in continuations)
    cache.batch_repeat_interleave(count)
    ids = torch.full((count, width), pad_id, dtype=torch.long, device=device)
    real = torch.zeros((count, width), dtype=torch.bool, device=device)
    for row, tokens in enumerate(continuations):
        ids[row, : len(tokens)] = torch.tensor(tokens, device=device)
        real[row, : len(tokens)] = True
    attention = torch.cat(
        [torch.ones((count, len(prompt)), dtype=torch.long, device=device), real.long()], dim=1
    )
    positions = torch.arange(len(prompt), len(prompt) + width, device=device).expand(count, -1)
    hidden = lm.model(
        input_ids=ids, attention_mask=attention, position_ids=positions, use_cache=False,
        **{_cache_keyword(lm.model): cache},
    ).last_hidden_state  # fmt: skip
    # The prompt's last state predicts each continuation's first token; the
    # continuation's token t predicts its token t+1.
    last = prefix.last_hidden_state[:, -1:].expand(count, -1, -1)
    states = torch.cat([last, hidden[:, :-1]], dim=1)
    true = _true_token_logprobs(lm, states[real], ids[real])
    rows = torch.nonzero(real, as_tuple=True)[0]
    totals = torch.zeros(count, dtype=torch.float32, device=device)
    return totals.index_add_(0, rows, true)


def _cache_keyword(body: Any) -> str:
    """The forward's name for a key/value cache: ``cache`` in recent transformers
    releases, ``past_key_values`` in earlier ones (deprecated, with a warning, since)."""
    parameters = inspect.signature(body.forward).parameters
    return "cache" if "cache" in parameters else "past_key_values"


def _true_token_logprobs(lm: Any, states: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """log P(target) from each hidden state, through the full output layer."""
    logits = lm.lm_head(states).float()
    softcap = getattr(lm.config, "final_logit_softcapping", None)
    if softcap:
        logits = torch.tanh(logits / softcap) * softcap
    logprobs = torch.log_softmax(logits, dim=-1)
    return logprobs.gather(1, targets.unsqueeze(1)).squeeze(1)
