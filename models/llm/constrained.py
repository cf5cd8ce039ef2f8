"""Constrained decoding for explanations: the model can only write claims true for its case.

Greedy decoding takes the most likely next token. ``CitationConstraint`` looks
at the candidates in order of likelihood and lets the first one through whose
text still admits a faithful explanation (``CaseClaims.admits_prefix``): every
number must be on its way to a number of the case, every snake_case name to one
of the case's factors, every reason code to a rule that fired, a value written
after a factor to that factor's value; levels, actions and directions must be
the case's. Refused candidates get ``-inf``, so the choice stays greedy among
what is allowed, and the output is as deterministic as before.

Only the winner matters for greedy decoding, so a step costs a few prefix
checks (usually one: a trained adapter mostly proposes true claims), not one
per token of the vocabulary. When none of the ``top_k`` best candidates is
allowed, the paragraph is ended; the worker's full check and its template
fallback still stand behind the result.

The processor is stateless (it decodes the tokens written so far on each
call), so it works for batched generation with left padding and for
prompt-lookup decoding, which calls it on drafted continuations too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from transformers import LogitsProcessor

from models.llm.facts import CaseFacts
from models.llm.faithfulness import CaseClaims

__all__ = ["CitationConstraint", "TokenText"]

#: Candidates looked at per step before the paragraph is ended instead.
TOP_K = 32


class TokenText:
    """The text each token id adds, as the checks need it (SentencePiece pieces -> text)."""

    def __init__(self, tokenizer: Any) -> None:
        self._tokenizer = tokenizer
        self._special = set(tokenizer.all_special_ids)
        self._cache: dict[int, str] = {}

    def __call__(self, token_id: int) -> str:
        text = self._cache.get(token_id)
        if text is None:
            text = self._cache[token_id] = self._piece(token_id)
        return text

    def join(self, token_ids: Sequence[int]) -> str:
        return "".join(self(t) for t in token_ids)

    def _piece(self, token_id: int) -> str:
        if token_id in self._special:
            return ""
        piece = str(self._tokenizer.convert_ids_to_tokens(token_id))
        if piece.startswith("<0x") and piece.endswith(">") and len(piece) == 6:
            byte = int(piece[3:5], 16)  # byte fallback: only ASCII matters to the checks
            return chr(byte) if byte < 0x80 else "\ufffd"
        return piece.replace("\u2581", " ")


class CitationConstraint(LogitsProcessor):
    """Greedy choice restricted to tokens that keep each row's explanation faithful."""

    def __init__(
        self,
        cases: Sequence[CaseFacts],
        *,
        prompt_length: int,
        token_text: TokenText,
        stop_ids: Sequence[int],
        top_k: int = TOP_K,
    ) -> None:
        self.claims = [CaseClaims(facts) for facts in cases]
        self.prompt_length = prompt_length
        self.token_text = token_text
        self.stop_ids = list(stop_ids)
        self.top_k = top_k
        #: Candidates refused, over the whole generation (for tests and figures).
        self.refused = 0

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        written = input_ids[:, self.prompt_length :].tolist()
        best = torch.topk(scores, k=min(self.top_k, scores.shape[-1]), dim=-1).indices.tolist()
        for row, claims in enumerate(self.claims):
            prefix = self.token_text.join(written[row])
            refused = []
            for token_id in best[row]:
                if token_id in self.stop_ids or claims.admits_prefix(
                    prefix + self.token_text(token_id)
                ):
                    break
                refused.append(token_id)
            else:
                # Nothing true among the likely continuations: end the paragraph here.
                scores[row, :] = float("-inf")
                scores[row, self.stop_ids[0]] = 0.0
                self.refused += len(refused)
                continue
            if refused:
                scores[row, refused] = float("-inf")
                self.refused += len(refused)
        return scores
