"""Inference: one base model, both LoRA adapters, switched per batch.

``LlmEngine.load`` reads the prepared base (bf16) once and attaches each
adapter with peft under its task's name; ``explain`` and ``analyse`` switch
to their adapter for the batch. The active adapter is merged into the base
weights (unmerged LoRA costs ~30 % of the generation speed on CPU, measured),
and a switch unmerges it and restores the base weights from a pristine copy
(~200 MB) before merging the other one, so thousands of switches never
accumulate bf16 rounding. The engine is not thread-safe: one thread (the
worker's model thread) owns it.

* ``explain``: batched greedy generation with left padding, bounded by
  ``max_new_tokens``, stopping at the end of the paragraph, under the citation
  constraint (``models.llm.constrained``: only tokens that keep the text true
  to its case) unless the engine is made with ``constrained=False``, and with
  the output layer computed only for the adapter's answer vocabulary and the
  prompt's tokens (``models.llm.vocab``; ``restrict_vocabulary=False``: all
  262,144 tokens). A batch of one
  uses prompt-lookup decoding (explanations copy names and values from the
  prompt, so drafted tokens are mostly accepted): same greedy output, ~3x
  faster on CPU.
* ``analyse``: the label is chosen by scoring each allowed label's
  likelihood after the prompt (never by free generation), then the model
  continues after the chosen label with a bounded summary and signal line,
  written from the adapter's answer vocabulary and the prompt's tokens (as
  for explanations), which ``models.llm.analysis`` parses and filters. The
  labels are scored one message at a time, its prompt run once for all of
  them (``models.llm.scoring.continuation_logprobs``), so a long message
  pads nobody else's.
"""

from __future__ import annotations

import contextlib
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import LogitsProcessorList, StoppingCriteria, StoppingCriteriaList

from contracts.events import MESSAGE_LABELS, MessageLabel
from models.llm.adapters import AdapterMeta, Task, read_meta
from models.llm.analysis import MessageReading, label_continuation, parse_continuation
from models.llm.base import base_digest, load_base, load_tokenizer
from models.llm.constrained import CitationConstraint, TokenText
from models.llm.exceptions import AdapterError, DeadlinePassed, GenerationError
from models.llm.facts import CaseFacts
from models.llm.precision import Precision, compute_dtype
from models.llm.prompts import PROMPT_VERSION, SanitisedText, analyse_prompt, explain_prompt
from models.llm.scoring import continuation_logprobs
from models.llm.tokens import answer_ids, prompt_ids
from models.llm.vocab import SubsetHead

__all__ = ["ANALYSE_NEW_TOKENS", "LlmEngine", "LoadReport"]

#: Summary + signals after the label: two short lines.
ANALYSE_NEW_TOKENS = 64
#: Prompt-lookup decoding drafts this many tokens from the prompt per step.
_LOOKUP_TOKENS = 10


@dataclass(frozen=True)
class LoadReport:
    seconds: float
    adapters: dict[str, str]


