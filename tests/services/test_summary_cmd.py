"""``fraudstream summary`` counts each transaction once, whatever was redelivered."""

from __future__ import annotations

from click.testing import CliRunner

from contracts.codec import encode
from services.cli.main import cli
from tests.conftest import settings_env
from tests.services.review.events import decision


def test_a_decision_sent_again_on_redelivery_counts_once(settings, kafka_producer) -> None:
    # The scorer sends a redelivered transaction's stored decision again: the
    # shares used to count it twice (here: 3 flags of 4 instead of 1 of 2).
    flagged, allowed = decision(1, action="flag"), decision(2, action="allow")
    for event in (flagged, flagged, flagged, allowed):
        kafka_producer.produce(settings.kafka.topics.decisions, encode(event))
    for reason in (b"Expected `float` > 0.0", b"Expected `float` > 0.0", b"not valid JSON"):
        kafka_producer.produce(
            settings.kafka.topics.dead_letter, b"{}", headers=[("error.reason", reason)]
        )
    kafka_producer.flush(10)
    result = CliRunner().invoke(cli, ["summary"], env=settings_env(settings))
    assert result.exit_code == 0, result.output
    assert "4 messages, 2 transactions (2 sent again on redelivery, counted once)" in result.output
    shares = {line.split()[0]: line.split()[-1] for line in result.output.splitlines()[1:4]}
    assert shares == {"allow": "50.00%", "flag": "50.00%", "block": "0.00%"}
    assert "top reasons of dead letters:" in result.output
    dead = result.output.split("top reasons of dead letters:")[1].splitlines()[1:]
    assert [line.split(maxsplit=1) for line in dead] == [
        ["2", "Expected `float` > 0.0"],
        ["1", "not valid JSON"],
    ]
