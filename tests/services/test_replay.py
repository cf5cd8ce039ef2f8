"""``fraudstream replay``: reading, normalising, validating, ordering, policies, Kafka."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import pandas as pd
import pytest
from click.testing import CliRunner

from contracts.events import Label, Transaction
from contracts.settings import Settings
from services.cli.main import cli
from services.replay.exceptions import ReplayInputError, RowsRejectedError
from services.replay.normalise import normalise, normalise_file
from services.replay.options import ReplayOptions, load_map_file, parse_duration_ms, parse_map_items
from services.replay.pacing import Pacer
from services.replay.records import AcceptedRow, RejectedRow, interleave_labels, iter_rows
from services.replay.runner import run_replay
from services.replay.timecols import to_epoch_ms

DATA = Path(__file__).parent / "data"
SPARKOV = DATA / "sparkov_sample.csv"
CUSTOM = DATA / "history_custom.csv"
BAD_ROWS = DATA / "history_bad_rows.csv"
CUSTOM_MAP = load_map_file(DATA / "history_custom.map.yaml")
NOW_MS = 1_760_000_000_000  # 2025-10-09, pinned so rebased times are exact
T0_MS = int(datetime(2025, 3, 1, 10, 0, tzinfo=UTC).timestamp() * 1000)


class RecordingSink:
    """A ReplaySink that keeps everything in order, acknowledging each send at once."""

    def __init__(self) -> None:
        self.sent: list[Transaction | Label | RejectedRow] = []
        self.delivered: Counter[str] = Counter()
        self.delivery_errors = 0
        self.first_delivery_error: str | None = None
        self.closed = False

    def send_transaction(self, transaction: Transaction) -> None:
        self.sent.append(transaction)
        self.delivered["transactions"] += 1

    def send_label(self, label: Label) -> None:
        self.sent.append(label)
        self.delivered["labels"] += 1

    def send_dead_letter(self, rejected: RejectedRow) -> None:
        self.sent.append(rejected)
        self.delivered["dead_letters"] += 1

    def close(self) -> None:
        self.closed = True


def custom_options(**changes: Any) -> ReplayOptions:
    return ReplayOptions(column_map=CUSTOM_MAP, label_column="chargeback", **changes)


def accepted(path: Path, options: ReplayOptions) -> list[AcceptedRow]:
    rows = list(iter_rows(normalise_file(path, options)))
    good = [row for row in rows if isinstance(row, AcceptedRow)]
    assert len(good) == len(rows), [row for row in rows if isinstance(row, RejectedRow)]
    return good


# -- column mapping --------------------------------------------------------------------


def test_map_file_and_map_items_rename_columns_onto_fields():
    rows = accepted(CUSTOM, custom_options())
    first = rows[0].transaction
    assert (first.card_id, first.customer_id, first.amount, first.merchant_id) == (
        "tok-A", "cust-1", 12.5, "m-1",
    )  # fmt: skip
    assert (first.country, first.channel, first.device_id, first.ip) == (
        "DE",
        "ecom",
        "dev-1",
        "192.0.2.10",
    )
    assert first.currency == "EUR"  # the built-in default: the file has no currency
    assert parse_map_items(["card_id=pan_token,amount=amount_eur", "ip=client_ip"]) == {
        "card_id": "pan_token", "amount": "amount_eur", "ip": "client_ip",
    }  # fmt: skip


def test_derived_fields_customer_from_card_and_a_stable_label_independent_tx_id(tmp_path):
    rows = accepted(CUSTOM, custom_options())
    blank_customer = next(row for row in rows if row.row == 3)  # customer left blank in the file
    assert blank_customer.transaction.customer_id == "tok-C"
    tx_ids = [row.transaction.tx_id for row in rows]
    assert len(set(tx_ids)) == len(rows) and all(tx_id.startswith("row-") for tx_id in tx_ids)
    assert tx_ids == [row.transaction.tx_id for row in accepted(CUSTOM, custom_options())]

    relabelled = pd.read_csv(CUSTOM, dtype=str)
    relabelled["chargeback"] = "1"  # a corrected label must not change the payment's id
    relabelled.loc[0, "amount_eur"] = "81.00"  # ... but a changed amount must
    path = tmp_path / "relabelled.csv"
    relabelled.to_csv(path, index=False)
    again = {row.row: row.transaction.tx_id for row in accepted(path, custom_options())}
    before = {row.row: row.transaction.tx_id for row in rows}
    assert [row for row in before if before[row] != again[row]] == [1]


def test_identical_rows_share_a_derived_tx_id_and_the_report_says_so(tmp_path):
    lines = CUSTOM.read_text(encoding="utf-8").splitlines()
    path = tmp_path / "duplicated.csv"
    path.write_text("\n".join([*lines, lines[1]]) + "\n", encoding="utf-8")  # an export glitch
    normalised = normalise_file(path, custom_options())
    rows = [row for row in iter_rows(normalised) if isinstance(row, AcceptedRow)]
    twins = [row.transaction.tx_id for row in rows if row.row in (1, 13)]
    assert len(rows) == 13 and len(twins) == 2 and twins[0] == twins[1]
    assert any("1 row(s) repeat an earlier row's tx_id" in note for note in normalised.notes)


def test_mapping_problems_are_reported_up_front_with_what_would_fix_them():
    with pytest.raises(ReplayInputError, match="unknown field.*amount_eur"):
        ReplayOptions(column_map={"amount_eur": "amount_eur"})
    with pytest.raises(ReplayInputError, match="did you mean pan_token"):
        normalise_file(CUSTOM, ReplayOptions(column_map={**CUSTOM_MAP, "card_id": "pan_tokn"}))
    without_country = {k: v for k, v in CUSTOM_MAP.items() if k != "country"}
    with pytest.raises(ReplayInputError, match=r"country \(or --default-country"):
        normalise_file(CUSTOM, ReplayOptions(column_map=without_country))
    defaulted = accepted(CUSTOM, ReplayOptions(column_map=without_country, default_country="at"))
    assert {row.transaction.country for row in defaulted} == {"AT"}
    with pytest.raises(ReplayInputError, match="default-channel"):
        ReplayOptions(default_channel="web")


# -- the Sparkov preset ----------------------------------------------------------------


def test_sparkov_preset_maps_derives_and_rebases_a_kaggle_layout():
    rows = accepted(SPARKOV, ReplayOptions(preset="sparkov", now_ms=NOW_MS))
    assert len(rows) == 10
    by_tx = {row.transaction.tx_id: row for row in rows}

    net = by_tx["0b242abb623afc578575680df30655b9"].transaction  # misc_net, file row 2
    assert (net.card_id, net.amount, net.merchant_id) == (
        "2703186189652095",
        4.97,
        "fraud_Rippin, Kub and Mann",
    )
    assert (net.mcc, net.channel, net.card_bin) == ("5999", "ecom", "270318")
    assert (net.country, net.currency, net.customer_id) == ("US", "USD", "2703186189652095")
    assert (net.lat, net.lon) == (36.011293, -82.048315)  # the merchant's place, not the home
    gas = by_tx["4f0b4d8e7cd2dd8d8d5c8bd4e5e0a3a1"].transaction
    assert (gas.mcc, gas.channel) == ("5541", "pos")
    travel = by_tx["d0f8a6a3c4b2e1f90d8c7b6a5e4d3c2b"].transaction
    assert (travel.mcc, travel.channel) == ("4722", "pos")  # no suffix: the default channel
    assert by_tx["a1a22d70485983eac12b5b88dad1cf95"].transaction.card_bin == "476726"
    assert by_tx["1f76529f8574734946361c461b024d99"].transaction.card_bin == "630423"  # 12 digits

    # 2019 history (before the contract's 2020 floor) is rebased to end exactly at "now".
    times = [row.transaction.event_time_ms for row in rows]
    assert max(times) == NOW_MS
    assert max(times) - min(times) == (6 * 60 + 23 - 18) * 1000  # 00:00:18 .. 00:06:23 kept
    fraud = sorted(row.transaction.tx_id for row in rows if row.label and row.label.is_fraud)
    assert fraud == ["7bd3ab1c54e6f1ab3f9ad1c2e8a4e0f2", "d0f8a6a3c4b2e1f90d8c7b6a5e4d3c2b"]


def test_sparkov_without_rebase_rejects_2019_times_naming_the_field():
    normalised = normalise_file(SPARKOV, ReplayOptions(preset="sparkov", rebase_now=False))
    rows = list(iter_rows(normalised))
    rejected = [row for row in rows if isinstance(row, RejectedRow)]
    assert len(rejected) == len(rows) == 10
    assert {row.error.field for row in rejected} == {"$.event_time_ms"}


# -- event-time order ------------------------------------------------------------------


def test_a_shuffled_file_comes_out_in_event_time_order_ties_in_file_order():
    rows = accepted(CUSTOM, custom_options())
    times = [row.transaction.event_time_ms for row in rows]
    assert times == sorted(times)
    assert rows[0].row == 2 and rows[-1].row == 4  # 10:00:05 first, 10:09:30 last
    same_second = [row.row for row in rows if row.transaction.event_time_ms == T0_MS + 180_000]
    assert same_second == [3, 5]  # both at 10:03:00: file order kept (stable sort)
    offset = next(row for row in rows if row.row == 6).transaction
    assert offset.event_time_ms == T0_MS + 4 * 60_000  # 11:04:00+01:00 is 10:04:00Z


# -- cells that look like pandas' NA spellings --------------------------------------------


def _na_lookalikes_csv(path: Path) -> Path:
    path.write_text(
        "tx_id,event_time_ms,card_id,amount,merchant_id,country\n"
        f"t1,{T0_MS},c1,10.0,m1,NA\n"  # Namibia
        f"t2,{T0_MS + 1},None,11.0,NULL,DE\n"
        f"NA,{T0_MS + 2},c3,12.0,m3,\n"
        f"t4,{T0_MS + 3},c4,abc,N/A,NA\n"
        f"t5,{T0_MS + 4},c5,13.0,NULL,DE\n",
        encoding="utf-8",
    )
    return path


def test_na_spellings_in_a_csv_are_missing_except_namibia_in_the_country(tmp_path):
    normalised = normalise_file(
        _na_lookalikes_csv(tmp_path / "na.csv"), ReplayOptions(default_country="FR")
    )
    rows = {row.row: row for row in iter_rows(normalised)}
    cells = {
        number: (row.transaction.tx_id, row.transaction.card_id, row.transaction.merchant_id,
                 row.transaction.country)
        for number, row in rows.items()
        if isinstance(row, AcceptedRow)
    }  # fmt: skip
    derived_id = cells[3][0]
    assert derived_id.startswith("row-")  # an NA tx_id is missing: the row's hash stands in
    assert cells == {1: ("t1", "c1", "m1", "NA"), 3: (derived_id, "c3", "m3", "FR")}
    reasons = {
        number: (row.error.field, row.error.problem)
        for number, row in rows.items()
        if isinstance(row, RejectedRow)
    }
    assert reasons == {
        2: ("$.card_id", "Object missing required field `card_id`"),
        4: ("$.amount", "Expected `float`, got `str` (value: 'abc')"),
        5: ("$.merchant_id", "Object missing required field `merchant_id`"),
    }
    dead = rows[4]  # a dead letter carries the cells as the file spelled them
    assert isinstance(dead, RejectedRow)
    assert (dead.raw["merchant_id"], dead.raw["country"]) == ("N/A", "NA")


def test_na_like_text_in_a_parquet_file_is_a_value(tmp_path):
    frame = pd.read_csv(_na_lookalikes_csv(tmp_path / "na.csv"), dtype=str, keep_default_na=False)
    frame = frame.replace({"": None})
    frame.to_parquet(tmp_path / "na.parquet")
    normalised = normalise_file(tmp_path / "na.parquet", ReplayOptions(default_country="FR"))
    cells = [
        (row.transaction.tx_id, row.transaction.card_id, row.transaction.merchant_id,
         row.transaction.country)
        for row in iter_rows(normalised)
        if isinstance(row, AcceptedRow)
    ]  # fmt: skip
    assert cells == [
        ("t1", "c1", "m1", "NA"),
        ("t2", "None", "NULL", "DE"),
        ("NA", "c3", "m3", "FR"),
        ("t5", "c5", "NULL", "DE"),
    ]


_PANDAS_NA_SPELLINGS = ["NA", "NULL", "None", "null", "NaN", "nan", "N/A", "n/a", "#N/A", "<NA>"]


@pytest.mark.parametrize("spelling", _PANDAS_NA_SPELLINGS)
def test_an_na_spelling_in_lat_lon_is_missing_and_the_row_goes_without_geo(tmp_path, spelling):
    path = tmp_path / "r_export.csv"
    path.write_text(
        "tx_id,event_time_ms,card_id,amount,merchant_id,country,lat,lon\n"
        f"t1,{T0_MS},c1,10.0,m1,DE,{spelling},{spelling}\n"  # R writes a missing number as NA
        f"t2,{T0_MS + 1},c2,11.0,m1,DE,52.5,13.4\n",
        encoding="utf-8",
    )
    geo = [(row.transaction.lat, row.transaction.lon) for row in accepted(path, ReplayOptions())]
    assert geo == [(None, None), (52.5, 13.4)]


def test_a_null_device_is_no_device_not_one_device_shared_by_every_card(tmp_path):
    path = tmp_path / "sql_export.csv"
    path.write_text(
        "tx_id,event_time_ms,card_id,amount,merchant_id,country,device_id,is_fraud\n"
        f"t1,{T0_MS},c1,10.0,m1,DE,NULL,0\n"
        f"t2,{T0_MS + 1},c2,11.0,m1,DE,NULL,1\n"
        f"t3,{T0_MS + 2},c3,12.0,m1,DE, None ,0\n"
        f"t4,{T0_MS + 3},c4,13.0,m1,DE,d4,0\n",
        encoding="utf-8",
    )
    rows = accepted(path, ReplayOptions())
    assert [row.transaction.device_id for row in rows] == [None, None, None, "d4"]
    assert [row.label.device_id for row in rows if row.label] == [None, None, None, "d4"]


def test_an_na_label_is_unlabelled_and_an_na_known_time_falls_back_to_the_delay(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text(
        "tx_id,event_time_ms,card_id,amount,merchant_id,country,is_fraud,label_known_at_ms\n"
        f"t1,{T0_MS},c1,10.0,m1,DE,NA,NA\n"
        f"t2,{T0_MS + 1},c2,11.0,m1,DE,1,NA\n"
        f"t3,{T0_MS + 2},c3,12.0,m1,DE,NULL,\n",
        encoding="utf-8",
    )
    delay = parse_duration_ms("1h")
    labels = {row.row: row.label for row in accepted(path, ReplayOptions(label_delay_ms=delay))}
    assert labels[1] is None and labels[3] is None
    fraud = labels[2]
    assert fraud is not None and fraud.is_fraud and fraud.known_at_ms == T0_MS + 1 + delay


def test_a_mapped_country_column_keeps_namibia_while_na_elsewhere_is_missing(tmp_path):
    path = tmp_path / "mapped.csv"
    path.write_text(
        "ref,ts,card,amt,shop,cc,handset\n"
        f"t1,{T0_MS},c1,10.0,m1,NA,NA\n"  # Namibia, and no device
        f"t2,{T0_MS + 1},c2,11.0,m1,NULL,d2\n"  # NULL is no country code: the default fills it
        f"t3,{T0_MS + 2},c3,12.0,m1,,d3\n",
        encoding="utf-8",
    )
    columns = {
        "tx_id": "ref", "event_time_ms": "ts", "card_id": "card", "amount": "amt",
        "merchant_id": "shop", "country": "cc", "device_id": "handset",
    }  # fmt: skip
    rows = accepted(path, ReplayOptions(column_map=columns, default_country="DE"))
    cells = [(row.transaction.country, row.transaction.device_id) for row in rows]
    assert cells == [("NA", None), ("DE", "d2"), ("DE", "d3")]


# -- time formats ----------------------------------------------------------------------

_INSTANT = datetime(2025, 3, 1, 10, 0, 5, 250_000, tzinfo=UTC)
_INSTANT_MS = int(_INSTANT.timestamp() * 1000)


@pytest.mark.parametrize(
    ("values", "unit", "read_as"),
    [
        ([_INSTANT.timestamp()], "auto", "epoch s"),
        ([str(_INSTANT.timestamp())], "auto", "epoch s"),
        ([_INSTANT_MS], "auto", "epoch ms"),
        ([str(_INSTANT_MS)], "auto", "epoch ms"),
        ([_INSTANT_MS * 1000], "auto", "epoch us"),
        ([_INSTANT_MS * 1_000_000], "auto", "epoch ns"),
        ([_INSTANT_MS], "ms", "epoch ms"),
        (["2025-03-01T10:00:05.250Z"], "auto", "iso"),
        (["2025-03-01 11:00:05.250+01:00"], "iso", "iso"),
        (["2025-03-01 10:00:05.250"], "auto", "iso"),  # no zone: UTC
        (pd.to_datetime(["2025-03-01 10:00:05.250"]), "auto", "datetime"),
        (
            pd.to_datetime(["2025-03-01 11:00:05.250"]).tz_localize("Europe/Paris"),
            "auto",
            "datetime",
        ),
    ],
)
def test_time_columns_in_every_common_form_become_the_same_epoch_ms(values, unit, read_as):
    millis, how = to_epoch_ms(pd.Series(values), unit)
    assert (millis.tolist(), how) == ([_INSTANT_MS], read_as)


def test_unreadable_times_become_row_errors_and_a_wrong_unit_fails_the_contract(tmp_path):
    millis, how = to_epoch_ms(pd.Series(["2025-03-01T10:00:00Z", "next tuesday", None]))
    assert how == "iso" and millis.isna().tolist() == [False, True, True]
    frame = pd.DataFrame(
        {"t": [str(T0_MS), str(T0_MS + 1)], "card_id": ["c", "c"], "amount": ["1", "2"]}
    )
    frame = frame.assign(merchant_id="m", country="DE")
    as_seconds = list(
        iter_rows(normalise(frame, ReplayOptions(column_map={"event_time_ms": "t"}, time_unit="s")))
    )
    rejected = [row for row in as_seconds if isinstance(row, RejectedRow)]
    assert len(rejected) == len(as_seconds) == 2
    assert "<= 4102444799999 (value: 1740823200000000)" in rejected[0].error.problem


def test_one_bad_cell_in_an_epoch_column_rejects_that_row_only(tmp_path):
    lines = ["tx_id,event_time_ms,card_id,amount,merchant_id,country"]
    lines += [f"t{i},{T0_MS // 1000 + i},c{i},10.0,m1,DE" for i in range(9)]
    lines.insert(5, "typo,2025-13-45,c9,10.0,m1,DE")  # row 5 of the file
    path = tmp_path / "poison.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    normalised = normalise_file(path, ReplayOptions())
    assert normalised.time_read_as == "epoch s"
    rows = list(iter_rows(normalised))
    rejected = [row.rejection for row in rows if isinstance(row, RejectedRow)]
    assert [(r.row, r.field) for r in rejected] == [(5, "$.event_time_ms")]
    assert "'2025-13-45'" in rejected[0].problem and "epoch s" in rejected[0].problem
    times = [row.transaction.event_time_ms for row in rows if isinstance(row, AcceptedRow)]
    assert times == [T0_MS + 1000 * i for i in range(9)]


@pytest.mark.parametrize(
    ("cells", "read_as", "unreadable"),
    [
        ([str(_INSTANT_MS), str(_INSTANT_MS), "yesterday"], "epoch ms", [False, False, True]),
        ([str(_INSTANT_MS), "2025-03-01T10:00:05.250Z", "2025-03-01 10:00:05.250"], "iso",
         [True, False, False]),
        ([str(_INSTANT_MS), None, "  "], "epoch ms", [False, True, True]),
    ],
)  # fmt: skip
def test_a_mixed_time_column_is_read_in_the_format_most_cells_have(cells, read_as, unreadable):
    millis, how = to_epoch_ms(pd.Series(cells, dtype="str"), "auto")
    assert how == read_as and millis.isna().tolist() == unreadable
    assert set(millis.dropna().tolist()) == {_INSTANT_MS}


def test_parquet_with_typed_columns_gives_the_same_transactions_as_csv(tmp_path):
    # What pandas makes of the Kaggle CSV by default: int64 card numbers, float amounts,
    # int labels, and here real datetimes for the time column.
    typed = pd.read_csv(SPARKOV).assign(
        trans_date_trans_time=lambda frame: pd.to_datetime(frame["trans_date_trans_time"])
    )
    assert typed["cc_num"].dtype == "int64" and typed["is_fraud"].dtype == "int64"
    path = tmp_path / "sparkov.parquet"
    typed.to_parquet(path)
    options = ReplayOptions(preset="sparkov", now_ms=NOW_MS)
    from_csv = [(row.row, row.transaction, row.label) for row in accepted(SPARKOV, options)]
    from_parquet = [(row.row, row.transaction, row.label) for row in accepted(path, options)]
    assert len(from_csv) == 10 and from_parquet == from_csv


# -- labels ----------------------------------------------------------------------------


def test_label_column_becomes_label_events_known_after_the_delay():
    delay = parse_duration_ms("5m")
    rows = accepted(CUSTOM, custom_options(label_delay_ms=delay))
    labels = {row.row: row.label for row in rows}
    assert labels[3] is None  # blank label cell: unlabelled, not an error
    fraud = labels[4]
    assert fraud is not None and fraud.is_fraud and fraud.source == "import"
    tx = next(row for row in rows if row.row == 4).transaction
    assert (fraud.tx_id, fraud.event_time_ms, fraud.known_at_ms) == (
        tx.tx_id,
        tx.event_time_ms,
        tx.event_time_ms + delay,
    )
    assert (fraud.card_id, fraud.device_id, fraud.ip, fraud.merchant_id) == (
        "tok-A",
        "dev-9",
        "203.0.113.9",
        "m-9",
    )
    flags = [getattr(labels[row], "is_fraud", None) for row in (2, 8, 9, 10)]
    assert flags == [False, True, False, True]  # no / 1 / no / true


def test_labels_enter_the_stream_at_their_known_time():
    normalised = normalise_file(CUSTOM, custom_options(label_delay_ms=parse_duration_ms("2m")))
    stream = list(interleave_labels(iter_rows(normalised)))
    clock = [item.pace_ms for item in stream if item.pace_ms is not None]
    assert clock == sorted(clock)
    last_tx_ms = max(row.transaction.event_time_ms for row in accepted(CUSTOM, custom_options()))
    trailing = [item.item for item in stream if item.pace_ms is None]
    assert trailing and all(
        isinstance(label, Label) and label.known_at_ms > last_tx_ms for label in trailing
    )
    first_label = next(index for index, item in enumerate(stream) if isinstance(item.item, Label))
    # The 10:00:05 label (known 10:02:05) follows the 10:02:00 payment, precedes 10:03:00.
    before, label = stream[first_label - 1].item, stream[first_label].item
    assert isinstance(before, AcceptedRow) and before.transaction.event_time_ms == T0_MS + 120_000
    assert isinstance(label, Label) and label.known_at_ms == T0_MS + 125_000


@pytest.mark.parametrize(
    ("cell", "flag"),
    [("1", True), ("Yes", True), ("fraud", True), ("0", False), ("FALSE", False), ("n", False)],
)
def test_label_spellings(cell, flag):
    frame = pd.DataFrame(
        {
            "event_time_ms": [str(T0_MS)],
            "card_id": ["c"],
            "amount": ["1"],
            "merchant_id": ["m"],
            "is_fraud": [cell],
        }
    )
    [row] = iter_rows(normalise(frame, ReplayOptions(default_country="DE")))
    assert isinstance(row, AcceptedRow) and row.label is not None and row.label.is_fraud is flag


# -- bad rows and --on-error -----------------------------------------------------------

_BAD = {2: "$.amount", 4: "$.amount", 5: "$.event_time_ms", 6: "$.is_fraud", 7: "$.ip"}


def test_on_error_fail_sends_and_writes_nothing_and_lists_every_bad_row(tmp_path):
    sink, out, errors = RecordingSink(), tmp_path / "out.parquet", tmp_path / "errors.csv"
    with pytest.raises(RowsRejectedError) as caught:
        run_replay(
            normalise_file(BAD_ROWS, custom_options()),
            sink=sink,
            on_error="fail",
            out=out,
            errors_out=errors,
        )
    assert caught.value.rejected == 5
    assert {example.row: example.field for example in caught.value.examples} == _BAD
    assert sink.sent == [] and not out.exists()
    written = pd.read_csv(errors)
    assert dict(zip(written["row"], written["field"], strict=True)) == _BAD
    assert "got `str` (value: 'abc')" in written.set_index("row").loc[2, "problem"]


def test_on_error_skip_sends_the_valid_rows_and_reports_the_rest():
    sink = RecordingSink()
    report = run_replay(normalise_file(BAD_ROWS, custom_options()), sink=sink, on_error="skip")
    assert (report.accepted, report.rejected, report.labels) == (3, 5, 3)
    assert {example.row: example.field for example in report.examples} == _BAD
    assert [tx.amount for tx in sink.sent if isinstance(tx, Transaction)] == [10.0, 20.0, 60.0]
    assert not any(isinstance(item, RejectedRow) for item in sink.sent) and sink.closed
    assert report.ok and "5 rejected (--on-error skip)" in "\n".join(report.lines())


def test_on_error_dead_letter_sends_each_raw_row_with_its_reason():
    sink = RecordingSink()
    report = run_replay(
        normalise_file(BAD_ROWS, custom_options()), sink=sink, on_error="dead-letter"
    )
    dead = [item for item in sink.sent if isinstance(item, RejectedRow)]
    assert {item.row: item.error.field for item in dead} == _BAD and report.rejected == 5
    ip_row = next(item for item in dead if item.row == 7)
    assert ip_row.raw["client_ip"] == "999.1.1.1" and ip_row.raw["notes"] == "not an IP address"


# -- files out, command line, pacing ----------------------------------------------------


def test_out_parquet_replays_again_with_no_options(tmp_path):
    out = tmp_path / "normalised.parquet"
    report = run_replay(normalise_file(CUSTOM, custom_options()), sink=None, out=out)
    assert report.written == 12
    first = accepted(CUSTOM, custom_options())
    again = accepted(out, ReplayOptions())  # field-named columns, is_fraud picked up by itself
    assert [(row.transaction, row.label) for row in again] == [
        (row.transaction, row.label) for row in first
    ]


def test_out_parquet_replays_its_label_known_times_not_the_default_delay(tmp_path):
    out = tmp_path / "normalised.parquet"
    hour = parse_duration_ms("1h")
    run_replay(normalise_file(CUSTOM, custom_options(label_delay_ms=hour)), sink=None, out=out)
    again = accepted(out, ReplayOptions())  # no options: the default delay is a week
    delays = {row.label.known_at_ms - row.transaction.event_time_ms for row in again if row.label}
    assert delays == {hour}

    # An empty cell (a label added by hand, say) falls back to event time + the delay.
    edited = pd.read_parquet(out)
    labelled = edited.index[edited["is_fraud"].notna()]
    edited.loc[labelled[0], "label_known_at_ms"] = None
    edited.to_parquet(out)
    delays = [
        row.label.known_at_ms - row.transaction.event_time_ms
        for row in accepted(out, ReplayOptions(label_delay_ms=5))
        if row.label
    ]
    assert sorted(delays) == [5] + [hour] * (len(labelled) - 1)


def test_label_known_times_move_with_a_rebase_and_bad_ones_are_row_errors():
    frame = pd.DataFrame(
        {
            "event_time_ms": [str(T0_MS), str(T0_MS + 1)],
            "card_id": ["c", "c"],
            "amount": ["1", "2"],
            "merchant_id": ["m", "m"],
            "is_fraud": ["1", "0"],
            "label_known_at_ms": [str(T0_MS + 60_000), "soon"],
        }
    )
    options = ReplayOptions(default_country="DE", rebase_now=True, now_ms=NOW_MS)
    first, second = iter_rows(normalise(frame, options))
    assert isinstance(first, AcceptedRow) and first.label is not None
    assert first.label.known_at_ms == first.transaction.event_time_ms + 60_000
    assert isinstance(second, RejectedRow) and second.error.field == "$.label_known_at_ms"
    assert "'soon'" in second.error.problem

    frame.loc[1, "label_known_at_ms"] = str(T0_MS)  # known before its payment at T0 + 1
    [_, too_early] = iter_rows(normalise(frame, ReplayOptions(default_country="DE")))
    assert isinstance(too_early, RejectedRow) and too_early.error.field == "$.label_known_at_ms"
    assert "known before its transaction" in too_early.error.problem


def test_cli_dry_run_reports_without_a_broker(tmp_path):
    out = tmp_path / "sparkov.parquet"
    result = CliRunner().invoke(
        cli, ["replay", str(SPARKOV), "--preset", "sparkov", "--dry-run", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert (
        "10 transactions, 10 labels, 0 rejected" in result.output
        and "nothing (dry run)" in result.output
    )
    assert pd.read_parquet(out)["is_fraud"].sum() == 2


def test_cli_map_options_and_fail_policy(tmp_path):
    args = [
        "replay",
        str(BAD_ROWS),
        "--map-file",
        str(DATA / "history_custom.map.yaml"),
        "--label-column",
        "chargeback",
    ]
    failed = CliRunner().invoke(cli, [*args, "--dry-run"])
    assert isinstance(failed.exception, RowsRejectedError) and failed.exception.rejected == 5
    skipped = CliRunner().invoke(
        cli, [*args, "--map", "device_id=notes", "--dry-run", "--on-error", "skip"]
    )
    assert skipped.exit_code == 0 and "3 transactions, 3 labels, 5 rejected" in skipped.output
    assert "device_id <- column notes" in skipped.output


def test_command_module_imports_without_pandas():
    code = "import sys, services.cli.replay_cmd; print('pandas' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


def test_pacer_follows_event_time_at_speed_and_caps_the_rate():
    now, slept = [100.0], []

    def sleep(seconds: float) -> None:
        slept.append(round(seconds, 6))
        now[0] += seconds

    fast = Pacer(speed=10, clock=lambda: now[0], sleep=sleep)
    for stream_ms in (0, 1_000, 1_000, 5_000):  # 10x: 0.1 s, 0 s, 0.4 s apart
        fast.wait(stream_ms)
    assert slept == [0.1, 0.4]
    slept.clear()
    capped = Pacer(rate=4, clock=lambda: now[0], sleep=sleep)
    for _ in range(5):
        capped.wait(None)
    assert slept == [0.25, 0.25, 0.25, 0.25]
    slept.clear()
    Pacer().wait(10**12)  # speed 0 and no rate: never waits
    assert slept == []


# -- into a real broker ----------------------------------------------------------------


def test_replay_into_the_broker_comes_back_in_event_time_order_per_card(
    settings: Settings, consume_all
):
    topics = settings.kafka.topics
    mapping = ["--map-file", str(DATA / "history_custom.map.yaml"), "--label-column", "chargeback"]
    result = CliRunner().invoke(cli, ["replay", str(CUSTOM), *mapping, "--no-progress"])
    assert result.exit_code == 0, result.output
    assert (
        "sent        transactions 12, labels 11, dead_letters 0; delivery errors 0" in result.output
    )

    expected: dict[str, list[str]] = defaultdict(list)
    for row in accepted(CUSTOM, custom_options()):
        expected[row.transaction.card_id].append(row.transaction.tx_id)
    consumed: dict[str, list[str]] = defaultdict(list)
    for tx in consume_all(settings, topics.transactions, count=12):
        assert isinstance(tx, Transaction)
        consumed[tx.card_id].append(tx.tx_id)
    assert consumed == expected  # every card's payments, in event-time order
    labels = [
        label
        for label in consume_all(settings, topics.labels, count=11)
        if isinstance(label, Label)
    ]
    assert sorted(label.is_fraud for label in labels) == [False] * 8 + [True] * 3
    assert {label.source for label in labels} == {"import"}

    result = CliRunner().invoke(
        cli, ["replay", str(BAD_ROWS), *mapping, "--on-error", "dead-letter"]
    )
    assert result.exit_code == 0, result.output
    dead = _read_with_headers(settings, topics.dead_letter, count=5)
    by_row = {headers["source.row"]: (headers, value) for headers, value in dead}
    assert {int(row): headers["error.field"] for row, (headers, _) in by_row.items()} == _BAD
    headers, value = by_row["7"]
    assert (
        headers["source.file"] == str(BAD_ROWS) and "not an IP address" in headers["error.reason"]
    )
    assert json.loads(value)["client_ip"] == "999.1.1.1"


def _read_with_headers(
    settings: Settings, topic: str, count: int
) -> list[tuple[dict[str, str], bytes]]:
    """Messages with their headers (the shared reader keeps none), no consumer group."""
    from confluent_kafka import OFFSET_BEGINNING, TopicPartition

    from services.kafka.clients import make_consumer

    consumer = make_consumer(settings.kafka, group_id=f"replay-test-{topic}")
    consumer.assign(
        [TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(settings.kafka.partitions)]
    )
    found: list[tuple[dict[str, str], bytes]] = []
    deadline = time.monotonic() + 30
    try:
        while len(found) < count and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None or message.error():
                continue
            pairs = cast(list[tuple[str, bytes]], message.headers() or [])
            headers = {key: raw.decode() for key, raw in pairs}
            found.append((headers, bytes(message.value() or b"")))
    finally:
        consumer.close()
    return found
