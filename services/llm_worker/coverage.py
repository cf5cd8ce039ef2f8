"""Did every flagged case get its explanation? Read ``cases`` and ``explanations`` and compare."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from contracts.codec import decode
from contracts.errors import ContractError
from contracts.events import Decision, Explanation
from contracts.settings import KafkaSettings
from services.bench.stats import percentiles_ms
from services.kafka.reader import read_topic

__all__ = ["Coverage", "explanation_coverage"]


@dataclass(frozen=True)
class Coverage:
    cases: int
    explained: int
    missing: list[str]
    #: Cases with more than one explanation (a redelivery after a crash).
    repeated: int
    sources: Counter[str] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)
    model_latency_ms: dict[str, float] = field(default_factory=dict)

    def report(self) -> str:
        lines = [
            f"cases: {self.cases}, explained: {self.explained}, missing: {len(self.missing)}, "
            f"explained more than once: {self.repeated}",
            "by source: " + ", ".join(f"{k} {v}" for k, v in sorted(self.sources.items())),
        ]
        if self.reasons:
            lines.append(
                "template reasons: " + ", ".join(f"{k} {v}" for k, v in self.reasons.most_common())
            )
        if self.model_latency_ms:
            p = self.model_latency_ms
            lines.append(f"model explanations: p50 {p['p50']:.0f} ms, p99 {p['p99']:.0f} ms")
        if self.missing:
            lines.append(f"first missing: {', '.join(self.missing[:5])}")
        return "\n".join(lines)


def explanation_coverage(kafka: KafkaSettings, *, idle_ms: int = 2000) -> Coverage:
    """Compare the flagged cases on ``cases`` with the explanations on ``explanations``."""
    cases: set[str] = set()
    for record in read_topic(kafka, kafka.topics.cases, idle_ms=idle_ms):
        event = _decoded(record.value)
        if isinstance(event, Decision) and event.action != "allow":
            cases.add(event.tx_id)
    counts: Counter[str] = Counter()
    sources: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    latencies: list[float] = []
    for record in read_topic(kafka, kafka.topics.explanations, idle_ms=idle_ms):
        event = _decoded(record.value)
        if not isinstance(event, Explanation):
            continue
        counts[event.tx_id] += 1
        sources[event.source] += 1
        if event.source == "template":
            reasons[(event.fallback_reason or "").split(":", 1)[0]] += 1
        else:
            latencies.append(event.latency_ms / 1000)
    return Coverage(
        cases=len(cases),
        explained=len(cases & set(counts)),
        missing=sorted(cases - set(counts)),
        repeated=sum(1 for n in counts.values() if n > 1),
        sources=sources,
        reasons=reasons,
        model_latency_ms=percentiles_ms(latencies) if latencies else {},
    )


def _decoded(value: bytes) -> object:
    try:
        return decode(value)
    except ContractError:
        return None
