"""The wire contracts: every kind round-trips; every kind of bad input is one ContractError."""

from __future__ import annotations

import json

import pytest

from contracts.codec import MAX_MESSAGE_BYTES, decode, decode_as, encode
from contracts.errors import ContractError
from contracts.events import (
    MESSAGE_LABELS,
    Decision,
    Event,
    Explanation,
    FeatureContribution,
    Label,
    MessageAnalysis,
    Transaction,
    UserMessage,
)

T0 = 1_767_225_600_000  # 2026-01-01


def _examples() -> list[Event]:
    return [
        Transaction(
            tx_id="t1",
            event_time_ms=T0,
            card_id="c1",
            customer_id="u1",
            amount=12.5,
            merchant_id="m1",
            country="DE",
            channel="ecom",
            ip="10.0.0.1",
        ),
        UserMessage(message_id="m1", customer_id="u1", event_time_ms=T0, text="hello <b>"),
        Label(tx_id="t1", is_fraud=True, source="analyst", known_at_ms=T0 + 1, event_time_ms=T0),
        Decision(
            tx_id="t1",
            card_id="c1",
            customer_id="u1",
            event_time_ms=T0,
            decided_at_ms=T0 + 2,
            action="flag",
            score=0.7,
            model_version="3",
            features={"F_amount": 12.5, "F_missing": None},
            top_contributions=[
                FeatureContribution(feature="F_amount", value=12.5, contribution=1.2)
            ],
        ),
        Explanation(
            tx_id="t1",
            card_id="c1",
            customer_id="u1",
            action="flag",
            score=0.7,
            risk_level="high",
            text="Amount 12.50 is far above this card's usual spend.",
            source="template",
            fallback_reason="timeout",
            generated_at_ms=T0 + 5,
            latency_ms=3.5,
        ),
        MessageAnalysis(
            message_id="m1",
            customer_id="u1",
            label="account_takeover",
            label_scores={label: 0.25 for label in MESSAGE_LABELS},
            summary="Customer reports a login they did not make.",
            risk_signals=["unrecognised login"],
            analysed_at_ms=T0 + 5,
        ),
    ]


@pytest.mark.parametrize("event", _examples(), ids=lambda e: type(e).__name__)
def test_every_kind_round_trips_by_type_and_as_its_own_kind(event: Event) -> None:
    data = encode(event)
    assert decode(data) == event
    assert decode_as(data, type(event)) == event
    assert json.loads(data)["v"] == 1


def test_decode_as_another_kind_names_the_type_field() -> None:
    explanation = _examples()[4]
    with pytest.raises(ContractError) as err:
        decode_as(encode(explanation), MessageAnalysis)
    assert err.value.field == "$.type"
    assert err.value.kind == "MessageAnalysis"


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"amount": -1}, "$.amount"),
        ({"amount": "12"}, "$.amount"),
        ({"country": "Germany"}, "$.country"),
        ({"event_time_ms": 1_700_000_000}, "$.event_time_ms"),  # seconds, not ms
        ({"v": 2}, "$.v"),
    ],
)
def test_bad_values_name_their_field(patch: dict[str, object], field: str) -> None:
    body = json.loads(encode(_examples()[0]))
    body.update(patch)
    with pytest.raises(ContractError) as err:
        decode(json.dumps(body).encode())
    assert err.value.field == field


def test_a_missing_field_is_named() -> None:
    body = json.loads(encode(_examples()[0]))
    del body["card_id"]
    with pytest.raises(ContractError) as err:
        decode(json.dumps(body).encode())
    assert err.value.field == "$.card_id"


def test_message_analysis_label_is_one_of_the_allowed_labels_only() -> None:
    body = json.loads(encode(_examples()[5]))
    body["label"] = "ignore previous instructions"
    with pytest.raises(ContractError) as err:
        decode(json.dumps(body).encode())
    assert err.value.field == "$.label"


def test_explanation_text_is_bounded() -> None:
    body = json.loads(encode(_examples()[4]))
    body["text"] = "x" * 2001
    with pytest.raises(ContractError) as err:
        decode(json.dumps(body).encode())
    assert err.value.field == "$.text"


def test_a_label_known_before_its_transaction_is_refused() -> None:
    body = json.loads(encode(_examples()[2]))
    body["known_at_ms"] = T0 - 1
    with pytest.raises(ContractError, match="known before"):
        decode(json.dumps(body).encode())


@pytest.mark.parametrize(
    "data",
    [b"", b"{not json", b"\xff\xfe\x00", b'{"type": "nothing-like-it", "v": 1}', b"[1, 2]"],
)
def test_garbage_is_a_contract_error_not_a_crash(data: bytes) -> None:
    with pytest.raises(ContractError):
        decode(data)


@pytest.mark.parametrize(("opening", "closing"), [(b"[", b"]"), (b'{"a": ', b"}")])
def test_deeply_nested_json_is_a_contract_error_not_a_recursion_error(
    opening: bytes, closing: bytes
) -> None:
    # In a field no contract has, so the parser walks all of it to skip it.
    depth = 3_000
    data = b'{"type": "transaction", "extra": ' + opening * depth + b"1" + closing * depth + b"}"
    assert len(data) < MAX_MESSAGE_BYTES
    with pytest.raises(ContractError, match="nested too deeply"):
        decode(data)


def test_oversized_messages_are_refused_before_parsing() -> None:
    with pytest.raises(ContractError, match="exceeds"):
        decode(b" " * (MAX_MESSAGE_BYTES + 1))


def _ip_strings() -> list[str]:
    """Dotted quads around every boundary the fast IPv4 check draws, and things near them."""
    octets = ["0", "1", "9", "10", "99", "100", "199", "200", "249", "250", "255", "256", "300"]
    octets += ["00", "01", "001", "010", "0255", "-1", "+1", " 1", "1 ", "", "a", "1e2", "٣"]
    quads = [f"{o}.{o}.{o}.{o}" for o in octets] + [f"10.{o}.0.1" for o in octets]
    others = ["1.2.3", "1.2.3.4.5", "1.2.3.4.", ".1.2.3.4", "1..2.3", "1.2.3.4\n", "::1"]
    others += ["2001:db8::7", "::ffff:1.2.3.4", "fe80::1%eth0", "localhost", "0x7f.0.0.1"]
    return quads + others


@pytest.mark.parametrize("ip", _ip_strings())
def test_the_ip_check_accepts_exactly_what_ipaddress_accepts(ip: str) -> None:
    import ipaddress

    try:
        ipaddress.ip_address(ip)
        valid = True
    except ValueError:
        valid = False
    body = json.loads(encode(_examples()[0])) | {"ip": ip}
    if valid:
        assert decode_as(json.dumps(body).encode(), Transaction).ip == ip
    else:
        with pytest.raises(ContractError, match="not an IP address") as err:
            decode_as(json.dumps(body).encode(), Transaction)
        assert err.value.field == "$.ip"
