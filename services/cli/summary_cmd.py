"""``fraudstream summary``: what the scorer decided, read back from the topics."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from services.kafka.reader import Record

__all__ = ["summary"]


@click.command()
@click.option("--top", default=10, show_default=True, help="How many reason codes to list.")
def summary(top: int) -> None:
    """Decisions by action, top reasons, latency per stage, cases and dead letters."""
    from collections import Counter

    import numpy as np

    from contracts.codec import decode_as
    from contracts.errors import ContractError
    from contracts.events import Decision
    from contracts.settings import load_settings
    from services.kafka.reader import read_topic

    kafka = load_settings().kafka
    decisions: list[Decision] = []
    undecodable = 0
    for record in read_topic(kafka, kafka.topics.decisions):
        try:
            decisions.append(decode_as(record.value, Decision))
        except ContractError:
            undecodable += 1
    cases = len(read_topic(kafka, kafka.topics.cases, idle_ms=500))
    dead = read_topic(kafka, kafka.topics.dead_letter, idle_ms=500)
    # A redelivered transaction's decision is sent again, the same: count each
    # transaction once (its first decision), or shares and latencies lean
    # towards whatever was redelivered.
    messages = len(decisions)
    decisions = list({d.tx_id: d for d in reversed(decisions)}.values())[::-1]
    click.echo(
        f"decisions: {messages:,} messages, {len(decisions):,} transactions "
        f"({messages - len(decisions):,} sent again on redelivery, counted once)"
    )
    if not decisions:
        return
    actions = Counter(d.action for d in decisions)
    for action in ("allow", "flag", "block"):
        n = actions.get(action, 0)
        click.echo(f"  {action:6s} {n:8,}  {n / len(decisions):7.2%}")
    click.echo(f"  cold start {sum(d.cold_start for d in decisions):,}, "
               f"degraded {sum(d.degraded for d in decisions):,}")  # fmt: skip
    models = Counter(d.model_version for d in decisions)
    rule_sets = Counter(d.rule_set_version for d in decisions)
    click.echo(f"  models: {dict(models)}; rule sets: {dict(rule_sets)}")
    reasons = Counter(r for d in decisions if d.action != "allow" for r in d.reasons)
    click.echo("top reasons of flag/block decisions:")
    for reason, n in reasons.most_common(top):
        click.echo(f"  {reason:32s} {n:6,}")
    click.echo("in-process latency per batch, ms (p50 / p99):")
    for stage in ("features", "model", "rules", "explain", "total"):
        values = np.array([d.timings_ms[stage] for d in decisions if stage in d.timings_ms])
        if len(values):
            p50, p99 = np.percentile(values, [50, 99])
            click.echo(f"  {stage:9s} {p50:8.2f} / {p99:8.2f}")
    click.echo(
        f"cases: {cases:,}; dead letters: {len(dead):,}; undecodable decisions: {undecodable}"
    )
    _dead_letter_reasons(dead, top)


def _dead_letter_reasons(dead: list[Record], top: int) -> None:
    """The commonest reasons records were dead-lettered (the topic's ``error.reason``)."""
    from collections import Counter

    reasons = Counter(
        next((v.decode("utf-8", "replace") for k, v in r.headers if k == "error.reason" and v),
             "(no reason header)")
        for r in dead
    )  # fmt: skip
    if reasons:
        click.echo("top reasons of dead letters:")
    for reason, n in reasons.most_common(top):
        click.echo(f"  {n:6,}  {reason[:120]}")
