"""The worker's batch handler: flagged decisions -> explanations, messages -> analyses.

Per micro-batch (``MicroBatchConsumer`` decodes, dead-letters what is not a
flagged decision or a user message, and commits only after delivery):

1. every request goes to the model thread with its own deadline
   (consumption + ``request_timeout_s``); a full queue refuses at once;
2. the handler waits for each answer until that deadline;
3. an explanation whose text is not faithful to the case, or breaks the
   format, is replaced by the template; so are timeouts, a full queue and
   model errors, each with its ``fallback_reason``. So every flagged case gets
   exactly one ``Explanation`` on ``explanations`` (key = card id);
4. a message gets a ``MessageAnalysis`` on ``message-analyses`` (key =
   customer id): the model's, or a keyword reading marked ``fallback``.

The language model only writes text. It never decides: the action, score and
risk level in an explanation are copied from the decision and computed in code.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass

from confluent_kafka import Message, Producer

from contracts.codec import encode
from contracts.events import Decision, Explanation, MessageAnalysis, UserMessage
from contracts.settings import TopicNames
from models.llm.analysis import MessageReading
from models.llm.facts import CaseFacts, case_facts
from models.llm.faithfulness import check_faithfulness, check_format
from models.llm.prompts import SanitisedText, sanitise_customer_text
from models.llm.signals import INSTRUCTION_SIGNAL, detect_signals, keyword_label
from models.llm.wording import template_explanation
from services.llm_worker import metrics
from services.llm_worker.runner import ModelRunner, RequestExpired
from services.stream.batch_consumer import BatchResult
from services.stream.delivery import DeliveryTracker

__all__ = ["LlmHandler", "WorkerCounts"]

log = logging.getLogger(__name__)
_Answer = Future[str | MessageReading] | None


@dataclass
class WorkerCounts:
    explanations: int = 0
    templates: int = 0
    analyses: int = 0
    fallback_analyses: int = 0


class LlmHandler:
    def __init__(
        self,
        runner: ModelRunner,
        producer: Producer,
        tracker: DeliveryTracker,
        topics: TopicNames,
        *,
        rule_descriptions: Mapping[str, str],
        request_timeout_s: float,
        adapter_versions: Mapping[str, str],
    ) -> None:
        self.runner = runner
        self.producer = producer
        self.tracker = tracker
        self.topics = topics
        self.rule_descriptions = dict(rule_descriptions)
        self.timeout_s = request_timeout_s
        self.versions = dict(adapter_versions)
        self.counts = WorkerCounts()

    def __call__(self, batch: list[tuple[Message, Decision | UserMessage]]) -> BatchResult:
        submitted: list[tuple[Decision | UserMessage, CaseFacts | SanitisedText, _Answer, float]]
        submitted = []
        for _, event in batch:
            started = time.monotonic()
            deadline = started + self.timeout_s
            payload: CaseFacts | SanitisedText
            if isinstance(event, Decision):
                payload = case_facts(event, self.rule_descriptions)
                future = self.runner.submit("explain", payload, deadline)
            else:
                payload = sanitise_customer_text(event.text)
                future = self.runner.submit("analyse", payload, deadline)
            submitted.append((event, payload, future, started))
        metrics.QUEUE_DEPTH.set(self.runner.depth())
        for event, payload, future, started in submitted:
            answer, problem = _wait(future, started + self.timeout_s)
            latency_ms = (time.monotonic() - started) * 1000
            if isinstance(event, Decision) and isinstance(payload, CaseFacts):
                text = answer if isinstance(answer, str) else None
                self._emit(self._explanation(event, payload, text, problem, latency_ms))
            elif isinstance(event, UserMessage) and isinstance(payload, SanitisedText):
                reading = answer if isinstance(answer, MessageReading) else None
                self._emit(self._analysis(event, payload, reading, problem, latency_ms))
        self.producer.poll(0)
        return BatchResult()

    def _explanation(
        self,
        decision: Decision,
        facts: CaseFacts,
        text: str | None,
        problem: str | None,
        latency_ms: float,
    ) -> Explanation:
        if text is not None:
            report = check_faithfulness(text, facts)
            form = check_format(text, facts)
            if report.faithful and not form:
                metrics.EXPLANATIONS.labels("model", "").inc()
                metrics.REQUEST_SECONDS.labels("explain").observe(latency_ms / 1000)
                self.counts.explanations += 1
                return self._explanation_event(
                    decision, facts, text, "model", report.cited_features, None, latency_ms
                )
            problem = f"unfaithful: {'; '.join((report.problems + form)[:3])}"
            log.info("explanation of %s replaced by the template (%s)", decision.tx_id, problem)
        reason = problem or "no answer"
        template = template_explanation(facts)
        cited = check_faithfulness(template, facts).cited_features
        metrics.EXPLANATIONS.labels("template", reason.split(":", 1)[0]).inc()
        self.counts.explanations += 1
        self.counts.templates += 1
        return self._explanation_event(
            decision, facts, template, "template", cited, reason, latency_ms
        )

    def _explanation_event(
        self,
        decision: Decision,
        facts: CaseFacts,
        text: str,
        source: str,
        cited: list[str],
        reason: str | None,
        latency_ms: float,
    ) -> Explanation:
        return Explanation(
            tx_id=decision.tx_id,
            card_id=decision.card_id,
            customer_id=decision.customer_id,
            action=decision.action,
            score=decision.score,
            risk_level=facts.risk_level,
            text=text,
            source="model" if source == "model" else "template",
            adapter_version=self.versions.get("explain", "") if source == "model" else "",
            cited_features=cited,
            fallback_reason=reason[:300] if reason else None,
            generated_at_ms=_now_ms(),
            latency_ms=latency_ms,
        )

    def _analysis(
        self,
        message: UserMessage,
        text: SanitisedText,
        reading: MessageReading | None,
        problem: str | None,
        latency_ms: float,
    ) -> MessageAnalysis:
        extra = [INSTRUCTION_SIGNAL] if text.removed_instructions else []
        if reading is not None:
            metrics.ANALYSES.labels("model", reading.label).inc()
            metrics.REQUEST_SECONDS.labels("analyse").observe(latency_ms / 1000)
            self.counts.analyses += 1
            return MessageAnalysis(
                message_id=message.message_id,
                customer_id=message.customer_id,
                tx_id=message.tx_id,
                label=reading.label,
                label_scores={k: round(v, 4) for k, v in reading.label_scores.items()},
                summary=reading.summary,
                risk_signals=[*reading.signals, *extra],
                source="model",
                adapter_version=self.versions.get("analyse", ""),
                analysed_at_ms=_now_ms(),
                latency_ms=latency_ms,
            )
        signals = detect_signals(text.text)
        label = keyword_label(signals)
        log.info("analysis of %s by keywords (%s)", message.message_id, problem)
        metrics.ANALYSES.labels("fallback", label).inc()
        self.counts.analyses += 1
        self.counts.fallback_analyses += 1
        return MessageAnalysis(
            message_id=message.message_id,
            customer_id=message.customer_id,
            tx_id=message.tx_id,
            label=label,
            summary=f"Keyword reading only ({(problem or 'no answer')[:120]}).",
            risk_signals=[*signals, *extra],
            source="fallback",
            analysed_at_ms=_now_ms(),
            latency_ms=latency_ms,
        )

    def _emit(self, event: Explanation | MessageAnalysis) -> None:
        if isinstance(event, Explanation):
            topic, key = self.topics.explanations, event.card_id
        else:
            topic, key = self.topics.message_analyses, event.customer_id
        self.producer.produce(
            topic, value=encode(event), key=key.encode(), on_delivery=self.tracker.report
        )


def _wait(future: _Answer, deadline: float) -> tuple[str | MessageReading | None, str | None]:
    """The answer, or None and why there is none (queue full, timeout, model error)."""
    if future is None:
        return None, "queue full"
    try:
        return future.result(timeout=max(deadline - time.monotonic(), 0.0)), None
    except FutureTimeout:
        future.cancel()
        return None, "timeout"
    except RequestExpired as exc:  # in the queue, in the model, or the worker stopping
        return None, f"timeout: {exc}"
    except Exception as exc:  # noqa: BLE001 - whatever the model raised becomes the reason
        return None, f"model error: {type(exc).__name__}: {exc}"


def _now_ms() -> int:
    return int(time.time() * 1000)
