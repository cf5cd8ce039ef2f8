"""Log-likelihoods of answer tokens, computing the 262k-wide output layer only where needed.

Gemma's vocabulary is 262,144 tokens: full logits for a batch of prompts
would be gigabytes, while only the answer positions matter. So the
transformer body runs on the whole sequence and the output layer only on the
positions that predict an answer token. Training (the loss) and label
scoring (the likelihood of each allowed label) share this.
"""

from __future__ import annotations

from typing import Any

import torch

from models.llm.tokens import IGNORE

__all__ = ["answer_logprobs", "causal_lm"]


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
    states = hidden[:, :-1][selected]
    logits = lm.lm_head(states).float()
    softcap = getattr(lm.config, "final_logit_softcapping", None)
    if softcap:
        logits = torch.tanh(logits / softcap) * softcap
    logprobs = torch.log_softmax(logits, dim=-1)
    true = logprobs.gather(1, targets[selected].unsqueeze(1)).squeeze(1)
    rows = torch.nonzero(selected, as_tuple=True)[0]
    return true, rows