class LlmEngine:
    """Base model + named adapters; ``explain`` / ``analyse`` in batches."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        adapters: Mapping[Task, AdapterMeta],
        *,
        max_new_tokens: int = 128,
        load_seconds: float = 0.0,
        constrained: bool = True,
        restrict_vocabulary: bool = True,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.adapters = dict(adapters)
        self.max_new_tokens = max_new_tokens
        #: Explanations decoded under ``CitationConstraint`` (False: free greedy decoding).
        self.constrained = constrained
        #: Candidate tokens the constraint refused, over the engine's life.
        self.refused_tokens = 0
        self._token_text = TokenText(tokenizer)
        #: Explanations and message summaries are written from their adapter's answer
        #: vocabulary and their prompt's tokens only (``models.llm.vocab``); empty
        #: (not restricted, or an adapter trained before it was stored): all tokens.
        self.explain_vocabulary = self._vocabulary("explain", restrict_vocabulary)
        self.analyse_vocabulary = self._vocabulary("analyse", restrict_vocabulary)
        self.device = next(model.parameters()).device
        self.load_report = LoadReport(
            load_seconds, {task: meta.version or "local" for task, meta in self.adapters.items()}
        )
        self._paragraph_end = [tokenizer.eos_token_id, *_newline_ids(tokenizer)]
        self._merged: Task | None = None
        #: Inside ``base_only``: adapters stay disabled whatever task is asked for.
        self._base_only = False
        self._pristine = _base_weights(model)
        #: Called before a switch of adapters, between generation steps and between
        #: scored prompts, in the calling thread, with the request's deadline
        #: (``time.monotonic()``, or None): the worker's ``CpuYield`` pauses there
        #: while the hot path wants the CPU, at most until that deadline. None:
        #: nothing is called.
        self.between_steps: Callable[[float | None], None] | None = None

    def _vocabulary(self, task: Task, restrict: bool) -> frozenset[int]:
        meta = self.adapters.get(task)
        return frozenset(meta.vocabulary if meta is not None and restrict else ())

    @classmethod
    def load(
        cls,
        base_dir: Path,
        adapter_dirs: Mapping[Task, Path] | Callable[[], Mapping[Task, Path]],
        *,
        max_new_tokens: int = 128,
        device: str | None = None,
        constrained: bool = True,
        restrict_vocabulary: bool = True,
        precision: Precision = "auto",
    ) -> LlmEngine:
        """The base from ``base_dir`` with each adapter in ``adapter_dirs`` attached by task.

        ``adapter_dirs`` may be a callable, called once the base is loaded: the
        worker fetches its adapters from the registry meanwhile, in another process.
        ``precision``: bf16 or float32 weights; ``auto`` is bf16 only where the
        device computes in it natively (``models.llm.precision``).
        """
        started = time.perf_counter()
        # Given at once, the adapters are checked before seconds of loading.
        early = None if callable(adapter_dirs) else _checked_metas(adapter_dirs)
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="tokenizer") as pool:
            # The tokenizer is read in Rust, which lets go of the GIL: on a second core
            # it takes none of the worker's start (peft's import alone is ~2 s).
            tokenizer_read = pool.submit(load_tokenizer, base_dir)
            from peft import PeftModel

            base = load_base(base_dir, device=device, dtype=compute_dtype(device, precision))
            tokenizer = tokenizer_read.result()
        if callable(adapter_dirs):
            adapter_dirs = adapter_dirs()
        metas = early if early is not None else _checked_metas(adapter_dirs)
        model: Any = None
        try:
            with warnings.catch_warnings():
                # peft 0.21 asks transformers 5 a deprecated question; nothing for us to change.
                warnings.filterwarnings("ignore", "`is_gradient_checkpointing`", FutureWarning)
                for task, path in adapter_dirs.items():
                    if model is None:
                        model = PeftModel.from_pretrained(
                            base, str(path), adapter_name=task, autocast_adapter_dtype=False
                        )
                    else:
                        model.load_adapter(
                            str(path), adapter_name=task, autocast_adapter_dtype=False
                        )
        except (OSError, ValueError, RuntimeError) as exc:
            raise AdapterError(f"cannot attach adapter: {exc}") from exc
        model.eval()
        return cls(
            model,
            tokenizer,
            metas,
            max_new_tokens=max_new_tokens,
            load_seconds=time.perf_counter() - started,
            constrained=constrained,
            restrict_vocabulary=restrict_vocabulary,
        )

    # -- explain ------------------------------------------------------------------

    def explain(
        self,
        cases: Sequence[CaseFacts],
        *,
        max_new_tokens: int | None = None,
        constrained: bool | None = None,
        restricted: bool | None = None,
        deadline: float | None = None,
    ) -> list[str]:
        """One explanation per case (greedy; bounded; one paragraph).

        ``deadline`` (``time.monotonic()``): generation stops after the step
        that passes it, and none starts once it passed, so no CPU is spent on
        answers nobody waits for; the texts are then cut short or empty (the
        worker discards them).

        ``constrained`` (default: the engine's setting) restricts each step to
        tokens that keep the explanation true to its case (``CitationConstraint``);
        ``restricted`` (default: whether the adapter has a vocabulary) computes the
        output layer only for the adapter's vocabulary and the prompt's tokens.
        Both never apply to the base model alone.
        """
        if not cases:
            return []  # (no adapter switch for nothing)
        if not self._use("explain", deadline):
            return ["" for _ in cases]
        constrain = self.constrained if constrained is None else constrained
        restrict = bool(self.explain_vocabulary) if restricted is None else restricted
        prompts = [explain_prompt(facts) for facts in cases]
        return self.generate(
            prompts,
            max_new_tokens=max_new_tokens or self.max_new_tokens,
            stop_at_paragraph=True,
            cases=cases if constrain else None,
            vocabulary=self.explain_vocabulary if restrict and not self._base_only else None,
            deadline=deadline,
        )

    def generate(
        self,
        prompts: Sequence[str],
        *,
        max_new_tokens: int,
        stop_at_paragraph: bool,
        cases: Sequence[CaseFacts] | None = None,
        vocabulary: frozenset[int] | None = None,
        deadline: float | None = None,
    ) -> list[str]:
        """Greedy continuations of ``prompts`` with whatever adapter is active.

        With ``cases`` (one per prompt) the continuations are explanations held
        to their case's facts token by token (``models.llm.constrained``); with a
        ``vocabulary`` they are written from it and the prompts' tokens only
        (``models.llm.vocab``).
        """
        if not prompts:
            return []
        # Before the prompt's forward pass, the costliest step.
        if not _paused_in_time(self.between_steps, deadline):
            # Nobody waits for these answers any more (the pause above may have taken
            # the time): compute nothing rather than one step nobody reads.
            return ["" for _ in prompts]
        tokenizer = self.tokenizer
        encoded = tokenizer(list(prompts), return_tensors="pt", padding=True).to(self.device)
        options: dict[str, Any] = {
            "max_new_tokens": max_new_tokens,
            "do_sample": False,
            "pad_token_id": tokenizer.pad_token_id,
            "eos_token_id": self._paragraph_end if stop_at_paragraph else tokenizer.eos_token_id,
        }
        if len(prompts) == 1:
            options["prompt_lookup_num_tokens"] = _LOOKUP_TOKENS
        constraint = None
        if cases is not None:
            constraint = CitationConstraint(
                cases,
                prompt_length=encoded["input_ids"].shape[1],
                token_text=self._token_text,
                stop_ids=self._paragraph_end,
            )
            options["logits_processor"] = LogitsProcessorList([constraint])
        if self.between_steps is not None or deadline is not None:
            options["stopping_criteria"] = StoppingCriteriaList(
                [_AfterEachStep(self.between_steps, deadline)]
            )
        head: contextlib.AbstractContextManager[None] = contextlib.nullcontext()
        if vocabulary:
            head = self._restricted_head(vocabulary, encoded["input_ids"])
        try:
            with torch.inference_mode(), head:
                output = self.model.generate(**encoded, **options)
        except (RuntimeError, ValueError, IndexError) as exc:
            raise GenerationError(f"generation failed: {exc}") from exc
        finally:
            if constraint is not None:
                self.refused_tokens += constraint.refused
        new_tokens = output[:, encoded["input_ids"].shape[1] :]
        texts = tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
        if stop_at_paragraph:
            return [text.strip().split("\n", 1)[0].strip() for text in texts]
        return [text.strip() for text in texts]

    @contextlib.contextmanager
    def _restricted_head(
        self, vocabulary: frozenset[int], prompt_ids: torch.Tensor
    ) -> Iterator[None]:
        """Inside the block the output layer scores only ``vocabulary``, the prompts'
        own tokens and the stops."""
        base = self.model.get_base_model()
        full = base.lm_head
        ids = vocabulary.union(prompt_ids.flatten().tolist(), self._paragraph_end)
        base.lm_head = SubsetHead(full.weight, ids)
        try:
            yield
        finally:
            base.lm_head = full

    # -- analyse ------------------------------------------------------------------

    def analyse(
        self, messages: Sequence[SanitisedText], *, deadline: float | None = None
    ) -> list[MessageReading]:
        """Label (scored among the allowed ones), summary and signals for each message.

        ``deadline``: as for ``explain``; no message's label is scored once it
        passed (``DeadlinePassed``: nobody waits for the reading any more), and
        it bounds the summaries' generation.
        """
        if not messages:
            return []
        prompts = [analyse_prompt(text) for text in messages]
        scores = self.label_probabilities(prompts, deadline=deadline)
        labels = [_best_label(row) for row in scores]
        continued = self.generate(
            [p + label_continuation(label) for p, label in zip(prompts, labels, strict=True)],
            max_new_tokens=ANALYSE_NEW_TOKENS,
            stop_at_paragraph=False,
            vocabulary=None if self._base_only else self.analyse_vocabulary,
            deadline=deadline,
        )
        readings = []
        for label, row, text in zip(labels, scores, continued, strict=True):
            summary, signals = parse_continuation("Summary:" + text.partition("Summary:")[2])
            readings.append(MessageReading(label=label, label_scores=row, summary=summary,
                                           signals=signals))  # fmt: skip
        return readings

    def label_probabilities(
        self, prompts: Sequence[str], *, deadline: float | None = None
    ) -> list[dict[str, float]]:
        """P(label | prompt) over the allowed labels, from each label's summed log-likelihood.

        Raises ``DeadlinePassed`` rather than score a prompt after ``deadline``.
        """
        if not prompts:
            return []
        if not self._use("analyse", deadline):
            raise DeadlinePassed("deadline passed before the analyse adapter was in place")
        tokenizer = self.tokenizer
        labels = [answer_ids(tokenizer, label_continuation(label), eos=False)
                  for label in MESSAGE_LABELS]  # fmt: skip
        try:
            with torch.inference_mode():
                # One prompt at a time: its labels share its cache, and no
                # prompt is padded to the batch's longest message.
                scored = []
                for prompt in prompts:
                    if not _paused_in_time(self.between_steps, deadline):
                        raise DeadlinePassed("deadline passed before a label was scored")
                    scored.append(continuation_logprobs(
                        self.model, prompt_ids(tokenizer, prompt), labels, tokenizer.pad_token_id
                    ))  # fmt: skip
                totals = torch.stack(scored)
        except (RuntimeError, ValueError, IndexError) as exc:
            raise GenerationError(f"label scoring failed: {exc}") from exc
        per_prompt = torch.softmax(totals, dim=-1)
        return [
            {label: float(p) for label, p in zip(MESSAGE_LABELS, row, strict=True)}
            for row in per_prompt.tolist()
        ]

    # -- adapters -----------------------------------------------------------------

    @contextlib.contextmanager
    def base_only(self) -> Iterator[None]:
        """Run the base model without any adapter inside the block (evaluation baseline)."""
        self._unmerge()
        with self.model.disable_adapter():
            self._base_only = True
            try:
                yield
            finally:
                self._base_only = False

    @property
    def active_task(self) -> Task | None:
        """The adapter merged into the weights now (None: the plain base model)."""
        return self._merged

    def _use(self, task: Task, deadline: float | None = None) -> bool:
        """Merge ``task``'s adapter into the weights; False when ``deadline`` passed first.

        A switch rewrites every adapted weight (~100 M of them: read and written
        several times over, through the memory bus the scorer, Redis and the
        broker share), so it first waits for ``between_steps`` like any step, and
        is not made for a request whose deadline passed meanwhile: on a busy
        machine that request gets its template, and switching for it would be
        all the work the model did (measured: most of the worker's CPU at
        1,000 tx/s, where every request timed out).
        """
        if task not in self.adapters:
            raise AdapterError("not loaded in this engine", task=task)
        if self._base_only or self._merged == task:
            return True
        if not _paused_in_time(self.between_steps, deadline):
            return False
        self._unmerge()
        try:
            self.model.set_adapter(task)
            self.model.merge_adapter()
        except BaseException:
            # Partly merged (out of memory half-way, say): undo what was merged and
            # put the exact base weights back, or the next merge would stack on it.
            self._merged = task
            self._unmerge()
            raise
        self._merged = task
        return True

    def _unmerge(self) -> None:
        if self._merged is None:
            return
        try:
            self.model.unmerge_adapter()  # peft's bookkeeping: the adapter computes again
        finally:
            # Even when that failed (out of memory again): the exact base weights,
            # whatever the rounding did, and no adapter counted as merged.
            with torch.no_grad():
                for weight, pristine in self._pristine:
                    weight.copy_(pristine)
            self._merged = None


def _base_weights(model: Any) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(weight, pristine copy) of every base layer an adapter touches."""
    from peft.tuners.lora import LoraLayer

    pairs = []
    for module in model.modules():
        if isinstance(module, LoraLayer):
            layer: Any = module.get_base_layer()
            weight: torch.Tensor = layer.weight
            pairs.append((weight, weight.detach().clone()))
    return pairs


def _best_label(scores: dict[str, float]) -> MessageLabel:
    """The allowed label with the highest probability (ties: the first in MESSAGE_LABELS)."""
    return max(MESSAGE_LABELS, key=lambda label: scores[label])


def _newline_ids(tokenizer: Any) -> list[int]:
    """Token ids that are pure line breaks ("\n", "\n\n", ...): the end of a paragraph."""
    ids = []
    for text in ("\n", "\n\n", "\n\n\n"):
        encoded = tokenizer(text, add_special_tokens=False)["input_ids"]
        if len(encoded) == 1:
            ids.append(encoded[0])
    return ids


def _paused_in_time(hook: Callable[[float | None], None] | None, deadline: float | None) -> bool:
    """Let ``hook`` (``between_steps``) pause first; then False once ``deadline`` passed."""
    if hook is not None:
        hook(deadline)
    return deadline is None or time.monotonic() < deadline


class _AfterEachStep(StoppingCriteria):
    """After every generation step: calls ``hook``, then stops once ``deadline`` passed.

    One criterion for both, in this order, so a hook that pauses past the
    deadline stops generation there (transformers' own ``max_time`` might be
    checked before the hook and let one more step run).
    """

    def __init__(self, hook: Callable[[float | None], None] | None, deadline: float | None) -> None:
        self.hook = hook
        self.deadline = deadline

    def __call__(
        self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: Any
    ) -> torch.BoolTensor:
        late = not _paused_in_time(self.hook, self.deadline)
        done: torch.BoolTensor = torch.full(  # type: ignore[assignment]
            (input_ids.shape[0],), late, dtype=torch.bool, device=input_ids.device
        )
        return done


def _checked_metas(adapter_dirs: Mapping[Task, Path]) -> dict[Task, AdapterMeta]:
    """Each adapter's metadata, refused when it was trained on another base or prompt layout."""
    if not adapter_dirs:
        raise AdapterError("no adapter given")
    digest = base_digest()
    metas = {task: read_meta(path, task=task) for task, path in adapter_dirs.items()}
    for task, meta in metas.items():
        if meta.base_sha256 != digest:
            raise AdapterError("trained on another base model", task=task)
        if meta.prompt_version != PROMPT_VERSION:
            raise AdapterError(
                f"trained for prompt layout {meta.prompt_version}, this build writes "
                f"{PROMPT_VERSION} (train it again)",
                task=task,
            )
    return metas
